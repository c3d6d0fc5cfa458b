//! The management API (DESIGN.md section 5): thin handlers that parse,
//! call the key service within the manager's account limit, and map the
//! result. No storage here.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::auth::Manager;
use super::json::ApiJson;
use super::params::{ApiPath, ApiQuery};
use super::problem::Problem;
use super::AppState;
use crate::keys::{KeyError, KeyRecord, NewKey, RotateOptions, StatusFilter, Update};
use crate::time::{parse_duration, Millis};
use crate::usage::Usage;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub account: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<String>,
    pub environment: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// `Some(None)` when the field is present and `null`.
fn double_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchKey {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// RFC 3339, or `null` to remove the expiry.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Option<String>>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeKey {
    pub reason: Option<String>,
}

/// Seconds, or a duration like `"1h"`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum GracePeriod {
    Seconds(i64),
    Text(String),
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    pub grace_period: Option<GracePeriod>,
    pub expires_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListKeys {
    pub account: Option<String>,
    pub status: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListAudit {
    pub account: Option<String>,
    pub key_id: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

fn expiry(value: &str) -> Result<Millis, Problem> {
    Millis::parse_rfc3339(value)
        .ok_or_else(|| Problem::invalid("expires_at", format!("expires_at: `{value}` is not an RFC 3339 time")))
}

/// A key within the manager's reach, and its usage (this node's unflushed
/// counts included).
async fn key_and_usage(state: &AppState, manager: &Manager, id: &str) -> Result<(KeyRecord, Usage), Problem> {
    let record = state.keys.get(id, manager.account_limit()).await?;
    let usage = crate::usage::usage(
        &state.usage,
        state.keys.store(),
        state.keys.catalog(),
        &record,
        Millis::now(),
    )
    .await?;
    Ok((record, usage))
}

/// Runs a change to its end even if the client goes away meanwhile: a
/// change cancelled between its commit and telling the verification cache
/// would leave this node serving the old key until the change feed arrives.
async fn to_completion<T: Send + 'static>(
    change: impl std::future::Future<Output = Result<T, KeyError>> + Send + 'static,
) -> Result<T, Problem> {
    match tokio::spawn(change).await {
        Ok(result) => result.map_err(Problem::from),
        Err(e) => {
            tracing::error!(error = %e, "a key change did not finish");
            Err(Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the change did not finish",
            ))
        }
    }
}

/// The body, or its default when the request has none.
fn body_or_default<T: Default>(body: Option<ApiJson<T>>) -> T {
    body.map(|ApiJson(b)| b).unwrap_or_default()
}

#[utoipa::path(post, path = "/v1/keys", tag = "keys", security(("management_key" = [])), request_body = CreateKey,
    responses((status = 201, description = "Created; `key` is the plaintext, shown this once", body = super::openapi::KeyResponse), (status = 400, description = "Invalid input, naming the field", body = super::openapi::ProblemDetails), (status = 401, description = "No or bad management key", body = super::openapi::ProblemDetails), (status = 403, description = "Another account than the management key's", body = super::openapi::ProblemDetails)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    manager: Manager,
    ApiJson(body): ApiJson<CreateKey>,
) -> Result<Response, Problem> {
    manager.may_create_in(&body.account)?;
    let new = NewKey {
        account: body.account,
        name: body.name,
        scopes: body.scopes,
        expires_at: body.expires_at.as_deref().map(expiry).transpose()?,
        environment: body.environment,
        metadata: body.metadata,
    };
    let (keys, actor) = (state.keys.clone(), manager.actor());
    let (record, secret) = to_completion(async move { keys.create(new, &actor).await }).await?;
    let mut view = state.keys.view(&record);
    view["key"] = json!(secret.reveal());
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[utoipa::path(get, path = "/v1/keys", tag = "keys", security(("management_key" = [])),
    params(("account" = Option<String>, Query,), ("status" = Option<String>, Query, description = "active (default), expired, revoked, all"), ("limit" = Option<u32>, Query,), ("cursor" = Option<String>, Query,)),
    responses((status = 200, description = "Newest first", body = super::openapi::KeyPage), (status = 400, description = "Invalid input, naming the field", body = super::openapi::ProblemDetails), (status = 401, description = "No or bad management key", body = super::openapi::ProblemDetails)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    manager: Manager,
    ApiQuery(q): ApiQuery<ListKeys>,
) -> Result<Json<Value>, Problem> {
    let status: StatusFilter = q
        .status
        .as_deref()
        .unwrap_or("active")
        .parse()
        .map_err(|e: String| Problem::invalid("status", e))?;
    let Ok(account) = manager.list_scope(q.account.as_deref()) else {
        return Ok(Json(json!({ "items": [], "next_cursor": null })));
    };
    let page = state.keys.list(account, status, q.limit, q.cursor.as_deref()).await?;
    let items: Vec<Value> = page.items.iter().map(|k| state.keys.view(k)).collect();
    Ok(Json(json!({ "items": items, "next_cursor": page.next_cursor })))
}

#[utoipa::path(get, path = "/v1/keys/{id}", tag = "keys", security(("management_key" = [])), params(("id" = String, Path,)),
    responses((status = 200, description = "The key with usage totals", body = super::openapi::KeyResponse), (status = 404, description = "No such key (or another account's)", body = super::openapi::ProblemDetails)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    manager: Manager,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, Problem> {
    let (record, usage) = key_and_usage(&state, &manager, &id).await?;
    let mut view = state.keys.view(&record);
    view["usage"] = json!({ "windows": usage.windows, "last_used_at": usage.last_used_at });
    Ok(Json(view))
}

#[utoipa::path(patch, path = "/v1/keys/{id}", tag = "keys", security(("management_key" = [])), params(("id" = String, Path,)), request_body = PatchKey,
    responses((status = 200, body = super::openapi::KeyResponse), (status = 400, description = "Invalid input, naming the field", body = super::openapi::ProblemDetails), (status = 401, description = "No or bad management key", body = super::openapi::ProblemDetails), (status = 404, body = super::openapi::ProblemDetails), (status = 409, description = "Revoked or expired", body = super::openapi::ProblemDetails)))]
pub async fn patch(
    State(state): State<Arc<AppState>>,
    manager: Manager,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchKey>,
) -> Result<Json<Value>, Problem> {
    let update = Update {
        name: body.name,
        scopes: body.scopes,
        expires_at: match body.expires_at {
            None => None,
            Some(None) => Some(None),
            Some(Some(text)) => Some(Some(expiry(&text)?)),
        },
    };
    let (keys, actor, limit) = (state.keys.clone(), manager.actor(), manager.key.account.clone());
    let record = to_completion(async move { keys.update(&id, update, &actor, limit.as_deref()).await }).await?;
    Ok(Json(state.keys.view(&record)))
}

#[utoipa::path(post, path = "/v1/keys/{id}/revoke", tag = "keys", security(("management_key" = [])), params(("id" = String, Path,)), request_body(content = RevokeKey, description = "Optional"),
    responses((status = 200, description = "Revoked (idempotent, permanent)", body = super::openapi::KeyResponse), (status = 404, body = super::openapi::ProblemDetails)))]
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    manager: Manager,
    ApiPath(id): ApiPath<String>,
    body: Option<ApiJson<RevokeKey>>,
) -> Result<Json<Value>, Problem> {
    let body = body_or_default(body);
    let (keys, actor, limit) = (state.keys.clone(), manager.actor(), manager.key.account.clone());
    let record =
        to_completion(async move { keys.revoke(&id, body.reason.as_deref(), &actor, limit.as_deref()).await }).await?;
    Ok(Json(state.keys.view(&record)))
}

