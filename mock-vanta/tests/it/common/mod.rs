//! Helpers shared by the HTTP tests: start a server, get a token, page.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use mock_vanta::{Config, DataConfig, Server, ServerHandle};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

/// The fixed reference instant every test dataset uses.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 6, 0, 0).unwrap()
}

pub fn data(seed: u64, vulnerabilities: u64, remediations: u64, assets: u64) -> DataConfig {
    DataConfig {
        seed,
        vulnerabilities,
        remediations,
        assets,
        now: now(),
    }
}

pub async fn start(config: Config) -> ServerHandle {
    Server::start(config).await.expect("server starts")
}

pub async fn start_data(data: DataConfig) -> ServerHandle {
    start(Config {
        data,
        ..Config::default()
    })
    .await
}

pub fn client() -> Client {
    Client::builder().build().expect("reqwest client")
}

pub async fn token_response(c: &Client, base: &str, body: Value) -> reqwest::Response {
    c.post(format!("{base}/oauth/token"))
        .json(&body)
        .send()
        .await
        .expect("token request")
}

pub fn credentials() -> Value {
    json!({
        "client_id": "vci_mock",
        "client_secret": "vcs_mock",
        "scope": "vanta-api.all:read",
        "grant_type": "client_credentials",
    })
}

pub async fn token(c: &Client, base: &str) -> String {
    let resp = token_response(c, base, credentials()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

pub async fn get(
    c: &Client,
    base: &str,
    token: &str,
    path: &str,
    query: &[(&str, &str)],
) -> reqwest::Response {
    c.get(format!("{base}{path}"))
        .bearer_auth(token)
        .query(query)
        .send()
        .await
        .expect("request")
}

/// Pages through a list endpoint, checking the envelope of every page, and
/// returns every record in order.
pub async fn page_all(
    c: &Client,
    base: &str,
    token: &str,
    path: &str,
    query: &[(&str, &str)],
    page_size: usize,
) -> Vec<Value> {
    let size = page_size.to_string();
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        assert!(page < 1_000_000, "paging does not end");
        let mut q: Vec<(&str, &str)> = query.to_vec();
        q.push(("pageSize", &size));
        if let Some(c) = &cursor {
            q.push(("pageCursor", c));
        }
        let resp = get(c, base, token, path, &q).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path} {q:?}");
        let body: Value = resp.json().await.unwrap();
        let info = body["results"]["pageInfo"].as_object().expect("pageInfo");
        assert_eq!(info.len(), 4, "pageInfo keys: {info:?}");
        assert_eq!(info["hasPreviousPage"], json!(page > 0));
        let data = body["results"]["data"].as_array().expect("data");
        assert!(data.len() <= page_size);
        if data.is_empty() {
            assert!(info["startCursor"].is_null() && info["endCursor"].is_null());
        } else {
            assert!(info["startCursor"].is_string() && info["endCursor"].is_string());
        }
        out.extend(data.iter().cloned());
        if !info["hasNextPage"].as_bool().expect("hasNextPage") {
            break;
        }
        assert_eq!(data.len(), page_size, "a page before the last is full");
        cursor = Some(info["endCursor"].as_str().unwrap().to_string());
    }
    out
}

pub const VULNS: &str = "/v1/vulnerabilities";
pub const REMEDIATIONS: &str = "/v1/vulnerability-remediations";
pub const ASSETS: &str = "/v1/vulnerable-assets";
pub const ALL: [(&str, &str); 1] = [("includeVulnerabilitiesWithoutSlas", "true")];

/// Milliseconds since the epoch of a Vanta timestamp, checking its exact
/// shape (`2024-01-17T15:26:43.534Z`).
pub fn ms(v: &Value) -> i64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("timestamp expected, got {v}"));
    let b = s.as_bytes();
    assert_eq!(b.len(), 24, "{s}");
    for (i, c) in b.iter().enumerate() {
        let ok = match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        };
        assert!(ok, "bad timestamp {s}");
    }
    DateTime::parse_from_rfc3339(s)
        .expect("parses")
        .timestamp_millis()
}

pub fn opt_ms(v: &Value) -> Option<i64> {
    (!v.is_null()).then(|| ms(v))
}
