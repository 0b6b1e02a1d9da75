//! `perfharness load`: many invocations under a closed (`--concurrency`) or
//! open (`--rate`) model, with a per-second time series.

pub mod chart;
pub mod schedule;
pub mod series;
