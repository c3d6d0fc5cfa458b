//! Catalog files (docs/CATALOG.md): any text through
//! `Catalog::from_toml`, then, for a catalog that loads, every export and
//! the grant machinery with the catalog's own names.
//!
//! Invariants of a loaded catalog:
//! - the JSON and OpenAPI exports are JSON;
//! - granting every scope name covers exactly the grantable scopes, and the
//!   names that are not grantable are reported stale (a non-grantable
//!   action is never in the effective set, section 1);
//! - every name `grantable_names` lists passes `check_grants`, and granting
//!   it alone covers only grantable scopes, each explained by `explain`;
//! - each route is reachable: its template, filled in and percent-encoded,
//!   matches a route for its first method.

#![no_main]

use keyward_scopes::export::{to_json, to_markdown, to_openapi, to_typescript};
use keyward_scopes::Catalog;
use libfuzzer_sys::fuzz_target;

/// Grantable names checked one by one (bounds the time per input).
const SINGLE_GRANTS_CHECKED: usize = 64;

fn encode_segment(segment: &str, out: &mut String) {
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// A request path the template matches: `{param}` as `p`, `{*rest}` as
/// `r/s`, literals percent-encoded.
fn instance(template: &str) -> String {
    let mut out = String::new();
    for segment in template.split('/').skip(1) {
        out.push('/');
        if segment.starts_with("{*") && segment.ends_with('}') {
            out.push_str("r/s");
        } else if segment.starts_with('{') && segment.ends_with('}') {
            out.push('p');
        } else {
            encode_segment(segment, &mut out);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let catalog = match Catalog::from_toml("fuzz", source) {
        Ok(catalog) => catalog,
        Err(errors) => {
            let _ = errors.to_string();
            return;
        }
    };

    let json = to_json(&catalog);
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&json) {
        panic!("to_json is not JSON ({e}): {json}");
    }
    let openapi = to_openapi(&catalog);
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&openapi) {
        panic!("to_openapi is not JSON ({e}): {openapi}");
    }
    let _ = to_typescript(&catalog);
    let _ = to_markdown(&catalog);

    // Every scope name granted: exactly the grantable scopes.
    let names: Vec<&str> = catalog.scopes().iter().map(|s| s.name.as_str()).collect();
    let all = catalog.compile_grants(&names);
    let effective: Vec<_> = all.effective().collect();
    for (i, name) in names.iter().enumerate() {
        let id = catalog
            .scope_id(name)
            .unwrap_or_else(|| panic!("scope `{name}` has no id"));
        let grantable = catalog.is_grantable_scope(id);
        assert_eq!(
            effective.contains(&id),
            grantable,
            "granting every scope name: `{name}` covered = {}, grantable = {grantable}",
            !grantable
        );
        assert_eq!(
            all.stale().contains(&i),
            !grantable,
            "`{name}`: stale iff not grantable"
        );
        let required = catalog
            .requirement(&[*name])
            .unwrap_or_else(|e| panic!("`{name}` is a scope but not a requirement: {e}"));
        assert_eq!(catalog.decide(&all, &required).allowed(), grantable, "`{name}`");
    }

    // Every grantable name: valid on a key, covering only grantable scopes.
    let grantable = catalog.grantable_names();
    if !grantable.is_empty() {
        if let Err(errors) = catalog.check_grants(&grantable) {
            panic!("grantable_names lists names check_grants refuses: {errors:?}");
        }
    }
    for name in grantable.iter().take(SINGLE_GRANTS_CHECKED) {
        let one = [name.as_str()];
        let grants = catalog.compile_grants(&one);
        assert!(!grants.has_stale(), "grantable `{name}` compiles as stale");
        for id in grants.effective() {
            assert!(
                catalog.is_grantable_scope(id),
                "`{name}` covers the non-grantable `{}`",
                catalog.scope_name(id)
            );
            assert!(
                catalog.explain(&one, id).is_some(),
                "`{name}` covers `{}` but explain finds no reason",
                catalog.scope_name(id)
            );
        }
    }

    // Every route matches its own filled-in template.
    let everything = catalog.compile_grants(&grantable);
    for route in catalog.routes() {
        let Some(method) = route.methods.first() else {
            panic!("route {} has no method", route.path);
        };
        let path = instance(&route.path);
        let decision = catalog.decide_route(&everything, method.as_str(), &path);
        assert!(
            decision.route().is_some(),
            "route `{} {}` (line {}) is unreachable: {path:?} gives {:?}",
            method.as_str(),
            route.path,
            route.line,
            decision.no_route()
        );
    }
});
