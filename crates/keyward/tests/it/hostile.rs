//! The table of hostile requests (docs/API.md and docs/SECURITY.md): every attack
//! class on forward-auth, verify and the management API is a row of
//! [`ROWS`] with the answer keyward must give. Each row runs against a real
//! server on every way a check reaches it: `/v1/authz` with the nginx and
//! with the forwarded header family, Envoy's HTTP `ext_authz` at
//! `/v1/authz/envoy` (exactly the request Envoy sends) and `POST
//! /v1/verify`; `proxies.rs` runs the client requests of the same table
//! through real nginx and Caddy configured with the examples.
//!
//! Requests are written byte for byte on a socket: an HTTP client library
//! would resolve `..` and `%2e%2e`, turn `\` into `/` or refuse a raw `"`
//! before keyward saw them. Every wrong answer is collected, then all are
//! reported at once.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::server::{Options, Server};
use crate::support::{Backend, TestStore};

pub type Header = (&'static str, &'static str);

/// A way a request reaches keyward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `/v1/authz`, the original request in `X-Original-Method`/`-URI`.
    Nginx,
    /// `/v1/authz`, the original request in `X-Forwarded-Method`/`-Uri`.
    Forwarded,
    /// `/v1/authz/envoy/...` as Envoy's HTTP `ext_authz` sends it.
    Envoy,
    /// `POST /v1/verify` with `{key, method, path}`.
    Verify,
    /// The management API.
    Manage,
    /// A client's request to real nginx with `examples/nginx`.
    NginxProxy,
    /// A client's request to real Caddy with `examples/caddy/Caddyfile`.
    CaddyProxy,
}

/// The catalog a server runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Catalog {
    /// `examples/catalogs/coldsend.toml`: unknown routes denied, paths
    /// matched strictly, no method override.
    Coldsend,
    /// ColdSend's catalog as an Express API would need it ([`loose_catalog`]):
    /// unknown routes allowed, paths matched without case or trailing
    /// slash, method override honoured.
    Loose,
}

/// The catalogs a row runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    Both,
    Coldsend,
    Loose,
}

impl On {
    fn includes(self, catalog: Catalog) -> bool {
        matches!(
            (self, catalog),
            (On::Both, _) | (On::Coldsend, Catalog::Coldsend) | (On::Loose, Catalog::Loose)
        )
    }
}

