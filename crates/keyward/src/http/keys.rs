//! The management API (docs/API.md): thin handlers that parse the
//! request into the key service's types, call it within the manager's
//! [`AccountScope`](crate::keys::AccountScope), and answer with the
//! service's views. The OpenAPI document is derived from these very types
//! (`openapi.rs` adds the error answers every operation shares).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::auth::Manager;
use super::json::ApiJson;
use super::params::{ApiPath, ApiQuery};
use super::problem::Problem;
use super::AppState;
use crate::keys::{
    AccountId, AuditEvent, Cursor, Grace, KeyError, KeyId, KeyName, KeyView, Limit, Metadata, NewKey, Page,
    RevokeReason, RotateOptions, Scopes, StatusFilter, Update, UsageTotals,
};
use crate::time::Millis;
use crate::usage::Usage;

/// A key to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// The customer the key belongs to.
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9._:@+\-]{0,127}$")]
    pub account: String,
    /// What the key is for, as its owner will recognise it. Surrounding
    /// white space is dropped.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]*[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]*$"
    )]
    pub name: String,
    /// Grants the catalog defines (scopes, `resource:*`, bundles,
    /// wildcards); duplicates are dropped, at most 64 different ones.
    #[schema(min_items = 1)]
    pub scopes: Vec<String>,
    /// RFC 3339; must be in the future (not expressible in JSON Schema).
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// One of the catalog's environments; default its first.
    pub environment: Option<String>,
    /// Any JSON object of at most 4 KiB (the size is not expressible in
    /// JSON Schema).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

/// A member that may be absent but not `null` (`null` means nothing for
/// it, and the schema says so).
fn not_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `Some(None)` when the field is present and `null`.
fn double_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Changes to a key: at least one field. A change to the same value is
/// still a change (not expressible in JSON Schema).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct PatchKey {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]*[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff][^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]*$"
    )]
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = String, required = false)]
    pub name: Option<String>,
    #[schema(min_items = 1, value_type = Vec<String>, required = false)]
    #[serde(default, deserialize_with = "not_null")]
    pub scopes: Option<Vec<String>>,
    /// RFC 3339 in the future, or `null` to remove the expiry.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Option<String>>,
}

/// Why the key is revoked (optional body).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeKey {
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// A grace period as given: whole seconds (`3600`, also `3600.0` or `3.6e3`,
/// which JSON Schema's `integer` admits), or a duration like `"1h"`.
fn grace(value: Option<&Value>) -> Result<Grace, KeyError> {
    let not_seconds = |shown: &dyn std::fmt::Display| KeyError::Invalid {
        field: "grace_period",
        message: format!("`{shown}` is neither whole seconds nor a duration like 1h"),
    };
    match value {
        None | Some(Value::Null) => Ok(Grace::default()),
        Some(Value::String(text)) => Grace::parse(text),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(seconds), _) => Grace::seconds(seconds),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => Grace::seconds(f as i64),
            (None, Some(f)) if f.fract() == 0.0 => Grace::seconds(if f < 0.0 { -1 } else { i64::MAX }),
            _ => Err(not_seconds(n)),
        },
        Some(other) => Err(not_seconds(other)),
    }
}

/// Seconds (0 to 2592000), or a duration like `"1h"` (at most 30 days: a
/// bound on the text form is not expressible in JSON Schema).
fn grace_period_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(crate::keys::fields::ROTATION_GRACE_MAX_SECONDS)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^[0-9]+[smhdw]$")),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(
            "Seconds (0 to 2592000), or a duration like `1h` (`s`, `m`, `h`, `d`, `w`) of at most 30 days",
        ))
        .build()
        .into()
}

/// How to rotate (optional body).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// How long the old key keeps working: at most 30 days; default 0.
    #[schema(schema_with = grace_period_schema)]
    pub grace_period: Option<Value>,
    /// The new key's expiry (RFC 3339, in the future); default the old
    /// key's.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

/// The filters of `GET /v1/keys`; each is parsed on its own, so an error
/// names it.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListKeys {
    /// Only this account's keys.
    #[param(value_type = Option<String>, pattern = r"^[A-Za-z0-9][A-Za-z0-9._:@+\-]{0,127}$")]
    pub account: Option<String>,
    /// `active` (default), `expired`, `revoked` or `all`.
    #[param(value_type = Option<StatusParam>)]
    pub status: Option<String>,
    /// Items per page, 1-1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<String>, pattern = r"^c[1-9][0-9]{0,17}$")]
    pub cursor: Option<String>,
}

/// Which keys a listing shows.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // documents the values `StatusFilter` parses
pub enum StatusParam {
    Active,
    Expired,
    Revoked,
    All,
}

