//! Server settings, layered: defaults, then the optional `[server]` table of
//! the catalog file, then `KEYWARD_*` environment variables, then flags
//! (clap reads the last two). One typed struct comes out.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::keys::Grace;
use crate::store::{redact_url, Pooler, PostgresSettings, DEFAULT_DATABASE_MAX_CONNECTIONS};
use crate::usage::retention::{DEFAULT_RETENTION_DAYS, MIN_RETENTION_DAYS};
use crate::usage::DEFAULT_FLUSH_MAX_MS;
use crate::verify::CacheSettings;

pub mod pages;

pub use pages::PageSettings;
use pages::{PortalTable, RawPageSettings};

/// Which headers carry the original request on forward-auth (section 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HeaderFamily {
    /// `X-Original-Method` / `X-Original-URI` (nginx `auth_request`).
    Nginx,
    /// `X-Forwarded-Method` / `X-Forwarded-Uri` (Traefik, Caddy).
    Forwarded,
    /// Envoy's HTTP `ext_authz`: the check's own method, and its path after
    /// `/v1/authz/envoy` (set `path_prefix: /v1/authz/envoy`).
    Envoy,
}

/// `Debug` never shows the database URL's password.
#[derive(Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// How PostgreSQL is reached (listener, pooler, pool size).
    pub postgres: PostgresSettings,
    pub forward_auth_headers: HeaderFamily,
    pub cache: CacheSettings,
    pub usage: bool,
    pub usage_flush: crate::usage::FlushPace,
    /// Days daily usage rows are kept (hourly ones: 31 days).
    pub usage_retention_days: u32,
    pub max_body_bytes: usize,
    pub connections: ConnectionLimits,
    /// The longest rotation grace this server grants (at most 30 days).
    pub max_rotation_grace: Grace,
    /// If set, verification endpoints answer only requests carrying it in
    /// `X-Keyward-Verifier-Token`.
    pub verify_token: Option<VerifyToken>,
    /// The dashboard's and the portal's settings.
    pub pages: PageSettings,
}

/// The verifier credential: at least 32 characters, never printed, kept
/// as its SHA-256 digest (so comparing it leaks neither content nor
/// length).
#[derive(Clone)]
pub struct VerifyToken([u8; 32]);

pub const VERIFY_TOKEN_MIN_CHARS: usize = 32;

impl VerifyToken {
    pub fn parse(text: &str) -> Result<VerifyToken, String> {
        if text.len() < VERIFY_TOKEN_MIN_CHARS || !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "verify_token must be at least {VERIFY_TOKEN_MIN_CHARS} visible ASCII characters (e.g. `openssl rand -hex 32`)"
            ));
        }
        Ok(VerifyToken(digest(text.as_bytes())))
    }

    /// Whether `presented` is the token: digests compared in constant time.
    pub fn matches(&self, presented: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        self.0.ct_eq(&digest(presented)).into()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

impl std::fmt::Debug for VerifyToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifyToken(***)")
    }
}

/// The connection limits of `[server]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub head_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            head_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            max_connections: 10_000,
        }
    }
}

pub const MAX_CACHE_TTL_SECONDS: u64 = 60;
pub const MAX_CACHE_CAPACITY: u64 = 100_000_000;

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_deref().map(redact_url))
            .field("postgres", &self.postgres)
            .field("forward_auth_headers", &self.forward_auth_headers)
            .field("cache", &self.cache)
            .field("usage", &self.usage)
            .field("usage_flush", &self.usage_flush)
            .field("usage_retention_days", &self.usage_retention_days)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("connections", &self.connections)
            .field("max_rotation_grace", &self.max_rotation_grace)
            .field("verify_token", &self.verify_token)
            .field("pages", &self.pages)
            .finish()
    }
}