/// What a row sends. Header values and targets may name the test's keys:
/// `{key}` (account acme, `campaigns:read`), `{other}` (account beta,
/// `sender_accounts:read`), `{revoked}`, `{expired}`, `{bad-checksum}`
/// (`{key}` with its last character changed), `{kwm}` (a management key)
/// and `{kwm-acme}` (one limited to account acme); `{id}` and `{other-id}`
/// are key ids; `{account128}`, `{account129}` and `{long}` are strings of
/// 128, 129 and 9,000 characters.
#[derive(Debug, Clone, Copy)]
pub enum Send {
    /// A client's request to the API behind the proxy: checked through
    /// every forward-auth way, through the proxies, and through verify when
    /// its only header is one key.
    Request {
        method: &'static str,
        target: &'static str,
        headers: &'static [Header],
    },
    /// A forward-auth check as a proxy would send it to `/v1/authz`:
    /// header names `{method}` and `{uri}` stand for the configured
    /// family's, `{other-method}` and `{other-uri}` for the other family's.
    Check(&'static [Header]),
    /// `POST /v1/keys` (management) for this account id, written into the
    /// JSON string as it is (escapes allowed).
    CreateKey(&'static str),
    /// One request to keyward, on one way only.
    Only {
        via: Via,
        method: &'static str,
        target: &'static str,
        headers: &'static [Header],
        body: &'static str,
    },
}

/// The answer a row must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// 200 with the four identity headers of `{key}` (through a proxy: the
    /// API received exactly those, and no other `X-Keyward-*` header).
    Allowed,
    /// 401 with `WWW-Authenticate`, `X-Keyward-Code` and the code in the body.
    Unauthorized(&'static str),
    /// 403 with `X-Keyward-Code`, `X-Keyward-Missing` and seed 001's body.
    Forbidden(&'static str, &'static [&'static str]),
    /// 400, problem+json, the detail containing this text.
    BadRequest(&'static str),
    /// 404, problem+json.
    NotFound,
    /// 400 from the HTTP layer: the request line does not parse.
    Unparsable,
    /// The proxy answers with this status itself; the API never sees the
    /// request.
    ByProxy(u16),
    /// A management answer: this status, the body containing this text.
    Status(u16, &'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub what: &'static str,
    pub on: On,
    pub send: Send,
    pub expect: Expect,
    /// Ways where the answer differs from `expect`, and the table's
    /// comment says why.
    pub except: &'static [(Via, Expect)],
}

impl Row {
    const fn on(self, on: On) -> Row {
        Row { on, ..self }
    }

    const fn but(self, except: &'static [(Via, Expect)]) -> Row {
        Row { except, ..self }
    }

    /// The answer expected on `via`.
    pub fn expect_on(&self, via: Via) -> Expect {
        if let Some((_, e)) = self.except.iter().find(|(v, _)| *v == via) {
            return *e;
        }
        match (via, self.expect) {
            // nginx `auth_request` turns any answer but 2xx, 401 and 403
            // into its own 500.
            (Via::NginxProxy, Expect::BadRequest(_)) => Expect::ByProxy(500),
            (_, e) => e,
        }
    }
}

const fn request(
    what: &'static str,
    method: &'static str,
    target: &'static str,
    headers: &'static [Header],
    expect: Expect,
) -> Row {
    Row {
        what,
        on: On::Coldsend,
        send: Send::Request {
            method,
            target,
            headers,
        },
        expect,
        except: &[],
    }
}

const fn check(what: &'static str, headers: &'static [Header], expect: Expect) -> Row {
    Row {
        what,
        on: On::Coldsend,
        send: Send::Check(headers),
        expect,
        except: &[],
    }
}

const fn only(
    what: &'static str,
    via: Via,
    method: &'static str,
    target: &'static str,
    headers: &'static [Header],
    expect: Expect,
) -> Row {
    Row {
        what,
        on: On::Coldsend,
        send: Send::Only {
            via,
            method,
            target,
            headers,
            body: "",
        },
        expect,
        except: &[],
    }
}

/// A management request with a JSON body.
const fn manage(
    what: &'static str,
    method: &'static str,
    target: &'static str,
    headers: &'static [Header],
    body: &'static str,
    expect: Expect,
) -> Row {
    Row {
        what,
        on: On::Coldsend,
        send: Send::Only {
            via: Via::Manage,
            method,
            target,
            headers,
            body,
        },
        expect,
        except: &[],
    }
}

/// `POST /v1/keys` with this account id (JSON string content: escapes
/// allowed).
const fn account(what: &'static str, id: &'static str, expect: Expect) -> Row {
    Row {
        what,
        on: On::Coldsend,
        send: Send::CreateKey(id),
        expect,
        except: &[],
    }
}

use Expect::*;

const GET: &str = "GET";
const POST: &str = "POST";
const DELETE: &str = "DELETE";
const CAMPAIGN: &str = "/api/public/v1/campaigns/42";
const CAMPAIGNS: &str = "/api/public/v1/campaigns";
const LEADS: &str = "/api/public/v1/campaigns/42/leads";
const KEY: Header = ("X-API-Key", "{key}");
const BEARER: Header = ("Authorization", "Bearer {key}");
const UNKNOWN_ROUTE: Expect = Forbidden("UNKNOWN_ROUTE", &[]);
const INSUFFICIENT: &str = "INSUFFICIENT_SCOPE";
const OUR_FAMILY: [Header; 2] = [("{method}", GET), ("{uri}", CAMPAIGN)];
const FORGED: &[Header] = &[
    KEY,
    ("X-Keyward-Key-Id", "key_forged"),
    ("X-Keyward-Account", "evil"),
    ("X-Keyward-Scopes", "*"),
    ("X-Keyward-Environment", "test"),
    ("X-Keyward-Code", "VALID"),
    ("X-Keyward-Missing", "forged"),
];

/// nginx refuses this request itself (400) before asking keyward.
const NGINX_REFUSES: (Via, Expect) = (Via::NginxProxy, ByProxy(400));
/// Go's HTTP server refuses this request line before Caddy sees it.
const GO_REFUSES: (Via, Expect) = (Via::CaddyProxy, ByProxy(400));
/// Go re-encodes a raw character that is not valid in a URI (`<` becomes
/// `%3C`) in the URI it sends keyward and in the request to the API: the
/// two agree, and once decoded the character is data.
const GO_ENCODES: (Via, Expect) = (Via::CaddyProxy, Allowed);
/// hyper refuses the character in a request line: keyward's Envoy
/// endpoint never gets it (and Envoy's codec does not pass it on).
const HYPER_REFUSES: (Via, Expect) = (Via::Envoy, Unparsable);
/// Envoy's check request has one value per header name, repeats joined
/// with `,` (`AttributeContext.HttpRequest.headers`): `k1,k2` is no key.
const ENVOY_JOINS: (Via, Expect) = (Via::Envoy, Unauthorized("MALFORMED"));

/// Every row. A comment above a group names the rule and the doc that states it;
/// an `except` says why one way answers differently. Kept as a table, one
/// row a line where it fits.
#[rustfmt::skip]
pub static ROWS: &[Row] = &[
    // Keys (section 9): only a Bearer value of Authorization (scheme in any
    // case) or an X-API-Key value is a key; every value is read; two
    // different keys are refused.
    request("the key in X-API-Key", GET, CAMPAIGN, &[KEY], Allowed),
    request("the key in Authorization: Bearer", GET, CAMPAIGN, &[BEARER], Allowed),
    request("`bearer` in lower case", GET, CAMPAIGN, &[("Authorization", "bearer {key}")], Allowed),
    request("`BEARER` in upper case", GET, CAMPAIGN, &[("Authorization", "BEARER {key}")], Allowed),
    request("the same key in X-API-Key and Authorization", GET, CAMPAIGN, &[KEY, BEARER], Allowed),
    request("the same key twice in X-API-Key", GET, CAMPAIGN, &[KEY, KEY], Allowed).but(&[ENVOY_JOINS]),
    request("a Basic credential beside the key is ignored", GET, CAMPAIGN,
        &[("Authorization", "Basic YWNtZTpzZWNyZXQ="), KEY], Allowed),
    request("X-API-Key and a different key in Authorization", GET, CAMPAIGN,
        &[KEY, ("Authorization", "Bearer {other}")], BadRequest("two different keys")),
    request("a different key in Authorization, then X-API-Key", GET, CAMPAIGN,
        &[("Authorization", "Bearer {other}"), KEY], BadRequest("two different keys")),
    request("two different keys in X-API-Key", GET, CAMPAIGN,
        &[KEY, ("X-API-Key", "{other}")], BadRequest("two different keys")).but(&[ENVOY_JOINS]),
    // nginx refuses a repeated Authorization header itself.
    request("two different Bearer keys", GET, CAMPAIGN,
        &[BEARER, ("Authorization", "bearer {other}")], BadRequest("two different keys"))
        .but(&[ENVOY_JOINS, NGINX_REFUSES]),
    // A request with no key (none at all, only another scheme, an empty
    // X-API-Key, a key only in the query string) is a 401 with
    // `X-Keyward-Code` like any other (section 9); verify calls a missing
    // key MALFORMED.
    request("only a Basic credential", GET, CAMPAIGN, &[("Authorization", "Basic {key}")], Unauthorized("MALFORMED")),
    request("no key at all", GET, CAMPAIGN, &[], Unauthorized("MALFORMED")),
    request("an empty X-API-Key", GET, CAMPAIGN, &[("X-API-Key", "")], Unauthorized("MALFORMED")),
    request("a key in the query string is not read", GET, "/api/public/v1/campaigns/42?api_key={key}", &[],
        Unauthorized("MALFORMED")),
    request("a malformed key", GET, CAMPAIGN, &[("X-API-Key", "{malformed}")], Unauthorized("MALFORMED")),
    request("a key with a wrong checksum", GET, CAMPAIGN, &[("X-API-Key", "{bad-checksum}")], Unauthorized("MALFORMED")),
    request("a management key in X-API-Key", GET, CAMPAIGN, &[("X-API-Key", "{kwm}")], Unauthorized("NOT_FOUND")),
    request("a management key as Bearer", GET, CAMPAIGN, &[("Authorization", "Bearer {kwm}")], Unauthorized("NOT_FOUND")),
    request("a revoked key", GET, CAMPAIGN, &[("X-API-Key", "{revoked}")], Unauthorized("REVOKED")),
    request("an expired key", GET, CAMPAIGN, &[("X-API-Key", "{expired}")], Unauthorized("EXPIRED")),
    request("an X-API-Key that is not ASCII", GET, CAMPAIGN, &[("X-API-Key", "cs_live_\u{e9}")], BadRequest("not ASCII")),

    // The header family (section 9): both headers of the configured family
    // are required and single; the other family, if sent, must agree.
    check("no method header: never checked as the check's own GET (hole 3)", &[KEY, ("{uri}", CAMPAIGN)],
        BadRequest("method` is missing")),
    check("no URI header", &[KEY, ("{method}", DELETE)], BadRequest("` is missing")),
    check("neither header", &[KEY], BadRequest("` is missing")),
    check("only the other family", &[KEY, ("{other-method}", DELETE), ("{other-uri}", CAMPAIGN)],
        BadRequest("disagrees")),
    check("the method header twice", &[KEY, ("{method}", GET), ("{method}", DELETE), ("{uri}", CAMPAIGN)],
        BadRequest("is repeated")),
    check("the URI header twice", &[KEY, ("{method}", GET), ("{uri}", CAMPAIGN), ("{uri}", "/api/public/v1/leads/1")],
        BadRequest("is repeated")),
    check("the other family names another method",
        &[KEY, OUR_FAMILY[0], OUR_FAMILY[1], ("{other-method}", DELETE), ("{other-uri}", CAMPAIGN)],
        BadRequest("disagrees")),
    check("the other family names another path",
        &[KEY, OUR_FAMILY[0], OUR_FAMILY[1], ("{other-uri}", "/api/public/v1/leads/1")], BadRequest("disagrees")),
    check("the other family agrees",
        &[KEY, OUR_FAMILY[0], OUR_FAMILY[1], ("{other-method}", GET), ("{other-uri}", CAMPAIGN)], Allowed),
    check("an original URI that is not ASCII", &[KEY, ("{method}", GET), ("{uri}", "/api/public/v1/campaigns/\u{e9}")],
        BadRequest("not ASCII")),
    check("an original URI in absolute form",
        &[KEY, ("{method}", GET), ("{uri}", "http://evil.example/api/public/v1/campaigns/42")], UNKNOWN_ROUTE),
    only("Envoy's endpoint, nginx headers configured", Via::Nginx, GET, "/v1/authz/envoy/api/public/v1/campaigns/42",
        &[KEY], NotFound),
    only("Envoy's endpoint, forwarded headers configured", Via::Forwarded, GET,
        "/v1/authz/envoy/api/public/v1/campaigns/42", &[KEY], NotFound),
    only("/v1/authz, Envoy configured", Via::Envoy, GET, "/v1/authz",
        &[KEY, ("X-Original-Method", GET), ("X-Original-URI", CAMPAIGN)], BadRequest("/v1/authz/envoy")),
    only("X-Original-Method on Envoy's endpoint", Via::Envoy, GET, "/v1/authz/envoy/api/public/v1/campaigns/42",
        &[KEY, ("X-Original-Method", GET)], BadRequest("refused on the Envoy endpoint")),
    only("X-Original-URI on Envoy's endpoint", Via::Envoy, GET, "/v1/authz/envoy/api/public/v1/campaigns/42",
        &[KEY, ("X-Original-URI", CAMPAIGN)], BadRequest("refused on the Envoy endpoint")),
    only("X-Forwarded-Method on Envoy's endpoint", Via::Envoy, DELETE, "/v1/authz/envoy/api/public/v1/campaigns/42",
        &[KEY, ("X-Forwarded-Method", GET)], BadRequest("refused on the Envoy endpoint")),
    only("X-Forwarded-Uri on Envoy's endpoint", Via::Envoy, GET, "/v1/authz/envoy/api/public/v1/campaigns/42",
        &[KEY, ("X-Forwarded-Uri", "/api/public/v1/leads/1")], BadRequest("refused on the Envoy endpoint")),

    // Methods (section 8): HEAD is matched as GET; anything not a route
    // method matches no route, in allow mode too. nginx answers TRACE
    // itself (405) and refuses a method in lower case.
    request("HEAD is matched as GET", "HEAD", CAMPAIGN, &[KEY], Allowed),
    request("DELETE without its scope", DELETE, CAMPAIGN, &[KEY], Forbidden(INSUFFICIENT, &["campaigns:delete"])),
    request("seed 001's 403: POST without campaigns:create", POST, CAMPAIGNS, &[KEY],
        Forbidden(INSUFFICIENT, &["campaigns:create"])),
    request("a route needing two scopes, one missing", GET, LEADS, &[KEY], Forbidden(INSUFFICIENT, &["leads:read"])),
    request("a route needing two scopes, both missing", GET, LEADS, &[("X-API-Key", "{other}")],
        Forbidden(INSUFFICIENT, &["campaigns:read", "leads:read"])),
    request("an unknown method", "FOO", CAMPAIGN, &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("TRACE", "TRACE", CAMPAIGN, &[KEY], UNKNOWN_ROUTE).on(On::Both).but(&[(Via::NginxProxy, ByProxy(405))]),
    request("a method in lower case", "get", CAMPAIGN, &[KEY], UNKNOWN_ROUTE).on(On::Both).but(&[NGINX_REFUSES]),

    // Method override (section 9): refused unless the catalog opts in;
    // several override headers must agree.
    request("X-HTTP-Method-Override, not opted in", POST, CAMPAIGNS, &[KEY, ("X-HTTP-Method-Override", GET)],
        UNKNOWN_ROUTE),
    request("X-HTTP-Method, not opted in", POST, CAMPAIGNS, &[KEY, ("X-HTTP-Method", GET)], UNKNOWN_ROUTE),
    request("X-Method-Override, not opted in", POST, CAMPAIGNS, &[KEY, ("X-Method-Override", GET)], UNKNOWN_ROUTE),
    request("two override headers disagreeing", POST, CAMPAIGN,
        &[KEY, ("X-HTTP-Method-Override", GET), ("X-Method-Override", DELETE)], BadRequest("disagree")).on(On::Both),
    // Envoy joins the repeats into one value, `GET,DELETE`: no method.
    request("one override header twice, disagreeing", POST, CAMPAIGN,
        &[KEY, ("X-HTTP-Method-Override", GET), ("X-HTTP-Method-Override", DELETE)], BadRequest("is repeated"))
        .on(On::Both).but(&[(Via::Envoy, UNKNOWN_ROUTE)]),
    // The API may run it as sent or as overridden: both are checked, so a
    // read-only key never passes a POST by claiming a GET.
    request("an override to GET, opted in, needs the POST's scopes too", POST, CAMPAIGNS,
        &[KEY, ("X-HTTP-Method-Override", GET)], Forbidden(INSUFFICIENT, &["campaigns:create"])).on(On::Loose),
    request("`_method=GET` in the query is an override too", POST, "/api/public/v1/campaigns?_method=GET",
        &[KEY], Forbidden(INSUFFICIENT, &["campaigns:create"])).on(On::Loose),
    // /v1/verify is asked by the API itself, with the method it will run.
    // /v1/verify reads the override in `path` too: the API that asks may
    // run it as overridden.
    request("`_method` in the query, not opted in", POST, "/api/public/v1/campaigns?_method=GET",
        &[KEY], UNKNOWN_ROUTE),
    // A parameter's name as the API's framework decodes it (PHP's
    // `parse_str`, Node's `querystring` and `qs`, Rack, Python): each is a
    // `_method`, refused without the opt-in, checked as DELETE with it.
    request("`_m%65thod` (a percent-encoded letter)", GET, "/api/public/v1/campaigns/42?_m%65thod=DELETE", &[KEY],
        UNKNOWN_ROUTE),
    request("`_m%65thod`, opted in", GET, "/api/public/v1/campaigns/42?_m%65thod=DELETE", &[KEY],
        Forbidden(INSUFFICIENT, &["campaigns:delete"])).on(On::Loose),
    request("every byte of `_method` percent-encoded", GET,
        "/api/public/v1/campaigns/42?%5F%6D%65%74%68%6F%64=DELETE", &[KEY], UNKNOWN_ROUTE),
    request("every byte percent-encoded in lower case, opted in", GET,
        "/api/public/v1/campaigns/42?%5f%6d%65%74%68%6f%64=DELETE", &[KEY],
        Forbidden(INSUFFICIENT, &["campaigns:delete"])).on(On::Loose),
    request("`.method` (PHP reads `.` as `_`)", GET, "/api/public/v1/campaigns/42?.method=DELETE", &[KEY],
        UNKNOWN_ROUTE),
    request("`_method%00` (PHP cuts a name at NUL)", GET, "/api/public/v1/campaigns/42?_method%00=DELETE", &[KEY],
        UNKNOWN_ROUTE),
    request("`_method%00x`, opted in", GET, "/api/public/v1/campaigns/42?_method%00x=DELETE", &[KEY],
        Forbidden(INSUFFICIENT, &["campaigns:delete"])).on(On::Loose),
    request("`+_method` (PHP drops leading spaces)", GET, "/api/public/v1/campaigns/42?a=1&+_method=DELETE", &[KEY],
        UNKNOWN_ROUTE),
    request("`_method[]` (an array, PHP and qs)", GET, "/api/public/v1/campaigns/42?_method[]=DELETE", &[KEY],
        UNKNOWN_ROUTE),
    request("`[_method]` (qs and Rack)", GET, "/api/public/v1/campaigns/42?[_method]=DELETE", &[KEY],
        UNKNOWN_ROUTE),
    request("`_method]` (Rack)", GET, "/api/public/v1/campaigns/42?_method]=DELETE", &[KEY], UNKNOWN_ROUTE),
    request("after a `;` (Rack 2)", GET, "/api/public/v1/campaigns/42?a=1;_method=DELETE", &[KEY], UNKNOWN_ROUTE),
    request("after a `#` (the API reads the whole query)", GET, "/api/public/v1/campaigns/42?a=1#&_method=DELETE",
        &[KEY], UNKNOWN_ROUTE).but(&[(Via::Envoy, Allowed)]),
    request("in another letter case (ASP.NET ignores it)", GET, "/api/public/v1/campaigns/42?_METHOD=DELETE", &[KEY],
        UNKNOWN_ROUTE),
    request("encoded twice", GET, "/api/public/v1/campaigns/42?%255Fmethod=DELETE", &[KEY], UNKNOWN_ROUTE),
    request("a `%u` escape", GET, "/api/public/v1/campaigns/42?%u005Fmethod=DELETE", &[KEY], UNKNOWN_ROUTE),
    request("two `_method`s disagreeing, opted in", GET, "/api/public/v1/campaigns/42?_method=GET&_m%65thod=DELETE",
        &[KEY], UNKNOWN_ROUTE).on(On::Loose),
    request("an encoded value, opted in", GET, "/api/public/v1/campaigns/42?_method=DEL%45TE", &[KEY],
        Forbidden(INSUFFICIENT, &["campaigns:delete"])).on(On::Loose),
    // Names that are not `_method` in any parser pass.
    request("benign names like `_method`", GET,
        "/api/public/v1/campaigns/42?method=DELETE&x_method=DELETE&_methods=DELETE&_method_=DELETE&q=_method", &[KEY],
        Allowed).on(On::Both),
    request("an override to DELETE is checked as DELETE", POST, CAMPAIGN, &[KEY, ("X-HTTP-Method-Override", DELETE)],
        Forbidden(INSUFFICIENT, &["campaigns:delete"])).on(On::Loose),
    request("two override headers agreeing", POST, CAMPAIGN,
        &[KEY, ("X-HTTP-Method", DELETE), ("X-Method-Override", DELETE)],
        Forbidden(INSUFFICIENT, &["campaigns:delete"])).on(On::Loose),
    request("an override in lower case", POST, CAMPAIGN, &[KEY, ("X-HTTP-Method-Override", "delete")], UNKNOWN_ROUTE)
        .on(On::Loose),
    request("an override to an unknown method", POST, CAMPAIGN, &[KEY, ("X-Method-Override", "FOO")], UNKNOWN_ROUTE)
        .on(On::Loose),

    // Paths (sections 1, 8, 9): denied UNKNOWN_ROUTE whatever
    // `unknown_routes` says. Each would match `/campaigns/{id}` (GET,
    // campaigns:read) if read naively, and can mean another path to the API.
    request("a `..` segment", GET, "/api/public/v1/campaigns/../sender-accounts/1", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("`..` as the id", GET, "/api/public/v1/campaigns/..", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("a `.` segment", GET, "/api/public/v1/campaigns/./42", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("`%2e%2e`", GET, "/api/public/v1/campaigns/%2e%2e", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("`%2E%2E`", GET, "/api/public/v1/campaigns/%2E%2E", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("`.%2e`", GET, "/api/public/v1/campaigns/.%2e", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("`%2e.`", GET, "/api/public/v1/campaigns/%2e.", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("`%2e`", GET, "/api/public/v1/campaigns/%2e/42", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("an encoded `/` (`%2f`)", GET, "/api/public/v1/campaigns/..%2fsender-accounts", &[KEY], UNKNOWN_ROUTE)
        .on(On::Both),
    request("an encoded `/` (`%2F`)", GET, "/api/public/v1/campaigns/42%2F..%2F..%2Fleads%2F1", &[KEY], UNKNOWN_ROUTE)
        .on(On::Both),
    request("an encoded `\\` (`%5c`)", GET, "/api/public/v1/campaigns/..%5csender-accounts", &[KEY], UNKNOWN_ROUTE)
        .on(On::Both),
    request("a raw `\\`", GET, "/api/public/v1/campaigns/..\\sender-accounts", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("an empty segment", GET, "/api/public/v1//campaigns/42", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("a `;` path parameter", GET, "/api/public/v1/campaigns/..;/sender-accounts", &[KEY], UNKNOWN_ROUTE)
        .on(On::Both),
    request("a `;` at the end", GET, "/api/public/v1/campaigns/42;jsessionid=x", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("an encoded `;`", GET, "/api/public/v1/campaigns/42%3bx", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("double encoding (`%25`)", GET, "/api/public/v1/campaigns/%252e%252e", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    // nginx refuses `%00` itself.
    request("an encoded NUL", GET, "/api/public/v1/campaigns/42%00.json", &[KEY], UNKNOWN_ROUTE)
        .on(On::Both).but(&[NGINX_REFUSES]),
    request("an encoded line break", GET, "/api/public/v1/campaigns/42%0d%0aX-Keyward-Account:%20evil", &[KEY],
        UNKNOWN_ROUTE).on(On::Both),
    request("an encoded DEL", GET, "/api/public/v1/campaigns/42%7f", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("invalid percent-encoding", GET, "/api/public/v1/campaigns/%zz", &[KEY], UNKNOWN_ROUTE)
        .on(On::Both).but(&[NGINX_REFUSES, GO_REFUSES]),
    request("a truncated percent-encoding", GET, "/api/public/v1/campaigns/42%4", &[KEY], UNKNOWN_ROUTE)
        .on(On::Both).but(&[NGINX_REFUSES, GO_REFUSES]),
    request("not UTF-8 once decoded", GET, "/api/public/v1/campaigns/42%ff", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("an overlong UTF-8 `..`", GET, "/api/public/v1/campaigns/%c0%ae%c0%ae", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    // The fragment never reaches keyward's Envoy endpoint: hyper drops it,
    // as Envoy does before both the check and the upstream request.
    request("a raw `#`", GET, "/api/public/v1/campaigns/42#/../../sender-accounts", &[KEY], UNKNOWN_ROUTE)
        .on(On::Both).but(&[(Via::Envoy, Allowed)]),
    request("an encoded `#`", GET, "/api/public/v1/campaigns/42%23", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("an encoded `?` (`%3F`)", GET, "/api/public/v1/campaigns/42%3F", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("an encoded `?` (`%3f`)", GET, "/api/public/v1/campaigns/42%3f/..", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("Atender's payload: `%3F` then encoded `..`", GET, "/api/v1/kb/x%3F/%2e%2e/%2e%2e/users", &[KEY],
        UNKNOWN_ROUTE).on(On::Both),
    request("Atender's payload on a ColdSend route", GET, "/api/public/v1/campaigns/42%3F/%2e%2e/%2e%2e/sender-accounts",
        &[KEY], UNKNOWN_ROUTE).on(On::Both),
    // A raw space ends the request line: no HTTP server reads it as a path.
    request("a raw space", GET, "/api/public/v1/campaigns/4 2", &[KEY], UNKNOWN_ROUTE)
        .on(On::Both).but(&[HYPER_REFUSES, NGINX_REFUSES, GO_REFUSES]),
    request("a raw `<`", GET, "/api/public/v1/campaigns/4<2", &[KEY], UNKNOWN_ROUTE)
        .on(On::Both).but(&[HYPER_REFUSES, GO_ENCODES]),
    request("a raw `>`", GET, "/api/public/v1/campaigns/4>2", &[KEY], UNKNOWN_ROUTE)
        .on(On::Both).but(&[HYPER_REFUSES, GO_ENCODES]),
    request("a raw `\"`", GET, "/api/public/v1/campaigns/4\"2", &[KEY], UNKNOWN_ROUTE).on(On::Both).but(&[GO_ENCODES]),
    request("a raw `{`", GET, "/api/public/v1/campaigns/4{2", &[KEY], UNKNOWN_ROUTE).on(On::Both).but(&[GO_ENCODES]),
    request("a raw `}`", GET, "/api/public/v1/campaigns/4}2", &[KEY], UNKNOWN_ROUTE).on(On::Both).but(&[GO_ENCODES]),
    request("a raw `|`", GET, "/api/public/v1/campaigns/4|2", &[KEY], UNKNOWN_ROUTE).on(On::Both).but(&[GO_ENCODES]),
    request("a raw `^`", GET, "/api/public/v1/campaigns/4^2", &[KEY], UNKNOWN_ROUTE).on(On::Both).but(&[GO_ENCODES]),
    request("a raw backquote", GET, "/api/public/v1/campaigns/4`2", &[KEY], UNKNOWN_ROUTE)
        .on(On::Both).but(&[HYPER_REFUSES, GO_ENCODES]),
    // Envoy's check of a path not starting with `/` would be
    // `/v1/authz/envoyapi/...`, no endpoint of keyward's.
    request("not starting with `/`", GET, "api/public/v1/campaigns/42", &[KEY], UNKNOWN_ROUTE)
        .on(On::Both).but(&[(Via::Envoy, NotFound), NGINX_REFUSES, GO_REFUSES]),
    // Go answers `OPTIONS *` itself (200, empty) without calling Caddy.
    request("the asterisk form", "OPTIONS", "*", &[KEY], UNKNOWN_ROUTE)
        .on(On::Both).but(&[(Via::Envoy, NotFound), NGINX_REFUSES, (Via::CaddyProxy, ByProxy(200))]),
    // A request target over 8 KiB: 414, problem+json (section 8).
    only("a URI over 8 KiB", Via::Envoy, GET, "/v1/authz/envoy/api/public/v1/campaigns/{long}", &[KEY],
        Status(414, "")),
    only("a URI over 8 KiB", Via::Manage, GET, "/v1/keys?cursor={long}", &[("Authorization", "Bearer {kwm}")],
        Status(414, "")),
    only("an X-Original-URI over 8 KiB", Via::Nginx, GET, "/api/public/v1/campaigns/{long}", &[KEY],
        Status(414, "")),
    only("an X-Forwarded-Uri over 8 KiB", Via::Forwarded, GET, "/api/public/v1/campaigns/{long}", &[KEY],
        Status(414, "")),
    // Look-alikes of `.`, `/` and `\` (their NFKC form, or Windows'
    // best-fit conversion): a backend that maps them to ASCII sees `..` or
    // another segment.
    request("`．．` (U+FF0E) as the id", GET, "/api/public/v1/campaigns/%EF%BC%8E%EF%BC%8E", &[KEY], UNKNOWN_ROUTE)
        .on(On::Both),
    request("`․․` (U+2024) as the id", GET, "/api/public/v1/campaigns/%E2%80%A4%E2%80%A4", &[KEY], UNKNOWN_ROUTE)
        .on(On::Both),
    request("`‥` (U+2025) as the id", GET, "/api/public/v1/campaigns/%E2%80%A5", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("`﹒﹒` (U+FE52) as the id", GET, "/api/public/v1/campaigns/%EF%B9%92%EF%B9%92", &[KEY], UNKNOWN_ROUTE)
        .on(On::Both),
    request("`x∕y` (U+2215)", GET, "/api/public/v1/campaigns/x%E2%88%95y", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("`x⁄y` (U+2044)", GET, "/api/public/v1/campaigns/x%E2%81%84y", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("`x／y` (U+FF0F)", GET, "/api/public/v1/campaigns/x%EF%BC%8Fy", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("`x＼y` (U+FF3C)", GET, "/api/public/v1/campaigns/x%EF%BC%BCy", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("`x﹨y` (U+FE68)", GET, "/api/public/v1/campaigns/x%EF%B9%A8y", &[KEY], UNKNOWN_ROUTE).on(On::Both),
    request("another non-ASCII id passes", GET, "/api/public/v1/campaigns/caf%C3%A9", &[KEY], Allowed).on(On::Both),
    request("the query string is not checked", GET, "/api/public/v1/campaigns/42?next=/../..%2f%2e%2e;%00#x", &[KEY],
        Allowed).on(On::Both),

    // Path case and trailing slash (section 8): strict by default; with
    // `path_case`/`trailing_slash` the route is found the way Express
    // finds it, so allow mode does not let it through unchecked.
    request("another letter case, strict", POST, "/api/public/v1/Campaigns", &[KEY], UNKNOWN_ROUTE),
    request("another letter case, insensitive", POST, "/API/public/v1/Campaigns", &[KEY],
        Forbidden(INSUFFICIENT, &["campaigns:create"])).on(On::Loose),
    request("a trailing slash, strict", POST, "/api/public/v1/campaigns/", &[KEY], UNKNOWN_ROUTE),
    request("a trailing slash, ignored", POST, "/api/public/v1/campaigns/", &[KEY],
        Forbidden(INSUFFICIENT, &["campaigns:create"])).on(On::Loose),
    request("letter case and a trailing slash, loose", DELETE, "/Api/Public/V1/Campaigns/42/", &[KEY],
        Forbidden(INSUFFICIENT, &["campaigns:delete"])).on(On::Loose),
    request("upper case, loose", GET, "/API/PUBLIC/V1/CAMPAIGNS/42/", &[KEY], Allowed).on(On::Loose),
    request("an unknown route, denied", GET, "/api/public/v1/nothing", &[KEY], UNKNOWN_ROUTE),
    request("an unknown route, allowed", GET, "/api/public/v1/nothing", &[KEY], Allowed).on(On::Loose),

    // Identity headers (section 9): a 200 always carries keyward's own;
    // through a proxy the API never sees a client's copy.
    request("forged X-Keyward-* headers", GET, CAMPAIGN, FORGED, Allowed),
    request("forged x-keyward-* headers in lower case, repeated", GET, CAMPAIGN,
        &[KEY, ("x-keyward-account", "evil"), ("x-keyward-account", "evil2"), ("x-keyward-scopes", "*"),
          ("x-keyward-code", "VALID")],
        Allowed),
    request("forged X_Keyward_* headers (underscores)", GET, CAMPAIGN,
        &[KEY, ("X_Keyward_Account", "evil"), ("X_Keyward_Scopes", "*"), ("X_Keyward_Missing", "x")], Allowed),
    request("forged X-Keyward-* headers, allowed by allow mode", GET, "/api/public/v1/nothing", FORGED, Allowed)
        .on(On::Loose),
    request("forged X-Keyward-* headers on a denied request", DELETE, CAMPAIGN, FORGED,
        Forbidden(INSUFFICIENT, &["campaigns:delete"])),
    // As "no key at all" above.
    request("a forged X-Keyward-Code without a key", GET, CAMPAIGN,
        &[("X-Keyward-Code", "VALID"), ("X-Keyward-Account", "evil")], Unauthorized("MALFORMED")),

    // The management API reads keys the same way (Bearer only).
    only("management: `bearer` in lower case", Via::Manage, GET, "/v1/keys", &[("Authorization", "bearer {kwm}")],
        Status(200, "\"items\"")),
    only("management: the key in X-API-Key", Via::Manage, GET, "/v1/keys", &[("X-API-Key", "{kwm}")], Status(401, "")),
    only("management: Basic only", Via::Manage, GET, "/v1/keys", &[("Authorization", "Basic {kwm}")], Status(401, "")),
    only("management: a customer key", Via::Manage, GET, "/v1/keys", &[("Authorization", "Bearer {key}")],
        Status(401, "")),
    only("management: two different Bearer keys", Via::Manage, GET, "/v1/keys",
        &[("Authorization", "Bearer {kwm}"), ("Authorization", "Bearer {other}")], Status(400, "two different keys")),
    only("management: a cookie is no key", Via::Manage, GET, "/v1/keys", &[("Cookie", "keyward_session={kwm}")],
        Status(401, "")),
    // An account-limited management key (section 9) sees nothing of
    // another account: 404 for its keys, an empty list, 403 on create.
    only("limited management key: its own account's key", Via::Manage, GET, "/v1/keys/{id}",
        &[("Authorization", "Bearer {kwm-acme}")], Status(200, "\"account\":\"acme\"")),
    only("limited management key: another account's key", Via::Manage, GET, "/v1/keys/{other-id}",
        &[("Authorization", "Bearer {kwm-acme}")], Status(404, "")),
    only("limited management key: another account's usage", Via::Manage, GET, "/v1/keys/{other-id}/usage",
        &[("Authorization", "Bearer {kwm-acme}")], Status(404, "")),
    manage("limited management key: revoking another account's key", POST, "/v1/keys/{other-id}/revoke",
        &[("Authorization", "Bearer {kwm-acme}"), ("Content-Type", "application/json")], "{}", Status(404, "")),
    manage("limited management key: changing another account's key", "PATCH", "/v1/keys/{other-id}",
        &[("Authorization", "Bearer {kwm-acme}"), ("Content-Type", "application/json")], r#"{"name": "mine"}"#,
        Status(404, "")),
    only("limited management key: listing another account", Via::Manage, GET, "/v1/keys?account=beta",
        &[("Authorization", "Bearer {kwm-acme}")], Status(200, r#"{"items":[],"#)),
    manage("limited management key: creating a key for another account", POST, "/v1/keys",
        &[("Authorization", "Bearer {kwm-acme}"), ("Content-Type", "application/json")],
        r#"{"account": "beta", "name": "n", "scopes": ["campaigns:read"]}"#, Status(403, "")),

    // Account ids (section 8): 1-128 of A-Z a-z 0-9 . _ : @ + -, starting
    // with a letter or digit; they become the X-Keyward-Account header.
    account("an account id of every allowed character", "Acme.corp_1:eu@x+y-z", Status(201, "Acme.corp_1:eu@x+y-z")),
    account("an account id of 128 characters", "{account128}", Status(201, "\"key\"")),
    account("an account id of 129 characters", "{account129}", Status(400, "account")),
    account("an empty account id", "", Status(400, "account")),
    account("a space in an account id", "acme corp", Status(400, "account")),
    account("a slash in an account id", "acme/x", Status(400, "account")),
    account("an account id starting with `-`", "-acme", Status(400, "account")),
    account("an account id starting with `.`", ".acme", Status(400, "account")),
    account("a header injection in an account id", "acme\\r\\nX-Keyward-Scopes: *", Status(400, "account")),
    account("a NUL in an account id", "acme\\u0000", Status(400, "account")),
    account("a look-alike letter in an account id", "\\u0430cme", Status(400, "account")),
];

/// ColdSend's catalog with `unknown_routes = "allow"`, `path_case =
/// "insensitive"`, `trailing_slash = "ignore"` and `method_override = true`.
pub fn loose_catalog() -> (tempfile::TempDir, String) {
    let coldsend = std::fs::read_to_string(crate::example("coldsend")).unwrap();
    let loose = coldsend.replace(
        "unknown_routes = \"deny\"",
        "unknown_routes = \"allow\"\npath_case = \"insensitive\"\ntrailing_slash = \"ignore\"\nmethod_override = true",
    );
    assert_ne!(loose, coldsend, "coldsend.toml sets unknown_routes = \"deny\"");
    crate::temp_catalog(&loose)
}

/// The keys the rows name, created on one server.
pub struct Keys {
    pub id: String,
    values: Vec<(&'static str, String)>,
}

impl Keys {
    pub async fn create(s: &Server, t: &TestStore) -> Keys {
        let (id, key) = s.create_key("acme", &["campaigns:read"]).await;
        let (other_id, other) = s.create_key("beta", &["sender_accounts:read"]).await;
        let (revoked_id, revoked) = s.create_key("acme", &["campaigns:read"]).await;
        let (status, body) = s
            .manage(
                reqwest::Method::POST,
                &format!("/v1/keys/{revoked_id}/revoke"),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (expired_id, expired) = s.create_key("acme", &["campaigns:read"]).await;
        // Never presented yet, so nothing has cached it as valid.
        t.raw_execute(&format!("UPDATE keys SET expires_at = 1 WHERE id = '{expired_id}'"))
            .await
            .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args(["admin", "create-key", "--name", "limited", "--account", "acme"])
            .args(t.cli_args())
            .output()
            .unwrap();
        let limited = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        assert!(
            limited.starts_with("kwm_"),
            "admin create-key: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let last = if key.ends_with('A') { "B" } else { "A" };
        let bad_checksum = format!("{}{last}", &key[..key.len() - 1]);
        Keys {
            id: id.clone(),
            values: vec![
                ("{kwm-acme}", limited),
                ("{other-id}", other_id),
                ("{id}", id.clone()),
                ("{malformed}", "cs_live_Malformed0nly".to_owned()),
                ("{long}", "a".repeat(9_000)),
                ("{key}", key),
                ("{other}", other),
                ("{revoked}", revoked),
                ("{expired}", expired),
                ("{bad-checksum}", bad_checksum),
                ("{kwm}", s.management_key.clone()),
                ("{account128}", "a".repeat(128)),
                ("{account129}", "a".repeat(129)),
            ],
        }
    }

    pub fn fill(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (name, value) in &self.values {
            text = text.replace(name, value);
        }
        text
    }

    /// Every secret, to look for in logs.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.values
            .iter()
            .filter(|(name, _)| !name.starts_with("{account") && !name.ends_with("id}") && *name != "{long}")
            .map(|(_, v)| v.as_str())
    }

    /// What the API must see of `{key}`'s identity, as the echoing API
    /// reports it.
    pub fn identity(&self) -> String {
        format!(
            "x-keyward-account=acme; x-keyward-environment=live; x-keyward-key-id={}; x-keyward-scopes=campaigns:read",
            self.id
        )
    }
}

/// An HTTP/1.1 answer, read to the end of the connection.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn describe(&self) -> String {
        let headers: Vec<String> = self.headers.iter().map(|(n, v)| format!("{n}: {v}")).collect();
        let body: String = self.body.chars().take(300).collect();
        format!("{} [{}] {}", self.status, headers.join(" | "), body.replace('\n', " "))
    }
}

/// One request written exactly as given (`Connection: close` added, and
/// `Content-Length` when there is a body); the answer read to the end.
pub async fn exchange(
    address: &str,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &str,
) -> Result<Answer, String> {
    let mut request = format!("{method} {target} HTTP/1.1\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("Connection: close\r\n\r\n");
    request.push_str(body);
    let address = address.trim_start_matches("http://");
    let io = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .map_err(|_| format!("no answer from {address} within 10 s"))?
        .map_err(|e| format!("{address}: {e}"))?;
    parse_answer(&raw, method == "HEAD")
}

fn parse_answer(raw: &[u8], head: bool) -> Result<Answer, String> {
    let text = String::from_utf8_lossy(raw);
    let (head_text, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if head {
        String::new()
    } else if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Ok(Answer { status, headers, body })
}

fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        let (Some(chunk), Some(next)) = (after.get(..size), after.get(size..)) else {
            break;
        };
        if size == 0 {
            break;
        }
        body.push_str(chunk);
        rest = next.trim_start_matches("\r\n");
    }
    body
}

/// A request of a row on one way, `None` if the row does not go that way.
struct Built {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// The headers Envoy adds to its check request (the router's and the
/// async client's), beside the allowed ones it copies from the client.
const ENVOY_ADDS: [Header; 5] = [
    ("x-forwarded-for", "203.0.113.7"),
    ("x-forwarded-proto", "http"),
    ("x-request-id", "7b0c4f1e-2c55-4b7e-9d0a-3f1f5e1c2a9d"),
    ("x-envoy-expected-rq-timeout-ms", "250"),
    ("x-envoy-internal", "true"),
];

/// The client headers `examples/envoy/envoy.yaml` lets Envoy copy into the
/// check (`allowed_headers`), read from the example so that the test sends
/// what that configuration sends.
pub fn envoy_allowed_headers() -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/envoy/envoy.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    let mut lines = yaml.lines().skip_while(|l| l.trim() != "allowed_headers:").skip(1);
    let mut names = Vec::new();
    for line in lines.by_ref() {
        let line = line.trim();
        if line == "patterns:" || line.starts_with('#') {
            continue;
        }
        match line.strip_prefix("- exact:") {
            Some(name) => names.push(name.trim().to_ascii_lowercase()),
            None => break,
        }
    }
    assert!(
        names.contains(&"x-api-key".to_owned()),
        "allowed_headers in {}",
        path.display()
    );
    names
}

fn family(via: Via) -> [(&'static str, &'static str); 4] {
    let nginx = [
        ("{method}", "X-Original-Method"),
        ("{uri}", "X-Original-URI"),
        ("{other-method}", "X-Forwarded-Method"),
        ("{other-uri}", "X-Forwarded-Uri"),
    ];
    match via {
        Via::Forwarded => [
            ("{method}", "X-Forwarded-Method"),
            ("{uri}", "X-Forwarded-Uri"),
            ("{other-method}", "X-Original-Method"),
            ("{other-uri}", "X-Original-URI"),
        ],
        _ => nginx,
    }
}

/// The one key of a request whose only header is one key header.
fn sole_key(headers: &[Header]) -> Option<&'static str> {
    match headers {
        [("X-API-Key", key)] => Some(key),
        [("Authorization", value)] => value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key),
        _ => None,
    }
}

fn build(row: &Row, via: Via, address: &str, keys: &Keys, envoy_allowed: &[String]) -> Option<Built> {
    let owned = |headers: &[Header]| -> Vec<(String, String)> {
        headers.iter().map(|(n, v)| ((*n).to_owned(), keys.fill(v))).collect()
    };
    let built = |method: &str, target: String, headers: Vec<(String, String)>, body: String| Built {
        method: method.to_owned(),
        target,
        headers,
        body,
    };
    match (row.send, via) {
        (
            Send::Request {
                method,
                target,
                headers,
            },
            Via::Nginx | Via::Forwarded,
        ) => {
            let [(_, m), (_, u), ..] = family(via);
            let mut all = vec![("Host".to_owned(), "keyward".to_owned())];
            all.push((m.to_owned(), method.to_owned()));
            all.push((u.to_owned(), keys.fill(target)));
            all.extend(owned(headers));
            Some(built(GET, "/v1/authz".to_owned(), all, String::new()))
        }
        (
            Send::Request {
                method,
                target,
                headers,
            },
            Via::Envoy,
        ) => {
            // Envoy copies the allowed client headers, one value per name
            // (repeats joined with `,`), and adds its own.
            let mut all: Vec<(String, String)> = vec![("host".to_owned(), "api.example.com".to_owned())];
            for (name, value) in owned(headers) {
                let name = name.to_ascii_lowercase();
                if !envoy_allowed.contains(&name) {
                    continue;
                }
                match all.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, joined)) => {
                        joined.push(',');
                        joined.push_str(&value);
                    }
                    None => all.push((name, value)),
                }
            }
            all.extend(ENVOY_ADDS.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
            all.push(("content-length".to_owned(), "0".to_owned()));
            Some(built(
                method,
                format!("/v1/authz/envoy{}", keys.fill(target)),
                all,
                String::new(),
            ))
        }
        (
            Send::Request {
                method,
                target,
                headers,
            },
            Via::Verify,
        ) => {
            let key = sole_key(headers)?;
            if matches!(row.expect_on(via), BadRequest(_) | NotFound | Unparsable) {
                return None;
            }
            let body = json!({"key": keys.fill(key), "method": method, "path": keys.fill(target)}).to_string();
            Some(built(
                POST,
                "/v1/verify".to_owned(),
                vec![
                    ("Host".to_owned(), "keyward".to_owned()),
                    ("Content-Type".to_owned(), "application/json".to_owned()),
                ],
                body,
            ))
        }
        (
            Send::Request {
                method,
                target,
                headers,
            },
            Via::NginxProxy | Via::CaddyProxy,
        ) => {
            // The Host a client of the proxy's address sends (Caddy serves
            // `http://{$LISTEN}` only).
            let host = address.trim_start_matches("http://");
            let mut all = vec![("Host".to_owned(), host.to_owned())];
            all.extend(owned(headers));
            Some(built(method, keys.fill(target), all, String::new()))
        }
        (Send::Check(headers), Via::Nginx | Via::Forwarded) => {
            let names = family(via);
            let mut all = vec![("Host".to_owned(), "keyward".to_owned())];
            for (name, value) in headers {
                let name = names.iter().find(|(p, _)| p == name).map_or(*name, |(_, n)| n);
                all.push((name.to_owned(), keys.fill(value)));
            }
            Some(built(GET, "/v1/authz".to_owned(), all, String::new()))
        }
        (
            Send::Only {
                via: only,
                method,
                target,
                headers,
                body,
            },
            _,
        ) if only == via => {
            let mut all = vec![("Host".to_owned(), "keyward".to_owned())];
            all.extend(owned(headers));
            if via == Via::Envoy {
                all.extend(ENVOY_ADDS.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())));
            }
            Some(built(method, keys.fill(target), all, keys.fill(body)))
        }
        (Send::CreateKey(account), Via::Manage) => {
            let headers = [
                ("Host", "keyward"),
                ("Authorization", "Bearer {kwm}"),
                ("Content-Type", "application/json"),
            ];
            let body = format!(
                r#"{{"account": "{}", "name": "n", "scopes": ["campaigns:read"]}}"#,
                keys.fill(account)
            );
            Some(built(POST, "/v1/keys".to_owned(), owned(&headers), body))
        }
        _ => None,
    }
}

const IDENTITY: [&str; 4] = [
    "x-keyward-key-id",
    "x-keyward-account",
    "x-keyward-scopes",
    "x-keyward-environment",
];

/// Whether `answer` is the one `expect` describes on `via`.
fn judge(expect: Expect, via: Via, a: &Answer, keys: &Keys) -> Result<(), String> {
    let fail = |why: &str| Err(format!("{why}; got {}", a.describe()));
    let proxy = matches!(via, Via::NginxProxy | Via::CaddyProxy);
    let reached_api = a.header("x-api-saw");
    if proxy && expect != Allowed && reached_api.is_some() {
        return fail("the request reached the API");
    }
    if via == Via::Verify {
        return judge_verify(expect, a, keys);
    }
    let body = a.json();
    let problem = a.header("content-type") == Some("application/problem+json");
    // Through nginx, keyward's headers other than WWW-Authenticate stay
    // behind and the 403 body is the one the example builds.
    let nginx = via == Via::NginxProxy;
    match expect {
        Allowed if proxy => match reached_api {
            Some(saw) if a.status == 200 && saw == keys.identity() => Ok(()),
            _ => fail(&format!("expected the API to see only `{}`", keys.identity())),
        },
        Allowed => {
            let wanted = [keys.id.as_str(), "acme", "campaigns:read", "live"];
            let got = IDENTITY.map(|h| a.header(h).unwrap_or("<none>"));
            if a.status == 200 && got == wanted && a.header("x-keyward-code").is_none() {
                Ok(())
            } else {
                fail(&format!("expected 200 with identity {wanted:?}"))
            }
        }
        Unauthorized(_) if nginx => {
            if a.status == 401 && a.header("www-authenticate").is_some() {
                Ok(())
            } else {
                fail("expected 401 with WWW-Authenticate")
            }
        }
        Unauthorized(code) => {
            let ok = a.status == 401
                && a.header("www-authenticate").is_some()
                && a.header("x-keyward-code") == Some(code)
                && problem
                && body["code"] == code;
            if ok {
                Ok(())
            } else {
                fail(&format!("expected 401 {code} with WWW-Authenticate and X-Keyward-Code"))
            }
        }
        Forbidden(code, missing) if nginx => {
            let wanted = json!({"detail": nginx_detail(code, missing), "code": code, "missing": missing});
            // nginx sends no header for an empty value.
            let headers_ok = a.header("x-keyward-code") == Some(code)
                && a.header("x-keyward-missing").unwrap_or_default() == missing.join(",")
                && a.header("content-type") == Some("application/json");
            if a.status == 403 && body == wanted && headers_ok {
                Ok(())
            } else {
                fail(&format!(
                    "expected 403 with nginx's body {wanted} and keyward's headers"
                ))
            }
        }
        Forbidden(code, missing) => {
            let detail_ok =
                code != INSUFFICIENT || body["detail"] == format!("Missing required scopes: {}", missing.join(", "));
            let required_ok = body["required"]
                .as_array()
                .is_some_and(|r| missing.iter().all(|m| r.contains(&json!(m))));
            let ok = a.status == 403
                && a.header("x-keyward-code") == Some(code)
                && a.header("x-keyward-missing") == Some(&*missing.join(","))
                && body["code"] == code
                && body["missing"] == json!(missing)
                && body["granted"].is_array()
                && required_ok
                && detail_ok;
            if ok {
                Ok(())
            } else {
                fail(&format!(
                    "expected 403 {code} missing {missing:?} (headers and seed 001's body)"
                ))
            }
        }
        BadRequest(text) => {
            let detail = body["detail"].as_str().unwrap_or_default();
            if a.status == 400 && problem && detail.contains(text) && a.header("x-keyward-key-id").is_none() {
                Ok(())
            } else {
                fail(&format!("expected 400 problem+json with `{text}` in the detail"))
            }
        }
        NotFound => {
            if a.status == 404 && problem {
                Ok(())
            } else {
                fail("expected 404 problem+json")
            }
        }
        Unparsable => {
            if a.status == 400 && IDENTITY.iter().all(|h| a.header(h).is_none()) {
                Ok(())
            } else {
                fail("expected the HTTP layer's 400")
            }
        }
        ByProxy(status) => {
            if a.status == status && proxy {
                Ok(())
            } else {
                fail(&format!("expected the proxy's own {status}"))
            }
        }
        Status(status, text) => {
            if a.status == status && a.body.contains(text) && (status < 400 || problem) {
                Ok(())
            } else {
                fail(&format!(
                    "expected {status} with `{text}` in the body (problem+json if an error)"
                ))
            }
        }
    }
}

fn judge_verify(expect: Expect, a: &Answer, keys: &Keys) -> Result<(), String> {
    let body = a.json();
    let (valid, code, missing): (bool, &str, &[&str]) = match expect {
        Allowed => (true, "VALID", &[]),
        Unauthorized(code) => (false, code, &[]),
        Forbidden(code, missing) => (false, code, missing),
        other => return Err(format!("{other:?} is not a verify answer")),
    };
    let identity_ok = !valid || (body["key_id"] == keys.id.as_str() && body["account"] == "acme");
    if a.status == 200
        && body["valid"] == valid
        && body["code"] == code
        && body["missing"] == json!(missing)
        && identity_ok
    {
        Ok(())
    } else {
        Err(format!(
            "expected 200 {{valid: {valid}, code: {code}, missing: {missing:?}}}; got {}",
            a.describe()
        ))
    }
}

/// The detail of the 403 body the nginx example builds from
/// `X-Keyward-Code` and `X-Keyward-Missing`.
pub fn nginx_detail(code: &str, missing: &[&str]) -> String {
    if code == INSUFFICIENT {
        format!("Missing required scopes: {}", missing.join(", "))
    } else {
        "no route matches this method and path".to_owned()
    }
}

/// Runs every row that goes `via` with `catalog` against `address`: how
/// many requests were sent, and the wrong answers, described.
pub async fn run(via: Via, catalog: Catalog, address: &str, keys: &Keys) -> (usize, Vec<String>) {
    let envoy_allowed = if via == Via::Envoy {
        envoy_allowed_headers()
    } else {
        Vec::new()
    };
    let (mut sent, mut failures) = (0, Vec::new());
    for row in ROWS.iter().filter(|r| r.on.includes(catalog)) {
        let Some(b) = build(row, via, address, keys, &envoy_allowed) else {
            continue;
        };
        sent += 1;
        let result = match exchange(address, &b.method, &b.target, &b.headers, &b.body).await {
            Ok(answer) => judge(row.expect_on(via), via, &answer, keys),
            Err(e) => Err(e),
        };
        if let Err(why) = result {
            failures.push(format!(
                "{via:?}/{catalog:?}: {} ({} {}): {why}",
                row.what, b.method, b.target
            ));
        }
    }
    (sent, failures)
}

/// `keyward serve` with this catalog (an example's name or a file) and
/// forward-auth header family.
pub async fn serve(t: &TestStore, catalog: &str, family: &str) -> Server {
    Server::start(
        t,
        Options {
            catalog,
            extra_args: vec!["--forward-auth-headers".into(), family.into()],
            env: vec![("KEYWARD_LOG", "keyward=trace".into())],
            ..Options::default()
        },
    )
    .await
}

/// Logs keep no presented key and no query string (section 9).
fn log_leaks(s: &Server, keys: &Keys, what: &str) -> Vec<String> {
    let log = s.stderr();
    if !log.contains("key created") {
        return vec![format!("{what}: the log is not at trace level, so it proves nothing")];
    }
    let mut leaks: Vec<String> = keys
        .secrets()
        .filter(|secret| log.contains(secret))
        .map(|secret| format!("{what}: the log holds a presented key ({}...)", &secret[..12]))
        .collect();
    if log.contains("next=/../..") || log.contains("api_key=") {
        leaks.push(format!("{what}: the log holds a query string"));
    }
    leaks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_request_gets_its_answer_on_every_endpoint() {
    let (_dir, loose) = loose_catalog();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (catalog, file) in [(Catalog::Coldsend, "coldsend"), (Catalog::Loose, loose.as_str())] {
        for (via, family) in [
            (Via::Nginx, "nginx"),
            (Via::Forwarded, "forwarded"),
            (Via::Envoy, "envoy"),
        ] {
            let t = TestStore::new(Backend::Sqlite).await;
            let s = serve(&t, file, family).await;
            let keys = Keys::create(&s, &t).await;
            let mut ways = vec![via];
            if via == Via::Nginx {
                ways.extend([Via::Verify, Via::Manage]);
            }
            for way in ways {
                let (sent, wrong) = run(way, catalog, &s.url, &keys).await;
                checked += sent;
                failures.extend(wrong);
            }
            failures.extend(log_leaks(&s, &keys, &format!("{family}/{catalog:?}")));
            drop(s);
            t.finish().await;
        }
    }
    assert!(checked > 300, "only {checked} requests were sent");
    assert!(
        failures.is_empty(),
        "{} of {checked} hostile requests got the wrong answer:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Allow mode with strict matching lets a path the API matches loosely
/// through unchecked: `catalog validate` says so (section 8).
#[test]
fn allow_mode_with_strict_matching_is_a_validation_warning() {
    let coldsend = std::fs::read_to_string(crate::example("coldsend")).unwrap();
    let (_dir, path) =
        crate::temp_catalog(&coldsend.replace("unknown_routes = \"deny\"", "unknown_routes = \"allow\""));
    let out = crate::keyward(&["catalog", "validate", &path]);
    let said = format!("{}{}", crate::stdout(&out), crate::stderr(&out));
    assert_eq!(out.status.code(), Some(0), "a warning, not an error: {said}");
    assert!(said.contains("warning") && said.contains("path_case"), "{said}");
    let (_dir, path) = loose_catalog();
    let out = crate::keyward(&["catalog", "validate", &path]);
    let said = format!("{}{}", crate::stdout(&out), crate::stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(!said.contains("warning"), "loose matching needs no warning: {said}");
}
