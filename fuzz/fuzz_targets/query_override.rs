//! Method overrides in query strings (docs/SECURITY.md): keyward's reading
//! of a `_method` parameter (`keyward_scopes::query`, and the decision
//! that refuses it) against the Rust models of
//! `crates/keyward/tests/it/parsers/model.rs`, which the differential test
//! checks against the real parsers (PHP, Node's querystring and qs, Rack,
//! Python).
//!
//! Input: the query string (UTF-8; other inputs are skipped). Checked:
//! - keyward refuses exactly what the slow reference of its documented
//!   rule reads as an override;
//! - whatever any parser's model reads as `_method`, keyward refuses;
//! - a route decision for a request the key may make is `UNKNOWN_ROUTE`
//!   exactly when the query holds an override (the catalog does not
//!   allow them), and allowed otherwise.
//!
//! Each rule broken panics with the rule's name and the query.

#![no_main]

use std::sync::LazyLock;

use keyward_scopes::{Catalog, Grants, Outcome};
use libfuzzer_sys::fuzz_target;

#[path = "../../crates/keyward/tests/it/parsers/model.rs"]
mod model;

const CATALOG: &str = r#"
[api]
name = "Fuzz"
key_prefix = "fz"

[resources.things]
actions.read = "Read things"

[[routes]]
methods = ["GET"]
path = "/things/{id}"
scopes = ["things:read"]
"#;

static ENGINE: LazyLock<(Catalog, Grants)> = LazyLock::new(|| {
    let catalog = Catalog::from_toml("fuzz.toml", CATALOG).expect("the fuzz catalog is valid");
    let grants = catalog.compile_grants(&["things:read".to_owned()]);
    (catalog, grants)
});

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let target = format!("/things/1?{query}");
    let refused = !matches!(keyward_scopes::query::method_override(&target), Ok(None));
    let reference = model::reference(query, model::ALL_STEPS);
    assert_eq!(
        refused, reference,
        "keyward's reading differs from the documented rule (reference says {reference}) for {query:?}"
    );
    let readers = model::readers(query, false);
    assert!(
        readers.is_empty() || refused,
        "{readers:?} read `_method` but keyward does not, for {query:?}"
    );
    let (catalog, grants) = &*ENGINE;
    let outcome = catalog.decide_route(grants, "GET", &target).outcome();
    let expected = if refused { Outcome::UnknownRoute } else { Outcome::Allowed };
    assert_eq!(outcome, expected, "the decision for GET {target:?}");
});
