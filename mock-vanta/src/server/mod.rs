//! The HTTP server: routing, shared state, start and shutdown.

mod admin;
mod auth;
mod cursor;
mod faults;
mod limits;
mod lists;
mod params;
mod response;

use crate::config::{Faults, Limits};
use crate::dataset::Dataset;
use crate::{Config, Error};
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Settings the admin API may change while the server runs.
#[derive(Clone, Debug)]
pub(crate) struct Runtime {
    pub limits: Limits,
    pub faults: Faults,
}

/// Everything the handlers share.
pub(crate) struct AppState {
    pub data: Dataset,
    pub client_id: String,
    pub client_secret: String,
    pub runtime: RwLock<Runtime>,
    pub tokens: Mutex<auth::TokenStore>,
    pub limiter: Mutex<limits::RateLimiter>,
    pub counters: admin::Counters,
    /// Number of the next request to `/v1/*` or `/oauth/token`; the fault
    /// decision for request n depends only on (fault seed, n).
    pub sequence: AtomicU64,
}

impl AppState {
    pub(crate) fn runtime(&self) -> Runtime {
        self.runtime
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Locks a mutex, ignoring poisoning: the state behind it stays consistent
/// because no critical section can panic half-way through an update.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts servers.
pub struct Server;

/// A running server; shut it down with [`ServerHandle::shutdown`] (dropping
/// it also asks the server to stop).
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

pub(crate) fn validate_faults(faults: &Faults) -> Result<(), Error> {
    if !(0.0..=1.0).contains(&faults.rate) || faults.rate.is_nan() {
        return Err(Error::Config(format!(
            "fault rate must be within 0..=1, got {}",
            faults.rate
        )));
    }
    Ok(())
}

pub(crate) fn validate_limits(limits: &Limits) -> Result<(), Error> {
    if limits.window.is_zero() {
        return Err(Error::Config(
            "the rate-limit window must be longer than 0 ms".into(),
        ));
    }
    if limits.model.burst() == Some(0) {
        return Err(Error::Config(
            "the token bucket's burst size must be at least 1".into(),
        ));
    }
    if limits.token_ttl_s == 0 {
        return Err(Error::Config(
            "the token lifetime must be at least 1 second".into(),
        ));
    }
    Ok(())
}

fn router(state: Arc<AppState>) -> Router {
    use axum::middleware::from_fn_with_state;
    let v1 = Router::new()
        .route("/v1/vulnerabilities", get(lists::vulnerabilities))
        .route("/v1/vulnerabilities/{id}", get(lists::vulnerability_by_id))
        .route("/v1/vulnerability-remediations", get(lists::remediations))
        .route("/v1/vulnerable-assets", get(lists::assets))
        .route("/v1/vulnerable-assets/{id}", get(lists::asset_by_id))
        .route_layer(from_fn_with_state(state.clone(), auth::require_token));
    let api = v1
        .route("/oauth/token", post(auth::token))
        .layer(from_fn_with_state(state.clone(), faults::inject))
        .layer(from_fn_with_state(state.clone(), admin::count));
    let admin = Router::new()
        .route("/_admin/stats", get(admin::stats))
        .route(
            "/_admin/config",
            get(admin::get_config).put(admin::put_config),
        )
        .route("/_admin/reset", post(admin::reset));
    api.merge(admin)
        .fallback(response::not_found_route)
        .with_state(state)
}

impl Server {
    /// Validates the configuration, binds `config.addr` and serves in the
    /// background on the current Tokio runtime.
    pub async fn start(config: Config) -> Result<ServerHandle, Error> {
        let data = Dataset::new(&config.data)?;
        validate_faults(&config.faults)?;
        validate_limits(&config.limits)?;
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| Error::Bind {
                addr: config.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.addr,
            source,
        })?;
        let state = Arc::new(AppState {
            data,
            client_id: config.client_id,
            client_secret: config.client_secret,
            runtime: RwLock::new(Runtime {
                limits: config.limits,
                faults: config.faults,
            }),
            tokens: Mutex::new(auth::TokenStore::default()),
            limiter: Mutex::new(limits::RateLimiter::default()),
            counters: admin::Counters::default(),
            sequence: AtomicU64::new(0),
        });
        let app = router(state);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "mock-vanta server stopped with an error");
            }
        });
        tracing::info!(%addr, "mock-vanta listening");
        Ok(ServerHandle {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

impl ServerHandle {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, lets requests in flight finish (at most
    /// five seconds, then they are cut) and waits for the server to stop.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
