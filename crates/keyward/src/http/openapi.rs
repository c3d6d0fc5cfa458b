//! `/openapi.json`: the OpenAPI document of keyward's own API, derived from
//! the handlers' annotations and their own request and response types,
//! rendered once at start for the loaded catalog (the grant names and
//! environments a key may take are enums of the document). The error
//! answers every operation shares are added here, in one place, as
//! `application/problem+json`.

use serde::Serialize;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, ResponseBuilder, Schema};
use utoipa::{OpenApi, ToSchema};

use keyward_scopes::Catalog;

use super::problem::PROBLEM_JSON;

/// A verification answer. The handler writes it pre-rendered for speed;
/// a test checks every code's answer against this schema.
#[derive(Serialize, ToSchema)]
pub struct VerifyResponse {
    pub valid: bool,
    pub code: VerifyCode,
    pub key_id: Option<String>,
    pub account: Option<String>,
    pub environment: Option<String>,
    /// The scopes the request needed.
    pub required: Vec<String>,
    /// The key's grants.
    pub granted: Vec<String>,
    /// Required scopes the key lacks.
    pub missing: Vec<String>,
    /// Why the answer is not valid; absent when `valid` is true.
    #[schema(required = false)]
    pub detail: Option<String>,
}

/// A verification's outcome.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerifyCode {
    Valid,
    Malformed,
    NotFound,
    Expired,
    Revoked,
    InsufficientScope,
    UnknownRoute,
}

/// An error (`application/problem+json`, RFC 9457).
#[derive(Serialize, ToSchema)]
pub struct ProblemDetails {
    /// Always `about:blank`: the status says what kind of error it is.
    pub r#type: String,
    pub title: String,
    pub status: u16,
    /// What is wrong, naming the value at fault.
    pub detail: String,
    /// The request field at fault, for validation errors.
    #[schema(required = false)]
    pub field: Option<String>,
    /// A verification's code (`/v1/authz` 401s).
    #[schema(required = false)]
    pub code: Option<String>,
    /// `false` on `/v1/verify`'s 503.
    #[schema(required = false)]
    pub valid: Option<bool>,
}

/// The 403 body of `/v1/authz` (seed 001's).
#[derive(Serialize, ToSchema)]
pub struct Forbidden {
    pub detail: String,
    pub code: String,
    pub required: Vec<String>,
    pub granted: Vec<String>,
    pub missing: Vec<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "keyward", description = "Scoped API keys: verification, lifecycle, usage, audit. Every error is `application/problem+json`."),
    paths(
        super::verify::verify,
        super::verify::authz,
        super::keys::create,
        super::keys::list,
        super::keys::get,
        super::keys::patch,
        super::keys::revoke,
        super::keys::rotate,
        super::keys::usage,
        super::keys::audit,
        super::keys::catalog,
        super::ops::healthz,
        super::ops::readyz,
        super::ops::metrics,
    ),
    components(schemas(VerifyResponse, ProblemDetails, Forbidden))
)]
struct ApiDoc;

/// The document for `catalog`, as JSON.
pub fn document(catalog: &Catalog) -> String {
    let mut doc = ApiDoc::openapi();
    add_security(&mut doc);
    add_problems(&mut doc);
    add_catalog_enums(&mut doc, catalog);
    add_links(&mut doc);
    #[expect(
        clippy::expect_used,
        reason = "a document of strings, maps and numbers always serializes; a failure is a bug to see at start"
    )]
    serde_json::to_string(&doc).expect("the OpenAPI document serializes")
}

pub async fn openapi_json(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<super::AppState>>,
) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        state.openapi_json.clone(),
    )
}

fn add_security(doc: &mut Document) {
    use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "management_key",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
}

/// The errors an operation can answer besides its own, by what it takes:
/// every one may get a too-long URI; the management API a missing or bad
/// key, bad parameters and unavailable storage; a body its own four; an id
/// an unknown key.
fn shared_problems(path: &str, operation: &Operation, has_body: bool) -> Vec<(u16, &'static str)> {
    let managed = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let mut out = vec![(414, "The request target is longer than 8 KiB")];
    if managed {
        out.push((400, "Invalid input, naming the parameter or field"));
        out.push((401, "No, an unknown or a revoked management key"));
        out.push((503, "Storage is unavailable or did not answer in time"));
    }
    if has_body {
        out.push((400, "Invalid input, naming the parameter or field"));
        out.push((408, "The body did not arrive in time"));
        out.push((413, "The body is larger than `max_body_bytes`"));
        out.push((415, "The body is not `Content-Type: application/json`"));
    }
    if path.contains("{id}") {
        out.push((404, "No such key (or another account's)"));
    }
    if path == "/v1/verify" {
        out.push((503, "Storage is unavailable and the key is not cached"));
    }
    if path == "/readyz" {
        out.push((503, "Storage is unavailable or did not answer in time"));
    }
    out
}

fn problem_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM_JSON,
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ProblemDetails")))
                    .build(),
            )
            .build(),
    )
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

fn add_problems(doc: &mut Document) {
    for (path, item) in doc.paths.paths.iter_mut() {
        for operation in operations(item) {
            let has_body = operation.request_body.is_some();
            for (status, description) in shared_problems(path, operation, has_body) {
                operation
                    .responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| problem_response(description));
            }
        }
    }
}

/// The grant names and environments of the loaded catalog, as enums of the
/// request schemas that take them.
fn add_catalog_enums(doc: &mut Document, catalog: &Catalog) {
    let grants: Vec<serde_json::Value> = catalog.grantable_names().into_iter().map(Into::into).collect();
    let scopes: Vec<serde_json::Value> = catalog.scopes().iter().map(|s| s.name.clone().into()).collect();
    let environments: Vec<serde_json::Value> = catalog.api().environments.iter().cloned().map(Into::into).collect();
    let Some(components) = doc.components.as_mut() else { return };
    for (schema, field, values) in [
        ("CreateKey", "scopes", &grants),
        ("PatchKey", "scopes", &grants),
        ("VerifyRequest", "scopes", &scopes),
    ] {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(schema) {
            if let Some(RefOr::T(Schema::Array(array))) = object.properties.get_mut(field) {
                if let utoipa::openapi::schema::ArrayItems::RefOrSchema(items) = &mut array.items {
                    if let RefOr::T(Schema::Object(item)) = items.as_mut() {
                        item.enum_values = Some(values.clone());
                    }
                }
            }
        }
    }
    if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut("CreateKey") {
        if let Some(RefOr::T(Schema::Object(environment))) = object.properties.get_mut("environment") {
            environment.enum_values = Some(environments);
        }
    }
}

/// Stateful links: a created key's id leads to reading, changing,
/// rotating and revoking it.
fn add_links(doc: &mut Document) {
    use utoipa::openapi::link::LinkBuilder;
    let Some(item) = doc.paths.paths.get_mut("/v1/keys") else { return };
    let Some(create) = item.post.as_mut() else { return };
    let Some(RefOr::T(created)) = create.responses.responses.get_mut("201") else { return };
    for (name, operation) in [
        ("GetKey", "get_key"),
        ("UpdateKey", "update_key"),
        ("RotateKey", "rotate_key"),
        ("RevokeKey", "revoke_key"),
        ("KeyUsage", "key_usage"),
    ] {
        created.links.insert(
            name.to_owned(),
            RefOr::T(
                LinkBuilder::new()
                    .operation_id(operation)
                    .parameter("id", "$response.body#/id")
                    .build(),
            ),
        );
    }
}
