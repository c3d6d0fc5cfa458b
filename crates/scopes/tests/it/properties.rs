//! Property tests: on random catalogs, grants and requests, the compiled
//! decision equals a plain-sets reference written straight from docs/CATALOG.md;
//! and no input makes the engine panic.

use std::collections::{BTreeMap, BTreeSet};

use keyward_scopes::{Catalog, Outcome};
use proptest::prelude::*;

const ACTIONS: [&str; 6] = ["read", "write", "manage", "delete", "send", "execute"];
const METHODS: [&str; 4] = ["GET", "HEAD", "POST", "DELETE"];
const LITERALS: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
enum Seg {
    Lit(usize),
    Param,
    CatchAll,
}

/// (name, [(action, grantable)] in order, own implies table)
type ModelResource = (String, Vec<(String, bool)>, Option<Vec<(String, String)>>);
/// (methods, template segments, trailing slash, required scopes)
type ModelRoute = (Vec<String>, Vec<Seg>, bool, Vec<String>);

#[derive(Debug, Clone)]
struct Model {
    resources: Vec<ModelResource>,
    implies: Vec<(String, String)>,
    resource_wildcards: Vec<String>,
    global_wildcards: Vec<String>,
    superscopes: Vec<String>,
    bundles: Vec<(String, Vec<String>)>,
    routes: Vec<ModelRoute>,
    allow_unknown: bool,
}

fn pair() -> impl Strategy<Value = (String, String)> {
    (0..ACTIONS.len(), 0..ACTIONS.len()).prop_map(|(a, b)| (ACTIONS[a].to_owned(), ACTIONS[b].to_owned()))
}

fn model() -> impl Strategy<Value = Model> {
    let resource = (
        proptest::sample::subsequence(ACTIONS.to_vec(), 1..=4),
        proptest::collection::vec(proptest::bool::weighted(0.85), 4),
        proptest::option::weighted(0.2, proptest::collection::vec(pair(), 0..3)),
    );
    let route = (
        proptest::sample::subsequence(METHODS.to_vec(), 1..=2),
        proptest::collection::vec(
            prop_oneof![3 => (0..3usize).prop_map(Seg::Lit), 1 => Just(Seg::Param)],
            0..3,
        ),
        proptest::bool::weighted(0.3),
        proptest::bool::weighted(0.15),
        proptest::collection::vec(0..40usize, 0..3),
    );
    (
        proptest::collection::vec(resource, 1..5),
        proptest::collection::vec(pair(), 0..4),
        proptest::sample::subsequence(vec!["*", "all"], 0..=2),
        proptest::sample::subsequence(vec!["*"], 0..=1),
        proptest::bool::ANY,
        proptest::collection::vec(proptest::collection::vec(0..60usize, 1..4), 0..3),
        proptest::collection::vec(route, 0..8),
        proptest::bool::ANY,
    )
        .prop_map(|(resources, implies, rw, gw, admin, bundles, routes, allow_unknown)| {
            let resources: Vec<_> = resources
                .into_iter()
                .enumerate()
                .map(|(i, (actions, grantable, own))| {
                    let actions = actions
                        .into_iter()
                        .zip(grantable)
                        .map(|(a, g)| (a.to_owned(), g))
                        .collect();
                    (format!("r{i}"), actions, own)
                })
                .collect();
            let mut m = Model {
                resources,
                implies,
                resource_wildcards: rw.into_iter().map(str::to_owned).collect(),
                global_wildcards: gw.into_iter().map(str::to_owned).collect(),
                superscopes: if admin { vec!["admin".into()] } else { vec![] },
                bundles: Vec::new(),
                routes: Vec::new(),
                allow_unknown,
            };
            // Only names the catalog defines are valid in implications.
            let known: BTreeSet<String> = m
                .resources
                .iter()
                .flat_map(|r| r.1.iter().map(|a| a.0.clone()))
                .collect();
            m.implies.retain(|(a, b)| known.contains(a) && known.contains(b));
            for r in &mut m.resources {
                if let Some(own) = &mut r.2 {
                    own.retain(|(a, b)| known.contains(a) && known.contains(b));
                }
            }
            let members = m.bundle_member_pool();
            for (i, picks) in bundles.into_iter().enumerate() {
                let chosen: Vec<String> = picks
                    .into_iter()
                    .filter_map(|p| members.get(p % members.len().max(1)).cloned())
                    .collect();
                if !chosen.is_empty() {
                    m.bundles.push((format!("b{i}"), chosen));
                }
            }
            let scopes = m.all_scopes();
            let mut taken: BTreeSet<(String, String)> = BTreeSet::new();
            for (methods, mut segs, catch_all, trailing, scope_picks) in routes {
                if catch_all {
                    segs.push(Seg::CatchAll);
                }
                let trailing = trailing && !catch_all && !segs.is_empty();
                let mut template = m.template(&segs);
                if trailing {
                    template.push('/');
                }
                let methods: Vec<String> = methods.into_iter().map(str::to_owned).collect();
                let shape = shape_of(&template);
                if methods.iter().any(|me| taken.contains(&(me.clone(), shape.clone()))) {
                    continue;
                }
                for me in &methods {
                    taken.insert((me.clone(), shape.clone()));
                }
                let required = scope_picks
                    .into_iter()
                    .map(|p| scopes[p % scopes.len()].clone())
                    .collect();
                m.routes.push((methods, segs, trailing, required));
            }
            m
        })
}

