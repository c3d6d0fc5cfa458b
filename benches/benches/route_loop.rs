//! A tight loop of route decisions, for profilers (perf, callgrind):
//! `cargo bench -p keyward-benches --bench route_loop` (the executable it
//! prints with `--no-run` takes the iteration count as its argument).
#![allow(clippy::unwrap_used)]
use keyward_benches::{grants, keyward_catalog, METHOD, NEEDED_SCOPE, PATH};
use std::hint::black_box;
fn main() {
    let catalog = keyward_scopes::Catalog::from_toml("bench.toml", &keyward_catalog()).unwrap();
    let g = catalog.compile_grants(&grants(10, NEEDED_SCOPE));
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let start = std::time::Instant::now();
    let mut allowed = 0u64;
    for _ in 0..n {
        allowed += u64::from(catalog.decide_route(&g, black_box(METHOD), black_box(PATH)).allowed());
    }
    let per = start.elapsed().as_nanos() as f64 / n as f64;
    println!("{allowed} allowed, {per:.1} ns per decision");
}
