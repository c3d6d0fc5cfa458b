//! The JSON HTTP API (docs/API.md) in-process: the real
//! axum router over a SQLite store in a temporary directory and the demo
//! catalog, built once; each input is one request through
//! `tower::ServiceExt::oneshot`.
//!
//! Input: a selector byte, then the body (or the query string of a GET).
//! - `selector % 8` picks the endpoint: 0 `POST /v1/verify`, 1 `POST
//!   /v1/keys`, 2 `PATCH /v1/keys/{id}`, 3 `POST /v1/keys/{id}/revoke`, 4
//!   `POST /v1/keys/{id}/rotate`, 5 `GET /v1/keys?...`, 6 `GET
//!   /v1/audit?...`, 7 `GET /v1/keys/{id}`;
//! - bits 3-4 (plus 2, mod 4) pick the key `{id}` and `@KEY@` stand for:
//!   slots 0 and 1 are live keys (replaced once revoked, rotated or
//!   expired, so the store grows by about one key per such request), slot
//!   2 a revoked key (409s), slot 3 an unknown id; `GET /v1/keys/{id}` in
//!   slot 3 takes the rest of the input as the id. Readable selectors: the
//!   digits `0`-`7` are the endpoints on slot 0, `8`-`?` on slot 1, space
//!   to `'` on the revoked key, `(` to `/` on the unknown one;
//! - bit 6 sends `Content-Type: text/plain` instead of JSON, bit 7 no
//!   management key.
//!
//! In the body `@KEY@` becomes the slot's customer key (slot 3: a
//! well-formed unknown one) and `@MK@` the management key; in a query
//! `@ID@` becomes the slot's key id. Bytes a URI cannot hold are
//! percent-encoded (a raw `%` is kept, so broken escapes get through).
//!
//! Asserted: never a 5xx; a 400, 401, 403, 404, 409, 413 or 415 is
//! `application/problem+json` with a JSON body whose `status` is the
//! status; a 2xx is `application/json`. Every new (endpoint, status,
//! content type) seen is printed once on stderr.
//!
//! The store lives in a directory under `$TMPDIR` that is not removed at
//! exit (libFuzzer exits without running destructors): `scripts/fuzz`
//! points `TMPDIR` at a scratch directory it removes.

#![no_main]

use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use keyward::cli::context::DEMO_CATALOG;
use keyward::config::{ServerConfig, ServerFlags, ServerTable};
use keyward::http::{self, AppState};
use keyward::keys::management::create_management_key;
use keyward::keys::{format, AccountScope, KeyId, KeyName, KeyService, NewKey};
use keyward::services::Services;
use keyward::store::Store;
use keyward::usage::Recorder;
use keyward::verify::Verifier;
use keyward_scopes::Catalog;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tower::ServiceExt;

/// Statuses whose body must be problem+json (docs/API.md, "Errors": every
/// error of the API is).
const PROBLEM_STATUSES: [u16; 7] = [400, 401, 403, 404, 409, 413, 415];
const PROBLEM_JSON: &str = "application/problem+json";
const UNKNOWN_ID: &str = "key_00000000000000000000";
const LIVE_SLOTS: usize = 2;

struct Slot {
    id: String,
    key: String,
}

struct App {
    runtime: tokio::runtime::Runtime,
    router: Router,
    keys: KeyService,
    management_key: String,
    unknown_key: String,
    slots: Mutex<Vec<Slot>>,
    seen: Mutex<HashSet<(u8, u16, String)>>,
    _dir: tempfile::TempDir,
}

async fn new_slot(keys: &KeyService) -> Result<Slot, String> {
    let new = NewKey::parse("acme", "fuzz", &["campaigns:read", "leads:all"], &keys.catalog()).map_err(|e| e.to_string())?;
    let (record, secret) = keys
        .create(new, "fuzz", &AccountScope::operator())
        .await
        .map_err(|e| e.to_string())?;
    Ok(Slot {
        id: record.id,
        key: secret.reveal().to_owned(),
    })
}

impl App {
    /// Assembled as `keyward serve` does (crates/keyward/src/cli/serve.rs),
    /// without the listener, the change feed and the usage flusher.
    fn start() -> Result<App, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let dir = tempfile::Builder::new()
            .prefix("keyward-fuzz-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let catalog = keyward::catalog::LiveCatalog::fixed(Catalog::from_toml("demo", DEMO_CATALOG).map_err(|e| e.to_string())?);
        let config = ServerConfig::layered(ServerTable::default(), ServerFlags::default())?;
        let (state, management_key, slots) = runtime.block_on(async {
            let store = Store::open_sqlite(&dir.path().join("keyward.db"))
                .await
                .map_err(|e| e.to_string())?;
            let name = KeyName::parse("fuzz").map_err(|e| e.to_string())?;
            let (_, management) = create_management_key(&store, name, None, "fuzz")
                .await
                .map_err(|e| e.to_string())?;
            let verifier = Arc::new(Verifier::new(catalog.clone(), store.clone(), &config.cache));
            let recorder = Arc::new(Recorder::new(config.usage));
            let services = Services::for_server(&store, &verifier, recorder, &config);
            let state = AppState::new(services, verifier, config, std::net::SocketAddr::from(([127, 0, 0, 1], 8080)))?;
            let mut slots = Vec::new();
            for _ in 0..LIVE_SLOTS {
                slots.push(new_slot(&state.keys).await?);
            }
            let revoked = new_slot(&state.keys).await?;
            state
                .keys
                .revoke(
                    &KeyId::parse(&revoked.id).map_err(|e| e.to_string())?,
                    None,
                    "fuzz",
                    &AccountScope::operator(),
                )
                .await
                .map_err(|e| e.to_string())?;
            slots.push(revoked);
            Ok::<_, String>((Arc::new(state), management.reveal().to_owned(), slots))
        })?;
        let unknown_key = format::generate("cs", "live").map_err(|e| e.to_string())?;
        Ok(App {
            keys: state.keys.clone(),
            router: http::router(state),
            runtime,
            management_key,
            unknown_key: unknown_key.reveal().to_owned(),
            slots: Mutex::new(slots),
            seen: Mutex::new(HashSet::new()),
            _dir: dir,
        })
    }
}