/// The filters of `GET /v1/audit`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListAudit {
    /// Only this account's events.
    #[param(value_type = Option<String>, pattern = r"^[A-Za-z0-9][A-Za-z0-9._:@+\-]{0,127}$")]
    pub account: Option<String>,
    /// Only this key's events.
    #[param(value_type = Option<String>, pattern = "^key_[A-Za-z0-9]{20}$")]
    pub key_id: Option<String>,
    /// Items per page, 1-1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<String>, pattern = r"^c[1-9][0-9]{0,17}$")]
    pub cursor: Option<String>,
}

/// The paging filters of a listing.
fn paging(limit: Option<&str>, cursor: Option<&str>) -> Result<(Limit, Option<Cursor>), KeyError> {
    Ok((
        limit.map(Limit::parse).transpose()?.unwrap_or_default(),
        cursor.map(Cursor::parse).transpose()?,
    ))
}

fn account(text: Option<&str>) -> Result<Option<AccountId>, KeyError> {
    text.map(AccountId::parse).transpose()
}

fn expiry(value: &str) -> Result<Millis, Problem> {
    Millis::parse_rfc3339(value).ok_or_else(|| {
        Problem::invalid(
            "expires_at",
            format!("expires_at: `{}` is not an RFC 3339 time", value.escape_debug()),
        )
    })
}

