//! `perfharness load`: many invocations under a closed (`--concurrency`) or
//! open (`--rate`) model, with a per-second time series.

pub mod chart;
pub mod engine;
pub mod schedule;
pub mod series;
