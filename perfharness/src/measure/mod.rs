//! Measurement: forced cold starts ([`cold`]), timed invokes ([`warm`]),
//! the sample [`recorder`] with its progress bar, and the load test's
//! [`schedule`], [`engine`] and per-request [`series`].

pub mod cold;
pub mod engine;
pub mod recorder;
pub mod schedule;
pub mod series;
pub mod warm;