#[utoipa::path(post, path = "/v1/keys/{id}/rotate", tag = "keys", security(("management_key" = [])), params(("id" = String, Path,)), request_body(content = RotateKey, description = "Optional"),
    responses((status = 201, description = "The new key; `key` is its plaintext", body = super::openapi::KeyResponse), (status = 404, body = super::openapi::ProblemDetails), (status = 409, body = super::openapi::ProblemDetails)))]
pub async fn rotate(
    State(state): State<Arc<AppState>>,
    manager: Manager,
    ApiPath(id): ApiPath<String>,
    body: Option<ApiJson<RotateKey>>,
) -> Result<Response, Problem> {
    let body = body_or_default(body);
    let grace_period = match body.grace_period {
        None => None,
        Some(GracePeriod::Seconds(s)) => Some(s),
        Some(GracePeriod::Text(t)) => Some(parse_duration(&t).ok_or_else(|| {
            Problem::invalid(
                "grace_period",
                format!("grace_period: `{t}` is neither seconds nor a duration like 1h"),
            )
        })?),
    };
    let expires_at = body.expires_at.as_deref().map(expiry).transpose()?;
    let options = RotateOptions {
        grace_period,
        expires_at,
    };
    let (keys, actor, limit) = (state.keys.clone(), manager.actor(), manager.key.account.clone());
    let (old, new, secret) =
        to_completion(async move { keys.rotate(&id, options, &actor, limit.as_deref()).await }).await?;
    let mut view = state.keys.view(&new);
    view["key"] = json!(secret.reveal());
    view["rotated_from"] = json!(old.id);
    view["old_key_expires_at"] = json!(old.expires_at);
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[utoipa::path(get, path = "/v1/keys/{id}/usage", tag = "keys", security(("management_key" = [])), params(("id" = String, Path,)),
    responses((status = 200, body = super::openapi::UsageResponse), (status = 404, body = super::openapi::ProblemDetails)))]
pub async fn usage(
    State(state): State<Arc<AppState>>,
    manager: Manager,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, Problem> {
    let (_, usage) = key_and_usage(&state, &manager, &id).await?;
    Ok(Json(serde_json::to_value(usage).unwrap_or_default()))
}

#[utoipa::path(get, path = "/v1/audit", tag = "keys", security(("management_key" = [])), params(("account" = Option<String>, Query,), ("key_id" = Option<String>, Query,), ("limit" = Option<u32>, Query,), ("cursor" = Option<String>, Query,)),
    responses((status = 200, description = "Audit events, newest first")))]
pub async fn audit(
    State(state): State<Arc<AppState>>,
    manager: Manager,
    ApiQuery(q): ApiQuery<ListAudit>,
) -> Result<Json<Value>, Problem> {
    let Ok(account) = manager.list_scope(q.account.as_deref()) else {
        return Ok(Json(json!({ "items": [], "next_cursor": null })));
    };
    let page = state
        .keys
        .audit(account, q.key_id.as_deref(), q.limit, q.cursor.as_deref())
        .await?;
    Ok(Json(serde_json::to_value(page).unwrap_or_default()))
}

#[utoipa::path(get, path = "/v1/catalog", tag = "catalog", security(("management_key" = [])), responses((status = 200, description = "The loaded catalog")))]
pub async fn catalog(State(state): State<Arc<AppState>>, _manager: Manager) -> Json<Value> {
    Json(serde_json::to_value(state.keys.catalog().document()).unwrap_or_default())
}
