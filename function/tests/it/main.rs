//! The integration tests of `function`, one module per area, linked into
//! one test binary (one link against the heavy dependencies instead of one per
//! file).

mod support;
mod lambda_binary;
mod pacing;
mod sync_mock;
mod vanta_client;