/// The `[server]` table of the catalog file.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTable {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub database_listener_url: Option<String>,
    pub database_pooler: Option<Pooler>,
    pub database_max_connections: Option<u32>,
    pub forward_auth_headers: Option<HeaderFamily>,
    pub cache_ttl_seconds: Option<u64>,
    pub cache_capacity: Option<u64>,
    pub negative_cache_ttl_seconds: Option<u64>,
    pub max_concurrent_lookups: Option<usize>,
    pub usage: Option<bool>,
    pub usage_flush_ms: Option<u64>,
    pub usage_flush_max_ms: Option<u64>,
    pub usage_retention_days: Option<u32>,
    pub max_body_bytes: Option<usize>,
    pub max_connections: Option<usize>,
    pub header_timeout_seconds: Option<u64>,
    pub idle_timeout_seconds: Option<u64>,
    pub body_timeout_seconds: Option<u64>,
    pub max_rotation_grace: Option<String>,
    pub public_url: Option<String>,
    pub trusted_proxies: Option<Vec<String>>,
    pub session_idle_timeout_seconds: Option<u64>,
    pub session_lifetime_seconds: Option<u64>,
    /// The file's `[portal]` table (a table of its own, beside `[server]`).
    #[serde(skip)]
    pub portal: PortalTable,
}

impl ServerTable {
    /// The `[server]` table of a catalog file, if it has one.
    pub fn from_catalog_source(file: &Path, source: &str) -> Result<ServerTable, String> {
        let table: toml::Table = toml::from_str(source).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut server: ServerTable = match table.get("server") {
            None => ServerTable::default(),
            Some(value) => value
                .clone()
                .try_into()
                .map_err(|e| format!("{}: [server]: {e}", file.display()))?,
        };
        if let Some(value) = table.get("portal") {
            server.portal = value
                .clone()
                .try_into()
                .map_err(|e| format!("{}: [portal]: {e}", file.display()))?;
        }
        Ok(server)
    }
}

