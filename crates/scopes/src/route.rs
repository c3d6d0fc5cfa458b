//! Route templates and the matcher built from them once per catalog.
//!
//! A template is `/`-separated segments: literals, `{param}` and a trailing
//! `{*rest}` that matches one or more segments. Precedence, segment by
//! segment from the left: a literal wins over `{param}`, which wins over
//! `{*rest}`. Matching is method-aware: a route only matches a request whose
//! method it lists, so `GET /a/new` falls through to `GET /a/{id}` when
//! `/a/new` only has `POST`. HEAD is matched as GET unless a route lists HEAD.

use std::fmt;

use rustc_hash::FxHashMap;

pub type RouteId = u32;

/// The methods a route may list (docs/CATALOG.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

impl Method {
    pub const ALL: [Method; 7] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Options,
    ];

    /// Exact, case-sensitive, as HTTP methods are.
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(Box<str>),
    Param(Box<str>),
    CatchAll(Box<str>),
}

/// A parsed path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

impl Template {
    pub fn parse(template: &str) -> Result<Template, String> {
        let Some(rest) = template.strip_prefix('/') else {
            return Err(format!("path `{template}` must start with `/`"));
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let last = parts.len() - 1;
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let segment = parse_segment(part, i == last).map_err(|why| format!("path `{template}`: {why}"))?;
            segments.push(segment);
        }
        Ok(Template { segments })
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The template with parameter names erased: two routes with the same
    /// shape and a common method are duplicates.
    pub fn shape(&self) -> String {
        let mut out = String::new();
        for s in &self.segments {
            out.push('/');
            match s {
                Segment::Literal(l) => out.push_str(l),
                Segment::Param(_) => out.push_str("{}"),
                Segment::CatchAll(_) => out.push_str("{*}"),
            }
        }
        out
    }
}

fn parse_segment(part: &str, is_last: bool) -> Result<Segment, String> {
    if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
        let (catch_all, name) = match inner.strip_prefix('*') {
            Some(name) => (true, name),
            None => (false, inner),
        };
        if !is_param_name(name) {
            return Err(format!(
                "`{part}` is not a parameter: write `{{name}}` or `{{*name}}` with a name of letters, digits and `_`"
            ));
        }
        if catch_all && !is_last {
            return Err(format!(
                "`{part}` matches the rest of the path, so it must be the last segment"
            ));
        }
        return Ok(if catch_all {
            Segment::CatchAll(name.into())
        } else {
            Segment::Param(name.into())
        });
    }
    if let Some(name) = part.strip_prefix(':') {
        return Err(format!("`{part}`: write parameters as `{{{name}}}`"));
    }
    if part.is_empty() && !is_last {
        return Err("empty segment (`//`)".to_owned());
    }
    if part == "." || part == ".." {
        return Err(format!(
            "`{part}` segments never match: requests containing them are refused"
        ));
    }
    if let Some(c) = part
        .chars()
        .find(|c| matches!(c, '{' | '}' | '%' | '\\' | ';' | '?' | '#') || c.is_control() || c.is_whitespace())
    {
        return Err(format!(
            "segment `{part}` has `{}`; literal segments are written decoded, without `{{}}%\\;?#`, spaces or control characters",
            c.escape_default()
        ));
    }
    Ok(Segment::Literal(part.into()))
}

fn is_param_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Route ids per method at one place in the trie.
#[derive(Debug, Clone, Default)]
struct MethodTable([Option<RouteId>; 7]);

impl MethodTable {
    fn get(&self, method: Method) -> Option<RouteId> {
        self.0[method as usize]
    }

    fn set(&mut self, method: Method, route: RouteId) -> Result<(), RouteId> {
        match &mut self.0[method as usize] {
            Some(existing) => Err(*existing),
            slot => {
                *slot = Some(route);
                Ok(())
            }
        }
    }

    /// HEAD falls back to GET where no route lists HEAD.
    fn fill_head_from_get(&mut self) {
        let head = Method::Head as usize;
        if self.0[head].is_none() {
            self.0[head] = self.0[Method::Get as usize];
        }
    }
}

