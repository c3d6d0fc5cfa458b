//! `POST /v1/verify` (any language) and `/v1/authz` (forward-auth for
//! nginx `auth_request`, Traefik, Caddy and Envoy). Both are the hot path:
//! parse, authenticate through the cache, decide, count, answer.
//!
//! Forward-auth rules (DESIGN.md section 9): the original request is read
//! from ONE header family (`[server] forward_auth_headers`); the other
//! family with different values is refused (400); two different keys are
//! refused (400); method override headers are refused (403) unless the
//! catalog opts in. A presented key and the query string of an original
//! URI are never logged.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use keyward_scopes::{Decision, NoRoute};
use serde::Deserialize;
use serde_json::json;

use super::json::ApiBytes;
use super::problem::Problem;
use super::AppState;
use crate::config::HeaderFamily;
use crate::verify::{Ask, Authentication, CachedKey, Code};

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

/// The verify answer, serialized straight from borrowed data (no
/// intermediate JSON tree on the hot path).
#[derive(serde::Serialize)]
struct VerifyAnswer<'a> {
    valid: bool,
    code: Code,
    key_id: Option<&'a str>,
    account: Option<&'a str>,
    environment: Option<&'a str>,
    required: Vec<&'a str>,
    granted: &'a [String],
    missing: Vec<&'a str>,
    detail: Option<String>,
}

const METHOD_OVERRIDE_HEADERS: [&str; 3] = ["x-http-method-override", "x-http-method", "x-method-override"];

fn names<'a>(decision: Option<&Decision<'a>>) -> (Vec<&'a str>, Vec<&'a str>) {
    decision.map_or_else(|| (Vec::new(), Vec::new()), |d| (d.required(), d.missing()))
}

fn detail(code: Code, decision: Option<&Decision<'_>>, missing: &[&str]) -> Option<String> {
    match code {
        Code::Valid => None,
        Code::Malformed => Some("the key is not a key of this API (format or checksum)".to_owned()),
        Code::NotFound => Some("unknown key".to_owned()),
        Code::Expired => Some("the key has expired".to_owned()),
        Code::Revoked => Some("the key has been revoked".to_owned()),
        Code::InsufficientScope => Some(format!("Missing required scopes: {}", missing.join(", "))),
        Code::UnknownRoute => Some(match decision.and_then(Decision::no_route) {
            Some(NoRoute::Rejected(why)) => format!("no route: {why}"),
            Some(NoRoute::UnknownMethod) => "no route: unknown method".to_owned(),
            _ => "no route matches this method and path".to_owned(),
        }),
    }
}

fn record_usage(state: &AppState, key: &CachedKey, code: Code, decision: Option<&Decision<'_>>) {
    let key_id: Arc<str> = Arc::clone(&key.id_arc);
    let scopes = decision
        .filter(|_| code == Code::Valid)
        .into_iter()
        .flat_map(|d| d.required_ids());
    state.usage.record(&key_id, code, scopes, crate::time::Millis::now());
}

#[utoipa::path(post, path = "/v1/verify", tag = "verification",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The answer, valid or not", body = super::openapi::VerifyResponse),
        (status = 400, description = "Bad request (unknown scope, malformed JSON)", body = super::openapi::ProblemDetails),
        (status = 503, description = "Storage unavailable and the key not cached", body = super::openapi::ProblemDetails),
    ))]
pub async fn verify(State(state): State<Arc<AppState>>, body: ApiBytes) -> Result<Response, Problem> {
    let started = Instant::now();
    let req: VerifyRequest<'_> = body.parse()?;
    let catalog = state.verifier.catalog().clone();
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
    let (key, code) = match state.verifier.authenticate(&req.key).await {
        Authentication::Unavailable => {
            state.metrics.observe("unavailable", started);
            return Err(Problem::unavailable().with("valid", json!(false)));
        }
        Authentication::Rejected(code) => {
            state.metrics.observe(code.as_str(), started);
            let answer = VerifyAnswer {
                valid: false,
                code,
                key_id: None,
                account: None,
                environment: None,
                required: Vec::new(),
                granted: &[],
                missing: Vec::new(),
                detail: detail(code, None, &[]),
            };
            return Ok(axum::Json(answer).into_response());
        }
        Authentication::Key(key, code) => (key, code),
    };
    let ask = match (&requirement, &req.method, &req.path) {
        (Some(r), _, _) => Ask::Scopes(r),
        (None, Some(method), Some(path)) => Ask::Route { method, path },
        _ => Ask::Nothing,
    };
    let (code, decision) = if code == Code::Valid {
        state.verifier.decide(&key, ask)
    } else {
        (code, None)
    };
    record_usage(&state, &key, code, decision.as_ref());
    let (required, missing) = names(decision.as_ref());
    let answer = VerifyAnswer {
        valid: code == Code::Valid,
        code,
        key_id: Some(&key.record.id),
        account: Some(&key.record.account),
        environment: Some(&key.record.environment),
        detail: detail(code, decision.as_ref(), &missing),
        required,
        granted: &key.record.scopes,
        missing,
    };
    let response = axum::Json(answer).into_response();
    state.metrics.observe(code.as_str(), started);
    Ok(response)
}

