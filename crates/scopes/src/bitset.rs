//! A fixed-size set of scope ids: the compiled form of grants and of a
//! route's requirements. A decision is one subset test over a few words.
//!
//! Catalogs of up to 256 scopes keep their sets inline (four words, no
//! heap): building a request's requirement allocates nothing.

/// Index of a concrete `resource:action` scope, in catalog order.
pub type ScopeId = u32;

/// Words held without a heap allocation (256 scopes).
const INLINE_WORDS: usize = 4;

#[derive(Clone, PartialEq, Eq)]
enum Words {
    /// `len` words in use; the rest stay zero.
    Inline {
        len: u8,
        words: [u64; INLINE_WORDS],
    },
    Heap(Box<[u64]>),
}

#[derive(Clone, PartialEq, Eq)]
pub struct ScopeSet {
    words: Words,
}

impl Default for ScopeSet {
    fn default() -> Self {
        ScopeSet::empty(0)
    }
}

impl ScopeSet {
    pub fn empty(scope_count: usize) -> Self {
        let len = scope_count.div_ceil(64);
        let words = match u8::try_from(len) {
            Ok(small) if len <= INLINE_WORDS => Words::Inline {
                len: small,
                words: [0; INLINE_WORDS],
            },
            _ => Words::Heap(vec![0; len].into_boxed_slice()),
        };
        Self { words }
    }

    #[inline]
    fn words(&self) -> &[u64] {
        match &self.words {
            Words::Inline { len, words } => &words[..usize::from(*len)],
            Words::Heap(words) => words,
        }
    }

    #[inline]
    fn words_mut(&mut self) -> &mut [u64] {
        match &mut self.words {
            Words::Inline { len, words } => &mut words[..usize::from(*len)],
            Words::Heap(words) => words,
        }
    }

    pub fn insert(&mut self, id: ScopeId) {
        let (word, bit) = (id as usize / 64, id % 64);
        if let Some(w) = self.words_mut().get_mut(word) {
            *w |= 1 << bit;
        }
    }

    #[inline]
    pub fn contains(&self, id: ScopeId) -> bool {
        let (word, bit) = (id as usize / 64, id % 64);
        self.words().get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    pub fn union_with(&mut self, other: &ScopeSet) {
        for (a, b) in self.words_mut().iter_mut().zip(other.words().iter()) {
            *a |= b;
        }
    }

    /// `self ⊆ other`. Sets of different sizes come from different
    /// catalogs; the answer is then `false` (fail closed) unless `self` is
    /// empty.
    #[inline]
    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        let (mine, theirs) = (self.words(), other.words());
        if mine.len() != theirs.len() {
            return self.is_empty();
        }
        mine.iter().zip(theirs.iter()).all(|(r, e)| r & !e == 0)
    }

    pub fn is_empty(&self) -> bool {
        self.words().iter().all(|w| *w == 0)
    }

    /// Ids in increasing (catalog) order.
    pub fn iter(&self) -> impl Iterator<Item = ScopeId> + '_ {
        self.words().iter().enumerate().flat_map(|(i, &word)| {
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
    fn inline_and_heap_sets_behave_alike() {
        for count in [1, 64, 200, 256, 257, 1000] {
            let mut a = ScopeSet::empty(count);
            let last = count as ScopeId - 1;
            a.insert(last);
            a.insert(0);
            assert!(a.contains(last) && a.contains(0) && !a.contains(last + 64));
            assert_eq!(
                a.iter().collect::<Vec<_>>(),
                if last == 0 { vec![0] } else { vec![0, last] }
            );
            let mut b = ScopeSet::empty(count);
            assert!(!a.is_subset_of(&b));
            b.union_with(&a);
            assert!(a.is_subset_of(&b) && b == a);
        }
        // A heap set never equals nor covers an inline one of other size.
        let mut heap = ScopeSet::empty(300);
        heap.insert(1);
        let mut inline = ScopeSet::empty(200);
        inline.insert(1);
        assert!(!inline.is_subset_of(&heap) && !heap.is_subset_of(&inline));
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