/// The `packed` entry of a literal too long to pack: the length byte of a
/// packed word is at most 7, so no segment's word is this.
const LONG: u64 = u64::MAX;

/// Above this many literal children, a node looks them up by hash.
const LINEAR_LOOKUP_MAX: usize = 6;

/// A short segment (up to 7 bytes) packed in one word with its length in
/// the top byte: two short segments are equal iff their words are, so
/// matching one is an integer compare, not a string compare. Paths never
/// hold NUL (the scanner refuses it), so the zero padding is unambiguous.
/// Longer segments get `None` and are compared as strings.
#[inline]
fn packed(segment: &[u8]) -> Option<u64> {
    if segment.len() > 7 {
        return None;
    }
    let mut word = (segment.len() as u64) << 56;
    for (i, &b) in segment.iter().enumerate() {
        word |= u64::from(b) << (8 * i);
    }
    Some(word)
}

#[derive(Debug, Clone, Default)]
struct Node {
    literals: Vec<(Box<str>, Node)>,
    /// `packed` of each literal, in the same order ([`LONG`] for long
    /// ones, which no packed word equals).
    packed: Vec<u64>,
    /// Packed short literals to their index in `literals`, built by
    /// `finish` for nodes with many. The keys come from the catalog, never
    /// from requests, so a fast non-keyed hash is safe here.
    literal_index: Option<FxHashMap<u64, usize>>,
    param: Option<Box<Node>>,
    catch_all: Option<MethodTable>,
    end: Option<MethodTable>,
}

/// The compiled matcher of a catalog's routes.
#[derive(Debug, Clone, Default)]
pub struct Router {
    root: Node,
}

impl Router {
    /// Adds a route; `Err(existing)` if a route with the same shape already
    /// takes one of these methods.
    pub fn insert(&mut self, template: &Template, methods: &[Method], id: RouteId) -> Result<(), RouteId> {
        let mut node = &mut self.root;
        let mut table = None;
        for segment in template.segments() {
            match segment {
                Segment::Literal(lit) => {
                    let pos = match node.literals.iter().position(|(l, _)| l == lit) {
                        Some(pos) => pos,
                        None => {
                            node.literals.push((lit.clone(), Node::default()));
                            node.packed.push(packed(lit.as_bytes()).unwrap_or(LONG));
                            node.literals.len() - 1
                        }
                    };
                    node = &mut node.literals[pos].1;
                }
                Segment::Param(_) => node = node.param.get_or_insert_with(Box::default),
                Segment::CatchAll(_) => {
                    table = Some(node.catch_all.get_or_insert_with(MethodTable::default));
                    break;
                }
            }
        }
        let table = match table {
            Some(t) => t,
            None => node.end.get_or_insert_with(MethodTable::default),
        };
        for &method in methods {
            table.set(method, id)?;
        }
        Ok(())
    }

    /// Call once after the last insert.
    pub fn finish(&mut self) {
        fn walk(node: &mut Node) {
            for table in node.end.iter_mut().chain(node.catch_all.iter_mut()) {
                table.fill_head_from_get();
            }
            if node.literals.len() > LINEAR_LOOKUP_MAX {
                let index = node
                    .packed
                    .iter()
                    .enumerate()
                    .filter(|(_, key)| **key != LONG)
                    .map(|(i, key)| (*key, i))
                    .collect();
                node.literal_index = Some(index);
            }
            for (_, child) in &mut node.literals {
                walk(child);
            }
            if let Some(param) = &mut node.param {
                walk(param);
            }
        }
        walk(&mut self.root);
    }

    /// The route for `method` and a normalized path (see [`crate::path`]).
    pub fn find(&self, method: Method, normalized_path: &str) -> Option<RouteId> {
        let rest = normalized_path.strip_prefix('/')?;
        find_in(&self.root, method, rest)
    }
}