/// The presented key: `Authorization: Bearer` or `X-API-Key`; both with
/// different values is refused.
fn presented_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|v| v.trim().to_owned());
    let api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned());
    match (bearer, api_key) {
        (Some(a), Some(b)) if a != b => Err(Problem::bad_request(
            "two different keys were presented (Authorization and X-API-Key)",
        )),
        (a, b) => Ok(a.or(b)),
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, Problem> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(Problem::bad_request(format!("`{name}` is repeated")));
    }
    first
        .map(|v| {
            v.to_str()
                .map_err(|_| Problem::bad_request(format!("`{name}` is not ASCII")))
        })
        .transpose()
}

/// The original method and URI from the configured header family, or from
/// the request itself (Envoy's `ext_authz` with a path prefix).
fn original_request(
    family: HeaderFamily,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(String, String), Problem> {
    let (ours, theirs) = match family {
        HeaderFamily::Nginx => (
            ("x-original-method", "x-original-uri"),
            ("x-forwarded-method", "x-forwarded-uri"),
        ),
        HeaderFamily::Forwarded => (
            ("x-forwarded-method", "x-forwarded-uri"),
            ("x-original-method", "x-original-uri"),
        ),
    };
    let our_method = header(headers, ours.0)?;
    let our_uri = header(headers, ours.1)?;
    for (mine, other) in [(our_method, theirs.0), (our_uri, theirs.1)] {
        if let Some(value) = header(headers, other)? {
            if mine != Some(value) {
                return Err(Problem::bad_request(format!(
                    "`{other}` disagrees with the configured forward-auth headers; only one header family is trusted"
                )));
            }
        }
    }
    let fallback_path = || {
        let path = uri.path().strip_prefix("/v1/authz").unwrap_or("");
        let path = if path.is_empty() { "/" } else { path };
        match uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        }
    };
    let original_method = our_method.map_or_else(|| method.as_str().to_owned(), str::to_owned);
    let original_uri = match our_uri {
        Some(u) => u.to_owned(),
        None if our_method.is_none() => fallback_path(),
        None => return Err(Problem::bad_request(format!("`{}` is missing", ours.1))),
    };
    Ok((original_method, original_uri))
}

fn forbidden(code: Code, detail: String, required: &[&str], granted: &[String], missing: &[&str]) -> Response {
    let body = json!({ "detail": detail, "code": code, "required": required, "granted": granted, "missing": missing });
    (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
}

#[utoipa::path(get, path = "/v1/authz", tag = "verification",
    description = "Forward-auth (any method). Key from `Authorization: Bearer` or `X-API-Key`; the original request from `X-Original-Method`/`X-Original-URI` (or `X-Forwarded-*`, per `[server] forward_auth_headers`).",
    responses(
        (status = 200, description = "Allowed; `X-Keyward-Key-Id`, `X-Keyward-Account`, `X-Keyward-Scopes`, `X-Keyward-Environment` set"),
        (status = 400, description = "Two keys, or conflicting header families", body = super::openapi::ProblemDetails),
        (status = 401, description = "Missing, malformed, unknown, expired or revoked key", body = super::openapi::ProblemDetails),
        (status = 403, description = "Missing scopes or unknown route", body = super::openapi::Forbidden),
        (status = 503, description = "Storage unavailable", body = super::openapi::ProblemDetails),
    ))]
pub async fn authz(State(state): State<Arc<AppState>>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let response = authz_inner(&state, &method, &uri, &headers)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    state.metrics.observe_status(response.status(), started);
    response
}

async fn authz_inner(state: &AppState, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<Response, Problem> {
    let catalog = state.verifier.catalog().clone();
    let presented = presented_key(headers)?;
    let (mut original_method, original_uri) =
        original_request(state.config.forward_auth_headers, method, uri, headers)?;
    for name in METHOD_OVERRIDE_HEADERS {
        if let Some(value) = header(headers, name)? {
            if !catalog.api().method_override {
                return Ok(forbidden(
                    Code::UnknownRoute,
                    format!("method override (`{name}`) is not allowed"),
                    &[],
                    &[],
                    &[],
                ));
            }
            original_method = value.to_owned();
        }
    }
    let Some(presented) = presented else {
        return Err(Problem::unauthorized(
            "an API key is required (Authorization: Bearer or X-API-Key)",
        ));
    };
    let (key, code) = match state.verifier.authenticate(&presented).await {
        Authentication::Unavailable => return Err(Problem::unavailable()),
        Authentication::Rejected(code) => {
            return Err(Problem::unauthorized(detail(code, None, &[]).unwrap_or_default()).with("code", json!(code)))
        }
        Authentication::Key(key, code) => (key, code),
    };
    if code != Code::Valid {
        record_usage(state, &key, code, None);
        return Err(Problem::unauthorized(detail(code, None, &[]).unwrap_or_default()).with("code", json!(code)));
    }
    let (code, decision) = state.verifier.decide(
        &key,
        Ask::Route {
            method: &original_method,
            path: &original_uri,
        },
    );
    record_usage(state, &key, code, decision.as_ref());
    let (required, missing) = names(decision.as_ref());
    if code != Code::Valid {
        let text = detail(code, decision.as_ref(), &missing).unwrap_or_default();
        return Ok(forbidden(code, text, &required, &key.record.scopes, &missing));
    }
    let mut response = StatusCode::OK.into_response();
    let h = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set("x-keyward-key-id", &key.record.id);
    set("x-keyward-account", &key.record.account);
    set("x-keyward-scopes", &key.record.scopes.join(","));
    set("x-keyward-environment", &key.record.environment);
    Ok(response)
}
