//! `POST /v1/verify`, for services in any language: parse, authenticate
//! through the cache, decide, count, answer. The hot path: the answer is
//! written straight into the body from parts rendered once per key
//! (`rendered.rs`).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use keyward_scopes::{Decision, ScopeId};
use serde::Deserialize;
use serde_json::json;

use super::json::ApiBytes;
use super::problem::Problem;
use super::rendered::rendered;
use super::AppState;
use crate::time::Millis;
use crate::verify::{Ask, Authentication, CachedKey, Code, Verifier};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest<'a> {
    /// Borrowed from the body when it has no escapes (no allocation).
    #[serde(borrow)]
    #[schema(value_type = String)]
    pub key: Cow<'a, str>,
    pub scopes: Option<Vec<String>>,
    #[serde(borrow)]
    #[schema(value_type = Option<String>)]
    pub method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    #[schema(value_type = Option<String>)]
    pub path: Option<Cow<'a, str>>,
}

/// The content type of a verify answer, built once.
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The verify answer `{valid, code, key_id, account, environment, required,
/// granted, missing, detail?}` (docs/KEYS.md), written straight into
/// the response body: the key's members come pre-rendered from its cache
/// entry, scope names and the detail are escaped by serde_json.
pub fn answer(code: Code, key: Option<&CachedKey>, decision: Option<&Decision<'_>>) -> Response {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(if code == Code::Valid {
        b"{\"valid\":true,\"code\":\""
    } else {
        b"{\"valid\":false,\"code\":\""
    });
    out.extend_from_slice(code.as_str().as_bytes());
    out.extend_from_slice(b"\",");
    match key {
        Some(key) => out.extend_from_slice(rendered(key).json_identity.as_bytes()),
        None => out.extend_from_slice(b"\"key_id\":null,\"account\":null,\"environment\":null"),
    }
    out.extend_from_slice(b",\"required\":");
    write_names(&mut out, decision, |d| d.required_ids());
    out.extend_from_slice(b",\"granted\":");
    match key {
        Some(key) => out.extend_from_slice(rendered(key).json_granted.as_bytes()),
        None => out.extend_from_slice(b"[]"),
    }
    out.extend_from_slice(b",\"missing\":");
    write_names(&mut out, decision, |d| d.missing_ids());
    if let Some(detail) = detail(code, decision) {
        out.extend_from_slice(b",\"detail\":");
        write_str(&mut out, &detail);
    }
    out.push(b'}');
    let mut response = Response::new(axum::body::Body::from(out));
    response.headers_mut().insert(header::CONTENT_TYPE, APPLICATION_JSON);
    response
}

fn write_names<'a, I: Iterator<Item = ScopeId>>(
    out: &mut Vec<u8>,
    decision: Option<&Decision<'a>>,
    ids: impl Fn(&Decision<'a>) -> I,
) {
    out.push(b'[');
    if let Some(d) = decision {
        for (i, id) in ids(d).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, d.catalog().scope_name(id));
        }
    }
    out.push(b']');
}

/// A JSON string, escaped by serde_json (writing to a Vec cannot fail).
fn write_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(out, s);
}

pub(super) fn names<'a>(decision: Option<&Decision<'a>>) -> (Vec<&'a str>, Vec<&'a str>) {
    decision.map_or_else(|| (Vec::new(), Vec::new()), |d| (d.required(), d.missing()))
}

/// The human explanation of a code; `None` for `VALID`.
pub(super) fn detail(code: Code, decision: Option<&Decision<'_>>) -> Option<String> {
    match code {
        Code::Valid => None,
        Code::Malformed => Some("the key is not a key of this API (format or checksum)".to_owned()),
        Code::NotFound => Some("unknown key".to_owned()),
        Code::Expired => Some("the key has expired".to_owned()),
        Code::Revoked => Some("the key has been revoked".to_owned()),
        Code::InsufficientScope | Code::UnknownRoute => Some(
            decision
                .and_then(Decision::detail)
                .unwrap_or_else(|| "no route matches this method and path".to_owned()),
        ),
    }
}

pub(super) fn record_usage(
    state: &AppState,
    key: &CachedKey,
    code: Code,
    decision: Option<&Decision<'_>>,
    now: Millis,
) {
    let scopes = decision
        .filter(|_| code == Code::Valid)
        .into_iter()
        .flat_map(|d| d.required_ids())
        .map(|id| key.catalog.usage_scope(id));
    state.usage.recorder().record(&key.id_arc, code, scopes, now);
}

