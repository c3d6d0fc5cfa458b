//! `/openapi.json`: the OpenAPI document of keyward's own API, derived from
//! the handlers' annotations and their own request and response types,
//! rendered once at start for the loaded catalog (the grant names and
//! environments a key may take are enums of the document). The error
//! answers every operation shares are added here, in one place, as
//! `application/problem+json`.

use serde_json::{json, Value};
use utoipa::OpenApi;

use keyward_scopes::Catalog;

use super::problem::PROBLEM_JSON;
use crate::config::{HeaderFamily, ServerConfig};

use super::schemas::{Forbidden, ProblemDetails, VerifyResponse};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "keyward",
        description = "Scoped API keys: verification, lifecycle, usage, audit. Every error is `application/problem+json`."
    ),
    paths(
        super::verify::verify,
        super::authz::authz,
        super::keys::create,
        super::keys::list,
        super::keys::get,
        super::keys::patch,
        super::keys::revoke,
        super::keys::rotate,
        super::keys::usage,
        super::keys::audit,
        super::keys::catalog,
        super::portal::create,
        super::ops::healthz,
        super::ops::readyz,
        super::ops::metrics,
    ),
    components(schemas(VerifyResponse, ProblemDetails, Forbidden, super::keys::StatusParam))
)]
struct ApiDoc;

/// The document for `catalog`, as JSON.
pub fn document(catalog: &Catalog, config: &ServerConfig) -> String {
    #[expect(
        clippy::expect_used,
        reason = "a document of strings, maps and numbers always serializes; a failure is a bug to see at start"
    )]
    let mut json = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
    add_security(&mut json);
    add_problems(&mut json);
    problems_as_problem_json(&mut json);
    add_catalog_enums(&mut json, catalog);
    add_links(&mut json);
    add_verify_rules(&mut json);
    add_authz(&mut json, config.forward_auth_headers);
    if config.verify_token.is_some() {
        add_verifier_token(&mut json);
    }
    if let Some(Value::Object(seconds)) =
        json.pointer_mut("/components/schemas/RotateKey/properties/grace_period/oneOf/0")
    {
        seconds.insert("maximum".to_owned(), json!(config.max_rotation_grace.as_seconds()));
    }
    if let Some(Value::Object(grace)) = json.pointer_mut("/components/schemas/RotateKey/properties/grace_period") {
        let max = config.max_rotation_grace.as_seconds();
        grace.insert(
            "description".to_owned(),
            json!(format!(
                "Seconds (0 to {max}), or a duration like `1h` (`s`, `m`, `h`, `d`, `w`) of at most {max} seconds (this server's max_rotation_grace)"
            )),
        );
    }
    json.to_string()
}

/// Error answers whose body is a [`ProblemDetails`] are
/// `application/problem+json` (utoipa writes `application/json`).
fn problems_as_problem_json(doc: &mut Value) {
    for (_, operation) in operations(doc) {
        let Some(Value::Object(responses)) = operation.get_mut("responses") else {
            continue;
        };
        for (status, response) in responses.iter_mut() {
            if !status.starts_with('4') && !status.starts_with('5') {
                continue;
            }
            let Some(Value::Object(content)) = response.get_mut("content") else {
                continue;
            };
            let is_problem = content
                .get("application/json")
                .and_then(|c| c.pointer("/schema/$ref"))
                .and_then(Value::as_str)
                .is_some_and(|r| r.ends_with("/ProblemDetails"));
            if is_problem {
                if let Some(body) = content.remove("application/json") {
                    content.insert(PROBLEM_JSON.to_owned(), body);
                }
            }
        }
    }
}

/// With `verify_token` set, the verification endpoints require it.
fn add_verifier_token(doc: &mut Value) {
    if let Some(Value::Object(schemes)) = doc.pointer_mut("/components/securitySchemes") {
        schemes.insert(
            "verifier_token".to_owned(),
            json!({ "type": "apiKey", "in": "header", "name": "X-Keyward-Verifier-Token",
                    "description": "This server's `verify_token`" }),
        );
    }
    let Some(Value::Object(paths)) = doc.get_mut("paths") else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        if !(path == "/v1/verify" || path.starts_with("/v1/authz")) {
            continue;
        }
        let Value::Object(item) = item else { continue };
        for operation in item.values_mut() {
            let Value::Object(operation) = operation else { continue };
            operation.insert("security".to_owned(), json!([{ "verifier_token": [] }]));
            if let Some(Value::Object(responses)) = operation.get_mut("responses") {
                responses
                    .entry("401")
                    .or_insert_with(|| problem_response("`X-Keyward-Verifier-Token` is missing or wrong"));
            }
        }
    }
}