/// The length of the segment at the start of `bytes` (up to the next `/`
/// or the end) and, for a short one, its [`packed`] word. Eight bytes are
/// looked at as one word where the path has them: the `/` found by a
/// zero-byte test, the word masked to the segment (the lowest flagged byte
/// of that test is always the first `/`).
#[inline]
fn split_segment(bytes: &[u8]) -> (usize, Option<u64>) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    if let Some(chunk) = bytes.first_chunk::<8>() {
        let word = u64::from_le_bytes(*chunk);
        let x = word ^ (ONES * u64::from(b'/'));
        let slashes = x.wrapping_sub(ONES) & !x & HIGHS;
        if slashes != 0 {
            let len = (slashes.trailing_zeros() / 8) as usize;
            // len <= 7: the shift is at most 56.
            let kept = word & ((1u64 << (8 * len)) - 1);
            return (len, Some(kept | (len as u64) << 56));
        }
        let len = bytes
            .iter()
            .skip(8)
            .position(|&b| b == b'/')
            .map_or(bytes.len(), |p| p + 8);
        return (len, None);
    }
    let len = bytes.iter().position(|&b| b == b'/').unwrap_or(bytes.len());
    (len, packed(bytes.get(..len).unwrap_or_default()))
}

impl Node {
    /// The child for a literal segment; `key` is its [`packed`] word.
    #[inline(always)]
    fn literal(&self, segment: &str, key: Option<u64>) -> Option<&Node> {
        let pos = match key {
            Some(key) => match &self.literal_index {
                Some(index) => *index.get(&key)?,
                None => self.packed.iter().position(|&k| k == key)?,
            },
            None => self
                .literals
                .iter()
                .position(|(l, _)| l.len() == segment.len() && **l == *segment)?,
        };
        self.literals.get(pos).map(|(_, node)| node)
    }
}

