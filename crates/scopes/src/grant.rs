//! Grants (what a key holds) and requirements (what a request needs),
//! resolved against a catalog.
//!
//! A key's grants are stored as given and compiled against the *current*
//! catalog into one effective set, once per key record: wildcards,
//! superscopes, bundles and implications are all folded in, so a decision is
//! a subset test. A grant the catalog no longer defines grants nothing and is
//! reported as stale, never an error on the hot path.

use crate::bitset::{ScopeId, ScopeSet};
use crate::catalog::{Catalog, GrantTarget};
use crate::error::{GrantError, RequirementError};
use crate::suggest::closest;

/// A key's grants compiled against one catalog.
#[derive(Debug, Clone)]
pub struct Grants {
    pub(crate) catalog: u64,
    pub(crate) effective: ScopeSet,
    stale: Vec<usize>,
}

impl Grants {
    /// Positions (in the list given) of grants this catalog does not define
    /// or no longer lets a key hold.
    pub fn stale(&self) -> &[usize] {
        &self.stale
    }

    pub fn has_stale(&self) -> bool {
        !self.stale.is_empty()
    }

    /// The concrete scopes these grants cover, in catalog order.
    pub fn effective(&self) -> impl Iterator<Item = ScopeId> + '_ {
        self.effective.iter()
    }
}

/// The concrete scopes a request needs.
#[derive(Debug, Clone)]
pub struct Requirement {
    pub(crate) scopes: ScopeSet,
}

impl Requirement {
    pub fn ids(&self) -> impl Iterator<Item = ScopeId> + '_ {
        self.scopes.iter()
    }
}

/// Which grant covered a required scope, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage<'a> {
    pub grant: &'a str,
    pub via: Via,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// The grant is the scope itself.
    Exact,
    GlobalWildcard,
    Superscope,
    ResourceWildcard,
    Bundle,
    /// The grant covers `from`, which implies the scope.
    Implied {
        from: String,
    },
}

impl Catalog {
    fn resolve_grant(&self, grant: &str) -> Result<GrantTarget, GrantError> {
        if let Some(target) = self.grant_targets.get(grant) {
            return Ok(*target);
        }
        if self.scope_id(grant).is_some() {
            return Err(GrantError::NotGrantable {
                grant: grant.to_owned(),
            });
        }
        if grant.starts_with("*:") {
            return Err(GrantError::Selector {
                grant: grant.to_owned(),
            });
        }
        let names = self.grant_targets.keys().map(String::as_str);
        Err(GrantError::Unknown {
            grant: grant.to_owned(),
            suggestion: closest(grant, names).map(str::to_owned),
        })
    }

    /// Checks grants that are about to be put on a key: at least one, each
    /// defined and grantable. Returns every problem, in the order given.
    pub fn check_grants<S: AsRef<str>>(&self, grants: &[S]) -> Result<(), Vec<GrantError>> {
        if grants.is_empty() {
            return Err(vec![GrantError::NoGrants]);
        }
        let errors: Vec<GrantError> = grants
            .iter()
            .filter_map(|g| self.resolve_grant(g.as_ref()).err())
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Compiles stored grants. Never fails: a grant this catalog does not
    /// define (any more) grants nothing and is listed in [`Grants::stale`].
    pub fn compile_grants<S: AsRef<str>>(&self, grants: &[S]) -> Grants {
        let mut effective = ScopeSet::empty(self.scope_count());
        let mut stale = Vec::new();
        for (i, grant) in grants.iter().enumerate() {
            match self.resolve_grant(grant.as_ref()) {
                Ok(target) => effective.union_with(self.expansion(target)),
                Err(_) => stale.push(i),
            }
        }
        Grants {
            catalog: self.id,
            effective,
            stale,
        }
    }

    /// The id of a concrete scope a request may require.
    pub fn requirement_id(&self, scope: &str) -> Result<ScopeId, RequirementError> {
        if let Some(id) = self.scope_id(scope) {
            return Ok(id);
        }
        if self.grant_targets.contains_key(scope) || scope.starts_with("*:") {
            return Err(RequirementError::NotConcrete {
                scope: scope.to_owned(),
            });
        }
        Err(RequirementError::Unknown {
            scope: scope.to_owned(),
            suggestion: closest(scope, self.scope_names()).map(str::to_owned),
        })
    }

    /// The concrete scopes a request needs, all of them defined.
    pub fn requirement<S: AsRef<str>>(&self, scopes: &[S]) -> Result<Requirement, RequirementError> {
        let mut set = ScopeSet::empty(self.scope_count());
        for scope in scopes {
            set.insert(self.requirement_id(scope.as_ref())?);
        }
        Ok(Requirement { scopes: set })
    }

    /// Which of `grants` (the first, in order) covers `scope`, and how. Not
    /// for the hot path: it resolves each grant again.
    pub fn explain<'g, S: AsRef<str>>(&self, grants: &'g [S], scope: ScopeId) -> Option<Coverage<'g>> {
        for grant in grants {
            let grant = grant.as_ref();
            let Ok(target) = self.resolve_grant(grant) else {
                continue;
            };
            if !self.expansion(target).contains(scope) {
                continue;
            }
            let direct = match target {
                GrantTarget::GlobalWildcard => Some(Via::GlobalWildcard),
                GrantTarget::Superscope => Some(Via::Superscope),
                GrantTarget::ResourceWildcard(_) => Some(Via::ResourceWildcard),
                GrantTarget::Scope(id) if id == scope => Some(Via::Exact),
                GrantTarget::Bundle(b) if self.bundles()[b].direct.contains(scope) => Some(Via::Bundle),
                _ => None,
            };
            let via = direct.unwrap_or_else(|| Via::Implied {
                from: self.implied_from(target, scope),
            });
            return Some(Coverage { grant, via });
        }
        None
    }

    /// A scope covered by `target` whose implication closure holds `scope`.
    fn implied_from(&self, target: GrantTarget, scope: ScopeId) -> String {
        let base: Vec<ScopeId> = match target {
            GrantTarget::Scope(id) => vec![id],
            GrantTarget::Bundle(b) => self.bundles()[b].direct.iter().collect(),
            _ => self.expansion(target).iter().collect(),
        };
        base.into_iter()
            .find(|&id| id != scope && self.closure(id).contains(scope))
            .map(|id| self.scope_name(id).to_owned())
            .unwrap_or_default()
    }
}
