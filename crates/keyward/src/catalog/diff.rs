//! What a catalog change does, before it ships (`keyward catalog diff`):
//! what the catalog declares (compared through its JSON export, the
//! catalog's public form, so that comments and layout are no change), and
//! what the stored keys would be allowed before and after, counted per
//! account.

use std::collections::{BTreeMap, BTreeSet};

use keyward_scopes::{export, Catalog};
use serde::Serialize;
use serde_json::Value;

/// One named thing added, removed or changed, with its old and new forms.
#[derive(Debug, Serialize, PartialEq)]
pub struct Change {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

impl Change {
    pub fn kind(&self) -> char {
        match (&self.old, &self.new) {
            (None, _) => '+',
            (_, None) => '-',
            _ => '~',
        }
    }
}

/// The changes of the catalog's declarations, by section.
#[derive(Debug, Serialize, Default)]
pub struct Declarations {
    pub api: Vec<Change>,
    pub resources: Vec<Change>,
    pub scopes: Vec<Change>,
    pub routes: Vec<Change>,
    pub bundles: Vec<Change>,
    pub implies: Vec<Change>,
    /// Names a key may be granted (scopes, wildcards, bundles).
    pub grantable: Vec<Change>,
}

impl Declarations {
    pub fn is_empty(&self) -> bool {
        self.sections().iter().all(|(_, changes)| changes.is_empty())
    }