/// Values given on the command line or in `KEYWARD_*` variables.
#[derive(Default, Clone, clap::Args)]
pub struct ServerFlags {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "KEYWARD_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory of the embedded SQLite database (default ./keyward-data).
    #[arg(long, env = "KEYWARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL; the embedded SQLite when absent.
    #[arg(long, env = "KEYWARD_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// PostgreSQL URL of the one connection that listens for changes:
    /// direct or session-pooled (default: the database URL).
    #[arg(long, env = "KEYWARD_DATABASE_LISTENER_URL", hide_env_values = true)]
    pub database_listener_url: Option<String>,
    /// What stands in front of PostgreSQL on the database URL (default none).
    #[arg(long, env = "KEYWARD_DATABASE_POOLER", value_enum)]
    pub database_pooler: Option<Pooler>,
    /// Connections each node keeps to PostgreSQL, besides its listener
    /// (default 8: ten nodes fit max_connections = 100).
    #[arg(long, env = "KEYWARD_DATABASE_MAX_CONNECTIONS")]
    pub database_max_connections: Option<u32>,
    /// Which header family forward-auth trusts.
    #[arg(long, env = "KEYWARD_FORWARD_AUTH_HEADERS", value_enum)]
    pub forward_auth_headers: Option<HeaderFamily>,
    /// Seconds a key record stays cached (default 30, at most 60).
    #[arg(long, env = "KEYWARD_CACHE_TTL_SECONDS")]
    pub cache_ttl_seconds: Option<u64>,
    /// Key records the cache holds (default 100000).
    #[arg(long, env = "KEYWARD_CACHE_CAPACITY")]
    pub cache_capacity: Option<u64>,
    /// Seconds an unknown key is remembered as unknown (default 5, at most the cache TTL).
    #[arg(long, env = "KEYWARD_NEGATIVE_CACHE_TTL_SECONDS")]
    pub negative_cache_ttl_seconds: Option<u64>,
    /// Storage lookups of uncached keys at once (default 16).
    #[arg(long, env = "KEYWARD_MAX_CONCURRENT_LOOKUPS")]
    pub max_concurrent_lookups: Option<usize>,
    /// Largest request body in bytes (default 65536).
    #[arg(long, env = "KEYWARD_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Count usage (`true`/`false`).
    #[arg(long, env = "KEYWARD_USAGE")]
    pub usage: Option<bool>,
    /// Milliseconds between usage flushes (default 1000); longer when a
    /// flush takes more than 5 % of it, up to --usage-flush-max-ms.
    #[arg(long, env = "KEYWARD_USAGE_FLUSH_MS")]
    pub usage_flush_ms: Option<u64>,
    /// Longest wait between usage flushes under load, in milliseconds
    /// (default 30000).
    #[arg(long, env = "KEYWARD_USAGE_FLUSH_MAX_MS")]
    pub usage_flush_max_ms: Option<u64>,
    /// Days usage is kept, as daily counts after its first 31 days
    /// (default 400, at least 31).
    #[arg(long, env = "KEYWARD_USAGE_RETENTION_DAYS")]
    pub usage_retention_days: Option<u32>,
    /// Open connections at most (default 10000, lowered to fit the open-file limit).
    #[arg(long, env = "KEYWARD_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds a client has to send a complete request head (default 10).
    #[arg(long, env = "KEYWARD_HEADER_TIMEOUT_SECONDS")]
    pub header_timeout_seconds: Option<u64>,
    /// Seconds a keep-alive connection may idle between requests (default 60).
    #[arg(long, env = "KEYWARD_IDLE_TIMEOUT_SECONDS")]
    pub idle_timeout_seconds: Option<u64>,
    /// Seconds a client has to send a request body (default 30).
    #[arg(long, env = "KEYWARD_BODY_TIMEOUT_SECONDS")]
    pub body_timeout_seconds: Option<u64>,
    /// The longest rotation grace granted, like `7d` (default and at most 30d).
    #[arg(long, env = "KEYWARD_MAX_ROTATION_GRACE")]
    pub max_rotation_grace: Option<String>,
    /// `KEYWARD_VERIFY_TOKEN` only (never a flag, which other local users
    /// could read in the process list, nor the catalog file, which gets
    /// committed): read by `serve`.
    #[arg(skip)]
    pub verify_token: Option<String>,
    /// The origin people and host applications reach keyward at, like
    /// https://keys.example.com (default http://<listen address>).
    #[arg(long, env = "KEYWARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Proxies whose X-Forwarded-For is believed (comma-separated
    /// addresses or networks; default none).
    #[arg(long, env = "KEYWARD_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<String>>,
    /// Seconds a page session may go unused (default 1800).
    #[arg(long, env = "KEYWARD_SESSION_IDLE_TIMEOUT_SECONDS")]
    pub session_idle_timeout_seconds: Option<u64>,
    /// Seconds a page session lasts at most (default 43200).
    #[arg(long, env = "KEYWARD_SESSION_LIFETIME_SECONDS")]
    pub session_lifetime_seconds: Option<u64>,
    /// The product name on the pages (default the catalog's API name).
    #[arg(long, env = "KEYWARD_PORTAL_PRODUCT_NAME")]
    pub portal_product_name: Option<String>,
    /// The pages' accent colour, like #2563eb.
    #[arg(long, env = "KEYWARD_PORTAL_ACCENT_COLOR")]
    pub portal_accent_color: Option<String>,
    /// Origins allowed to frame the portal (comma-separated; default none;
    /// needs an https public URL).
    #[arg(long, env = "KEYWARD_PORTAL_FRAME_ANCESTORS", value_delimiter = ',')]
    pub portal_frame_ancestors: Option<Vec<String>>,
    /// If set, the only origins a portal session may return to
    /// (comma-separated).
    #[arg(long, env = "KEYWARD_PORTAL_RETURN_ORIGINS", value_delimiter = ',')]
    pub portal_return_origins: Option<Vec<String>>,
}

/// A count setting: the flag, else the file, else `default`; between 1 and
/// `max`.
fn positive<T>(flag: Option<T>, file: Option<T>, default: T, name: &str, max: T) -> Result<T, String>
where
    T: Copy + PartialOrd + std::fmt::Display + From<u8>,
{
    match flag.or(file) {
        Some(n) if n < T::from(1) => Err(format!("{name} must be positive")),
        Some(n) if n > max => Err(format!("{name} = {n}: at most {max}")),
        other => Ok(other.unwrap_or(default)),
    }
}

