//! The awsJson1_1 protocol of CloudWatch Logs and Secrets Manager, shared by
//! both: request ids, body parsing, member access, and AWS's error shape
//! (`{"__type": …, "message": …}` plus the `X-Amzn-ErrorType` header).
//! A leaf: it imports nothing from the rest of the crate.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use serde_json::Value;

/// A new request id in the UUID v4 form AWS uses.
pub(crate) fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A 200 answer.
pub(crate) fn ok(value: &Value) -> Response<Bytes> {
    respond(
        StatusCode::OK,
        serde_json::to_vec(value).unwrap_or_default(),
    )
}

/// An error answer: `{"__type": TYPE, "message": …}` plus the
/// `X-Amzn-ErrorType` header, which the SDKs read first.
pub(crate) fn error(status: StatusCode, error_type: &str, message: &str) -> Response<Bytes> {
    let body = serde_json::json!({ "__type": error_type, "message": message });
    let mut resp = respond(status, serde_json::to_vec(&body).unwrap_or_default());
    if let Ok(v) = HeaderValue::from_str(error_type) {
        resp.headers_mut().insert("x-amzn-errortype", v);
    }
    resp
}

fn respond(status: StatusCode, body: Vec<u8>) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amzn-requestid", new_request_id())
        .body(Bytes::from(body))
        .expect("static response parts are valid")
}

/// An error before it is put on the wire.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    error_type: &'static str,
    message: String,
}

impl ApiError {
    /// A 400 error of AWS type `error_type`.
    pub(crate) fn bad_request(error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error_type,
            message: message.into(),
        }
    }

    /// The wire form.
    pub(crate) fn into_response(self) -> Response<Bytes> {
        error(self.status, self.error_type, &self.message)
    }
}

/// `ResourceNotFoundException`.
pub(crate) fn not_found(message: &str) -> ApiError {
    ApiError::bad_request("ResourceNotFoundException", message)
}

/// `ValidationException`.
pub(crate) fn validation(message: &str) -> ApiError {
    ApiError::bad_request("ValidationException", message)
}

/// `SerializationException` for a member of the wrong JSON type.
pub(crate) fn serialization(field: &str) -> ApiError {
    ApiError::bad_request(
        "SerializationException",
        format!("Unexpected value type for field '{field}'."),
    )
}

/// Parses a request body; an empty body counts as `{}` (the CLI sends none
/// for operations without input). Anything but a JSON object is AWS's
/// `SerializationException`.
pub(crate) fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ApiError::bad_request(
            "SerializationException",
            "Start of structure or map found where not expected.",
        )),
        Err(e) => Err(ApiError::bad_request(
            "SerializationException",
            format!("The request body could not be parsed as JSON: {e}"),
        )),
    }
}

/// A string member that must be present: a missing one is AWS's
/// `ValidationException` naming it in camelCase, another JSON type a
/// `SerializationException`.
pub(crate) fn required_str<'a>(input: &'a Value, field: &str) -> Result<&'a str, ApiError> {
    opt_str(input, field)?.ok_or_else(|| {
        let mut member = field.to_string();
        if let Some(first) = member.get_mut(..1) {
            first.make_ascii_lowercase();
        }
        validation(&format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

/// A string member that may be absent or null.
pub(crate) fn opt_str<'a>(input: &'a Value, field: &str) -> Result<Option<&'a str>, ApiError> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(serialization(field)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_uuid_v4() {
        let id = new_request_id();
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_ne!(id, new_request_id());
    }

    #[test]
    fn a_missing_member_is_named_in_camel_case() {
        let input = serde_json::json!({"Other": 1, "Wrong": 2});
        let e = required_str(&input, "SecretId").unwrap_err();
        assert_eq!(e.error_type, "ValidationException");
        assert!(e.message.contains("'secretId'"), "{}", e.message);
        let e = required_str(&input, "Wrong").unwrap_err();
        assert_eq!(e.error_type, "SerializationException");
    }

    #[test]
    fn only_objects_are_bodies() {
        assert!(parse_body(&Bytes::from_static(b"  ")).unwrap().is_object());
        assert!(parse_body(&Bytes::from_static(b"[1]")).is_err());
        assert!(parse_body(&Bytes::from_static(b"{")).is_err());
    }
}