static APP: LazyLock<App> = LazyLock::new(|| App::start().unwrap_or_else(|e| panic!("http_api: setup failed: {e}")));

/// Bytes a request target cannot hold (and `also`), percent-encoded.
fn encode(bytes: &[u8], also: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x21..0x7f).contains(&b) && b != b'#' && !also.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let app = &*APP;
    let endpoint = selector % 8;
    let slot = usize::from(((selector >> 3) + 2) & 3);
    let plain_text = selector & 0x40 != 0;
    let anonymous = selector & 0x80 != 0;

    let (id, key) = {
        let slots = app.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots.get(slot) {
            Some(s) => (s.id.clone(), s.key.clone()),
            None => (UNKNOWN_ID.to_owned(), app.unknown_key.clone()),
        }
    };
    let body = replace(rest, b"@KEY@", key.as_bytes());
    let body = replace(&body, b"@MK@", app.management_key.as_bytes());
    let (method, uri, body) = match endpoint {
        0 => (Method::POST, "/v1/verify".to_owned(), body),
        1 => (Method::POST, "/v1/keys".to_owned(), body),
        2 => (Method::PATCH, format!("/v1/keys/{id}"), body),
        3 => (Method::POST, format!("/v1/keys/{id}/revoke"), body),
        4 => (Method::POST, format!("/v1/keys/{id}/rotate"), body),
        5 | 6 => {
            let q = encode(&replace(rest, b"@ID@", id.as_bytes()), b"");
            let path = if endpoint == 5 { "/v1/keys" } else { "/v1/audit" };
            (Method::GET, format!("{path}?{q}"), Vec::new())
        }
        _ if slot == 3 => (Method::GET, format!("/v1/keys/{}", encode(rest, b"/?")), Vec::new()),
        _ => (Method::GET, format!("/v1/keys/{id}"), Vec::new()),
    };

    let mut request = Request::builder().method(method.clone()).uri(&uri);
    if !anonymous {
        request = request.header(header::AUTHORIZATION, format!("Bearer {}", app.management_key));
    }
    let content_type = if plain_text { "text/plain" } else { "application/json" };
    let Ok(request) = request
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
    else {
        return; // not a request a client could send
    };

    let (status, response_type, bytes) = app.runtime.block_on(async {
        let response = match app.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let response_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        (status, response_type, bytes)
    });
    let text = String::from_utf8_lossy(&bytes);
    let what = format!(
        "{method} {uri} ({content_type}{})",
        if anonymous { ", no key" } else { "" }
    );

    if app
        .seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert((endpoint, status.as_u16(), response_type.clone()))
    {
        eprintln!("http_api: seen {method} endpoint {endpoint}: {status} {response_type:?}");
    }

    assert!(!status.is_server_error(), "{what} answered {status}: {text}");
    if status.is_success() {
        assert_eq!(response_type, "application/json", "{what} answered {status}");
    } else if PROBLEM_STATUSES.contains(&status.as_u16()) {
        assert_eq!(
            response_type, PROBLEM_JSON,
            "{what} answered {status} without problem+json: {text}"
        );
        let problem: Value =
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{what}: problem body is not JSON ({e}): {text}"));
        assert_eq!(problem["status"], status.as_u16(), "{what}: problem status: {text}");
    }

    // Keep the slots live: a revoked, rotated or expired key is replaced.
    let replaced = matches!(
        (endpoint, status),
        (_, StatusCode::CONFLICT) | (3, StatusCode::OK) | (4, StatusCode::CREATED)
    );
    if replaced && slot < LIVE_SLOTS {
        let rotated: Option<Slot> = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
            Some(Slot {
                id: v["id"].as_str()?.to_owned(),
                key: v["key"].as_str()?.to_owned(),
            })
        });
        let fresh = match rotated {
            Some(s) if endpoint == 4 => s,
            _ => app
                .runtime
                .block_on(new_slot(&app.keys))
                .unwrap_or_else(|e| panic!("http_api: cannot create a key: {e}")),
        };
        let mut slots = app.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slots.get_mut(slot) {
            *s = fresh;
        }
    }
});