impl ServerConfig {
    pub fn layered(file: ServerTable, flags: ServerFlags) -> Result<ServerConfig, String> {
        let defaults = CacheSettings::default();
        let ttl = flags
            .cache_ttl_seconds
            .or(file.cache_ttl_seconds)
            .unwrap_or(defaults.ttl.as_secs());
        if ttl == 0 || ttl > MAX_CACHE_TTL_SECONDS {
            return Err(format!(
                "cache_ttl_seconds = {ttl}: must be between 1 and {MAX_CACHE_TTL_SECONDS}"
            ));
        }
        let negative = flags
            .negative_cache_ttl_seconds
            .or(file.negative_cache_ttl_seconds)
            .unwrap_or(defaults.negative_ttl.as_secs())
            .min(ttl);
        let capacity = positive(
            flags.cache_capacity,
            file.cache_capacity,
            defaults.capacity,
            "cache_capacity",
            MAX_CACHE_CAPACITY,
        )?;
        let max_concurrent_lookups = positive(
            flags.max_concurrent_lookups,
            file.max_concurrent_lookups,
            defaults.max_concurrent_lookups,
            "max_concurrent_lookups",
            1024,
        )?;
        let max_body_bytes = positive(
            flags.max_body_bytes,
            file.max_body_bytes,
            64 * 1024,
            "max_body_bytes",
            16 * 1024 * 1024,
        )?;
        let usage_retention_days = flags
            .usage_retention_days
            .or(file.usage_retention_days)
            .unwrap_or(DEFAULT_RETENTION_DAYS);
        if !(MIN_RETENTION_DAYS..=36_500).contains(&usage_retention_days) {
            return Err(format!(
                "usage_retention_days = {usage_retention_days}: must be between {MIN_RETENTION_DAYS} \
                 (usage is kept by the hour for 31 days) and 36500"
            ));
        }
        let flush = flags.usage_flush_ms.or(file.usage_flush_ms).unwrap_or(1000);
        if flush == 0 {
            return Err("usage_flush_ms must be positive".to_owned());
        }
        let flush_max = flags
            .usage_flush_max_ms
            .or(file.usage_flush_max_ms)
            .unwrap_or(DEFAULT_FLUSH_MAX_MS.max(flush));
        if flush_max < flush {
            return Err(format!(
                "usage_flush_max_ms = {flush_max}: must be at least usage_flush_ms ({flush})"
            ));
        }
        let defaults_c = ConnectionLimits::default();
        let seconds = |flag: Option<u64>, file: Option<u64>, default: Duration, name: &str| match flag.or(file) {
            None => Ok(default),
            Some(0) => Err(format!("{name} must be positive")),
            Some(s) => Ok(Duration::from_secs(s)),
        };
        let connections = ConnectionLimits {
            head_timeout: seconds(
                flags.header_timeout_seconds,
                file.header_timeout_seconds,
                defaults_c.head_timeout,
                "header_timeout_seconds",
            )?,
            idle_timeout: seconds(
                flags.idle_timeout_seconds,
                file.idle_timeout_seconds,
                defaults_c.idle_timeout,
                "idle_timeout_seconds",
            )?,
            body_timeout: seconds(
                flags.body_timeout_seconds,
                file.body_timeout_seconds,
                defaults_c.body_timeout,
                "body_timeout_seconds",
            )?,
            max_connections: match flags.max_connections.or(file.max_connections) {
                Some(0) => return Err("max_connections must be positive".to_owned()),
                other => other.unwrap_or(defaults_c.max_connections),
            },
        };
        let max_rotation_grace = match flags.max_rotation_grace.or(file.max_rotation_grace) {
            None => Grace::longest(),
            Some(text) => Grace::parse(&text).map_err(|e| format!("max_rotation_grace: {e}"))?,
        };
        let verify_token = flags.verify_token.map(|t| VerifyToken::parse(&t)).transpose()?;
        let database_url = flags.database_url.or(file.database_url);
        let postgres = PostgresSettings {
            listener_url: flags.database_listener_url.or(file.database_listener_url),
            pooler: flags.database_pooler.or(file.database_pooler).unwrap_or_default(),
            max_connections: positive(
                flags.database_max_connections,
                file.database_max_connections,
                DEFAULT_DATABASE_MAX_CONNECTIONS,
                "database_max_connections",
                1000,
            )?,
        };
        if database_url.is_some() && postgres.pooler == Pooler::Transaction && postgres.listener_url.is_none() {
            return Err(
                "database_pooler = \"transaction\" needs database_listener_url: LISTEN does not work through \
                        a transaction pooler, so the change feed needs a direct or session-pooled connection"
                    .to_owned(),
            );
        }
        let pages = PageSettings::parse(RawPageSettings {
            public_url: flags.public_url.or(file.public_url),
            trusted_proxies: flags.trusted_proxies.or(file.trusted_proxies),
            session_idle_timeout_seconds: flags.session_idle_timeout_seconds.or(file.session_idle_timeout_seconds),
            session_lifetime_seconds: flags.session_lifetime_seconds.or(file.session_lifetime_seconds),
            product_name: flags.portal_product_name.or(file.portal.product_name),
            accent_color: flags.portal_accent_color.or(file.portal.accent_color),
            frame_ancestors: flags.portal_frame_ancestors.or(file.portal.frame_ancestors),
            return_origins: flags.portal_return_origins.or(file.portal.return_origins),
        })?;
        Ok(ServerConfig {
            pages,
            max_rotation_grace,
            verify_token,
            listen: flags
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir: flags
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("keyward-data")),
            database_url,
            postgres,
            forward_auth_headers: flags
                .forward_auth_headers
                .or(file.forward_auth_headers)
                .unwrap_or(HeaderFamily::Nginx),
            cache: CacheSettings {
                capacity,
                ttl: Duration::from_secs(ttl),
                negative_ttl: Duration::from_secs(negative),
                max_concurrent_lookups,
                lookup_timeout: defaults.lookup_timeout,
            },
            usage: flags.usage.or(file.usage).unwrap_or(true),
            usage_flush: crate::usage::FlushPace {
                base: Duration::from_millis(flush),
                max: Duration::from_millis(flush_max),
            },
            usage_retention_days,
            max_body_bytes,
            connections,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_settings_layer_and_a_transaction_pooler_needs_a_listener() {
        let file: ServerTable = toml::from_str(
            "database_url = \"postgres://k:secret@bouncer/k\"\ndatabase_pooler = \"transaction\"\n\
             database_listener_url = \"postgres://k:secret2@db/k\"\ndatabase_max_connections = 4",
        )
        .unwrap();
        let flags = ServerFlags {
            database_max_connections: Some(3),
            ..ServerFlags::default()
        };
        let c = ServerConfig::layered(file, flags).unwrap();
        assert_eq!(c.postgres.pooler, Pooler::Transaction);
        assert_eq!(c.postgres.max_connections, 3);
        assert_eq!(c.postgres.listener_url.as_deref(), Some("postgres://k:secret2@db/k"));
        assert!(!format!("{c:?}").contains("secret"), "{c:?}");

        let file: ServerTable =
            toml::from_str("database_url = \"postgres://bouncer/k\"\ndatabase_pooler = \"transaction\"").unwrap();
        let e = ServerConfig::layered(file, ServerFlags::default()).unwrap_err();
        assert!(e.contains("database_listener_url"), "{e}");
        let file: ServerTable = toml::from_str("database_max_connections = 0").unwrap();
        assert!(ServerConfig::layered(file, ServerFlags::default()).is_err());
        let c = ServerConfig::layered(ServerTable::default(), ServerFlags::default()).unwrap();
        assert_eq!(c.postgres, PostgresSettings::default());
        assert_eq!(c.postgres.max_connections, 8);
    }

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let file: ServerTable =
            toml::from_str("listen = \"0.0.0.0:9000\"\ncache_ttl_seconds = 20\nusage = false").unwrap();
        let flags = ServerFlags {
            cache_ttl_seconds: Some(10),
            ..ServerFlags::default()
        };
        let c = ServerConfig::layered(file, flags).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.cache.ttl, Duration::from_secs(10));
        assert!(!c.usage);
        assert_eq!(c.forward_auth_headers, HeaderFamily::Nginx);
        assert_eq!(c.data_dir, PathBuf::from("keyward-data"));
    }

