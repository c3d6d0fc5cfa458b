//! What every page sends and checks (docs/PAGES.md): security
//! headers, the session cookies, the client's address (the peer, or the
//! forwarded one only from a trusted proxy) and the sign-in throttle.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::PageSettings;
use crate::http::AppState;

/// Which of the two sessions a cookie holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieKind {
    Operator,
    Portal,
    /// The sign-in form's token (before there is a session).
    SignIn,
}

impl CookieKind {
    /// `__Host-` under https: the browser then refuses it from a subdomain
    /// or over http, and it always has `Path=/`.
    pub fn name(self, settings: &PageSettings) -> &'static str {
        match (self, settings.https()) {
            (CookieKind::Operator, true) => "__Host-keyward_dashboard",
            (CookieKind::Operator, false) => "keyward_dashboard",
            (CookieKind::Portal, true) => "__Host-keyward_portal",
            (CookieKind::Portal, false) => "keyward_portal",
            (CookieKind::SignIn, true) => "__Host-keyward_sign_in",
            (CookieKind::SignIn, false) => "keyward_sign_in",
        }
    }

    fn same_site(self, settings: &PageSettings) -> &'static str {
        match self {
            CookieKind::Operator | CookieKind::SignIn => "SameSite=Strict",
            // The customer arrives by a cross-site navigation from the host
            // application; framed, the cookie is a third-party one.
            CookieKind::Portal if !settings.frame_ancestors.is_empty() => "SameSite=None; Partitioned",
            CookieKind::Portal => "SameSite=Lax",
        }
    }

    /// A `Set-Cookie` value holding `value` (an empty one expires it).
    pub fn set(self, settings: &PageSettings, value: &str) -> HeaderValue {
        let secure = if settings.https() { "; Secure" } else { "" };
        let expiry = if value.is_empty() { "; Max-Age=0" } else { "" };
        let text = format!(
            "{}={value}; Path=/; HttpOnly; {}{secure}{expiry}",
            self.name(settings),
            self.same_site(settings)
        );
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("keyward_invalid=; Max-Age=0"))
    }
}

/// The value of cookie `name`, if the request has one.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Whether a form comes from keyward's own pages, as far as the browser
/// says: a present `Origin` must be keyward's own. One exception: under
/// `Referrer-Policy: no-referrer` (which the pages send) browsers send
/// `Origin: null` even for a same-origin form, so `null` is taken when
/// `Sec-Fetch-Site` (which no page can set) says `same-origin`. A
/// `Sec-Fetch-Site` naming another site is refused whatever `Origin`
/// says. Without either header, the form's token alone decides.
pub fn origin_allowed(headers: &HeaderMap, origin: &str) -> bool {
    let fetch_site = headers.get("sec-fetch-site").map(HeaderValue::as_bytes);
    if matches!(fetch_site, Some(b"cross-site" | b"same-site")) {
        return false;
    }
    match headers.get(header::ORIGIN).map(HeaderValue::as_bytes) {
        None => true,
        Some(b"null") => fetch_site == Some(b"same-origin"),
        Some(value) => value == origin.as_bytes(),
    }
}

/// The client's address: the peer's, or, from a trusted proxy, the last
/// `X-Forwarded-For` address that is not itself a trusted proxy.
pub fn client_address(headers: &HeaderMap, peer: Option<SocketAddr>, settings: &PageSettings) -> IpAddr {
    // An IPv4 client of a dual-stack listener arrives as `::ffff:a.b.c.d`:
    // it is the IPv4 address, for the trusted proxies and the throttle.
    let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.ip().to_canonical());
    if !settings.trusts(peer) {
        return peer;
    }
    // From the right: each trusted hop vouches for the entry before it.
    // The first untrusted address is the client; an entry that is not an
    // address stops the walk at the last trusted hop (what came before it
    // was written by no one keyward trusts).
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or(""))
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for entry in entries.into_iter().rev() {
        let Ok(address) = entry.trim().parse::<IpAddr>().map(|a| a.to_canonical()) else {
            break;
        };
        client = address;
        if !settings.trusts(address) {
            break;
        }
    }
    client
}

