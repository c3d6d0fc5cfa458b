//! keyward's own work per verification, without HTTP: authenticate a cached
//! key (format check, SHA-256, cache lookup), decide a route, count usage
//! and serialize the answer. Compare with the per-request time of the load
//! bench to see how much of a request is keyward and how much is HTTP.
//!
//! Run: `cargo bench -p keyward-benches --bench verify_path`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use keyward::keys::{AccountScope, KeyService, NewKey};
use keyward::store::Store;
use keyward::time::Millis;
use keyward::usage::Recorder;
use keyward::verify::{Ask, Authentication, CacheSettings, Code, Verifier};
use keyward_scopes::Catalog;

fn verify_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/catalogs/coldsend.toml");
    let catalog = keyward::catalog::LiveCatalog::fixed(
        Catalog::from_toml(path, &std::fs::read_to_string(path).unwrap()).unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(Store::open_sqlite(&dir.path().join("k.db"))).unwrap();
    let service = KeyService::new(store.clone(), catalog.clone());
    let new = NewKey::parse("acme", "k", &["campaigns:read"], &catalog.current()).unwrap();
    let (_, secret) = rt
        .block_on(service.create(new, "bench", &AccountScope::operator()))
        .unwrap();
    let key = secret.reveal().to_owned();
    let verifier = Verifier::new(catalog, store, &CacheSettings::default());
    // A request takes the catalog version once, as the handlers do.
    let version = verifier.catalog();
    let recorder = Recorder::new(true);
    rt.block_on(verifier.authenticate(&key, Millis::now(), &version)); // fill the cache

    let mut group = c.benchmark_group("verify_path");
    // The pieces, to see where the whole goes.
    let api = verifier.catalog().api().clone();
    group.bench_function("piece_format_and_checksum", |b| {
        b.iter(|| keyward::keys::format::parse(black_box(&key), &api.key_prefix, &api.environments).is_ok())
    });
    group.bench_function("piece_sha256", |b| {
        b.iter(|| keyward::keys::KeyHash::of(black_box(&key)))
    });
    group.bench_function("piece_block_on_empty", |b| {
        b.iter(|| rt.block_on(async { black_box(1) }))
    });
    let Authentication::Key(cached, _) = rt.block_on(verifier.authenticate(&key, Millis::now(), &version)) else {
        panic!()
    };
    group.bench_function("piece_decide_route", |b| {
        b.iter(|| {
            Verifier::decide(
                &cached,
                Ask::Route {
                    method: "GET",
                    path: black_box("/api/public/v1/campaigns/42"),
                },
            )
            .0
        })
    });
    let (_, decision) = Verifier::decide(
        &cached,
        Ask::Route {
            method: "GET",
            path: "/api/public/v1/campaigns/42",
        },
    );
    group.bench_function("piece_usage_record", |b| {
        b.iter(|| {
            recorder.record(
                &cached.id_arc,
                Code::Valid,
                decision
                    .iter()
                    .flat_map(|d| d.required_ids())
                    .map(|id| cached.catalog.usage_scope(id)),
                Millis::now(),
            )
        })
    });
    group.bench_function("authenticate_cached", |b| {
        b.iter(|| {
            rt.block_on(async {
                matches!(
                    verifier
                        .authenticate(black_box(&key), Millis::now(), &verifier.catalog())
                        .await,
                    Authentication::Key(..)
                )
            })
        })
    });
    group.bench_function("whole_handler_work", |b| {
        b.iter(|| {
            rt.block_on(async {
                let now = Millis::now();
                let Authentication::Key(k, _) = verifier.authenticate(black_box(&key), now, &verifier.catalog()).await
                else {
                    panic!()
                };
                let (code, decision) = Verifier::decide(
                    &k,
                    Ask::Route {
                        method: "GET",
                        path: "/api/public/v1/campaigns/42",
                    },
                );
                recorder.record(
                    &k.id_arc,
                    code,
                    decision
                        .iter()
                        .flat_map(|d| d.required_ids())
                        .map(|id| k.catalog.usage_scope(id)),
                    now,
                );
                keyward::http::verify::answer(code, Some(&k), decision.as_ref())
            })
        })
    });
    group.finish();
}

criterion_group!(benches, verify_path);
criterion_main!(benches);
