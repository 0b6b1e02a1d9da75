//! mock-vanta on AWS Lambda behind a Function URL (the benchmark stack,
//! `bench/template.yaml`; binary `mock-vanta-lambda`).
//!
//! The adapter starts the ordinary server on a loopback port at init and
//! relays each Function URL event (payload format 2.0) to it as an HTTP/1.1
//! request, and the answer back as a 2.0 response. Relaying over loopback
//! rather than calling the router in-process keeps every behaviour of the
//! server (limits, token state, admin API) exactly as served directly, at
//! the cost of a loopback round trip (tens of microseconds); and it needs
//! only `lambda_runtime`, which the workspace already builds, instead of
//! `lambda_http` and its dependency tree.
//!
//! Environment: `MOCK_VANTA_RECORDS` (vulnerabilities; remediations 40 %
//! and assets 10 % of it, default 1000), `MOCK_VANTA_SEED` (default 1),
//! `MOCK_VANTA_NOW` (RFC 3339 reference instant, default the dataset's).

use std::net::SocketAddr;

use base64::Engine as _;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Config, DataConfig};

/// The server configuration from the environment (`get` reads a variable).
pub fn config_from_env(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
    let num = |k: &str, d: u64| -> Result<u64, String> {
        match get(k) {
            None => Ok(d),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("{k}={v:?} is not a whole number")),
        }
    };
    let n = num("MOCK_VANTA_RECORDS", 1000)?;
    if n == 0 {
        return Err("MOCK_VANTA_RECORDS must be at least 1".into());
    }
    let mut data = DataConfig {
        seed: num("MOCK_VANTA_SEED", DataConfig::default().seed)?,
        vulnerabilities: n,
        remediations: n * 2 / 5,
        assets: (n / 10).max(1),
        ..DataConfig::default()
    };
    if let Some(now) = get("MOCK_VANTA_NOW") {
        data.now = now
            .trim()
            .parse()
            .map_err(|_| format!("MOCK_VANTA_NOW={now:?} is not an RFC 3339 instant"))?;
    }
    Ok(Config {
        data,
        ..Config::default()
    })
}

fn error_response(status: u16, message: &str) -> Value {
    json!({
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json!({"message": message}).to_string(),
        "isBase64Encoded": false,
    })
}