/// `/v1/verify` takes `scopes`, or `method` with `path`, or neither (a
/// `null` member counts as absent).
fn add_verify_rules(doc: &mut Value) {
    let Some(Value::Object(schema)) = doc.pointer_mut("/components/schemas/VerifyRequest") else {
        return;
    };
    let given = |names: &[&str]| {
        let properties: serde_json::Map<String, Value> = names
            .iter()
            .map(|n| {
                let kind = if *n == "scopes" { "array" } else { "string" };
                ((*n).to_owned(), json!({ "type": kind }))
            })
            .collect();
        json!({ "required": names, "properties": properties })
    };
    schema.insert(
        "allOf".to_owned(),
        json!([
            { "not": { "anyOf": [given(&["scopes", "method"]), given(&["scopes", "path"])] } },
            { "if": given(&["method"]), "then": given(&["path"]) },
            { "if": given(&["path"]), "then": given(&["method"]) },
        ]),
    );
}

/// The methods `/v1/authz` answers: it checks the original request named
/// by its headers, whatever method the proxy's check uses.
pub const AUTHZ_METHODS: [&str; 8] = METHODS;

/// `/v1/authz` under every method it answers, with the configured header
/// family's two headers as required parameters; and Envoy's
/// `/v1/authz/envoy/{path}` (404 unless `forward_auth_headers = "envoy"`).
fn add_authz(doc: &mut Value, family: HeaderFamily) {
    let Some(Value::Object(paths)) = doc.get_mut("paths") else {
        return;
    };
    let Some(Value::Object(mut item)) = paths.remove("/v1/authz") else {
        return;
    };
    let Some(Value::Object(mut get)) = item.remove("get") else {
        return;
    };
    let headers = match family {
        HeaderFamily::Nginx => Some(["X-Original-Method", "X-Original-URI"]),
        HeaderFamily::Forwarded => Some(["X-Forwarded-Method", "X-Forwarded-Uri"]),
        HeaderFamily::Envoy => None,
    };
    let header = |name: &str| json!({ "name": name, "in": "header", "required": true, "schema": { "type": "string" } });
    let parameters: Vec<Value> = headers.into_iter().flatten().map(header).collect();
    let mut envoy = get.clone();
    get.insert("parameters".to_owned(), Value::Array(parameters));
    envoy.insert(
        "description".to_owned(),
        json!("Envoy's HTTP ext_authz (`path_prefix: /v1/authz/envoy`): the original request is this request, its method (any method: one the catalog does not know is a 403 `UNKNOWN_ROUTE`) and its path after the prefix. 404 unless `forward_auth_headers = \"envoy\"`."),
    );
    if let Some(Value::Object(responses)) = envoy.get_mut("responses") {
        responses.insert(
            "404".to_owned(),
            problem_response("This server does not take Envoy checks (`forward_auth_headers` is not `envoy`)"),
        );
    }
    let mut envoy_prefix = serde_json::Map::new();
    let mut envoy_path = serde_json::Map::new();
    for method in AUTHZ_METHODS {
        let mut operation = get.clone();
        operation.insert("operationId".to_owned(), json!(format!("authz_{method}")));
        item.insert(method.to_owned(), Value::Object(operation));
        let mut operation = envoy.clone();
        operation.insert("operationId".to_owned(), json!(format!("authz_envoy_{method}")));
        envoy_prefix.insert(method.to_owned(), Value::Object(operation.clone()));
        operation.insert("operationId".to_owned(), json!(format!("authz_envoy_path_{method}")));
        operation.insert(
            "parameters".to_owned(),
            json!([{ "name": "path", "in": "path", "required": true, "schema": { "type": "string" },
                     "description": "The original path, after `/v1/authz/envoy/`" }]),
        );
        envoy_path.insert(method.to_owned(), Value::Object(operation));
    }
    paths.insert("/v1/authz".to_owned(), Value::Object(item));
    paths.insert("/v1/authz/envoy".to_owned(), Value::Object(envoy_prefix));
    paths.insert("/v1/authz/envoy/{path}".to_owned(), Value::Object(envoy_path));
}