/// Sign-in attempts per client address: at most [`SIGN_IN_ATTEMPTS`] in a
/// window of [`SIGN_IN_WINDOW`] that starts at the client's first attempt.
/// Attempts refused in a window do not extend it: a client held out is let
/// in again when the window ends, however often it tried meanwhile.
pub struct SignInThrottle {
    /// Each client's window: when it started and the attempts made in it.
    windows: moka::sync::Cache<IpAddr, (Instant, u32)>,
}

pub const SIGN_IN_ATTEMPTS: u32 = 10;
pub const SIGN_IN_WINDOW: Duration = Duration::from_secs(60);

impl SignInThrottle {
    pub fn new() -> SignInThrottle {
        SignInThrottle {
            // A client's entry outlives its window by little: every upsert
            // starts the time to live again, and a window never lasts
            // longer than this.
            windows: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(SIGN_IN_WINDOW)
                .build(),
        }
    }

    /// Counts an attempt from `client`; false when it is one too many. An
    /// IPv6 client counts by its /64 (one host usually holds a whole one).
    pub fn allow(&self, client: IpAddr) -> bool {
        self.allow_at(client, Instant::now())
    }

    fn allow_at(&self, client: IpAddr, now: Instant) -> bool {
        let client = match client.to_canonical() {
            IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
            v4 => v4,
        };
        let entry = self
            .windows
            .entry(client)
            .and_upsert_with(|previous| match previous.map(|e| e.into_value()) {
                Some((started, count)) if now.saturating_duration_since(started) < SIGN_IN_WINDOW => {
                    (started, count.saturating_add(1))
                }
                _ => (now, 1),
            });
        entry.into_value().1 <= SIGN_IN_ATTEMPTS
    }
}

impl Default for SignInThrottle {
    fn default() -> Self {
        SignInThrottle::new()
    }
}

/// The headers of every page: a CSP with no inline script or style,
/// framing only by configured origins (portal pages) or by none, no
/// caching, no referrer, no sniffing.
pub async fn page_headers(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let portal = request.uri().path().starts_with("/portal");
    let mut response = next.run(request).await;
    add_page_headers(response.headers_mut(), &state.pages.settings, portal);
    response
}

/// What [`page_headers`] adds, for answers outside the pages' router (an
/// unknown page, a method a page does not take).
pub fn add_page_headers(headers: &mut HeaderMap, settings: &PageSettings, portal: bool) {
    let ancestors = if portal && !settings.frame_ancestors.is_empty() {
        settings.frame_ancestors.join(" ")
    } else {
        "'none'".to_owned()
    };
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
         form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    if ancestors == "'none'" {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
}

/// Whether `path` is one of the pages' (not the JSON API's).
pub fn is_page_path(path: &str) -> bool {
    ["/dashboard", "/portal", "/assets"]
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|rest| rest.starts_with('/')))
}

