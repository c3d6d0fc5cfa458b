//! Each example catalog says what its seed product page says, and its
//! exported page could replace that page (issue 14). One test per seed:
//! every fact the seed states, in the seed's words where it has them,
//! checked through `keyward check` (the decision) and through
//! `keyward catalog export --format markdown` (the published page); and
//! what the seed does not state is marked illustrative in the export.

use serde_json::Value;

use super::{example, keyward, stderr, stdout, temp_catalog};

/// `keyward check` on an example: exit code and JSON answer.
fn check(catalog: &str, grants: &[&str], ask: &[&str]) -> (i32, Value) {
    let path = if catalog.ends_with(".toml") {
        catalog.to_owned()
    } else {
        example(catalog)
    };
    let mut args = vec!["check", "--catalog", path.as_str(), "--json"];
    for g in grants {
        args.extend(["--grant", g]);
    }
    args.extend(ask);
    let out = keyward(&args);
    let code = out.status.code().unwrap();
    let answer = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    if code == 2 {
        assert!(!stderr(&out).is_empty(), "exit 2 says why");
    }
    (code, answer)
}

fn need(catalog: &str, grants: &[&str], scopes: &[&str]) -> i32 {
    let joined = scopes.join(",");
    check(catalog, grants, &["--need", &joined]).0
}

fn route(catalog: &str, grants: &[&str], method: &str, path: &str) -> (i32, Value) {
    check(catalog, grants, &["--method", method, "--path", path])
}

