//! Fault injection and added latency on `/v1/*` and `/oauth/token`
//! (the latency delays every answer but the rate limit's 429s).
//!
//! Request number n (counted from server start or the last admin reset)
//! gets a fault when `hash(seed, n)` falls under the rate, and its kind is
//! another hash of (seed, n): the same seed and the same request order give
//! the same faults on every run.

use super::response::{error, too_many_requests};
use super::AppState;
use crate::config::{FaultKind, Faults};
use crate::dataset::draws::hash3;
use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::stream::{self, StreamExt};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Injected 429s state whole real seconds, whatever the rate-limit window.
const MINUTE: Duration = Duration::from_secs(60);

/// The fault (if any) for request number `sequence`.
pub(crate) fn decide(faults: &Faults, sequence: u64) -> Option<FaultKind> {
    if faults.rate <= 0.0 {
        return None;
    }
    let unit = (hash3(faults.seed, sequence, 0xfa17) >> 11) as f64 / (1u64 << 53) as f64;
    if unit >= faults.rate {
        return None;
    }
    let kinds: &[FaultKind] = if faults.kinds.is_empty() {
        &FaultKind::ALL
    } else {
        &faults.kinds
    };
    Some(kinds[(hash3(faults.seed, sequence, 0xfa18) % kinds.len() as u64) as usize])
}

/// The middleware.
pub(crate) async fn inject(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let sequence = app.sequence.fetch_add(1, Ordering::Relaxed);
    let rt = app.runtime();
    let latency = Duration::from_millis(rt.faults.latency_ms);
    let Some(kind) = decide(&rt.faults, sequence) else {
        // The latency is the service's processing time: a request the rate
        // limit refuses is answered at once, as a gateway in front of a
        // service refuses it, so a client hears of the limit before the
        // answers to its other requests in flight.
        let resp = next.run(req).await;
        if resp.status() != StatusCode::TOO_MANY_REQUESTS && !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        return resp;
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    app.counters.fault(kind);
    tracing::debug!(sequence, fault = %kind, path = %req.uri().path(), "injecting fault");
    let status = |code: StatusCode, name: &str| error(code, name, "injected fault");
    match kind {
        FaultKind::Status500 => status(StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
        FaultKind::Status502 => status(StatusCode::BAD_GATEWAY, "bad_gateway"),
        FaultKind::Status503 => status(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable"),
        FaultKind::Status504 => status(StatusCode::GATEWAY_TIMEOUT, "gateway_timeout"),
        FaultKind::TooManyRequests => {
            let wait = Duration::from_secs(1 + hash3(rt.faults.seed, sequence, 0xfa19) % 3);
            too_many_requests(rt.limits.retry_after.then_some(wait), MINUTE)
        }
        FaultKind::Reset | FaultKind::Slow | FaultKind::Truncated => {
            let resp = next.run(req).await;
            let (mut parts, body) = resp.into_parts();
            let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
            let half = bytes.len() / 2;
            let (head, tail) = (bytes.slice(..half), bytes.slice(half..));
            let body = match kind {
                FaultKind::Reset => {
                    // Announce the full length, send half, then fail the
                    // body: hyper closes the connection mid-response.
                    parts
                        .headers
                        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
                    // The pause lets hyper flush the head and the first
                    // half before the failure, as on a real dropped link.
                    let failure = stream::once(async {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "injected reset",
                        ))
                    });
                    Body::from_stream(
                        stream::once(async move { Ok::<Bytes, std::io::Error>(head) })
                            .chain(failure),
                    )
                }
                FaultKind::Slow => {
                    parts
                        .headers
                        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
                    let stall = Duration::from_millis(rt.faults.slow_ms);
                    let rest = stream::once(async move {
                        tokio::time::sleep(stall).await;
                        Ok::<Bytes, std::io::Error>(tail)
                    });
                    Body::from_stream(stream::once(async move { Ok(head) }).chain(rest))
                }
                _ => {
                    // A correct status and a consistent Content-Length, but
                    // the JSON stops part-way through.
                    let cut = (bytes.len() * 2 / 3).min(bytes.len().saturating_sub(1));
                    parts.headers.remove(header::CONTENT_LENGTH);
                    Body::from(bytes.slice(..cut))
                }
            };
            Response::from_parts(parts, body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_reproducible_and_near_the_rate() {
        let faults = Faults {
            rate: 0.25,
            seed: 9,
            ..Faults::default()
        };
        let a: Vec<_> = (0..4000).map(|n| decide(&faults, n)).collect();
        let b: Vec<_> = (0..4000).map(|n| decide(&faults, n)).collect();
        assert_eq!(a, b);
        let hits = a.iter().filter(|d| d.is_some()).count();
        assert!(
            (800..1200).contains(&hits),
            "{hits} faults of 4000 at rate 0.25"
        );
        for kind in FaultKind::ALL {
            assert!(a.contains(&Some(kind)), "{kind} never chosen");
        }
        let other = Faults {
            seed: 10,
            ..faults.clone()
        };
        assert_ne!(a, (0..4000).map(|n| decide(&other, n)).collect::<Vec<_>>());
        assert_eq!(decide(&Faults::default(), 0), None);
    }
}