fn key_id(text: &str) -> Result<KeyId, Problem> {
    Ok(KeyId::parse(text)?)
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

#[utoipa::path(post, path = "/v1/keys", tag = "keys", operation_id = "create_key", security(("management_key" = [])), request_body = CreateKey,
    responses((status = 201, description = "Created; `key` is the plaintext, shown this once", body = KeyView),
        (status = 403, description = "The management key is limited to another account", body = super::schemas::ProblemDetails, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    manager: Manager,
    ApiJson(body): ApiJson<CreateKey>,
) -> Result<(StatusCode, Json<KeyView>), Problem> {
    let new = NewKey {
        account: AccountId::parse(&body.account)?,
        name: KeyName::parse(&body.name)?,
        scopes: Scopes::parse(body.scopes, &state.keys.catalog())?,
        expires_at: body.expires_at.as_deref().map(expiry).transpose()?,
        environment: body.environment,
        metadata: Metadata::parse(body.metadata)?,
    };
    let keys = state.keys.clone();
    let (record, secret) = to_completion(async move { keys.create(new, &manager.actor, &manager.scope).await }).await?;
    let mut view = state.keys.view(&record);
    view.key = Some(secret.reveal().to_owned());
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(get, path = "/v1/keys", tag = "keys", operation_id = "list_keys", security(("management_key" = [])), params(ListKeys),
    responses((status = 200, description = "Newest first; another account's list is empty for a limited management key", body = Page<KeyView>)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    manager: Manager,
    ApiQuery(q): ApiQuery<ListKeys>,
) -> Result<Json<Page<KeyView>>, Problem> {
    let status: StatusFilter = q
        .status
        .as_deref()
        .unwrap_or("active")
        .parse()
        .map_err(|e: String| Problem::invalid("status", e))?;
    let (limit, cursor) = paging(q.limit.as_deref(), q.cursor.as_deref())?;
    let account = account(q.account.as_deref())?;
    let page = state
        .keys
        .list(&manager.scope, account.as_ref(), status, limit, cursor)
        .await?;
    Ok(Json(Page {
        items: page.items.iter().map(|k| state.keys.view(k)).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/v1/keys/{id}", tag = "keys", operation_id = "get_key", security(("management_key" = [])), params(("id" = String, Path, pattern = "^key_[A-Za-z0-9]{20}$")),
    responses((status = 200, description = "The key with its usage totals", body = KeyView)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    manager: Manager,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<KeyView>, Problem> {
    let record = state.keys.get(&key_id(&id)?, &manager.scope).await?;
    let usage = state.usage.of(&record, Millis::now()).await?;
    let mut view = state.keys.view(&record);
    view.usage = Some(UsageTotals {
        last_used_at: usage.last_used_at,
        windows: usage.windows,
    });
    Ok(Json(view))
}

#[utoipa::path(patch, path = "/v1/keys/{id}", tag = "keys", operation_id = "update_key", security(("management_key" = [])), params(("id" = String, Path, pattern = "^key_[A-Za-z0-9]{20}$")), request_body = PatchKey,
    responses((status = 200, description = "The changed key", body = KeyView),
        (status = 409, description = "The key is revoked or expired", body = super::schemas::ProblemDetails, content_type = "application/problem+json")))]
pub async fn patch(
    State(state): State<Arc<AppState>>,
    manager: Manager,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PatchKey>,
) -> Result<Json<KeyView>, Problem> {
    let id = key_id(&id)?;
    let update = Update {
        name: body.name.as_deref().map(KeyName::parse).transpose()?,
        scopes: body
            .scopes
            .map(|s| Scopes::parse(s, &state.keys.catalog()))
            .transpose()?,
        expires_at: match body.expires_at {
            None => None,
            Some(None) => Some(None),
            Some(Some(text)) => Some(Some(expiry(&text)?)),
        },
    };
    let keys = state.keys.clone();
    let record = to_completion(async move { keys.update(&id, update, &manager.actor, &manager.scope).await }).await?;
    Ok(Json(state.keys.view(&record)))
}

#[utoipa::path(post, path = "/v1/keys/{id}/revoke", tag = "keys", operation_id = "revoke_key", security(("management_key" = [])), params(("id" = String, Path, pattern = "^key_[A-Za-z0-9]{20}$")), request_body(content = Option<RevokeKey>, description = "Optional"),
    responses((status = 200, description = "Revoked (idempotent, permanent)", body = KeyView)))]
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    manager: Manager,
    ApiPath(id): ApiPath<String>,
    body: Option<ApiJson<RevokeKey>>,
) -> Result<Json<KeyView>, Problem> {
    let id = key_id(&id)?;
    let reason = body_or_default(body)
        .reason
        .as_deref()
        .map(RevokeReason::parse)
        .transpose()?;
    let keys = state.keys.clone();
    let record = to_completion(async move { keys.revoke(&id, reason, &manager.actor, &manager.scope).await }).await?;
    Ok(Json(state.keys.view(&record)))
}

#[utoipa::path(post, path = "/v1/keys/{id}/rotate", tag = "keys", operation_id = "rotate_key", security(("management_key" = [])), params(("id" = String, Path, pattern = "^key_[A-Za-z0-9]{20}$")), request_body(content = Option<RotateKey>, description = "Optional"),
    responses((status = 201, description = "The new key; `key` is its plaintext, shown this once", body = KeyView),
        (status = 409, description = "The key is revoked, expired or already rotated", body = super::schemas::ProblemDetails, content_type = "application/problem+json")))]
pub async fn rotate(
    State(state): State<Arc<AppState>>,
    manager: Manager,
    ApiPath(id): ApiPath<String>,
    body: Option<ApiJson<RotateKey>>,
) -> Result<(StatusCode, Json<KeyView>), Problem> {
    let id = key_id(&id)?;
    let body = body_or_default(body);
    let options = RotateOptions {
        grace: grace(body.grace_period.as_ref())?,
        expires_at: body.expires_at.as_deref().map(expiry).transpose()?,
    };
    let keys = state.keys.clone();
    let (old, new, secret) =
        to_completion(async move { keys.rotate(&id, options, &manager.actor, &manager.scope).await }).await?;
    let mut view = state.keys.view(&new);
    view.key = Some(secret.reveal().to_owned());
    view.rotated_from = Some(old.id.clone());
    view.old_key_expires_at = old.expires_at;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(get, path = "/v1/keys/{id}/usage", tag = "keys", operation_id = "key_usage", security(("management_key" = [])), params(("id" = String, Path, pattern = "^key_[A-Za-z0-9]{20}$")),
    responses((status = 200, description = "Usage of the last 30 days", body = Usage)))]
pub async fn usage(
    State(state): State<Arc<AppState>>,
    manager: Manager,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Usage>, Problem> {
    let record = state.keys.get(&key_id(&id)?, &manager.scope).await?;
    Ok(Json(state.usage.of(&record, Millis::now()).await?))
}

#[utoipa::path(get, path = "/v1/audit", tag = "keys", operation_id = "list_audit", security(("management_key" = [])), params(ListAudit),
    responses((status = 200, description = "Audit events, newest first", body = Page<AuditEvent>)))]
pub async fn audit(
    State(state): State<Arc<AppState>>,
    manager: Manager,
    ApiQuery(q): ApiQuery<ListAudit>,
) -> Result<Json<Page<AuditEvent>>, Problem> {
    let (limit, cursor) = paging(q.limit.as_deref(), q.cursor.as_deref())?;
    let account = account(q.account.as_deref())?;
    let key_id = q
        .key_id
        .as_deref()
        .map(|id| {
            KeyId::parse(id).map_err(|_| {
                Problem::invalid(
                    "key_id",
                    format!(
                        "key_id: `{}` is not a key id (`key_` and 20 letters or digits)",
                        id.escape_debug()
                    ),
                )
            })
        })
        .transpose()?;
    let page = state
        .keys
        .audit(&manager.scope, account.as_ref(), key_id.as_ref(), limit, cursor)
        .await?;
    Ok(Json(page))
}

#[utoipa::path(get, path = "/v1/catalog", tag = "catalog", operation_id = "get_catalog", security(("management_key" = [])),
    responses((status = 200, description = "The loaded catalog (the JSON export)", body = Object)))]
pub async fn catalog(State(state): State<Arc<AppState>>, _manager: Manager) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        state.published().catalog_json.clone(),
    )
}
