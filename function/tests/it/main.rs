//! The integration tests of `function`, one module per area, linked into
//! one test binary (one link against the heavy dependencies instead of one per
//! file).

mod exactly_once;
mod failures;
mod hostile_values;
mod lambda_binary;
mod pacing;
mod payload_signing;
mod support;
mod sync_mock;
mod vanta_client;
