//! The integration tests of `mock-vanta`, one module per area, linked into
//! one test binary (one link against the heavy dependencies instead of one per
//! file).

mod api;
mod cli;
mod common;
mod faults;
mod limits;
mod memory;
mod stats;
