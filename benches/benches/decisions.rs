//! The same decisions in keyward, Cedar and casbin, with 1, 10 and 100
//! grants per key: by scope ("may this key use r37:delete?") and by method
//! and path ("may this key DELETE /api/v1/r37/8f14e45f?").
//!
//! Each engine gets its natural setup done once, outside the timing:
//! - keyward: the catalog loaded, the key's grants compiled;
//! - Cedar, the model its expert users write (`cedar_one_policy`): one
//!   policy, `permit(principal, action, resource) when { action in
//!   principal.scopes };`, scopes as actions, wildcards (`r37:*`, `*`) as
//!   action groups, the key an entity whose `scopes` are its grants; by
//!   route, a router (matchit) resolves the request's scope first and Cedar
//!   is asked about it (routing is data, not policy). Entities, policy set
//!   and authorizer are built once;
//! - casbin's best model (`casbin_g_only`): `m = g(r.sub, r.obj)` with no
//!   `p` lines, the key grouped into its grants and wildcards grouped into
//!   their scopes; by route, matchit first as well;
//! - the first models of this bench, kept for comparison: Cedar with one
//!   policy per scope or route (`cedar_per_scope_policies`), casbin RBAC
//!   with `keyMatch2` routes (`casbin_rbac_keymatch`);
//! - floors: a `HashSet<String>` of the key's expanded scopes, and matchit
//!   plus that set.
//!
//! Every model is first checked to allow and deny the same requests as
//! keyward, for every scope, with plain and wildcard grants. A counting
//! allocator then checks that keyward's decisions through the public API
//! a verify request takes (`Catalog::requirement` then `decide`, and
//! `decide_route`) allocate nothing.
//!
//! Run: `cargo bench -p keyward-benches --bench decisions`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityUid, PolicySet, Request, RestrictedExpression,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use keyward_benches::{grants, keyward_catalog, routes, scopes, METHOD, NEEDED_SCOPE, PATH, RESOURCES};
use keyward_scopes::Catalog;

const GRANT_COUNTS: [usize; 3] = [1, 10, 100];