#[utoipa::path(post, path = "/v1/verify", tag = "verification",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The answer, valid or not", body = super::schemas::VerifyResponse),
        (status = 400, description = "Bad request (unknown scope, malformed JSON)", body = super::schemas::ProblemDetails),
        (status = 503, description = "Storage unavailable and the key not cached", body = super::schemas::ProblemDetails),
    ))]
pub async fn verify(State(state): State<Arc<AppState>>, body: ApiBytes) -> Result<Response, Problem> {
    let started = Instant::now();
    let req: VerifyRequest<'_> = body.parse()?;
    let catalog = state.verifier.live_catalog().load();
    let requirement = match (&req.scopes, &req.method, &req.path) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(Problem::bad_request(
                "give either `scopes` or `method` and `path`, not both",
            ))
        }
        (Some(scopes), None, None) => Some(
            catalog
                .requirement(scopes)
                .map_err(|e| Problem::invalid("scopes", format!("scopes: {e}")))?,
        ),
        (None, Some(_), None) => return Err(Problem::invalid("path", "`method` needs `path`")),
        (None, None, Some(_)) => return Err(Problem::invalid("method", "`path` needs `method`")),
        (None, _, _) => None,
    };
    let now = Millis::now();
    let (key, code) = match state.verifier.authenticate(&req.key, now, &catalog).await {
        Authentication::Unavailable => {
            state.metrics.observe_unavailable(started);
            return Err(Problem::unavailable().with("valid", json!(false)));
        }
        Authentication::Rejected(code) => {
            state.metrics.observe_code(code, started);
            return Ok(answer(code, None, None));
        }
        Authentication::Key(key, code) => (key, code),
    };
    let ask = match (&requirement, &req.method, &req.path) {
        (Some(r), _, _) => Ask::Scopes(r),
        (None, Some(method), Some(path)) => Ask::Route { method, path },
        _ => Ask::Nothing,
    };
    let (code, decision) = if code == Code::Valid {
        Verifier::decide(&key, ask)
    } else {
        (code, None)
    };
    record_usage(&state, &key, code, decision.as_ref(), now);
    let response = answer(code, Some(&key), decision.as_ref());
    state.metrics.observe_code(code, started);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::cli::context::DEMO_CATALOG;
    use crate::keys::KeyRecord;
    use keyward_scopes::Catalog;

    fn record(account: &str, scopes: &[&str]) -> KeyRecord {
        crate::keys::record::sample(account, scopes)
    }

    async fn body(response: Response) -> Value {
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// The hand-assembled answer is the JSON a serializer would write, for
    /// every code and for an identity that needs escaping.
    #[tokio::test]
    async fn answers_are_json_with_every_member_escaped() {
        let catalog = crate::catalog::LiveCatalog::fixed(Catalog::from_toml("demo", DEMO_CATALOG).unwrap()).current();
        let odd = "acme \"quoted\" \\ \n\u{1} é";
        let rec = record(odd, &["campaigns:read", "leads:read"]);
        let key = CachedKey::new(rec.clone(), &catalog);

        let allowed = catalog.decide_route(&key.grants, "GET", "/api/public/v1/campaigns/42");
        let v = body(answer(Code::Valid, Some(&key), Some(&allowed))).await;
        assert_eq!(
            v,
            json!({"valid": true, "code": "VALID", "key_id": "key_abc", "account": odd, "environment": "live",
                   "required": ["campaigns:read"], "granted": ["campaigns:read", "leads:read"], "missing": []})
        );

        let denied = catalog.decide_route(&key.grants, "POST", "/api/public/v1/campaigns");
        let v = body(answer(Code::InsufficientScope, Some(&key), Some(&denied))).await;
        assert_eq!(v["valid"], false);
        assert_eq!(v["code"], "INSUFFICIENT_SCOPE");
        assert_eq!(v["required"], json!(["campaigns:create"]));
        assert_eq!(v["missing"], json!(["campaigns:create"]));
        assert_eq!(v["detail"], "Missing required scopes: campaigns:create");

        for code in [Code::Malformed, Code::NotFound] {
            let v = body(answer(code, None, None)).await;
            assert_eq!(
                v,
                json!({"valid": false, "code": code, "key_id": null, "account": null, "environment": null,
                       "required": [], "granted": [], "missing": [], "detail": detail(code, None)})
            );
        }
        for code in [Code::Expired, Code::Revoked] {
            let v = body(answer(code, Some(&key), None)).await;
            assert_eq!((v["valid"].clone(), v["account"].clone()), (json!(false), json!(odd)));
            assert!(v["detail"].is_string());
        }
    }
}
