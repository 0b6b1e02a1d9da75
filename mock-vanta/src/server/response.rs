//! Error answers. Vanta's error body shape is unknown (clients must not
//! depend on it); these carry a machine code and a human message.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;

/// An API error answer.
pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = json!({"error": code, "message": message.into()});
    json_response(status, body.to_string().into_bytes())
}

/// An OAuth error answer (RFC 6749 §5.2 shape).
pub(crate) fn oauth_error(
    status: StatusCode,
    code: &str,
    description: impl Into<String>,
) -> Response {
    let body = json!({"error": code, "error_description": description.into()});
    json_response(status, body.to_string().into_bytes())
}

/// 429, with `Retry-After` when given: how long until a request would be
/// admitted, in whole seconds (rounded up, at least 1) of the limit's window
/// taken as a minute. HTTP's `Retry-After` is delta-seconds (an integer) or
/// a date, never a fraction, and Vanta documents no finer header, so a
/// faithful mock sends integers and the client copes with the rounding.
/// Under a one-minute window these are plain seconds; on a scaled-down
/// minute (say 3 s) a "second" is a sixtieth of the window (50 ms) and the
/// header counts those, so a client running the same scaled minute (the
/// function's `ClientOptions::rate_window`) waits what it would wait at
/// Vanta's scale, rounding included.
pub(crate) fn too_many_requests(retry_after: Option<Duration>, window: Duration) -> Response {
    let mut resp = error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "Too many requests",
    );
    if let Some(wait) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, retry_after_value(wait, window));
    }
    resp
}

/// The `Retry-After` value for `wait` under `window` (see [`too_many_requests`]).
pub(crate) fn retry_after_value(wait: Duration, window: Duration) -> HeaderValue {
    const MINUTE: Duration = Duration::from_secs(60);
    let unit = if window.is_zero() { MINUTE } else { window } / 60;
    let units = (wait.as_nanos().div_ceil(unit.as_nanos().max(1))).max(1);
    HeaderValue::from(u64::try_from(units).unwrap_or(u64::MAX))
}

/// A JSON body with its content type.
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// The fallback for paths the API does not have.
pub(crate) async fn not_found_route() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "No such route").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_of_the_window_as_a_minute() {
        let minute = Duration::from_secs(60);
        let v = |wait_ms: u64, window: Duration| {
            retry_after_value(Duration::from_millis(wait_ms), window)
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(v(1200, minute), "2");
        assert_eq!(v(0, minute), "1");
        assert_eq!(v(3000, minute), "3");
        // A 3 s window: a "second" is 50 ms, and the header counts them,
        // as integers like any real Retry-After.
        let scaled = Duration::from_secs(3);
        assert_eq!(v(60, scaled), "2");
        assert_eq!(v(50, scaled), "1");
        assert_eq!(v(1, scaled), "1");
        assert_eq!(v(3000, scaled), "60");
    }
}
