//! One key's counts for one hour, as the hot path adds to them. With many
//! keys in use nearly every verification opens a new bucket, so a bucket
//! is one allocation-free value: its scopes live inline (a request
//! requires one or two scopes; more spill to the heap).

use smallvec::SmallVec;

use crate::catalog::UsageScope;
use crate::time::Millis;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub allowed: u64,
    pub denied: u64,
    /// Concrete scopes exercised by allowed requests.
    pub scopes: ScopeCounts,
    pub last_allowed: Option<Millis>,
}

impl Bucket {
    /// Adds `other`'s counts to these.
    pub fn absorb(&mut self, other: Bucket) {
        self.allowed += other.allowed;
        self.denied += other.denied;
        self.last_allowed = latest(self.last_allowed, other.last_allowed);
        for (scope, n) in other.scopes {
            self.scopes.add(scope, n);
        }
    }
}

/// The later of two optional times.
pub fn latest(a: Option<Millis>, b: Option<Millis>) -> Option<Millis> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Counts by scope, in first-seen order; a handful at most, searched in
/// place.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ScopeCounts(SmallVec<[(UsageScope, u64); 2]>);

impl ScopeCounts {
    pub fn add(&mut self, scope: UsageScope, n: u64) {
        match self.0.iter_mut().find(|(s, _)| *s == scope) {
            Some((_, count)) => *count += n,
            None => self.0.push((scope, n)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (UsageScope, u64)> + '_ {
        self.0.iter().copied()
    }
}

impl IntoIterator for ScopeCounts {
    type Item = (UsageScope, u64);
    type IntoIter = smallvec::IntoIter<[(UsageScope, u64); 2]>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_counts_add_up_per_scope_inline_and_spilled() {
        let catalog = keyward_scopes::Catalog::from_toml("demo", crate::cli::context::DEMO_CATALOG).unwrap();
        let version = crate::catalog::LiveCatalog::fixed(catalog).current();
        let ids: Vec<UsageScope> = (0..4).map(|id| version.usage_scope(id)).collect();
        let mut counts = ScopeCounts::default();
        for round in 1..=3u64 {
            for (i, id) in ids.iter().enumerate() {
                counts.add(*id, round * (i as u64 + 1));
            }
        }
        let seen: Vec<(UsageScope, u64)> = counts.iter().collect();
        assert_eq!(
            seen,
            ids.iter()
                .enumerate()
                .map(|(i, id)| (*id, 6 * (i as u64 + 1)))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn absorbing_a_bucket_adds_counts_and_keeps_the_latest_use() {
        let mut a = Bucket {
            allowed: 2,
            denied: 1,
            last_allowed: Some(Millis(10)),
            ..Bucket::default()
        };
        a.absorb(Bucket {
            allowed: 3,
            denied: 4,
            last_allowed: Some(Millis(7)),
            ..Bucket::default()
        });
        assert_eq!((a.allowed, a.denied, a.last_allowed), (5, 5, Some(Millis(10))));
        a.absorb(Bucket::default());
        assert_eq!(a.last_allowed, Some(Millis(10)));
    }
}
