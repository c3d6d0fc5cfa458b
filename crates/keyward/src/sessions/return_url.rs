//! Where a portal session sends its customer back (docs/PAGES.md):
//! an absolute https URL (http only for localhost), of an allowed origin
//! when an allowlist is configured. Anything else could turn keyward into
//! an open redirect or a `javascript:` link on its own page.

use url::Url;

use crate::keys::KeyError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnUrl(String);

impl ReturnUrl {
    pub fn parse(text: &str, allowed_origins: Option<&[String]>) -> Result<ReturnUrl, KeyError> {
        let refuse = |why: &str| KeyError::Invalid {
            field: "return_url",
            message: format!("`{}` {why}", text.escape_debug()),
        };
        if text.len() > 2048 {
            return Err(refuse("is longer than 2048 characters"));
        }
        let url = Url::parse(text).map_err(|e| refuse(&format!("is not an absolute URL ({e})")))?;
        let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        match url.scheme() {
            "https" => {}
            "http" if local => {}
            _ => return Err(refuse("must be an https URL (http only for localhost)")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("must not carry credentials"));
        }
        if let Some(allowed) = allowed_origins {
            let origin = url.origin().ascii_serialization();
            if !allowed.contains(&origin) {
                return Err(refuse(&format!(
                    "is not on an allowed origin (portal.return_origins: {})",
                    allowed.join(", ")
                )));
            }
        }
        Ok(ReturnUrl(url.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_https_urls_or_local_http() {
        for good in [
            "https://app.example.com/settings",
            "http://localhost:3000/back",
            "http://127.0.0.1/x",
        ] {
            assert!(ReturnUrl::parse(good, None).is_ok(), "{good}");
        }
        for bad in [
            "/settings",
            "javascript:alert(1)",
            "http://app.example.com/",
            "data:text/html,x",
            "https://user:pw@app.example.com/",
            "//evil.example.com/",
            "ftp://app.example.com/",
        ] {
            let e = ReturnUrl::parse(bad, None).unwrap_err();
            assert!(e.to_string().contains("return_url"), "{bad}: {e}");
        }
    }

    #[test]
    fn an_allowlist_limits_the_origins() {
        let allowed = ["https://app.example.com".to_owned()];
        assert!(ReturnUrl::parse("https://app.example.com/s", Some(&allowed)).is_ok());
        assert!(ReturnUrl::parse("https://app.example.com.evil.com/s", Some(&allowed)).is_err());
        assert!(ReturnUrl::parse("https://app.example.com:8443/s", Some(&allowed)).is_err());
    }
}
