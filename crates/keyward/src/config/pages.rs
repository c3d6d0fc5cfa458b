//! Settings of the pages (docs/PAGES.md): where keyward is reached
//! (`public_url`), whom to believe about a client's address
//! (`trusted_proxies`), how long a session lasts, and the `[portal]` table:
//! product name, accent colour, who may frame the portal and where a
//! customer may be sent back to.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use url::Url;

/// The `[portal]` table of the catalog file.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalTable {
    pub product_name: Option<String>,
    pub accent_color: Option<String>,
    pub frame_ancestors: Option<Vec<String>>,
    pub return_origins: Option<Vec<String>>,
}

/// The pages' settings, checked.
#[derive(Debug, Clone)]
pub struct PageSettings {
    /// `None`: `http://<the address keyward listens on>`.
    pub public_url: Option<Url>,
    pub trusted_proxies: Vec<IpNet>,
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// A session ends this long after sign-in, used or not.
    pub session_lifetime: Duration,
    /// The name on the pages and on the portal's way back; default the
    /// catalog's API name.
    pub product_name: Option<String>,
    /// `#rrggbb`.
    pub accent_color: String,
    /// Origins allowed to frame the portal (empty: none may).
    pub frame_ancestors: Vec<String>,
    /// If set, a portal session's `return_url` must have one of these
    /// origins.
    pub return_origins: Option<Vec<String>>,
}

pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
pub const DEFAULT_ACCENT_COLOR: &str = "#2563eb";

impl Default for PageSettings {
    fn default() -> Self {
        PageSettings {
            public_url: None,
            trusted_proxies: Vec::new(),
            session_idle: DEFAULT_SESSION_IDLE,
            session_lifetime: DEFAULT_SESSION_LIFETIME,
            product_name: None,
            accent_color: DEFAULT_ACCENT_COLOR.to_owned(),
            frame_ancestors: Vec::new(),
            return_origins: None,
        }
    }
}

/// What the pages' settings were given as, from the file, the environment
/// or flags (already layered).
#[derive(Default)]
pub struct RawPageSettings {
    pub public_url: Option<String>,
    pub trusted_proxies: Option<Vec<String>>,
    pub session_idle_timeout_seconds: Option<u64>,
    pub session_lifetime_seconds: Option<u64>,
    pub product_name: Option<String>,
    pub accent_color: Option<String>,
    pub frame_ancestors: Option<Vec<String>>,
    pub return_origins: Option<Vec<String>>,
}

impl PageSettings {
    pub fn parse(raw: RawPageSettings) -> Result<PageSettings, String> {
        let public_url = raw.public_url.as_deref().map(public_url).transpose()?;
        let trusted_proxies = raw
            .trusted_proxies
            .unwrap_or_default()
            .iter()
            .map(|p| proxy(p))
            .collect::<Result<_, _>>()?;
        let seconds = |value: Option<u64>, default: Duration, name: &str, max: u64| match value {
            None => Ok(default),
            Some(0) => Err(format!("{name} must be positive")),
            Some(s) if s > max => Err(format!("{name} = {s}: at most {max}")),
            Some(s) => Ok(Duration::from_secs(s)),
        };
        let session_idle = seconds(
            raw.session_idle_timeout_seconds,
            DEFAULT_SESSION_IDLE,
            "session_idle_timeout_seconds",
            7 * 86_400,
        )?;
        let session_lifetime = seconds(
            raw.session_lifetime_seconds,
            DEFAULT_SESSION_LIFETIME,
            "session_lifetime_seconds",
            30 * 86_400,
        )?;
        let product_name = raw.product_name.map(|n| product_name(&n)).transpose()?;
        let accent_color = match raw.accent_color {
            None => DEFAULT_ACCENT_COLOR.to_owned(),
            Some(c) => accent_color(&c)?,
        };
        let frame_ancestors: Vec<String> = raw
            .frame_ancestors
            .unwrap_or_default()
            .iter()
            .map(|o| origin(o, "portal.frame_ancestors"))
            .collect::<Result<_, _>>()?;
        if !frame_ancestors.is_empty() && public_url.as_ref().is_none_or(|u| u.scheme() != "https") {
            return Err(
                "portal.frame_ancestors needs an https public_url: a framed portal's cookie must be \
                        `SameSite=None; Secure; Partitioned`, which browsers keep only over https"
                    .to_owned(),
            );
        }
        let return_origins = raw
            .return_origins
            .map(|list| {
                list.iter()
                    .map(|o| origin(o, "portal.return_origins"))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(PageSettings {
            public_url,
            trusted_proxies,
            session_idle,
            session_lifetime,
            product_name,
            accent_color,
            frame_ancestors,
            return_origins,
        })
    }

    /// Whether the pages are served over https (then cookies are `Secure`
    /// and `__Host-`).
    pub fn https(&self) -> bool {
        self.public_url.as_ref().is_some_and(|u| u.scheme() == "https")
    }

    /// Whether `peer` is a proxy whose `X-Forwarded-For` is believed.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }
}

/// An absolute http(s) URL with no path beyond `/`, query or fragment
/// (the pages' links are root-relative).
fn public_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("public_url `{text}`: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("public_url `{text}` must be an http or https URL"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "public_url `{text}` must be an origin like https://keys.example.com (no path, query or credentials): \
             keyward serves its pages at the root"
        ));
    }
    Ok(url)
}

