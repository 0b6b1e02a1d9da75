//! The integration tests of `perfharness`, one module per area, linked into
//! one test binary (one link against the heavy dependencies instead of one per
//! file).

mod cli;
mod drivers;
mod guard;
mod layers;
mod power;
mod support;