/// `rest` is the path after the `/` that leads to `node`. A literal child
/// wins over the parameter, which wins over a catch-all; a branch that
/// finds nothing falls back to the next. Only a node with such a fallback
/// needs a recursive call (to come back to it): elsewhere the search goes
/// down in a loop.
fn find_in(mut node: &Node, method: Method, mut rest: &str) -> Option<RouteId> {
    loop {
        let (slash, key) = split_segment(rest.as_bytes());
        let (segment, tail) = match rest.get(..slash) {
            Some(segment) if slash < rest.len() => (segment, rest.get(slash + 1..)),
            _ => (rest, None),
        };
        let at_end = |n: &Node| n.end.as_ref().and_then(|t| t.get(method));
        let here = |n: &Node| match tail {
            None => at_end(n),
            Some(tail) => find_in(n, method, tail),
        };
        // Where this node cannot fall back, the search goes down in place.
        let fallback = !segment.is_empty() && (node.param.is_some() || node.catch_all.is_some());
        if let Some(child) = node.literal(segment, key) {
            if fallback {
                if let Some(found) = here(child) {
                    return Some(found);
                }
            } else {
                let Some(tail) = tail else { return at_end(child) };
                (node, rest) = (child, tail);
                continue;
            }
        }
        if segment.is_empty() {
            return None;
        }
        if let Some(param) = node.param.as_deref() {
            if node.catch_all.is_none() {
                let Some(tail) = tail else { return at_end(param) };
                (node, rest) = (param, tail);
                continue;
            }
            if let Some(found) = here(param) {
                return Some(found);
            }
        }
        return node.catch_all.as_ref().and_then(|t| t.get(method));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_segments_pack_to_distinct_words() {
        let words: Vec<Option<u64>> = ["", "a", "a\u{1}", "ab", "abcdefg", "abcdef"]
            .iter()
            .map(|s| packed(s.as_bytes()))
            .collect();
        for (i, a) in words.iter().enumerate() {
            assert!(a.is_some());
            for b in &words[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(packed(b"abcdefgh"), None);
    }

    #[test]
    fn segments_split_as_a_byte_loop_would_whatever_their_length() {
        let path = "/abcdefghij/k/lmnopqr/stuvwxyz/é/ü7//";
        for start in 0..path.len() {
            let bytes = &path.as_bytes()[start..];
            let len = bytes.iter().position(|&b| b == b'/').unwrap_or(bytes.len());
            assert_eq!(split_segment(bytes), (len, packed(&bytes[..len])), "{start}");
        }
    }

    fn router(routes: &[(&[Method], &str)]) -> Router {
        let mut r = Router::default();
        for (i, (methods, path)) in routes.iter().enumerate() {
            r.insert(&Template::parse(path).unwrap(), methods, i as u32).unwrap();
        }
        r.finish();
        r
    }

    use Method::*;

    #[test]
    fn literal_wins_over_param_over_catch_all() {
        let r = router(&[
            (&[Get], "/kb/{*rest}"),
            (&[Get], "/kb/{id}"),
            (&[Get], "/kb/new"),
            (&[Get], "/kb"),
        ]);
        assert_eq!(r.find(Get, "/kb/new"), Some(2));
        assert_eq!(r.find(Get, "/kb/42"), Some(1));
        assert_eq!(r.find(Get, "/kb/42/x"), Some(0));
        assert_eq!(r.find(Get, "/kb"), Some(3));
        assert_eq!(r.find(Get, "/kb/"), None, "a catch-all needs a non-empty segment");
    }

    #[test]
    fn matching_backtracks_to_a_param_when_the_literal_lacks_the_method() {
        let r = router(&[
            (&[Post], "/a/new"),
            (&[Get], "/a/{id}"),
            (&[Get], "/a/new/x/{*rest}"),
            (&[Get], "/a/{id}/x/y"),
        ]);
        assert_eq!(r.find(Get, "/a/new"), Some(1));
        assert_eq!(r.find(Post, "/a/new"), Some(0));
        assert_eq!(
            r.find(Get, "/a/new/x/y"),
            Some(2),
            "literal `new` wins at the second segment"
        );
        assert_eq!(r.find(Get, "/a/other/x/y"), Some(3));
    }

    #[test]
    fn trailing_slash_and_case_are_significant() {
        let r = router(&[(&[Get], "/contacts"), (&[Get], "/teams/")]);
        assert_eq!(r.find(Get, "/contacts"), Some(0));
        assert_eq!(r.find(Get, "/contacts/"), None);
        assert_eq!(r.find(Get, "/Contacts"), None);
        assert_eq!(r.find(Get, "/teams/"), Some(1));
        assert_eq!(r.find(Get, "/teams"), None);
    }

    #[test]
    fn head_is_get_unless_listed() {
        let r = router(&[(&[Get], "/a"), (&[Get], "/b"), (&[Head], "/b")]);
        assert_eq!(r.find(Head, "/a"), Some(0));
        assert_eq!(r.find(Head, "/b"), Some(2));
        assert_eq!(r.find(Post, "/a"), None);
    }

    #[test]
    fn root_route() {
        let r = router(&[(&[Get], "/")]);
        assert_eq!(r.find(Get, "/"), Some(0));
        assert_eq!(r.find(Get, "/x"), None);
    }

    #[test]
    fn same_shape_and_method_is_a_duplicate() {
        let mut r = Router::default();
        r.insert(&Template::parse("/a/{id}").unwrap(), &[Get, Post], 0).unwrap();
        assert_eq!(r.insert(&Template::parse("/a/{name}").unwrap(), &[Post], 1), Err(0));
        assert_eq!(
            Template::parse("/a/{id}").unwrap().shape(),
            Template::parse("/a/{x}").unwrap().shape()
        );
    }

    #[test]
    fn malformed_templates_are_explained() {
        for (bad, needle) in [
            ("api", "must start with `/`"),
            ("/a//b", "empty segment"),
            ("/a/{*rest}/b", "must be the last segment"),
            ("/a/:id", "write parameters as `{id}`"),
            ("/a/{}", "is not a parameter"),
            ("/a/{id", "has `{`"),
            ("/a/../b", "never match"),
            ("/a/b%2f", "has `%`"),
            ("/a b", "has ` `"),
        ] {
            let err = Template::parse(bad).unwrap_err();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }
}