/// The HTTP/1.1 request bytes for a 2.0 event.
fn request_bytes(event: &Value) -> Result<Vec<u8>, String> {
    let method = event["requestContext"]["http"]["method"]
        .as_str()
        .ok_or("not a Function URL event (no requestContext.http.method)")?;
    let path = event["rawPath"].as_str().unwrap_or("/");
    let query = event["rawQueryString"].as_str().unwrap_or("");
    let body = match event["body"].as_str() {
        None => Vec::new(),
        Some(b) if event["isBase64Encoded"] == true => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|_| "body is not valid base64")?,
        Some(b) => b.as_bytes().to_vec(),
    };
    let mut head = format!("{method} {path}");
    if !query.is_empty() {
        head.push('?');
        head.push_str(query);
    }
    head.push_str(" HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n");
    for (k, v) in event["headers"].as_object().into_iter().flatten() {
        let k = k.to_ascii_lowercase();
        if matches!(
            k.as_str(),
            "host" | "connection" | "content-length" | "transfer-encoding" | "keep-alive"
        ) {
            continue;
        }
        if let Some(v) = v.as_str() {
            if k.contains(['\r', '\n']) || v.contains(['\r', '\n']) {
                continue;
            }
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    let cookies: Vec<&str> = event["cookies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !cookies.is_empty() {
        head.push_str(&format!("cookie: {}\r\n", cookies.join("; ")));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut out = head.into_bytes();
    out.extend(body);
    Ok(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = find(b, b"\r\n").ok_or("truncated chunked body")?;
        let size_text = std::str::from_utf8(&b[..eol]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size {
            return Err("truncated chunked body".into());
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or(&[]);
    }
}

/// The 2.0 response for raw HTTP/1.1 response bytes.
fn response_value(raw: &[u8]) -> Result<Value, String> {
    let split = find(raw, b"\r\n\r\n").ok_or("the server's answer has no header end")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "non-UTF-8 response head")?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    let mut chunked = false;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
        match k.as_str() {
            "set-cookie" => cookies.push(Value::String(v)),
            "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
            "connection" | "content-length" | "keep-alive" => {}
            _ => {
                let joined = match headers.get(&k).and_then(Value::as_str) {
                    Some(prev) => format!("{prev}, {v}"),
                    None => v,
                };
                headers.insert(k, Value::String(joined));
            }
        }
    }
    let body = &raw[split + 4..];
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    let (body, b64) = match String::from_utf8(body) {
        Ok(s) => (s, false),
        Err(e) => (
            base64::engine::general_purpose::STANDARD.encode(e.as_bytes()),
            true,
        ),
    };
    let mut v = json!({
        "statusCode": status,
        "headers": headers,
        "body": body,
        "isBase64Encoded": b64,
    });
    if !cookies.is_empty() {
        v["cookies"] = Value::Array(cookies);
    }
    Ok(v)
}

/// Relays one Function URL event to the server at `addr` and returns the
/// 2.0 response (a 400 for an event that is not a Function URL request, a
/// 502 when the server cannot be reached or answers garbage).
pub async fn relay(addr: SocketAddr, event: &Value) -> Value {
    let req = match request_bytes(event) {
        Ok(r) => r,
        Err(e) => return error_response(400, &e),
    };
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("mock-vanta unreachable: {e}"))?;
        s.write_all(&req)
            .await
            .map_err(|e| format!("writing to mock-vanta: {e}"))?;
        let mut raw = Vec::new();
        // The server may reset or cut the connection (injected faults):
        // what arrived before is the answer, as a client would see it.
        let read = s.read_to_end(&mut raw).await;
        if raw.is_empty() {
            if let Err(e) = read {
                return Err(format!("reading from mock-vanta: {e}"));
            }
        }
        response_value(&raw)
    };
    match exchange.await {
        Ok(v) => v,
        Err(e) => error_response(502, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_method_path_query_headers_cookies_and_body() {
        let e = json!({
            "rawPath": "/v1/vulnerabilities", "rawQueryString": "pageSize=2",
            "headers": {"authorization": "Bearer t", "host": "x", "x-bad": "a\r\nb"},
            "cookies": ["a=1", "b=2"],
            "requestContext": {"http": {"method": "POST"}},
            "body": "aGk=", "isBase64Encoded": true,
        });
        let text = String::from_utf8(request_bytes(&e).unwrap()).unwrap();
        assert!(
            text.starts_with("POST /v1/vulnerabilities?pageSize=2 HTTP/1.1\r\n"),
            "{text}"
        );
        assert!(text.contains("authorization: Bearer t\r\n"));
        assert!(text.contains("cookie: a=1; b=2\r\n"));
        assert!(!text.contains("x-bad") && !text.contains("host: x"));
        assert!(text.ends_with("content-length: 2\r\n\r\nhi"), "{text}");
        assert!(request_bytes(&json!({"foo": 1})).is_err());
    }

    #[test]
    fn responses_plain_and_chunked() {
        let v = response_value(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nSet-Cookie: a=b\r\ncontent-length: 2\r\n\r\nno",
        )
        .unwrap();
        assert_eq!(v["statusCode"], 429);
        assert_eq!(v["headers"]["retry-after"], "3");
        assert_eq!(v["cookies"], json!(["a=b"]));
        assert_eq!(v["body"], "no");
        let v = response_value(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(v["body"], "abcde");
        assert!(v["headers"].get("transfer-encoding").is_none());
        assert!(response_value(b"garbage").is_err());
    }

    #[test]
    fn configuration_from_the_environment() {
        let c = config_from_env(|k| (k == "MOCK_VANTA_RECORDS").then(|| "50".into())).unwrap();
        assert_eq!(
            (c.data.vulnerabilities, c.data.remediations, c.data.assets),
            (50, 20, 5)
        );
        let e =
            config_from_env(|k| (k == "MOCK_VANTA_RECORDS").then(|| "many".into())).unwrap_err();
        assert!(e.contains("MOCK_VANTA_RECORDS"), "{e}");
        assert!(config_from_env(|k| (k == "MOCK_VANTA_NOW").then(|| "x".into())).is_err());
    }
}
