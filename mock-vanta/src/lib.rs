//! mock-vanta: a faithful, deterministic double of the Vanta API.
//!
//! It serves `POST /oauth/token`, the three vulnerability list endpoints and
//! the two by-id endpoints in the real API's shapes, over a dataset generated record by record from a
//! seed, so a million records cost no memory. It can enforce Vanta's real
//! limits (rate limits under a choice of models and scopes, see
//! [`RateModel`] and [`LimitScope`], one live token per client, token
//! expiry) and inject
//! the faults real networks bring (5xx, 429, resets, slow and truncated
//! bodies), reproducibly from a seed. An admin API (`/_admin/*`) exposes
//! counters and changes faults and limits at run time.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mock_vanta::Error> {
//! let server = mock_vanta::Server::start(mock_vanta::Config::default()).await?;
//! println!("{}", server.base_url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Ordering and cost: vulnerabilities are served by `remediateByDate`
//! ascending with the SLA-less ones last (nulls last); remediations and
//! assets in generation order. Unfiltered pages and SLA-window filters cost
//! O(page size); other filters scan the dataset (O(records) per page).

mod config;
mod dataset;
pub mod lambda;
mod server;
mod stats;

pub use config::{Config, DataConfig, FaultKind, Faults, LimitScope, Limits, RateModel};
pub use server::{Server, ServerHandle};
pub use stats::{expected_stats, try_expected_stats};

/// What can go wrong starting a server or computing statistics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is inconsistent; the message says what to change.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
}
