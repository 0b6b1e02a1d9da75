//! Talking to the Vanta API: typed records, the HTTP client and its retry policy.

pub mod client;
pub mod model;
pub mod retry;

pub use client::{ClientOptions, Endpoint, Pacer, VantaClient, VantaError};
pub use model::Page;
pub use retry::RetryPolicy;
