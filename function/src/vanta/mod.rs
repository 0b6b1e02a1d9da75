//! Talking to the Vanta API: typed records, the HTTP client, its retry
//! policy and its pacing under Vanta's rate limit.

pub mod client;
pub mod model;
pub mod pacer;
pub mod retry;

pub use client::{ClientOptions, Endpoint, VantaClient, VantaError};
pub use model::{Page, RawPage};
pub use pacer::{Pacer, PacerState, PacingMode};
pub use retry::RetryPolicy;