/// Counts every allocation of the process (the bench is one thread while
/// it counts).
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `dealloc` and `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Allocations per call of `f`, over 1,000 calls.
fn allocations_per_call(mut f: impl FnMut() -> bool) -> f64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..1000 {
        black_box(f());
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / 1000.0
}

/// The wildcard groups a scope belongs to: its resource's `r:*` and `*`.
fn groups_of(scope: &str) -> [String; 2] {
    let resource = scope.split(':').next().unwrap_or("");
    [format!("{resource}:*"), "*".to_owned()]
}

/// A request's scope by method and path, as an API's router finds it.
struct Router {
    by_method: HashMap<&'static str, matchit::Router<String>>,
}

impl Router {
    fn new() -> Router {
        let mut by_method: HashMap<&'static str, matchit::Router<String>> = HashMap::new();
        for r in routes() {
            by_method
                .entry(r.method)
                .or_default()
                .insert(r.template.clone(), r.scope.clone())
                .unwrap();
        }
        Router { by_method }
    }

    fn scope(&self, method: &str, path: &str) -> Option<&str> {
        let router = self.by_method.get(method)?;
        router.at(path).ok().map(|m| m.value.as_str())
    }
}

/// Cedar as its expert users write it: one policy, scopes as actions,
/// wildcards as action groups, the key's grants an attribute.
struct CedarOnePolicy {
    policies: PolicySet,
    entities: Entities,
    authorizer: Authorizer,
    key: EntityUid,
    resource: EntityUid,
    actions: HashMap<String, EntityUid>,
}

impl CedarOnePolicy {
    fn new(grants: &[String]) -> CedarOnePolicy {
        let action = |name: &str| uid(&format!("Action::\"{name}\""));
        let mut entities = Vec::new();
        let mut actions = HashMap::new();
        for scope in scopes() {
            let parents: HashSet<EntityUid> = groups_of(&scope).iter().map(|g| action(g)).collect();
            entities.push(Entity::new_no_attrs(action(&scope), parents));
            actions.insert(scope.clone(), action(&scope));
        }
        for r in 0..RESOURCES {
            entities.push(Entity::new_no_attrs(
                action(&format!("r{r}:*")),
                HashSet::from([action("*")]),
            ));
        }
        entities.push(Entity::new_no_attrs(action("*"), HashSet::new()));
        let key = uid("Key::\"k\"");
        let held =
            RestrictedExpression::new_set(grants.iter().map(|g| RestrictedExpression::new_entity_uid(action(g))));
        entities.push(
            Entity::new(
                key.clone(),
                HashMap::from([("scopes".to_owned(), held)]),
                HashSet::new(),
            )
            .unwrap(),
        );
        CedarOnePolicy {
            policies: "permit(principal, action, resource) when { action in principal.scopes };"
                .parse()
                .unwrap(),
            entities: Entities::from_entities(entities, None).unwrap(),
            authorizer: Authorizer::new(),
            key,
            resource: uid("Api::\"bench\""),
            actions,
        }
    }

    fn by_scope(&self, scope: &str) -> bool {
        let Some(action) = self.actions.get(scope) else {
            return false;
        };
        let request = Request::new(
            self.key.clone(),
            action.clone(),
            self.resource.clone(),
            Context::empty(),
            None,
        )
        .unwrap();
        self.authorizer
            .is_authorized(&request, &self.policies, &self.entities)
            .decision()
            == Decision::Allow
    }
}

/// casbin's best model: `g(r.sub, r.obj)`, no `p` lines.
fn casbin_g_only(grants: &[String]) -> Enforcer {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let model = "[request_definition]\nr = sub, obj\n[policy_definition]\np = sub, obj\n[role_definition]\ng = _, _\n[policy_effect]\ne = some(where (p.eft == allow))\n[matchers]\nm = g(r.sub, r.obj)\n";
        let mut e = Enforcer::new(DefaultModel::from_str(model).await.unwrap(), MemoryAdapter::default())
            .await
            .unwrap();
        let mut groupings: Vec<Vec<String>> = grants.iter().map(|g| vec!["k".to_owned(), g.clone()]).collect();
        for scope in scopes() {
            for group in groups_of(&scope) {
                groupings.push(vec![group, scope.clone()]);
            }
        }
        e.add_grouping_policies(groupings).await.unwrap();
        e
    })
}

/// The floor: the key's expanded scopes in a `HashSet<String>`.
fn expanded(catalog: &Catalog, grants: &[String]) -> HashSet<String> {
    catalog
        .compile_grants(grants)
        .effective()
        .map(|id| catalog.scope_name(id).to_owned())
        .collect()
}

/// Grant sets whose answers every model must agree on: plain scopes, a
/// resource wildcard, the global wildcard.
fn agreement_cases() -> Vec<Vec<String>> {
    let mut cases = vec![grants(10, NEEDED_SCOPE)];
    let mut with_wildcard = grants(5, NEEDED_SCOPE);
    with_wildcard.push("r12:*".to_owned());
    cases.push(with_wildcard);
    cases.push(vec!["*".to_owned()]);
    cases
}

fn uid(s: &str) -> EntityUid {
    EntityUid::from_str(s).unwrap()
}

struct Cedar {
    scope_policies: PolicySet,
    route_policies: PolicySet,
    entities: Entities,
    key: EntityUid,
    resource: EntityUid,
    http: EntityUid,
}

impl Cedar {
    fn new(grants: &[String]) -> Cedar {
        let mut scope_src = String::new();
        for s in scopes() {
            scope_src.push_str(&format!(
                "permit(principal in Scope::\"{s}\", action == Action::\"{s}\", resource);\n"
            ));
        }
        let mut route_src = String::new();
        for r in routes() {
            route_src.push_str(&format!(
                "permit(principal in Scope::\"{}\", action == Action::\"http\", resource) when {{ context.method == \"{}\" && context.path like \"{}\" }};\n",
                r.scope, r.method, r.like
            ));
        }
        let key = uid("Key::\"k\"");
        let parents: HashSet<EntityUid> = grants.iter().map(|g| uid(&format!("Scope::\"{g}\""))).collect();
        let mut entities: Vec<Entity> = scopes()
            .iter()
            .map(|s| Entity::new_no_attrs(uid(&format!("Scope::\"{s}\"")), HashSet::new()))
            .collect();
        entities.push(Entity::new(key.clone(), HashMap::new(), parents).unwrap());
        Cedar {
            scope_policies: scope_src.parse().unwrap(),
            route_policies: route_src.parse().unwrap(),
            entities: Entities::from_entities(entities, None).unwrap(),
            key,
            resource: uid("Api::\"bench\""),
            http: uid("Action::\"http\""),
        }
    }

    fn by_scope(&self, scope: &str) -> bool {
        let action = EntityUid::from_str(&format!("Action::\"{scope}\"")).unwrap();
        let request = Request::new(self.key.clone(), action, self.resource.clone(), Context::empty(), None).unwrap();
        Authorizer::new()
            .is_authorized(&request, &self.scope_policies, &self.entities)
            .decision()
            == Decision::Allow
    }

    fn by_route(&self, method: &str, path: &str) -> bool {
        let context = Context::from_pairs([
            ("method".to_owned(), RestrictedExpression::new_string(method.to_owned())),
            ("path".to_owned(), RestrictedExpression::new_string(path.to_owned())),
        ])
        .unwrap();
        let request = Request::new(
            self.key.clone(),
            self.http.clone(),
            self.resource.clone(),
            context,
            None,
        )
        .unwrap();
        Authorizer::new()
            .is_authorized(&request, &self.route_policies, &self.entities)
            .decision()
            == Decision::Allow
    }
}

struct Casbin {
    by_scope: Enforcer,
    by_route: Enforcer,
}

impl Casbin {
    fn new(grants: &[String]) -> Casbin {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let scope_model = "[request_definition]\nr = sub, obj\n[policy_definition]\np = sub, obj\n[role_definition]\ng = _, _\n[policy_effect]\ne = some(where (p.eft == allow))\n[matchers]\nm = g(r.sub, p.sub) && r.obj == p.obj\n";
            let route_model = "[request_definition]\nr = sub, obj, act\n[policy_definition]\np = sub, obj, act\n[role_definition]\ng = _, _\n[policy_effect]\ne = some(where (p.eft == allow))\n[matchers]\nm = g(r.sub, p.sub) && keyMatch2(r.obj, p.obj) && r.act == p.act\n";
            let groupings: Vec<Vec<String>> = grants.iter().map(|g| vec!["k".to_owned(), g.clone()]).collect();

            let mut by_scope = Enforcer::new(DefaultModel::from_str(scope_model).await.unwrap(), MemoryAdapter::default()).await.unwrap();
            by_scope.add_policies(scopes().into_iter().map(|s| vec![s.clone(), s]).collect()).await.unwrap();
            by_scope.add_grouping_policies(groupings.clone()).await.unwrap();

            let mut by_route = Enforcer::new(DefaultModel::from_str(route_model).await.unwrap(), MemoryAdapter::default()).await.unwrap();
            let rules = routes().into_iter().map(|r| vec![r.scope, r.key_match, r.method.to_owned()]).collect();
            by_route.add_policies(rules).await.unwrap();
            by_route.add_grouping_policies(groupings).await.unwrap();
            Casbin { by_scope, by_route }
        })
    }
}

fn decisions(c: &mut Criterion) {
    let catalog = Catalog::from_toml("bench.toml", &keyward_catalog()).unwrap();
    let router = Router::new();

    // Every model answers every scope and route the same way, wildcards
    // included, before anything is timed.
    for g in agreement_cases() {
        let compiled = catalog.compile_grants(&g);
        let cedar = CedarOnePolicy::new(&g);
        let casbin = casbin_g_only(&g);
        let floor = expanded(&catalog, &g);
        for scope in scopes() {
            let need = catalog.requirement(&[scope.as_str()]).unwrap();
            let keyward = catalog.decide(&compiled, &need).allowed();
            assert_eq!(cedar.by_scope(&scope), keyward, "cedar_one_policy, {scope}, {g:?}");
            assert_eq!(
                casbin.enforce(("k", scope.as_str())).unwrap(),
                keyward,
                "casbin_g_only, {scope}, {g:?}"
            );
            assert_eq!(floor.contains(&scope), keyward, "floor, {scope}");
        }
        for r in routes() {
            let path = r.template.replace("{id}", "8f14e45f").replace("{op}", "x");
            let keyward = catalog.decide_route(&compiled, r.method, &path).allowed();
            let scope = router.scope(r.method, &path).unwrap();
            assert_eq!(cedar.by_scope(scope), keyward, "cedar_one_policy, {} {path}", r.method);
            assert_eq!(
                casbin.enforce(("k", scope)).unwrap(),
                keyward,
                "casbin_g_only, {} {path}",
                r.method
            );
        }
    }

    // keyward's decisions allocate nothing, through the public API a
    // verify request takes.
    {
        let compiled = catalog.compile_grants(&grants(10, NEEDED_SCOPE));
        let by_scope = allocations_per_call(|| {
            let need = catalog.requirement(black_box(&[NEEDED_SCOPE])).unwrap();
            catalog.decide(&compiled, &need).allowed()
        });
        let by_route = allocations_per_call(|| {
            catalog
                .decide_route(&compiled, black_box(METHOD), black_box(PATH))
                .allowed()
        });
        let id = catalog.scope_id(NEEDED_SCOPE).unwrap();
        let by_id = allocations_per_call(|| catalog.allows(&compiled, black_box(id)));
        let cedar = CedarOnePolicy::new(&grants(10, NEEDED_SCOPE));
        let cedar_allocations = allocations_per_call(|| cedar.by_scope(black_box(NEEDED_SCOPE)));
        println!(
            "allocations per decision at 10 grants: keyward requirement+decide {by_scope}, decide_route {by_route}, \
             allows(id) {by_id}; cedar_one_policy {cedar_allocations}"
        );
        assert_eq!(
            (by_scope, by_route, by_id),
            (0.0, 0.0, 0.0),
            "a keyward decision allocated"
        );
    }

    let mut by_scope = c.benchmark_group("by_scope");
    for n in GRANT_COUNTS {
        let g = grants(n, NEEDED_SCOPE);
        let compiled = catalog.compile_grants(&g);
        let cedar = Cedar::new(&g);
        let casbin = Casbin::new(&g);
        let cedar_one = CedarOnePolicy::new(&g);
        let casbin_g = casbin_g_only(&g);
        let floor = expanded(&catalog, &g);
        // The first models agree too.
        let need = catalog.requirement(&[NEEDED_SCOPE]).unwrap();
        assert!(catalog.decide(&compiled, &need).allowed());
        assert!(cedar.by_scope(NEEDED_SCOPE) && !cedar.by_scope("r49:admin"));
        assert!(casbin.by_scope.enforce(("k", NEEDED_SCOPE)).unwrap());
        assert!(!casbin.by_scope.enforce(("k", "r49:admin")).unwrap());

        by_scope.bench_with_input(BenchmarkId::new("keyward", n), &n, |b, _| {
            b.iter(|| {
                let need = catalog.requirement(black_box(&[NEEDED_SCOPE])).unwrap();
                catalog.decide(&compiled, &need).allowed()
            })
        });
        let id = catalog.scope_id(NEEDED_SCOPE).unwrap();
        by_scope.bench_with_input(BenchmarkId::new("keyward_by_id", n), &n, |b, _| {
            b.iter(|| catalog.allows(&compiled, black_box(id)))
        });
        by_scope.bench_with_input(BenchmarkId::new("cedar_one_policy", n), &n, |b, _| {
            b.iter(|| cedar_one.by_scope(black_box(NEEDED_SCOPE)))
        });
        by_scope.bench_with_input(BenchmarkId::new("casbin_g_only", n), &n, |b, _| {
            b.iter(|| casbin_g.enforce(("k", black_box(NEEDED_SCOPE))).unwrap())
        });
        by_scope.bench_with_input(BenchmarkId::new("floor_hashset", n), &n, |b, _| {
            b.iter(|| floor.contains(black_box(NEEDED_SCOPE)))
        });
        by_scope.bench_with_input(BenchmarkId::new("cedar_per_scope_policies", n), &n, |b, _| {
            b.iter(|| cedar.by_scope(black_box(NEEDED_SCOPE)))
        });
        by_scope.bench_with_input(BenchmarkId::new("casbin_rbac_keymatch", n), &n, |b, _| {
            b.iter(|| casbin.by_scope.enforce(("k", black_box(NEEDED_SCOPE))).unwrap())
        });
    }
    by_scope.finish();

    let mut by_route = c.benchmark_group("by_route");
    for n in GRANT_COUNTS {
        let g = grants(n, NEEDED_SCOPE);
        let compiled = catalog.compile_grants(&g);
        let cedar = Cedar::new(&g);
        let casbin = Casbin::new(&g);
        let cedar_one = CedarOnePolicy::new(&g);
        let casbin_g = casbin_g_only(&g);
        let floor = expanded(&catalog, &g);
        assert!(catalog.decide_route(&compiled, METHOD, PATH).allowed());
        assert!(!catalog
            .decide_route(&compiled, "POST", "/api/v1/r37/1/admin/x")
            .allowed());
        assert!(cedar.by_route(METHOD, PATH));
        assert!(casbin.by_route.enforce(("k", PATH, METHOD)).unwrap());
        assert!(!casbin.by_route.enforce(("k", PATH, "PATCH")).unwrap());

        by_route.bench_with_input(BenchmarkId::new("keyward", n), &n, |b, _| {
            b.iter(|| {
                catalog
                    .decide_route(&compiled, black_box(METHOD), black_box(PATH))
                    .allowed()
            })
        });
        by_route.bench_with_input(BenchmarkId::new("matchit_cedar_one_policy", n), &n, |b, _| {
            b.iter(|| {
                router
                    .scope(black_box(METHOD), black_box(PATH))
                    .is_some_and(|scope| cedar_one.by_scope(scope))
            })
        });
        by_route.bench_with_input(BenchmarkId::new("matchit_casbin_g_only", n), &n, |b, _| {
            b.iter(|| {
                router
                    .scope(black_box(METHOD), black_box(PATH))
                    .is_some_and(|scope| casbin_g.enforce(("k", scope)).unwrap())
            })
        });
        by_route.bench_with_input(BenchmarkId::new("floor_matchit_hashset", n), &n, |b, _| {
            b.iter(|| {
                router
                    .scope(black_box(METHOD), black_box(PATH))
                    .is_some_and(|scope| floor.contains(scope))
            })
        });
        by_route.bench_with_input(BenchmarkId::new("cedar_per_route_policies", n), &n, |b, _| {
            b.iter(|| cedar.by_route(black_box(METHOD), black_box(PATH)))
        });
        by_route.bench_with_input(BenchmarkId::new("casbin_rbac_keymatch", n), &n, |b, _| {
            b.iter(|| {
                casbin
                    .by_route
                    .enforce(("k", black_box(PATH), black_box(METHOD)))
                    .unwrap()
            })
        });
    }
    by_route.finish();

    // keyward's one-off costs, for scale: loading the catalog and compiling
    // a key's grants (done once per key record, then cached).
    let mut setup = c.benchmark_group("keyward_setup");
    let source = keyward_catalog();
    setup.bench_function("load_catalog_200_scopes_250_routes", |b| {
        b.iter(|| Catalog::from_toml("bench.toml", black_box(&source)).is_ok())
    });
    for n in GRANT_COUNTS {
        let g = grants(n, NEEDED_SCOPE);
        setup.bench_with_input(BenchmarkId::new("compile_grants", n), &g, |b, g| {
            b.iter(|| catalog.compile_grants(black_box(g)))
        });
    }
    setup.finish();
}

criterion_group!(benches, decisions);
criterion_main!(benches);