    #[test]
    fn the_cache_ttl_is_at_most_60_seconds() {
        let flags = ServerFlags {
            cache_ttl_seconds: Some(61),
            ..ServerFlags::default()
        };
        assert!(ServerConfig::layered(ServerTable::default(), flags)
            .unwrap_err()
            .contains("between 1 and 60"));
    }

    #[test]
    fn the_rotation_grace_may_be_lowered_not_raised() {
        let file: ServerTable = toml::from_str("max_rotation_grace = \"7d\"").unwrap();
        let c = ServerConfig::layered(file, ServerFlags::default()).unwrap();
        assert_eq!(c.max_rotation_grace.as_seconds(), 7 * 86_400);
        let c = ServerConfig::layered(ServerTable::default(), ServerFlags::default()).unwrap();
        assert_eq!(c.max_rotation_grace.as_seconds(), 30 * 86_400);
        let file: ServerTable = toml::from_str("max_rotation_grace = \"31d\"").unwrap();
        let e = ServerConfig::layered(file, ServerFlags::default()).unwrap_err();
        assert!(e.contains("max_rotation_grace") && e.contains("30 days"), "{e}");
    }

    #[test]
    fn every_setting_layers_file_env_flag_and_debug_hides_the_password() {
        let file: ServerTable = toml::from_str(
            "cache_capacity = 10\nnegative_cache_ttl_seconds = 2\nmax_concurrent_lookups = 3\nmax_body_bytes = 1000\ndatabase_url = \"postgres://k:hunter2@db/k\"",
        )
        .unwrap();
        let flags = ServerFlags {
            cache_capacity: Some(20),
            max_body_bytes: Some(2000),
            ..ServerFlags::default()
        };
        let c = ServerConfig::layered(file, flags).unwrap();
        assert_eq!(c.cache.capacity, 20);
        assert_eq!(c.cache.negative_ttl, Duration::from_secs(2));
        assert_eq!(c.cache.max_concurrent_lookups, 3);
        assert_eq!(c.max_body_bytes, 2000);
        assert!(!format!("{c:?}").contains("hunter2"), "{c:?}");
        for (setting, value, says) in [
            ("cache_capacity", "0", "must be positive"),
            ("cache_capacity", "100000001", "at most 100000000"),
            ("max_concurrent_lookups", "1025", "at most 1024"),
            ("max_body_bytes", "16777217", "at most 16777216"),
        ] {
            let file: ServerTable = toml::from_str(&format!("{setting} = {value}")).unwrap();
            let e = ServerConfig::layered(file, ServerFlags::default()).unwrap_err();
            assert!(e.contains(setting) && e.contains(says), "{e}");
        }
    }

    #[test]
    fn the_usage_flush_waits_between_its_base_and_a_maximum_at_least_as_long() {
        let layered = |file: &str| ServerConfig::layered(toml::from_str(file).unwrap(), ServerFlags::default());
        let pace = layered("").unwrap().usage_flush;
        assert_eq!((pace.base, pace.max), (Duration::from_secs(1), Duration::from_secs(30)));
        let pace = layered("usage_flush_ms = 45000").unwrap().usage_flush;
        assert_eq!(
            pace.max,
            Duration::from_secs(45),
            "a longer base raises the default maximum"
        );
        let e = layered("usage_flush_ms = 2000\nusage_flush_max_ms = 1000").unwrap_err();
        assert!(
            e.contains("usage_flush_max_ms = 1000") && e.contains("at least usage_flush_ms (2000)"),
            "{e}"
        );
    }

    #[test]
    fn unknown_server_settings_are_errors() {
        let Err(e) = ServerTable::from_catalog_source(Path::new("k.toml"), "[server]\nlisten_on = \"x\"\n") else {
            panic!("an unknown setting was taken")
        };
        assert!(e.contains("unknown field `listen_on`"), "{e}");
    }
}