pub async fn openapi_json(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<super::AppState>>,
) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        state.published().openapi_json.clone(),
    )
}

fn add_security(doc: &mut Value) {
    doc["components"]["securitySchemes"]["management_key"] = json!({ "type": "http", "scheme": "bearer" });
}

/// The errors an operation can answer besides its own, by what it takes:
/// every one may get a too-long URI; the management API a missing or bad
/// key, bad parameters and unavailable storage; a body its own four; an id
/// an unknown key.
fn shared_problems(path: &str, managed: bool, has_body: bool) -> Vec<(u16, &'static str)> {
    let mut out = vec![
        (414, "The request target is longer than 8 KiB"),
        (431, "The header fields are larger than 32 KiB in all"),
    ];
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

/// An error answer: `application/problem+json` with [`ProblemDetails`].
fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { PROBLEM_JSON: { "schema": { "$ref": "#/components/schemas/ProblemDetails" } } },
    })
}

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Every operation of the document, with its path.
fn operations(doc: &mut Value) -> impl Iterator<Item = (&str, &mut serde_json::Map<String, Value>)> {
    doc.get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.iter_mut())
        .filter_map(|(path, item)| Some((path.as_str(), item.as_object_mut()?)))
        .flat_map(|(path, item)| {
            item.iter_mut()
                .filter(|(method, _)| METHODS.contains(&method.as_str()))
                .filter_map(move |(_, operation)| Some((path, operation.as_object_mut()?)))
        })
}

fn add_problems(doc: &mut Value) {
    for (path, operation) in operations(doc) {
        let managed = operation
            .get("security")
            .and_then(Value::as_array)
            .is_some_and(|s| !s.is_empty());
        let has_body = operation.contains_key("requestBody");
        let Some(Value::Object(responses)) = operation.get_mut("responses") else {
            continue;
        };
        for (status, description) in shared_problems(path, managed, has_body) {
            responses
                .entry(status.to_string())
                .or_insert_with(|| problem_response(description));
        }
    }
}

/// The grant names and environments of the loaded catalog, as enums of the
/// request schemas that take them.
fn add_catalog_enums(doc: &mut Value, catalog: &Catalog) {
    let grants: Vec<Value> = catalog.grantable_names().into_iter().map(Value::from).collect();
    let scopes: Vec<Value> = catalog.scopes().iter().map(|s| Value::from(s.name.as_str())).collect();
    let environments: Vec<Value> = catalog
        .api()
        .environments
        .iter()
        .map(|e| Value::from(e.as_str()))
        .collect();
    let mut optional_environment = environments;
    optional_environment.push(Value::Null);
    for (pointer, values) in [
        ("/components/schemas/CreateKey/properties/scopes/items", &grants),
        ("/components/schemas/PatchKey/properties/scopes/items", &grants),
        ("/components/schemas/VerifyRequest/properties/scopes/items", &scopes),
        (
            "/components/schemas/CreateKey/properties/environment",
            &optional_environment,
        ),
    ] {
        if let Some(Value::Object(schema)) = doc.pointer_mut(pointer) {
            schema.insert("enum".to_owned(), Value::Array(values.clone()));
        }
    }
}

/// Stateful links: a created key's id leads to reading, changing,
/// rotating and revoking it. (utoipa's `Link` names its members in
/// snake case, which OpenAPI does not read.)
fn add_links(doc: &mut Value) {
    let Some(Value::Object(created)) = doc.pointer_mut("/paths/~1v1~1keys/post/responses/201") else {
        return;
    };
    let links: serde_json::Map<String, Value> = [
        ("GetKey", "get_key"),
        ("UpdateKey", "update_key"),
        ("RotateKey", "rotate_key"),
        ("RevokeKey", "revoke_key"),
        ("KeyUsage", "key_usage"),
    ]
    .into_iter()
    .map(|(name, operation)| {
        (
            name.to_owned(),
            json!({ "operationId": operation, "parameters": { "id": "$response.body#/id" } }),
        )
    })
    .collect();
    created.insert("links".to_owned(), Value::Object(links));
}
