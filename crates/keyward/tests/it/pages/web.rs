//! A plain HTTP client for the pages, for what a browser hides: exact
//! statuses, headers and cookies, forged forms. It keeps cookies itself
//! and never follows redirects.

use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::{redirect, Client, Response};

pub struct Web {
    pub base: String,
    client: Client,
    pub cookies: Vec<(String, String)>,
}

pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn location(&self) -> String {
        self.header("location")
    }

    /// The first `csrf_token` hidden field's value.
    pub fn csrf(&self) -> String {
        hidden(&self.body, "csrf_token")
    }
}

/// The value of the first hidden input named `name`.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {html}"));
    let rest = &html[at + marker.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

impl Web {
    pub fn new(base: &str) -> Web {
        Web {
            base: base.to_owned(),
            client: Client::builder().redirect(redirect::Policy::none()).build().unwrap(),
            cookies: Vec::new(),
        }
    }

    /// The cookies held, as a `Cookie` header.
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn take(&mut self, response: Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for set in headers.get_all(SET_COOKIE) {
            let text = set.to_str().unwrap();
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() && !text.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        let body = response.text().await.unwrap();
        Page { status, headers, body }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.take(response).await
    }

    /// Posts a form; `origin` is sent as `Origin` if given.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)], origin: Option<&str>) -> Page {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.send().await.unwrap();
        self.take(response).await
    }

    /// Submits the create form under `base` (`/portal`,
    /// `/dashboard/accounts/<id>`) with this name and these grants.
    pub async fn create_key(&mut self, base: &str, name: &str, grants: &[&str]) -> Page {
        let csrf = self.get(&format!("{base}/keys/new")).await.csrf();
        let mut fields = vec![("csrf_token", csrf.as_str()), ("name", name)];
        fields.extend(grants.iter().map(|g| ("grant", *g)));
        self.post(&format!("{base}/keys"), &fields, None).await
    }

    /// Signs in at `/dashboard` with `key`.
    pub async fn sign_in(&mut self, key: &str) -> Page {
        let form = self.get("/dashboard").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form.csrf();
        let base = self.base.clone();
        self.post(
            "/dashboard/sign-in",
            &[("csrf_token", &csrf), ("key", key)],
            Some(&base),
        )
        .await
    }
}

/// The text between `start` and the next `end`.
pub fn between(html: &str, start: &str, end: &str) -> String {
    let at = html.find(start).unwrap_or_else(|| panic!("no {start} in {html}")) + start.len();
    let rest = &html[at..];
    rest[..rest.find(end).unwrap()].trim().to_owned()
}

/// The status the JSON API answers at `path` to a request carrying only
/// `web`'s cookies.
pub async fn api_status_with_cookies(server: &crate::server::Server, web: &Web, path: &str) -> u16 {
    server
        .client
        .get(format!("{}{path}", server.url))
        .header("cookie", web.cookie_header())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
