//! Prometheus metrics (`/metrics`), all named `keyward_*`: verifications by
//! result code, verification latency, cache hits and misses, usage flush lag.

use std::time::Instant;

use axum::http::StatusCode;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
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

pub struct Metrics {
    registry: Registry,
    verifications: IntCounterVec,
    latency: HistogramVec,
    resolved: Vec<(IntCounter, Histogram)>,
    cache_hits: IntGauge,
    cache_misses: IntGauge,
    cache_hit_ratio: Gauge,
    flush_lag: Gauge,
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
        let cache_hits = IntGauge::new("keyward_cache_hits_total", "Key lookups answered by the cache")?;
        let cache_misses = IntGauge::new("keyward_cache_misses_total", "Key lookups that went to storage")?;
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
        registry.register(Box::new(flush_lag.clone()))?;
        let resolved = LABELS
            .iter()
            .map(|l| (verifications.with_label_values(&[*l]), latency.with_label_values(&[*l])))
            .collect();
        Ok(Metrics {
            resolved,
            registry,
            verifications,
            latency,
            cache_hits,
            cache_misses,
            cache_hit_ratio,
            flush_lag,
        })
    }

    pub fn observe(&self, code: &str, started: Instant) {
        let seconds = started.elapsed().as_secs_f64();
        match LABELS
            .iter()
            .position(|l| *l == code)
            .and_then(|i| self.resolved.get(i))
        {
            Some((count, latency)) => {
                count.inc();
                latency.observe(seconds);
            }
            None => {
                self.verifications.with_label_values(&[code]).inc();
                self.latency.with_label_values(&[code]).observe(seconds);
            }
        }
    }

    pub fn observe_status(&self, status: StatusCode, started: Instant) {
        let code = match status.as_u16() {
            200 => "authz_200",
            400 => "authz_400",
            401 => "authz_401",
            403 => "authz_403",
            503 => "authz_503",
            _ => "authz_other",
        };
        self.observe(code, started);
    }

    pub fn render(&self, hits: u64, misses: u64, flush_lag: f64) -> String {
        self.cache_hits.set(i64::try_from(hits).unwrap_or(i64::MAX));
        self.cache_misses.set(i64::try_from(misses).unwrap_or(i64::MAX));
        let total = hits + misses;
        self.cache_hit_ratio
            .set(if total == 0 { 0.0 } else { hits as f64 / total as f64 });
        self.flush_lag.set(flush_lag);
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
