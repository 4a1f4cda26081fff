//! Metrics for Prometheus: the text exposition formats (`exposition.rs`:
//! Prometheus 0.0.4 and OpenMetrics 1.0) and the Pushgateway's PUT of a
//! group (`pushgateway.rs`).

pub mod exposition;
pub mod pushgateway;
