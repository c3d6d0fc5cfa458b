//! Fixtures shared by the benches: one synthetic API described three ways
//! (a keyward catalog, Cedar policies, casbin policies), so that each engine
//! answers the same decisions.
//!
//! The API has `RESOURCES` resources with the actions read, write, delete
//! and admin, and five routes per resource.

pub const RESOURCES: usize = 50;
pub const ACTIONS: [&str; 4] = ["read", "write", "delete", "admin"];

/// One route: method, keyward template, casbin `keyMatch2` template, Cedar
/// `like` pattern, required scope.
pub struct RouteSpec {
    pub method: &'static str,
    pub template: String,
    pub key_match: String,
    pub like: String,
    pub scope: String,
}

pub fn routes() -> Vec<RouteSpec> {
    let mut out = Vec::new();
    for r in 0..RESOURCES {
        let base = format!("/api/v1/r{r}");
        let mut add = |method, suffix: &str, match_suffix: &str, like_suffix: &str, action: &str| {
            out.push(RouteSpec {
                method,
                template: format!("{base}{suffix}"),
                key_match: format!("{base}{match_suffix}"),
                like: format!("{base}{like_suffix}"),
                scope: format!("r{r}:{action}"),
            });
        };
        add("GET", "", "", "", "read");
        add("POST", "", "", "", "write");
        add("GET", "/{id}", "/:id", "/*", "read");
        add("DELETE", "/{id}", "/:id", "/*", "delete");
        add("POST", "/{id}/admin/{op}", "/:id/admin/:op", "/*/admin/*", "admin");
    }
    out
}

/// Every scope, in catalog order.
pub fn scopes() -> Vec<String> {
    (0..RESOURCES)
        .flat_map(|r| ACTIONS.iter().map(move |a| format!("r{r}:{a}")))
        .collect()
}

pub fn keyward_catalog() -> String {
    let mut s = String::from("[api]\nname = \"Bench\"\nkey_prefix = \"bn\"\n");
    for r in 0..RESOURCES {
        s.push_str(&format!("[resources.r{r}]\n"));
        for a in ACTIONS {
            s.push_str(&format!("actions.{a} = \"{a} r{r}\"\n"));
        }
    }
    for route in routes() {
        s.push_str(&format!(
            "[[routes]]\nmethods = [\"{}\"]\npath = \"{}\"\nscopes = [\"{}\"]\n",
            route.method, route.template, route.scope
        ));
    }
    s
}

/// `n` grants that include `needed` (last), the others taken from the
/// front of the catalog: the key holds exactly what the decision needs plus
/// `n - 1` unrelated scopes.
pub fn grants(n: usize, needed: &str) -> Vec<String> {
    let mut g: Vec<String> = scopes()
        .into_iter()
        .filter(|s| s != needed)
        .take(n.saturating_sub(1))
        .collect();
    g.push(needed.to_owned());
    g
}

/// The decisions every engine answers: the target scope and request.
pub const NEEDED_SCOPE: &str = "r37:delete";
pub const METHOD: &str = "DELETE";
pub const PATH: &str = "/api/v1/r37/8f14e45f";
