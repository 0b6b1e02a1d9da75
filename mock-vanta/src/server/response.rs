//! Error answers. Vanta's error body shape is unknown (clients must not
//! depend on it); these carry a machine code and a human message.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

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

/// 429, with `Retry-After` (whole seconds) when given.
pub(crate) fn too_many_requests(retry_after_s: Option<u64>) -> Response {
    let mut resp = error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "Too many requests",
    );
    if let Some(s) = retry_after_s {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s.max(1)));
    }
    resp
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