fn markdown(catalog: &str) -> String {
    let out = keyward(&["catalog", "export", "--format", "markdown", &example(catalog)]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

fn json_export(catalog: &str) -> Value {
    let out = keyward(&["catalog", "export", "--format", "json", &example(catalog)]);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_row(md: &str, scope: &str, text: &str) {
    let row = format!("| `{scope}` | {text} |");
    assert!(md.contains(&row), "no row {row:?} in the export");
}

/// The routes of the export that are (not) marked illustrative.
fn illustrative_routes(catalog: &str) -> (usize, Vec<String>) {
    let doc = json_export(catalog);
    let routes = doc["routes"].as_array().unwrap();
    let stated: Vec<String> = routes
        .iter()
        .filter(|r| r["illustrative"] != true)
        .map(|r| format!("{} {}", r["methods"], r["path"].as_str().unwrap()))
        .collect();
    (routes.len() - stated.len(), stated)
}

/// A copy of an example with more TOML appended (a resource added later).
fn with_more(catalog: &str, more: &str) -> (tempfile::TempDir, String) {
    let source = std::fs::read_to_string(example(catalog)).unwrap();
    let at = source.find("\n[[routes]]").unwrap_or(source.len());
    temp_catalog(&format!("{}\n{more}\n{}", &source[..at], &source[at..]))
}

/// Seed 000: a survey / review platform.
#[test]
fn seed_000_surveys() {
    let c = "surveys";
    let md = markdown(c);
    let rows = [
        ("contacts:read", "List and retrieve contact details"),
        ("contacts:write", "Create, update, and delete contacts"),
        ("contacts:*", "All contact permissions"),
        ("surveys:read", "List and retrieve survey details"),
        ("surveys:write", "Create, update, and delete surveys"),
        ("surveys:send", "Trigger survey sends to contacts"),
        ("surveys:*", "All survey permissions"),
        ("sequences:read", "List and retrieve sequence details"),
        ("sequences:execute", "Trigger sequences for contacts"),
        ("sequences:*", "All sequence permissions"),
        ("responses:read", "List and retrieve survey responses"),
        ("responses:*", "All response permissions"),
        ("reviews:read", "List and retrieve customer reviews"),
        ("reviews:write", "Create and update review replies"),
        ("reviews:*", "All review permissions"),
        ("webhooks:read", "List and retrieve webhook configurations"),
        ("webhooks:write", "Create, update, and delete webhooks"),
        ("webhooks:*", "All webhook permissions"),
    ];
    for (scope, text) in rows {
        assert_row(&md, scope, text);
    }
    // "admin | Full access to all resources (use sparingly)".
    assert_row(&md, "admin", "Full access to all resources — *Use sparingly*");
    let concrete: Vec<&str> = rows.iter().map(|r| r.0).filter(|s| !s.ends_with('*')).collect();
    assert_eq!(concrete.len(), 12);
    assert_eq!(
        json_export(c)["scopes"].as_array().unwrap().len(),
        12,
        "exactly the seed's scopes"
    );
    assert_eq!(need(c, &["admin"], &concrete), 0, "admin: full access");
    // "contacts:* - All contact operations (read + write)", and so on.
    assert_eq!(need(c, &["contacts:*"], &["contacts:read", "contacts:write"]), 0);
    assert_eq!(need(c, &["contacts:*"], &["surveys:read"]), 1);
    assert_eq!(
        need(c, &["surveys:*"], &["surveys:read", "surveys:write", "surveys:send"]),
        0
    );
    assert_eq!(need(c, &["sequences:*"], &["sequences:read", "sequences:execute"]), 0);
    assert_eq!(
        need(c, &["*"], &["contacts:read"]),
        2,
        "the seed offers no global wildcard"
    );
    // The seed never says write includes read.
    assert_eq!(need(c, &["contacts:write"], &["contacts:read"]), 1);
    assert!(md.contains("No action implies another (`write` does not include `read`)"));

    // The route table, exactly: each row allowed with its scope, refused
    // with another scope of the same resource.
    let table = [
        ("GET", "/api/v1/contacts", "contacts:read", "contacts:write"),
        ("POST", "/api/v1/contacts", "contacts:write", "contacts:read"),
        ("GET", "/api/v1/contacts/42", "contacts:read", "contacts:write"),
        ("PATCH", "/api/v1/contacts/42", "contacts:write", "contacts:read"),
        ("DELETE", "/api/v1/contacts/42", "contacts:write", "contacts:read"),
        ("GET", "/api/v1/surveys", "surveys:read", "surveys:write"),
        ("POST", "/api/v1/surveys", "surveys:write", "surveys:read"),
        ("GET", "/api/v1/surveys/7", "surveys:read", "surveys:write"),
        ("PATCH", "/api/v1/surveys/7", "surveys:write", "surveys:read"),
        ("DELETE", "/api/v1/surveys/7", "surveys:write", "surveys:read"),
        ("GET", "/api/v1/sequences", "sequences:read", "sequences:execute"),
        ("GET", "/api/v1/sequences/3", "sequences:read", "sequences:execute"),
        (
            "POST",
            "/api/v1/sequences/3/execute",
            "sequences:execute",
            "sequences:read",
        ),
        ("GET", "/api/v1/responses", "responses:read", "contacts:read"),
        ("GET", "/api/v1/responses/9", "responses:read", "contacts:read"),
        ("GET", "/api/v1/reviews", "reviews:read", "reviews:write"),
        ("GET", "/api/v1/reviews/5", "reviews:read", "reviews:write"),
        ("POST", "/api/v1/reviews/5/reply", "reviews:write", "reviews:read"),
        ("PATCH", "/api/v1/reviews/5/reply", "reviews:write", "reviews:read"),
    ];
    for (method, path, scope, other) in table {
        let (code, answer) = route(c, &[scope], method, path);
        assert_eq!(code, 0, "{method} {path}: {answer}");
        assert_eq!(answer["required"], serde_json::json!([scope]), "{method} {path}");
        let (code, answer) = route(c, &[other], method, path);
        assert_eq!(
            (code, answer["code"].as_str()),
            (1, Some("INSUFFICIENT_SCOPE")),
            "{method} {path}"
        );
        assert_eq!(answer["missing"], serde_json::json!([scope]));
    }
    let (illustrative, _) = illustrative_routes(c);
    assert_eq!(illustrative, 0, "every route is the seed's");
    // Scopes without an endpoint: nothing reaches them, not even admin,
    // and the page says so.
    for (method, path) in [("GET", "/api/v1/webhooks"), ("POST", "/api/v1/surveys/7/send")] {
        let (code, answer) = route(c, &["admin"], method, path);
        assert_eq!(
            (code, answer["code"].as_str()),
            (1, Some("UNKNOWN_ROUTE")),
            "{method} {path}"
        );
    }
    assert!(md.contains(
        "No endpoint listed here requires `surveys:send`, `webhooks:read`, `webhooks:write`: until one is, they allow no request (keyward refuses an endpoint not listed, even to `admin`)."
    ));
    // "You can use wildcards to grant all permissions for a resource:
    // contacts:* - All contact operations (read + write) ..."
    for line in [
        "- `contacts:*` grants every action of `contacts` (`read`, `write`), including actions added later.",
        "- `surveys:*` grants every action of `surveys` (`read`, `write`, `send`), including actions added later.",
        "- `sequences:*` grants every action of `sequences` (`read`, `execute`), including actions added later.",
    ] {
        assert!(md.contains(line), "{line}");
    }
    assert!(md.contains("to limit its access to only the resources it needs"));
    // "Status: 403 Forbidden".
    assert!(md.contains("with `403 Forbidden`"));
    // The four combinations: the seed's titles and purposes; their members
    // are the catalog's reading, and marked so.
    for (title, purpose) in [
        (
            "Read-only analytics integration",
            "dashboards that display metrics but don't modify data",
        ),
        ("CRM sync integration", "two-way contact synchronization with your CRM"),
        (
            "Marketing automation",
            "triggering surveys and sequences based on customer actions",
        ),
        (
            "Review management tool",
            "monitoring and responding to customer reviews",
        ),
    ] {
        let line = md
            .lines()
            .find(|l| l.contains(title))
            .unwrap_or_else(|| panic!("{title} missing"));
        assert!(line.contains(purpose) && line.contains("*(illustrative)*"), "{line}");
    }
}

/// Seed 001: ColdSend.
#[test]
fn seed_001_coldsend() {
    let c = "coldsend";
    let md = markdown(c);
    let rows = [
        ("campaigns:create", "Create new campaigns"),
        ("campaigns:read", "View campaign details, stats, and analytics"),
        ("campaigns:update", "Modify campaign configuration"),
        ("campaigns:delete", "Delete campaigns (DRAFT or PAUSED only)"),
        ("campaigns:pause", "Pause active campaigns"),
        ("campaigns:activate", "Resume paused campaigns"),
        (
            "sender_accounts:create",
            "Add new sender accounts (ColdSend Native or SMTP)",
        ),
        ("sender_accounts:read", "View sender account details and stats"),
        ("sender_accounts:delete", "Remove sender accounts"),
        ("leads:create", "Upload leads via CSV or add individual leads"),
        ("leads:read", "View lead data and engagement metrics"),
        ("leads:delete", "Remove leads from campaigns (PENDING only)"),
    ];
    for (scope, text) in rows {
        assert_row(&md, scope, text);
    }
    let all: Vec<&str> = rows.iter().map(|r| r.0).collect();
    // Compound scopes, in the seed's words, each exactly its resource.
    assert_row(&md, "campaigns:all", "Full access to all campaign operations");
    assert_row(
        &md,
        "sender_accounts:all",
        "Full access to all sender account operations",
    );
    assert_row(&md, "leads:all", "Full access to all lead operations");
    assert_eq!(need(c, &["campaigns:all"], &all[..6]), 0);
    assert_eq!(need(c, &["campaigns:all"], &["leads:read"]), 1);
    assert_eq!(need(c, &["sender_accounts:all"], &all[6..9]), 0);
    assert_eq!(need(c, &["leads:all"], &all[9..]), 0);
    assert_eq!(
        need(c, &["campaigns:*"], &["campaigns:read"]),
        2,
        "the compound form is `:all`"
    );
    // "The wildcard * grants all current and future permissions."
    assert_eq!(need(c, &["*"], &all), 0);
    let (_dir, later) = with_more(c, "[resources.webhooks]\nactions.create = \"Create webhooks\"");
    assert_eq!(need(c, &["*"], &["webhooks:create"]), 2);
    assert_eq!(need(&later, &["*"], &["webhooks:create"]), 0, "a scope added later");
    assert_row(
        &md,
        "*",
        "Full access to all resources. Automatically grants access to new scopes. — *Only use \\* for administrative tools. Protect these keys accordingly.*",
    );
    // Only the seed's scopes.
    assert_eq!(need(c, &["*"], &["campaigns:write"]), 2);
    assert_eq!(need(c, &["campaigns:update"], &["campaigns:read"]), 1, "no implication");
    assert!(md.contains("- `campaigns:all` grants every action of `campaigns`"));
    assert!(md.contains("- `*` grants every scope, including scopes added later."));
    for practice in [
        "- Principle of least privilege — Grant only the minimum scopes needed",
        "- Separate keys by function — Different integrations should use different keys",
        "- Audit regularly — Review which scopes your keys actually use",
        "- Use compound scopes — campaigns:all is cleaner than listing each scope individually",
    ] {
        assert!(md.contains(practice), "{practice}");
    }
    // The key goes in `X-API-Key`.
    assert!(
        md.contains("Send the key in the `X-API-Key` header of every request:\n\n```http\nX-API-Key: cs_live_...\n```")
    );
    let openapi: Value =
        serde_json::from_slice(&keyward(&["catalog", "export", "--format", "openapi", &example(c)]).stdout).unwrap();
    assert_eq!(
        openapi["components"]["securitySchemes"],
        serde_json::json!({"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}})
    );
    // The seed's two examples, as keyward answers them.
    let (code, answer) = route(c, &["campaigns:read"], "GET", "/api/public/v1/campaigns");
    assert_eq!((code, answer["code"].as_str()), (0, Some("VALID")));
    assert!(md.contains("A key granted `campaigns:read` calling `GET /api/public/v1/campaigns` is allowed: `200 OK`"));
    let (code, answer) = route(c, &["sender_accounts:read"], "POST", "/api/public/v1/campaigns");
    assert_eq!(code, 1);
    let body = serde_json::json!({
        "detail": "Missing required scopes: campaigns:create",
        "required": ["campaigns:create"],
        "granted": ["sender_accounts:read"],
        "missing": ["campaigns:create"],
    });
    for member in ["detail", "required", "granted", "missing"] {
        assert_eq!(answer[member], body[member], "{member}");
    }
    let block = md
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(block).unwrap(),
        body,
        "the page shows the 403 body"
    );
    assert!(md.contains("with `403 Forbidden`"));
    // One route is the seed's; the others are marked.
    let (illustrative, stated) = illustrative_routes(c);
    assert_eq!(stated, ["[\"GET\"] /api/public/v1/campaigns"]);
    assert_eq!(illustrative, 14);
    assert!(md.contains("| GET | `/api/public/v1/campaigns` | `campaigns:read` |"));
}

/// Seed 002: a voice-agent platform.
#[test]
fn seed_002_voice_agents() {
    let c = "voice-agents";
    let md = markdown(c);
    let resources = [
        ("calls", "Calls", "Read/write access to call history"),
        ("leads", "Leads", "Read/write access to lead data"),
        ("agents", "Agents", "Read/write access to agent configuration"),
        ("analytics", "Analytics", "Read access to analytics data"),
        ("contacts", "Contacts", "Read/write access to contacts"),
        (
            "knowledge_base",
            "Knowledge Base",
            "Read/write access to the knowledge base",
        ),
        (
            "integrations",
            "Integrations",
            "Read/write access to integration settings",
        ),
    ];
    for (_, title, description) in resources {
        assert!(md.contains(&format!("### {title}\n\n{description}\n")), "{title}");
    }
    for (name, _, _) in resources {
        let (read, write) = (format!("{name}:read"), format!("{name}:write"));
        if name == "analytics" {
            // "The analytics resource supports read only."
            assert_eq!(need(c, &[&read], &[&read]), 0);
            assert_eq!(need(c, &[&write], &[&read]), 2, "write is not available");
            assert!(md.contains(
                "| `analytics:write` | Not available: analytics data is read-only (cannot be granted to a key) |"
            ));
            continue;
        }
        // "You can grant read, write, or both permissions per resource."
        assert_eq!(need(c, &[&read, &write], &[&read, &write]), 0);
        // "Write access does not automatically include read."
        assert_eq!(need(c, &[&write], &[&read]), 1, "{name}");
        assert_eq!(need(c, &[&format!("{name}:*")], &[&read]), 2, "no wildcards");
    }
    assert_eq!(need(c, &["*"], &["calls:read"]), 2, "no global wildcard");
    // "read — allows GET requests", "write — allows POST, PATCH, and
    // DELETE requests", on every route (an example of the shape).
    let doc = json_export(c);
    for r in doc["routes"].as_array().unwrap() {
        let path = r["path"].as_str().unwrap().replace("{id}", "1").replace("{*rest}", "x");
        let resource = r["scopes"][0].as_str().unwrap().split(':').next().unwrap().to_owned();
        for method in r["methods"].as_array().unwrap() {
            let method = method.as_str().unwrap();
            let scope = if method == "GET" { "read" } else { "write" };
            assert!(["GET", "POST", "PATCH", "DELETE"].contains(&method), "{method}");
            assert_eq!(
                r["scopes"],
                serde_json::json!([format!("{resource}:{scope}")]),
                "{method} {path}"
            );
            if resource != "analytics" {
                let (code, answer) = route(c, &[&format!("{resource}:read")], method, &path);
                assert_eq!(code, i32::from(method != "GET"), "{method} {path}: {answer}");
            }
        }
    }
    let (illustrative, stated) = illustrative_routes(c);
    assert!(stated.is_empty(), "the seed gives no paths: {stated:?}");
    assert_eq!(illustrative, 26);
    for said in [
        "You can grant read, write, or both permissions per resource.",
        "Write access does not automatically include read; grant both if needed.",
        "- Never share keys publicly.",
        "- Rotate keys regularly.",
        "- Set an expiry date for keys used in short-term integrations or shared environments.",
    ] {
        assert!(md.contains(said), "{said}");
    }
    // "Include your API key as a Bearer token in the Authorization header".
    assert!(md.contains("Authorization: Bearer va_live_..."));
    // Creating, expiring and revoking keys; usage windows.
    for said in [
        "A key has a name",
        "A key may have an expiry date",
        "A key holds at least one permission",
        "Revoking a key is permanent: it cannot be reactivated. Revoked and expired keys stay listed",
        "the last 24 hours, 7 days and 30 days",
    ] {
        assert!(md.contains(said), "{said}");
    }
}

/// Seed 003: Atender.
#[test]
fn seed_003_atender() {
    let c = "atender";
    let md = markdown(c);
    let rows = [
        (
            "knowledge:read",
            "List/get articles, categories, subcategories, tags, search",
        ),
        (
            "knowledge:write",
            "Create/update/delete articles, categories, subcategories, tags",
        ),
        ("conversations:read", "List/get conversations, messages, attachments"),
        (
            "conversations:write",
            "Create conversations, send messages, change status, assign",
        ),
        ("contacts:read", "List/get contacts and their custom field values"),
        (
            "contacts:write",
            "Create/update/delete contacts; manage custom field values",
        ),
        ("tags:read", "List tags, see tag tree"),
        ("tags:write", "Create/edit/delete tags, assign to conversations"),
        (
            "analytics:read",
            "Pull dashboards, breach rates, conversation volume, agent stats",
        ),
    ];
    for (scope, text) in rows {
        assert_row(&md, scope, text);
    }
    // "(rare — typically not granted to external integrations)": advice.
    assert_row(
        &md,
        "analytics:write",
        "(rare — typically not granted to external integrations)",
    );
    for said in [
        "regardless of who created the key",
        "So knowledge:read lets the key call GET /api/v1/kb/*, while knowledge:write adds POST / PATCH / DELETE on the same surface.",
        "Both :read and :write are available for most resources unless noted.",
        "Picking :write is sufficient.",
        "- The principle of least privilege applies.",
        "- Granting wider scopes than needed increases blast radius if the key is leaked.",
    ] {
        assert!(md.contains(said), "{said}");
    }
    assert_eq!(need(c, &["analytics:write"], &["analytics:write"]), 0);
    assert_eq!(
        need(c, &["analytics:write"], &["analytics:read"]),
        0,
        "write implies read"
    );
    for (title, note) in [
        (
            "Knowledge Base",
            "Used by doc-as-code pipelines and partner systems syncing content.",
        ),
        (
            "Conversations",
            "The most-used scopes for integrations that connect Atender to a custom front-end.",
        ),
        ("Contacts", "Used by CRM sync integrations."),
        (
            "Analytics",
            "Used by BI integrations that pull metrics into a data warehouse.",
        ),
    ] {
        assert!(md.contains(&format!("### {title}\n\n{note}\n")), "{title}");
    }
    // Twenty surfaces, each with read and write; fifteen only named.
    let surfaces = [
        "knowledge",
        "conversations",
        "contacts",
        "tags",
        "analytics",
        "users",
        "settings",
        "search",
        "bulk",
        "webhooks",
        "channels",
        "automations",
        "agents",
        "snippets",
        "sla",
        "attachments",
        "notifications",
        "teams",
        "csat",
        "status",
    ];
    let every: Vec<String> = surfaces
        .iter()
        .flat_map(|s| [format!("{s}:read"), format!("{s}:write")])
        .collect();
    let every: Vec<&str> = every.iter().map(String::as_str).collect();
    assert_eq!(json_export(c)["scopes"].as_array().unwrap().len(), 40);
    let doc = json_export(c);
    let marked: Vec<&str> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["illustrative"] == true)
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(marked, &surfaces[5..], "the fifteen the seed names without describing");
    // ":write implies :read for the same surface."
    assert_eq!(need(c, &["knowledge:write"], &["knowledge:read"]), 0);
    assert_eq!(need(c, &["knowledge:write"], &["contacts:read"]), 1);
    assert_eq!(need(c, &["knowledge:read"], &["knowledge:write"]), 1);
    // The GET-prefix rule on /api/v1/kb/*.
    for path in [
        "/api/v1/kb/articles",
        "/api/v1/kb/articles/12/tags",
        "/api/v1/kb/search?q=x",
    ] {
        assert_eq!(route(c, &["knowledge:read"], "GET", path).0, 0, "{path}");
        assert_eq!(
            route(c, &["knowledge:write"], "GET", path).0,
            0,
            "write implies read: {path}"
        );
    }
    for method in ["POST", "PATCH", "DELETE"] {
        let (code, answer) = route(c, &["knowledge:read"], method, "/api/v1/kb/articles");
        assert_eq!(code, 1);
        assert_eq!(answer["missing"], serde_json::json!(["knowledge:write"]));
        assert_eq!(route(c, &["knowledge:write"], method, "/api/v1/kb/articles").0, 0);
    }
    assert_eq!(
        route(c, &["knowledge:write"], "GET", "/api/v1/kbx").1["code"],
        "UNKNOWN_ROUTE"
    );
    // Bundles, as the seed gives them.
    assert_eq!(
        need(c, &["basic"], &["contacts:read", "conversations:read", "tags:read"]),
        0
    );
    assert_eq!(need(c, &["basic"], &["contacts:write"]), 1);
    let reads: Vec<&str> = every.iter().copied().filter(|s| s.ends_with(":read")).collect();
    let writes: Vec<&str> = every.iter().copied().filter(|s| s.ends_with(":write")).collect();
    assert_eq!(need(c, &["read_all"], &reads), 0, "Every :read scope");
    assert_eq!(need(c, &["read_all"], &["knowledge:write"]), 1);
    assert_eq!(need(c, &["write_all"], &writes), 0, "Every :write scope");
    assert_eq!(need(c, &["full_access"], &every), 0, "Every scope");
    assert_eq!(
        need(c, &["analytics_only"], &["analytics:read", "conversations:read"]),
        0
    );
    assert_eq!(need(c, &["analytics_only"], &["tags:read"]), 1);
    assert!(md
        .lines()
        .any(|l| l.starts_with("| `integration` |") && l.contains("*(illustrative)*")));
    assert!(md
        .lines()
        .any(|l| l.starts_with("| `basic` |") && !l.contains("illustrative")));
    // ... including surfaces added later.
    let (_dir, later) = with_more(c, "[resources.macros]\nactions.read = \"r\"\nactions.write = \"w\"");
    assert_eq!(need(&later, &["read_all"], &["macros:read"]), 0);
    assert_eq!(need(&later, &["write_all"], &["macros:write"]), 0);
    assert_eq!(need(&later, &["full_access"], &["macros:write"]), 0);
    // "Picking minimum scopes", and each recipe does its job.
    for row in [
        "| Sync KB articles from a markdown vault | `knowledge:read`, `knowledge:write` | nothing else |",
        "| Read-only BI dashboard | `analytics:read`, `conversations:read` |  |",
        "| Customer onboarding tool that creates contacts | `contacts:write` |  |",
        "| Internal admin tool that fully manages everything | `full_access` | only for trusted internal services |",
    ] {
        assert!(md.contains(row), "{row}");
    }
    let vault = ["knowledge:read", "knowledge:write"];
    assert_eq!(route(c, &vault, "POST", "/api/v1/kb/articles").0, 0);
    assert_eq!(route(c, &vault, "GET", "/api/v1/contacts").0, 1);
    let bi = ["analytics:read", "conversations:read"];
    assert_eq!(route(c, &bi, "GET", "/api/v1/analytics/volume").0, 0);
    assert_eq!(route(c, &bi, "POST", "/api/v1/conversations").0, 1);
    assert_eq!(route(c, &["contacts:write"], "POST", "/api/v1/contacts").0, 0);
    assert_eq!(route(c, &["contacts:write"], "GET", "/api/v1/contacts/1").0, 0);
    assert_eq!(route(c, &["full_access"], "POST", "/api/v1/analytics").0, 0);
    // No wildcards: the seed offers none.
    for grant in ["knowledge:*", "*", "admin"] {
        assert_eq!(need(c, &[grant], &["knowledge:read"]), 2, "{grant}");
    }
    assert!(!md.contains("`knowledge:*`"));
    // The knowledge base's routes are the seed's rule; the rest are marked.
    let (illustrative, stated) = illustrative_routes(c);
    assert_eq!(illustrative, 76);
    assert!(stated.iter().all(|r| r.contains("/api/v1/kb")), "{stated:?}");
    // "A key that doesn't have the required scope ... gets a 403 response".
    let (code, answer) = route(c, &["contacts:read"], "GET", "/api/v1/kb/articles");
    assert_eq!((code, answer["code"].as_str()), (1, Some("INSUFFICIENT_SCOPE")));
    assert!(md.contains("with `403 Forbidden`"));
}