/// `https://host[:port]` (http only for localhost), as browsers spell an
/// origin.
fn origin(text: &str, setting: &str) -> Result<String, String> {
    let url = Url::parse(text).map_err(|e| format!("{setting}: `{text}`: {e}"))?;
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && local);
    if !scheme_ok || url.path() != "/" || url.query().is_some() || url.fragment().is_some() || url.host().is_none() {
        return Err(format!(
            "{setting}: `{text}` must be an https origin like https://app.example.com (http only for localhost)"
        ));
    }
    Ok(url.origin().ascii_serialization())
}

fn proxy(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("trusted_proxies: `{text}` is neither an IP address nor a network like 10.0.0.0/8"))
}

fn product_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
        return Err(format!(
            "portal.product_name `{}` must be 1-60 printable characters",
            text.escape_debug()
        ));
    }
    Ok(name.to_owned())
}

fn accent_color(text: &str) -> Result<String, String> {
    let hex = text.strip_prefix('#').unwrap_or("");
    let expanded: String = match hex.len() {
        3 => hex.chars().flat_map(|c| [c, c]).collect(),
        6 => hex.to_owned(),
        _ => String::new(),
    };
    if expanded.is_empty() || !expanded.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "portal.accent_color `{text}` must be a hex colour like #2563eb"
        ));
    }
    Ok(format!("#{}", expanded.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(edit: impl FnOnce(&mut RawPageSettings)) -> Result<PageSettings, String> {
        let mut raw = RawPageSettings::default();
        edit(&mut raw);
        PageSettings::parse(raw)
    }

    #[test]
    fn defaults_are_plain_http_on_the_listen_address() {
        let s = parse(|_| {}).unwrap();
        assert!(s.public_url.is_none() && !s.https());
        assert_eq!(s.accent_color, "#2563eb");
        assert_eq!(s.session_idle, Duration::from_secs(1800));
    }

    #[test]
    fn bad_values_are_refused_naming_the_setting() {
        for (edit, says) in [
            (
                Box::new(|r: &mut RawPageSettings| r.public_url = Some("https://k.example.com/keys".into()))
                    as Box<dyn FnOnce(&mut RawPageSettings)>,
                "public_url",
            ),
            (
                Box::new(|r| r.public_url = Some("ftp://k.example.com".into())),
                "public_url",
            ),
            (Box::new(|r| r.accent_color = Some("red; }".into())), "accent_color"),
            (Box::new(|r| r.product_name = Some("a\nb".into())), "product_name"),
            (
                Box::new(|r| r.trusted_proxies = Some(vec!["10.0.0.0/33".into()])),
                "trusted_proxies",
            ),
            (
                Box::new(|r| r.frame_ancestors = Some(vec!["https://app.example.com".into()])),
                "https public_url",
            ),
            (
                Box::new(|r| r.return_origins = Some(vec!["http://app.example.com".into()])),
                "return_origins",
            ),
            (
                Box::new(|r| r.session_idle_timeout_seconds = Some(0)),
                "session_idle_timeout_seconds",
            ),
        ] {
            let e = parse(edit).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn origins_and_colours_are_normalised() {
        let s = parse(|r| {
            r.public_url = Some("https://keys.example.com".into());
            r.frame_ancestors = Some(vec!["https://App.Example.com:443/".into()]);
            r.accent_color = Some("#ABC".into());
            r.trusted_proxies = Some(vec!["10.0.0.1".into(), "192.168.0.0/16".into()]);
        })
        .unwrap();
        assert_eq!(s.frame_ancestors, ["https://app.example.com"]);
        assert_eq!(s.accent_color, "#aabbcc");
        assert!(s.trusts("192.168.4.4".parse().unwrap()) && !s.trusts("10.0.0.2".parse().unwrap()));
        assert!(s.https());
    }
}