/// The peer address the connection layer attached, if any.
pub fn peer(request_extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    request_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::pages::RawPageSettings;

    fn settings(proxies: &[&str]) -> PageSettings {
        PageSettings::parse(RawPageSettings {
            trusted_proxies: Some(proxies.iter().map(|p| p.to_string()).collect()),
            ..RawPageSettings::default()
        })
        .unwrap()
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 1.2.3.4, 10.0.0.2"),
        );
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        assert_eq!(client_address(&headers, Some(peer), &settings(&[])), peer.ip());
        assert_eq!(
            client_address(&headers, Some(peer), &settings(&["10.0.0.0/8"])),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn only_our_origin_or_a_same_origin_null_passes() {
        let ours = "http://127.0.0.1:8080";
        let check = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, HeaderValue::from_static(value));
            }
            origin_allowed(&headers, ours)
        };
        assert!(check(&[]));
        assert!(check(&[("origin", "http://127.0.0.1:8080")]));
        assert!(check(&[("origin", "null"), ("sec-fetch-site", "same-origin")]));
        assert!(!check(&[("origin", "null")]));
        assert!(!check(&[("origin", "https://evil.example.com")]));
        assert!(!check(&[
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "cross-site")
        ]));
        assert!(!check(&[("sec-fetch-site", "same-site")]));
    }

    #[test]
    fn an_unreadable_forwarded_entry_stops_the_walk_at_the_last_trusted_hop() {
        let peer: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let mut headers = HeaderMap::new();
        // The proxy wrote `ip:port`: what the client put before it is not
        // to be believed.
        headers.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6, 1.2.3.4:5555"));
        assert_eq!(
            client_address(&headers, Some(peer), &settings(&["10.0.0.0/8"])),
            peer.ip()
        );
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, unknown, 10.0.0.3"),
        );
        assert_eq!(
            client_address(&headers, Some(peer), &settings(&["10.0.0.0/8"])),
            "10.0.0.3".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn the_throttle_refuses_the_eleventh_attempt() {
        let throttle = SignInThrottle::new();
        let client: IpAddr = "1.2.3.4".parse().unwrap();
        for _ in 0..SIGN_IN_ATTEMPTS {
            assert!(throttle.allow(client));
        }
        assert!(!throttle.allow(client));
        assert!(throttle.allow("1.2.3.5".parse().unwrap()));
        for i in 0..SIGN_IN_ATTEMPTS {
            assert!(throttle.allow(format!("2001:db8::{i:x}").parse().unwrap()));
        }
        assert!(
            !throttle.allow("2001:db8::ffff:1".parse().unwrap()),
            "another address of the same /64"
        );
        assert!(throttle.allow("2001:db8:0:1::1".parse().unwrap()));
        // An IPv4 client seen as IPv4-mapped IPv6 is its IPv4 address, not
        // one /64 shared by every IPv4 client.
        for _ in 0..SIGN_IN_ATTEMPTS {
            assert!(throttle.allow("::ffff:10.0.0.1".parse().unwrap()));
        }
        assert!(!throttle.allow("10.0.0.1".parse().unwrap()), "the same client");
        assert!(
            throttle.allow("::ffff:10.0.0.2".parse().unwrap()),
            "another IPv4 client"
        );
    }

    #[test]
    fn a_client_held_out_is_let_in_when_its_minute_ends_however_often_it_tried() {
        let throttle = SignInThrottle::new();
        let client: IpAddr = "1.2.3.4".parse().unwrap();
        let start = Instant::now();
        for _ in 0..SIGN_IN_ATTEMPTS {
            assert!(throttle.allow_at(client, start));
        }
        // Refused all minute long, one attempt a second.
        for second in 1..60 {
            assert!(
                !throttle.allow_at(client, start + Duration::from_secs(second)),
                "second {second}"
            );
        }
        // A minute after the first attempt, a new window of ten.
        let later = start + SIGN_IN_WINDOW;
        for _ in 0..SIGN_IN_ATTEMPTS {
            assert!(throttle.allow_at(client, later));
        }
        assert!(!throttle.allow_at(client, later + Duration::from_secs(59)));
        assert!(throttle.allow_at(client, later + SIGN_IN_WINDOW));
    }

    #[test]
    fn cookies_follow_design_section_6() {
        let plain = settings(&[]);
        let text = CookieKind::Operator.set(&plain, "abc");
        assert_eq!(text, "keyward_dashboard=abc; Path=/; HttpOnly; SameSite=Strict");
        let https = PageSettings::parse(RawPageSettings {
            public_url: Some("https://keys.example.com".into()),
            frame_ancestors: Some(vec!["https://app.example.com".into()]),
            ..RawPageSettings::default()
        })
        .unwrap();
        assert_eq!(
            CookieKind::Portal.set(&https, "abc"),
            "__Host-keyward_portal=abc; Path=/; HttpOnly; SameSite=None; Partitioned; Secure"
        );
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; keyward_portal=xyz; b=2"));
        assert_eq!(cookie(&headers, "keyward_portal"), Some("xyz"));
        assert_eq!(cookie(&headers, "keyward_dashboard"), None);
    }
}
