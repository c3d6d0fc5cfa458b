//! A real `keyward serve` process on an ephemeral port, for HTTP tests.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::Client;
use serde_json::{json, Value};

use crate::support::TestStore;

pub struct Server {
    pub child: Child,
    pub url: String,
    pub client: Client,
    pub management_key: String,
    pub stdout_lines: Vec<String>,
    pub stderr_path: PathBuf,
    _logs: tempfile::TempDir,
}

pub struct Options<'a> {
    pub catalog: &'a str,
    /// Where the server finds the store, if not where the test store is.
    pub store_args: Option<Vec<String>>,
    pub extra_args: Vec<String>,
    pub env: Vec<(&'a str, String)>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            catalog: "coldsend",
            store_args: None,
            extra_args: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// The catalog file of an example, as a path.
pub fn catalog_path(name: &str) -> String {
    crate::example(name)
}

impl Server {
    pub async fn start(t: &TestStore, options: Options<'_>) -> Server {
        let logs = tempfile::tempdir().unwrap();
        let stderr_path = logs.path().join("stderr.log");
        let catalog = if options.catalog.ends_with(".toml") {
            options.catalog.to_owned()
        } else {
            catalog_path(options.catalog)
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyward"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--config", &catalog])
            .args(options.store_args.clone().unwrap_or_else(|| t.cli_args()))
            .args(&options.extra_args)
            .env_remove("KEYWARD_DATABASE_URL")
            .env_remove("KEYWARD_DATA_DIR")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap());
        for (k, v) in &options.env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        let url = loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                panic!(
                    "keyward serve exited early: {}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
            lines.push(line.trim_end().to_owned());
            if let Some(url) = line.trim().strip_prefix("keyward listening on ") {
                break url.to_owned();
            }
        };
        std::thread::spawn(move || for _ in reader.lines() {});
        let management_key = match &t.sqlite_dir {
            Some(dir) => std::fs::read_to_string(dir.path().join("management-key"))
                .unwrap()
                .trim()
                .to_owned(),
            None => {
                let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
                    .args(["admin", "create-key", "--name", "test"])
                    .args(t.cli_args())
                    .output()
                    .unwrap();
                String::from_utf8(out.stdout).unwrap().trim().to_owned()
            }
        };
        Server {
            child,
            url,
            client: Client::builder().timeout(Duration::from_secs(10)).build().unwrap(),
            management_key,
            stdout_lines: lines,
            stderr_path,
            _logs: logs,
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub async fn manage(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.manage_as(&self.management_key.clone(), method, path, body).await
    }

    pub async fn manage_as(&self, key: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Creates a key through the API; returns (id, plaintext).
    pub async fn create_key(&self, account: &str, scopes: &[&str]) -> (String, String) {
        let (status, body) = self
            .manage(
                reqwest::Method::POST,
                "/v1/keys",
                Some(json!({"account": account, "name": "test key", "scopes": scopes})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (
            body["id"].as_str().unwrap().to_owned(),
            body["key"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn verify(&self, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/v1/verify", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn code_of(&self, key: &str) -> String {
        let (_, body) = self.verify(json!({"key": key})).await;
        body["code"].as_str().unwrap_or("").to_owned()
    }

    /// SIGTERM, then the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
