//! A fixed-size set of scope ids: the compiled form of grants and of a
//! route's requirements. A decision is one subset test over a few words.

/// Index of a concrete `resource:action` scope, in catalog order.
pub type ScopeId = u32;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct ScopeSet {
    words: Box<[u64]>,
}

impl ScopeSet {
    pub fn empty(scope_count: usize) -> Self {
        Self {
            words: vec![0; scope_count.div_ceil(64)].into_boxed_slice(),
        }
    }

    pub fn insert(&mut self, id: ScopeId) {
        let (word, bit) = (id as usize / 64, id % 64);
        if let Some(w) = self.words.get_mut(word) {
            *w |= 1 << bit;
        }
    }

    pub fn contains(&self, id: ScopeId) -> bool {
        let (word, bit) = (id as usize / 64, id % 64);
        self.words.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    pub fn union_with(&mut self, other: &ScopeSet) {
        for (a, b) in self.words.iter_mut().zip(other.words.iter()) {
            *a |= b;
        }
    }

    /// `self ⊆ other`. Sets of different sizes come from different
    /// catalogs; the answer is then `false` (fail closed) unless `self` is
    /// empty.
    #[inline]
    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        if self.words.len() != other.words.len() {
            return self.is_empty();
        }
        self.words.iter().zip(other.words.iter()).all(|(r, e)| r & !e == 0)
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    /// Ids in increasing (catalog) order.
    pub fn iter(&self) -> impl Iterator<Item = ScopeId> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &word)| {
            let mut w = word;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros();
                w &= w - 1;
                Some(i as u32 * 64 + bit)
            })
        })
    }

    /// Ids in `self` and not in `other`, in catalog order.
    pub fn difference<'a>(&'a self, other: &'a ScopeSet) -> impl Iterator<Item = ScopeId> + 'a {
        self.iter().filter(move |id| !other.contains(*id))
    }
}

impl std::fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_spans_words() {
        let mut a = ScopeSet::empty(130);
        let mut b = ScopeSet::empty(130);
        a.insert(129);
        a.insert(3);
        assert!(!a.is_subset_of(&b));
        b.insert(129);
        b.insert(3);
        b.insert(64);
        assert!(a.is_subset_of(&b));
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![3, 64, 129]);
        assert_eq!(b.difference(&a).collect::<Vec<_>>(), vec![64]);
    }

    #[test]
    fn sets_of_other_catalogs_never_cover_anything() {
        let mut small = ScopeSet::empty(10);
        small.insert(1);
        let mut big = ScopeSet::empty(100);
        big.insert(1);
        assert!(!small.is_subset_of(&big));
        assert!(ScopeSet::empty(10).is_subset_of(&big));
    }
}
