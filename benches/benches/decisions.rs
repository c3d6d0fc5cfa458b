//! The same decisions in keyward, Cedar and casbin, with 1, 10 and 100
//! grants per key: by scope ("may this key use r37:delete?") and by method
//! and path ("may this key DELETE /api/v1/r37/8f14e45f?").
//!
//! Each engine gets its natural setup done once, outside the timing:
//! - keyward: the catalog loaded, the key's grants compiled;
//! - Cedar: one policy per scope / per route, the key an entity whose
//!   parents are its scopes (grants as entity parents);
//! - casbin: RBAC with the key grouped into its scopes, routes as
//!   `keyMatch2` patterns.
//!
//! Per decision, each does what a request needs: keyward parses the
//! required scope or normalizes and routes the path; Cedar builds its
//! request and context; casbin enforces on the strings.
//!
//! Run: `cargo bench -p keyward-benches --bench decisions`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::str::FromStr;

use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityUid, PolicySet, Request, RestrictedExpression,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use keyward_benches::{grants, keyward_catalog, routes, scopes, METHOD, NEEDED_SCOPE, PATH};
use keyward_scopes::Catalog;

const GRANT_COUNTS: [usize; 3] = [1, 10, 100];

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

    let mut by_scope = c.benchmark_group("by_scope");
    for n in GRANT_COUNTS {
        let g = grants(n, NEEDED_SCOPE);
        let compiled = catalog.compile_grants(&g);
        let cedar = Cedar::new(&g);
        let casbin = Casbin::new(&g);
        // Every engine must give the same answers before it is timed.
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
        by_scope.bench_with_input(BenchmarkId::new("cedar", n), &n, |b, _| {
            b.iter(|| cedar.by_scope(black_box(NEEDED_SCOPE)))
        });
        by_scope.bench_with_input(BenchmarkId::new("casbin", n), &n, |b, _| {
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
        by_route.bench_with_input(BenchmarkId::new("cedar", n), &n, |b, _| {
            b.iter(|| cedar.by_route(black_box(METHOD), black_box(PATH)))
        });
        by_route.bench_with_input(BenchmarkId::new("casbin", n), &n, |b, _| {
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
