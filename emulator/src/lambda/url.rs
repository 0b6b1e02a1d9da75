//! Function URLs: `CreateFunctionUrlConfig` / `GetFunctionUrlConfig` on the
//! control plane, and the URLs themselves. On AWS a URL is its own host
//! (`https://<id>.lambda-url.<region>.on.aws/`); here it is a path on the
//! emulator's port, `<endpoint>/lambda-url/<function>/`, so a client that
//! appends paths to a base URL (as vanta-vuln-sync's Vanta client does)
//! works unchanged. An HTTP request to it becomes the payload format 2.0
//! event, and the function's answer the HTTP response: an object with
//! `statusCode` is taken apart (`headers`, `cookies`, `body`,
//! `isBase64Encoded`); any other JSON value is a 200 `application/json`
//! body; a function error is a 502.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::invocation::InvokeRequest;
use super::service::LambdaService;
use crate::awsjson::new_request_id;

/// Path prefix of Function URLs on the emulator's port.
pub(crate) const URL_PREFIX: &str = "/lambda-url/";

impl LambdaService {
    /// Serves an HTTP request to a Function URL (`/lambda-url/NAME/...`).
    pub async fn handle_url(&self, req: Request<Bytes>) -> Response<Bytes> {
        serve(self, req).await
    }

    /// The URL CreateFunctionUrlConfig gives `function`.
    pub(crate) fn url_of(&self, function: &str) -> String {
        format!(
            "{}{URL_PREFIX}{function}/",
            self.inner.endpoint_url.trim_end_matches('/')
        )
    }
}

fn plain(status: StatusCode, body: &Value) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The 2.0 event of an HTTP request to a URL of function `name`, whose
/// path below the URL is `raw_path`.
pub(crate) fn event(req: &Request<Bytes>, raw_path: &str, request_id: &str) -> Value {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies: Vec<String> = Vec::new();
    for (k, v) in req.headers() {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        if k == http::header::COOKIE {
            cookies.extend(
                v.split(';')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        headers
            .entry(k.as_str().to_string())
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert(v);
    }
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query
            .entry(k.to_string())
            .and_modify(|e| {
                e.push(',');
                e.push_str(v);
            })
            .or_insert_with(|| v.to_string());
    }
    let body = req.body();
    let (body, b64) = match std::str::from_utf8(body) {
        Ok(s) => (s.to_string(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let now = chrono::Utc::now();
    let host = headers.get("host").cloned().unwrap_or_default();
    let mut e = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "emulator",
            "domainName": host,
            "domainPrefix": "emulator",
            "http": {
                "method": req.method().as_str(),
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent").cloned().unwrap_or_default(),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": b64,
    });
    if !cookies.is_empty() {
        e["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        e["queryStringParameters"] = json!(query);
    }
    if !body.is_empty() {
        e["body"] = json!(body);
    }
    e
}

/// The HTTP response for a function's answer to a 2.0 event.
pub(crate) fn response(payload: &[u8]) -> Response<Bytes> {
    let bad = || {
        plain(
            StatusCode::BAD_GATEWAY,
            &json!({"Message": "Internal Server Error"}),
        )
    };
    let Ok(v) = serde_json::from_slice::<Value>(payload) else {
        return bad();
    };
    let Some(status) = v.as_object().and_then(|o| o.get("statusCode")) else {
        // Not a response object: the JSON itself is the body.
        return plain(StatusCode::OK, &v);
    };
    let Some(status) = status
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
    else {
        return bad();
    };
    let body = match v.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) if v["isBase64Encoded"] == true => {
            match base64::engine::general_purpose::STANDARD.decode(s) {
                Ok(b) => Bytes::from(b),
                Err(_) => return bad(),
            }
        }
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(other) => Bytes::from(other.to_string()),
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    if let Some(h) = v.get("headers").and_then(Value::as_object) {
        for (k, val) in h {
            let text = match val {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let (Ok(k), Ok(val)) = (
                HeaderName::try_from(k.as_str()),
                HeaderValue::try_from(text),
            ) {
                r.headers_mut().append(k, val);
            }
        }
    }
    for c in v
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Ok(val) = HeaderValue::try_from(c) {
            r.headers_mut().append(http::header::SET_COOKIE, val);
        }
    }
    r
}

/// Serves an HTTP request to `/lambda-url/<function>/...`.
async fn serve(service: &LambdaService, req: Request<Bytes>) -> Response<Bytes> {
    let path = req.uri().path()[URL_PREFIX.len()..].to_string();
    let (name, rest) = path.split_once('/').unwrap_or((path.as_str(), ""));
    let not_found = || plain(StatusCode::NOT_FOUND, &json!({"Message": null}));
    let Some(function) = service.function(name) else {
        return not_found();
    };
    let Some(config) = function.lock().url.clone() else {
        return not_found();
    };
    if config["AuthType"] == "AWS_IAM"
        && !req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256"))
    {
        return plain(StatusCode::FORBIDDEN, &json!({"Message": "Forbidden"}));
    }
    let request_id: Arc<str> = new_request_id().into();
    let raw_path = format!("/{rest}");
    let event = event(&req, &raw_path, &request_id);
    let outcome = service
        .invoke(
            &function,
            InvokeRequest {
                request_id,
                payload: Bytes::from(event.to_string()),
                client_context: None,
                tail: false,
            },
        )
        .await;
    match outcome {
        Err(_) => plain(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"Message": "Rate Exceeded."}),
        ),
        Ok(o) if o.function_error => plain(
            StatusCode::BAD_GATEWAY,
            &json!({"Message": "Internal Server Error"}),
        ),
        Ok(o) => response(&o.payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_carries_method_path_query_headers_cookies_and_body() {
        let req = Request::builder()
            .method("POST")
            .uri("/lambda-url/f/v1/x?a=1&a=2&b=")
            .header("host", "127.0.0.1:1")
            .header("x-h", "1")
            .header("x-h", "2")
            .header("cookie", "c1=v1; c2=v2")
            .body(Bytes::from_static(&[0xff, 0x00]))
            .unwrap();
        let e = event(&req, "/v1/x", "rid");
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["rawPath"], "/v1/x");
        assert_eq!(e["rawQueryString"], "a=1&a=2&b=");
        assert_eq!(e["queryStringParameters"]["a"], "1,2");
        assert_eq!(e["headers"]["x-h"], "1,2");
        assert_eq!(e["cookies"], json!(["c1=v1", "c2=v2"]));
        assert_eq!(e["requestContext"]["http"]["method"], "POST");
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "/wA=");
    }

    #[test]
    fn response_objects_and_plain_values() {
        let r = response(
            br#"{"statusCode":429,"headers":{"retry-after":"3"},"cookies":["a=b"],"body":"aGk=","isBase64Encoded":true}"#,
        );
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "3");
        assert_eq!(r.headers()["set-cookie"], "a=b");
        assert_eq!(r.body().as_ref(), b"hi");
        let r = response(br#"{"ok":true}"#);
        assert_eq!(r.status(), 200);
        assert_eq!(r.body().as_ref(), br#"{"ok":true}"#);
        assert_eq!(response(b"not json").status(), 502);
        assert_eq!(response(br#"{"statusCode":"x"}"#).status(), 502);
    }
}