    pub fn sections(&self) -> [(&'static str, &Vec<Change>); 7] {
        [
            ("api", &self.api),
            ("resources", &self.resources),
            ("scopes", &self.scopes),
            ("routes", &self.routes),
            ("bundles", &self.bundles),
            ("implies", &self.implies),
            ("grantable", &self.grantable),
        ]
    }
}

/// Keys of one account affected one way, and the scopes concerned.
#[derive(Debug, Serialize, PartialEq)]
pub struct AccountEffect {
    pub account: String,
    pub keys: usize,
    pub scopes: BTreeSet<String>,
}

/// What the change does to the stored (active) keys.
#[derive(Debug, Serialize, Default)]
pub struct KeyImpact {
    /// Active keys looked at.
    pub checked: usize,
    /// Keys allowed scopes they were not allowed before (through a
    /// wildcard, a bundle, an implication).
    pub gain: Vec<AccountEffect>,
    /// Keys no longer allowed scopes they were allowed.
    pub lose: Vec<AccountEffect>,
    /// Keys holding grants the new catalog no longer defines (they grant
    /// nothing; the scopes listed are the grants).
    pub stale: Vec<AccountEffect>,
    /// Keys the new catalog refuses altogether (`MALFORMED`): its key
    /// prefix changed, or their environment is gone.
    pub unusable: Vec<AccountReasons>,
}

/// Keys of one account made unusable, and why.
#[derive(Debug, Serialize, PartialEq)]
pub struct AccountReasons {
    pub account: String,
    pub keys: usize,
    pub reasons: BTreeSet<String>,
}

impl KeyImpact {
    pub fn is_empty(&self) -> bool {
        self.gain.is_empty() && self.lose.is_empty() && self.stale.is_empty() && self.unusable.is_empty()
    }
}

/// What the diff needs of a stored key.
pub struct StoredKey<'a> {
    pub account: &'a str,
    /// Its grants, as stored.
    pub grants: &'a [String],
    pub environment: &'a str,
    /// Its displayed start (`cs_live_AbCd`), which names its prefix.
    pub start: &'a str,
}

/// Why `new` refuses a key `old` accepted, if it does.
fn unusable(old: &Catalog, new: &Catalog, key: &StoredKey<'_>) -> Option<String> {
    let prefix = key.start.split('_').next().unwrap_or_default();
    let accepted =
        |c: &Catalog| c.api().key_prefix == prefix && c.api().environments.iter().any(|e| e == key.environment);
    if !accepted(old) || accepted(new) {
        return None;
    }
    Some(if new.api().key_prefix != prefix {
        format!("key prefix `{prefix}` is now `{}`", new.api().key_prefix)
    } else {
        format!("environment `{}` is gone", key.environment)
    })
}

/// The declarations of `new` compared with `old`'s.
pub fn declarations(old: &Catalog, new: &Catalog) -> Declarations {
    let (old, new) = (exported(old), exported(new));
    Declarations {
        api: compare(fields(&old["api"]), fields(&new["api"])),
        resources: compare(resources(&old), resources(&new)),
        scopes: compare(scopes(&old), scopes(&new)),
        routes: compare(routes(&old), routes(&new))
            .into_iter()
            .map(named_by_path)
            .collect(),
        bundles: compare(named(&old["bundles"]), named(&new["bundles"])),
        implies: compare(fields(&old["implies"]), fields(&new["implies"])),
        grantable: compare(names(&old["grantable"]), names(&new["grantable"])),
    }
}

/// What each active key may do under `old` and under `new`.
pub fn key_impact(old: &Catalog, new: &Catalog, keys: &[StoredKey<'_>]) -> KeyImpact {
    type ByAccount = BTreeMap<String, (usize, BTreeSet<String>)>;
    let (mut gain, mut lose, mut stale, mut broken) =
        (ByAccount::new(), ByAccount::new(), ByAccount::new(), ByAccount::new());
    let add = |map: &mut ByAccount, account: &str, scopes: BTreeSet<String>| {
        if !scopes.is_empty() {
            let entry = map.entry(account.to_owned()).or_default();
            entry.0 += 1;
            entry.1.extend(scopes);
        }
    };
    for key in keys {
        if let Some(why) = unusable(old, new, key) {
            add(&mut broken, key.account, BTreeSet::from([why]));
            continue;
        }
        let before = effective(old, key);
        let after = effective(new, key);
        add(&mut gain, key.account, after.difference(&before).cloned().collect());
        add(&mut lose, key.account, before.difference(&after).cloned().collect());
        let was_stale = stale_grants(old, key);
        add(
            &mut stale,
            key.account,
            stale_grants(new, key).difference(&was_stale).cloned().collect(),
        );
    }
    let listed = |map: ByAccount| {
        map.into_iter()
            .map(|(account, (keys, scopes))| AccountEffect { account, keys, scopes })
            .collect()
    };
    KeyImpact {
        checked: keys.len(),
        gain: listed(gain),
        lose: listed(lose),
        stale: listed(stale),
        unusable: broken
            .into_iter()
            .map(|(account, (keys, reasons))| AccountReasons { account, keys, reasons })
            .collect(),
    }
}

/// The concrete scopes a key's grants allow under `catalog`.
fn effective(catalog: &Catalog, key: &StoredKey<'_>) -> BTreeSet<String> {
    catalog
        .compile_grants(key.grants)
        .effective()
        .map(|id| catalog.scope_name(id).to_owned())
        .collect()
}

/// The key's grants `catalog` does not define.
fn stale_grants(catalog: &Catalog, key: &StoredKey<'_>) -> BTreeSet<String> {
    let compiled = catalog.compile_grants(key.grants);
    compiled
        .stale()
        .iter()
        .filter_map(|&i| key.grants.get(i).cloned())
        .collect()
}

fn exported(catalog: &Catalog) -> Value {
    serde_json::from_str(&export::to_json(catalog)).unwrap_or(Value::Null)
}

/// The members of a JSON object, by name.
fn fields(object: &Value) -> BTreeMap<String, Value> {
    object
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// An array of objects with a `name`, by name.
fn named(array: &Value) -> BTreeMap<String, Value> {
    array
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| Some((item["name"].as_str()?.to_owned(), item.clone())))
        .collect()
}

/// An array of strings, as present names.
fn names(array: &Value) -> BTreeMap<String, Value> {
    array
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| Some((item.as_str()?.to_owned(), Value::Bool(true))))
        .collect()
}

/// Resources by name, without their actions (those are the scopes).
fn resources(exported: &Value) -> BTreeMap<String, Value> {
    named(&exported["resources"])
        .into_iter()
        .map(|(name, mut resource)| {
            if let Some(o) = resource.as_object_mut() {
                o.remove("actions");
            }
            (name, resource)
        })
        .collect()
}

/// Scopes by name: description and whether grantable.
fn scopes(exported: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for resource in exported["resources"].as_array().into_iter().flatten() {
        for action in resource["actions"].as_array().into_iter().flatten() {
            if let Some(scope) = action["scope"].as_str() {
                out.insert(
                    scope.to_owned(),
                    serde_json::json!({ "description": action["description"], "grantable": action["grantable"] }),
                );
            }
        }
    }
    out
}

/// Routes by `METHOD shape`, one per method: the shape names no
/// parameter (`/a/{}`), so renaming one is a change of the route, not a
/// route removed and another added.
fn routes(exported: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for route in exported["routes"].as_array().into_iter().flatten() {
        let mut shown = route.clone();
        if let Some(o) = shown.as_object_mut() {
            o.remove("methods");
        }
        for method in route["methods"].as_array().into_iter().flatten() {
            if let (Some(method), Some(path)) = (method.as_str(), route["path"].as_str()) {
                out.insert(format!("{method} {}", shape(path)), shown.clone());
            }
        }
    }
    out
}

/// A route change named by its method and its path as written (the new
/// one when it has one).
fn named_by_path(mut change: Change) -> Change {
    let path = change
        .new
        .as_ref()
        .or(change.old.as_ref())
        .and_then(|route| route["path"].as_str())
        .map(str::to_owned);
    if let (Some(path), Some((method, _))) = (path, change.name.split_once(' ')) {
        change.name = format!("{method} {path}");
    }
    change
}

/// `/a/{id}/{*rest}` -> `/a/{}/{*}`.
fn shape(path: &str) -> String {
    path.split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(param) if param.starts_with('*') => "{*}",
                Some(_) => "{}",
                None => segment,
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

fn compare(old: BTreeMap<String, Value>, mut new: BTreeMap<String, Value>) -> Vec<Change> {
    let mut changes = Vec::new();
    for (name, before) in old {
        match new.remove(&name) {
            None => changes.push(Change {
                name,
                old: Some(before),
                new: None,
            }),
            Some(after) if after != before => changes.push(Change {
                name,
                old: Some(before),
                new: Some(after),
            }),
            Some(_) => {}
        }
    }
    changes.extend(new.into_iter().map(|(name, after)| Change {
        name,
        old: None,
        new: Some(after),
    }));
    changes.sort_by(|a, b| a.name.cmp(&b.name));
    changes
}
