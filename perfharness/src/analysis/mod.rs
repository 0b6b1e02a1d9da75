//! Analysis: one summary/percentile definition ([`stats`]), the metric
//! catalogue ([`metrics`]), the cost estimate ([`cost`]), targets
//! ([`targets`]) and the power-tuning score ([`power`]).

pub mod cost;
pub mod interval;
pub mod metrics;
pub mod power;
pub mod stats;
pub mod targets;