fn shape_of(template: &str) -> String {
    template
        .split('/')
        .map(|s| {
            if s.starts_with("{*") {
                "{*}"
            } else if s.starts_with('{') {
                "{}"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl Model {
    fn all_scopes(&self) -> Vec<String> {
        self.resources
            .iter()
            .flat_map(|(r, acts, _)| acts.iter().map(move |(a, _)| format!("{r}:{a}")))
            .collect()
    }

    fn grantable_scopes(&self) -> BTreeSet<String> {
        self.resources
            .iter()
            .flat_map(|(r, acts, _)| acts.iter().filter(|a| a.1).map(move |(a, _)| format!("{r}:{a}")))
            .collect()
    }

    fn bundle_member_pool(&self) -> Vec<String> {
        let mut pool: Vec<String> = self.grantable_scopes().into_iter().collect();
        for (r, _, _) in &self.resources {
            pool.extend(self.resource_wildcards.iter().map(|w| format!("{r}:{w}")));
        }
        let grantable_actions: BTreeSet<&str> = self
            .resources
            .iter()
            .flat_map(|r| r.1.iter().filter(|a| a.1).map(|a| a.0.as_str()))
            .collect();
        pool.extend(grantable_actions.iter().map(|a| format!("*:{a}")));
        pool.push("*:*".into());
        pool
    }

    fn template(&self, segs: &[Seg]) -> String {
        let mut t = String::new();
        for (i, s) in segs.iter().enumerate() {
            t.push('/');
            match s {
                Seg::Lit(l) => t.push_str(LITERALS[*l]),
                Seg::Param => t.push_str(&format!("{{p{i}}}")),
                Seg::CatchAll => t.push_str("{*rest}"),
            }
        }
        if t.is_empty() {
            t.push('/');
        }
        t
    }

    fn toml(&self) -> String {
        let list = |v: &[String]| v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
        let mut s = format!(
            "[api]\nname = \"P\"\nkey_prefix = \"p\"\nresource_wildcards = [{}]\nglobal_wildcards = [{}]\nsuperscopes = [{}]\nunknown_routes = \"{}\"\n",
            list(&self.resource_wildcards),
            list(&self.global_wildcards),
            list(&self.superscopes),
            if self.allow_unknown { "allow" } else { "deny" }
        );
        s.push_str("[implies]\n");
        for (from, to) in group(&self.implies) {
            s.push_str(&format!("{from} = [{}]\n", list(&to)));
        }
        for (r, actions, own) in &self.resources {
            s.push_str(&format!("[resources.{r}]\n"));
            for (a, g) in actions {
                s.push_str(&format!("actions.{a} = {{ description = \"x\", grantable = {g} }}\n"));
            }
            if let Some(own) = own {
                let inner: Vec<String> = group(own)
                    .into_iter()
                    .map(|(f, t)| format!("{f} = [{}]", list(&t)))
                    .collect();
                s.push_str(&format!("implies = {{ {} }}\n", inner.join(", ")));
            }
        }
        for (name, members) in &self.bundles {
            s.push_str(&format!("[bundles.{name}]\nscopes = [{}]\n", list(members)));
        }
        for (methods, segs, trailing, scopes) in &self.routes {
            let mut t = self.template(segs);
            if *trailing {
                t.push('/');
            }
            s.push_str(&format!(
                "[[routes]]\nmethods = [{}]\npath = {t:?}\nscopes = [{}]\n",
                list(methods),
                list(scopes)
            ));
        }
        s
    }

    // ---- the reference: plain sets, straight from docs/CATALOG.md ----

    fn implies_for(&self, resource: &str) -> Vec<(String, String)> {
        let r = self.resources.iter().find(|r| r.0 == resource).unwrap();
        r.2.clone().unwrap_or_else(|| self.implies.clone())
    }

    fn effective(&self, grants: &[String]) -> BTreeSet<String> {
        let grantable = self.grantable_scopes();
        let mut e = BTreeSet::new();
        let resource_all = |r: &str| {
            grantable
                .iter()
                .filter(|s| s.split(':').next() == Some(r))
                .cloned()
                .collect::<Vec<_>>()
        };
        let expand_member = |m: &str| -> Vec<String> {
            let (r, a) = m.split_once(':').unwrap();
            let all = a == "*" || self.resource_wildcards.iter().any(|w| w == a);
            match (r, all) {
                ("*", true) => grantable.iter().cloned().collect(),
                ("*", false) => grantable
                    .iter()
                    .filter(|s| s.ends_with(&format!(":{a}")))
                    .cloned()
                    .collect(),
                (r, true) => resource_all(r),
                _ => grantable.contains(m).then(|| m.to_owned()).into_iter().collect(),
            }
        };
        for g in grants {
            if self.global_wildcards.contains(g) || self.superscopes.contains(g) {
                e.extend(grantable.iter().cloned());
            } else if let Some((_, members)) = self.bundles.iter().find(|b| &b.0 == g) {
                for m in members {
                    e.extend(expand_member(m));
                }
            } else if let Some((r, a)) = g.split_once(':') {
                if r != "*" && self.resources.iter().any(|res| res.0 == r) {
                    if self.resource_wildcards.iter().any(|w| w == a) {
                        e.extend(resource_all(r));
                    } else if grantable.contains(g) {
                        e.insert(g.clone());
                    }
                }
            }
        }
        // Implication: transitive closure over action names, then keep the
        // resource's grantable actions.
        let mut closed = e.clone();
        for s in &e {
            let (r, a) = s.split_once(':').unwrap();
            let table = self.implies_for(r);
            let mut reached: BTreeSet<String> = BTreeSet::new();
            let mut frontier = vec![a.to_owned()];
            while let Some(x) = frontier.pop() {
                for (from, to) in &table {
                    if *from == x && reached.insert(to.clone()) {
                        frontier.push(to.clone());
                    }
                }
            }
            for b in reached {
                let candidate = format!("{r}:{b}");
                if grantable.contains(&candidate) {
                    closed.insert(candidate);
                }
            }
        }
        closed
    }

    /// The route a request reaches: among routes whose template matches and
    /// that take the method, the one whose segment kinds (literal < param <
    /// catch-all) are lexicographically smallest.
    fn route_for(&self, method: &str, path: &str) -> Option<usize> {
        let segments: Vec<&str> = path[1..].split('/').collect();
        let shape = |i: usize| {
            let mut t = self.template(&self.routes[i].1);
            if self.routes[i].2 {
                t.push('/');
            }
            shape_of(&t)
        };
        let takes = |i: usize| {
            let methods = &self.routes[i].0;
            methods.iter().any(|m| m == method)
                || (method == "HEAD"
                    && methods.iter().any(|m| m == "GET")
                    && !(0..self.routes.len())
                        .any(|j| shape(j) == shape(i) && self.routes[j].0.iter().any(|m| m == "HEAD")))
        };
        (0..self.routes.len())
            .filter(|&i| takes(i))
            .filter_map(|i| self.kinds_if_matches(i, &segments).map(|k| (k, i)))
            .min()
            .map(|(_, i)| i)
    }

    fn kinds_if_matches(&self, route: usize, path: &[&str]) -> Option<Vec<u8>> {
        let (_, segs, trailing, _) = &self.routes[route];
        let mut template: Vec<Option<&Seg>> = segs.iter().map(Some).collect();
        if segs.is_empty() || *trailing {
            template.push(None); // the empty last segment of `/` or `/x/`
        }
        let mut kinds = Vec::new();
        for (i, t) in template.iter().enumerate() {
            let here = path.get(i)?;
            match t {
                None if here.is_empty() => kinds.push(0),
                Some(Seg::Lit(l)) if *here == LITERALS[*l] => kinds.push(0),
                Some(Seg::Param) if !here.is_empty() => kinds.push(1),
                Some(Seg::CatchAll) if !here.is_empty() => {
                    kinds.push(2);
                    return Some(kinds);
                }
                _ => return None,
            }
        }
        (path.len() == template.len()).then_some(kinds)
    }
}

fn group(pairs: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (a, b) in pairs {
        let v = m.entry(a.clone()).or_default();
        if !v.contains(b) {
            v.push(b.clone());
        }
    }
    m
}

fn request_path() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(
            prop_oneof![Just("a"), Just("b"), Just("c"), Just("x"), Just("42")],
            0..4,
        ),
        proptest::bool::weighted(0.2),
    )
        .prop_map(|(segs, trailing)| {
            let mut p = format!("/{}", segs.join("/"));
            if trailing && !segs.is_empty() {
                p.push('/');
            }
            p
        })
}

fn grant_picks() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0..200usize, 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn compiled_decision_equals_the_plain_sets_reference(
        m in model(),
        picks in grant_picks(),
        need in proptest::collection::vec(0..100usize, 0..4),
        method in proptest::sample::select(METHODS.to_vec()),
        path in request_path(),
    ) {
        let source = m.toml();
        let catalog = match Catalog::from_toml("p.toml", &source) {
            Ok(c) => c,
            Err(e) => return Err(TestCaseError::fail(format!("generated catalog invalid: {e}\n{source}"))),
        };
        let mut names = catalog.grantable_names();
        names.push("stale:gone".into());
        let grants: Vec<String> = picks.iter().map(|p| names[p % names.len()].clone()).collect();
        let compiled = catalog.compile_grants(&grants);
        let expected = m.effective(&grants);
        let actual: BTreeSet<String> = compiled.effective().map(|id| catalog.scope_name(id).to_owned()).collect();
        prop_assert_eq!(&actual, &expected, "grants {:?}\n{}", grants, source);

        // Scope decisions.
        let all = m.all_scopes();
        let need: Vec<String> = need.iter().map(|n| all[n % all.len()].clone()).collect();
        let requirement = catalog.requirement(&need).unwrap();
        let d = catalog.decide(&compiled, &requirement);
        let missing: Vec<&String> = all.iter().filter(|s| need.contains(s) && !expected.contains(*s)).collect();
        prop_assert_eq!(d.allowed(), missing.is_empty());
        prop_assert_eq!(d.missing(), missing.iter().map(|s| s.as_str()).collect::<Vec<_>>());
        // One scope by id: the same answer as the reference.
        for scope in &all {
            let id = catalog.scope_id(scope).unwrap();
            prop_assert_eq!(catalog.allows(&compiled, id), expected.contains(scope), "{}", scope);
        }

        // Route decisions.
        let d = catalog.decide_route(&compiled, method, &path);
        match m.route_for(method, &path) {
            Some(i) => {
                let required: BTreeSet<&String> = m.routes[i].3.iter().collect();
                let route = d.route().map(|r| r.line);
                prop_assert!(route.is_some(), "{} {} should match route {}\n{}", method, path, i, source);
                let ok = required.iter().all(|s| expected.contains(*s));
                prop_assert_eq!(d.allowed(), ok);
                let got: BTreeSet<String> = d.required().into_iter().map(str::to_owned).collect();
                prop_assert_eq!(got, required.into_iter().cloned().collect::<BTreeSet<_>>(), "{} {}\n{}", method, path, source);
            }
            None => {
                prop_assert!(d.route().is_none(), "{} {} matched {:?} but the reference has no route\n{}", method, path, d.route().map(|r| &r.path), source);
                let want = if m.allow_unknown { Outcome::Allowed } else { Outcome::UnknownRoute };
                prop_assert_eq!(d.outcome(), want);
                prop_assert!(d.required().is_empty());
            }
        }
    }

    #[test]
    fn validation_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = Catalog::from_toml("fuzz.toml", &text);
    }

    #[test]
    fn validation_never_panics_on_mutated_catalogs(
        m in model(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0..4u8, any::<char>()), 1..6),
    ) {
        let mut text: Vec<char> = m.toml().chars().collect();
        for (at, op, c) in edits {
            if text.is_empty() { break; }
            let i = at.index(text.len());
            match op {
                0 => { text.remove(i); }
                1 => text.insert(i, c),
                2 => text[i] = c,
                _ => text.insert(i, ['"', '[', ']', '=', '\n', '{', '}', ':', '*'][i % 9]),
            }
        }
        let text: String = text.into_iter().collect();
        if let Err(e) = Catalog::from_toml("mutated.toml", &text) {
            for err in &e.errors {
                prop_assert!(err.line >= 1 && err.column >= 1 && !err.message.is_empty(), "{:?}\n{}", err, text);
            }
        }
    }

    #[test]
    fn decisions_never_panic_on_arbitrary_requests(method in ".{0,8}", path in "\\PC{0,40}", raw in proptest::collection::vec(any::<u8>(), 0..40)) {
        let c = super::seed("atender");
        let g = c.compile_grants(&["full_access"]);
        let _ = c.decide_route(&g, &method, &path);
        let lossy = String::from_utf8_lossy(&raw);
        let _ = c.decide_route(&g, "GET", &format!("/api/v1/kb/{lossy}"));
        let _ = keyward_scopes::path::normalize(&path);
    }
}
