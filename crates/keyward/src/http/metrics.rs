//! Prometheus metrics (`/metrics`), all named `keyward_*`: verifications by
//! result code, verification latency, cache hits and misses, usage flush lag.

use std::time::Instant;

use axum::http::StatusCode;

use crate::verify::Code;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Every label a verification can have, resolved once: the hot path then
/// indexes an array instead of hashing label values.
const LABELS: [&str; 14] = [
    "VALID",
    "MALFORMED",
    "NOT_FOUND",
    "EXPIRED",
    "REVOKED",
    "INSUFFICIENT_SCOPE",
    "UNKNOWN_ROUTE",
    "unavailable",
    "authz_200",
    "authz_400",
    "authz_401",
    "authz_403",
    "authz_503",
    "authz_other",
];

const UNAVAILABLE: usize = 7;
const AUTHZ_200: usize = 8;
/// The statuses with their own authz label, in `LABELS` order from `AUTHZ_200`.
const AUTHZ_STATUSES: [u16; 5] = [200, 400, 401, 403, 503];

pub struct Metrics {
    registry: Registry,
    resolved: Vec<(IntCounter, Histogram)>,
    cache_hits: IntCounter,
    cache_misses: IntCounter,
    /// One render at a time: the counters catch up with the verifier's by
    /// the difference, which two renders at once would add twice.
    rendering: std::sync::Mutex<()>,
    cache_hit_ratio: Gauge,
    flush_lag: Gauge,
    flush_interval: Gauge,
    catalog: IntGaugeVec,
    reloads: IntCounter,
    reloads_refused: IntCounter,
}

/// What `/metrics` reads from the rest of the node when scraped.
pub struct Scrape<'a> {
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub flush_lag: f64,
    /// The current wait between usage flushes (longer under load).
    pub flush_interval: f64,
    /// The digest of the catalog served.
    pub catalog_digest: &'a str,
    /// Catalog reloads done and refused since start.
    pub reloads: (u64, u64),
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let verifications = IntCounterVec::new(
            Opts::new(
                "keyward_verifications_total",
                "Verifications by result code (and HTTP status for authz)",
            ),
            &["code"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("keyward_verification_seconds", "Time to answer a verification").buckets(vec![
                0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005, 0.025, 0.1, 1.0,
            ]),
            &["code"],
        )?;
        let cache_hits = IntCounter::new("keyward_cache_hits_total", "Key lookups answered by the cache")?;
        let cache_misses = IntCounter::new("keyward_cache_misses_total", "Key lookups that went to storage")?;
        let cache_hit_ratio = Gauge::new("keyward_cache_hit_ratio", "Share of key lookups answered by the cache")?;
        let flush_lag = Gauge::new(
            "keyward_usage_flush_lag_seconds",
            "Seconds since usage was last flushed",
        )?;
        registry.register(Box::new(verifications.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(cache_hits.clone()))?;
        registry.register(Box::new(cache_misses.clone()))?;
        registry.register(Box::new(cache_hit_ratio.clone()))?;
        let flush_interval = Gauge::new(
            "keyward_usage_flush_interval_seconds",
            "Seconds between usage flushes now: usage_flush_ms, longer while flushes take more than 5 % of it",
        )?;
        registry.register(Box::new(flush_lag.clone()))?;
        registry.register(Box::new(flush_interval.clone()))?;
        let catalog = IntGaugeVec::new(
            Opts::new(
                "keyward_catalog_info",
                "The catalog served: 1 for its digest (SHA-256 of the file)",
            ),
            &["digest"],
        )?;
        let reloads = IntCounter::new("keyward_catalog_reloads_total", "Catalogs reloaded since start")?;
        let reloads_refused = IntCounter::new(
            "keyward_catalog_reloads_refused_total",
            "Catalog reloads refused (the file was not a valid catalog) since start",
        )?;
        registry.register(Box::new(catalog.clone()))?;
        registry.register(Box::new(reloads.clone()))?;
        registry.register(Box::new(reloads_refused.clone()))?;
        let resolved = LABELS
            .iter()
            .map(|l| (verifications.with_label_values(&[*l]), latency.with_label_values(&[*l])))
            .collect();
        Ok(Metrics {
            resolved,
            registry,
            cache_hits,
            cache_misses,
            cache_hit_ratio,
            flush_lag,
            flush_interval,
            catalog,
            reloads,
            reloads_refused,
            rendering: std::sync::Mutex::new(()),
        })
    }

    /// A verification answered with `code` (its label's index is the
    /// code's position in [`Code::ALL`]).
    pub fn observe_code(&self, code: Code, started: Instant) {
        self.observe_at(code as usize, started);
    }

    pub fn observe_unavailable(&self, started: Instant) {
        self.observe_at(UNAVAILABLE, started);
    }

    /// An authz answer, labelled by status (`authz_other` for the rest).
    pub fn observe_status(&self, status: StatusCode, started: Instant) {
        let offset = AUTHZ_STATUSES
            .iter()
            .position(|s| *s == status.as_u16())
            .unwrap_or(AUTHZ_STATUSES.len());
        self.observe_at(AUTHZ_200 + offset, started);
    }

    fn observe_at(&self, label: usize, started: Instant) {
        if let Some((count, latency)) = self.resolved.get(label) {
            count.inc();
            latency.observe(started.elapsed().as_secs_f64());
        }
    }

    pub fn render(&self, scrape: &Scrape<'_>) -> String {
        let (hits, misses) = (scrape.cache_hits, scrape.cache_misses);
        {
            let _one_at_a_time = self.rendering.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for (counter, total) in [
                (&self.cache_hits, hits),
                (&self.cache_misses, misses),
                (&self.reloads, scrape.reloads.0),
                (&self.reloads_refused, scrape.reloads.1),
            ] {
                counter.inc_by(total.saturating_sub(counter.get()));
            }
            self.catalog.reset();
            self.catalog.with_label_values(&[scrape.catalog_digest]).set(1);
        }
        let flush_lag = scrape.flush_lag;
        let total = hits + misses;
        self.cache_hit_ratio
            .set(if total == 0 { 0.0 } else { hits as f64 / total as f64 });
        self.flush_lag.set(flush_lag);
        self.flush_interval.set(scrape.flush_interval);
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hot path indexes labels by position: they must line up.
    #[test]
    fn labels_line_up_with_codes_and_statuses() {
        for code in Code::ALL {
            assert_eq!(LABELS[code as usize], code.as_str());
        }
        assert_eq!(LABELS[UNAVAILABLE], "unavailable");
        assert_eq!(
            &LABELS[AUTHZ_200..],
            [
                "authz_200",
                "authz_400",
                "authz_401",
                "authz_403",
                "authz_503",
                "authz_other"
            ]
        );
    }
}
