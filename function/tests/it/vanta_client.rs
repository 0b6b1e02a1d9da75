//! The Vanta client against wiremock (and a raw TCP server for broken
//! connections): paging, every retry case, re-authentication, fail-fast and
//! the pacer.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vanta_vuln_sync::config::{Credentials, Secret};
use vanta_vuln_sync::vanta::model::{Remediation, Vulnerability};
use vanta_vuln_sync::vanta::{ClientOptions, Endpoint, RetryPolicy, VantaClient, VantaError};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

const SECRET: &str = "vcs_wiremock_secret_value";

pub(crate) fn options(base: &str) -> ClientOptions {
    let mut o = ClientOptions::new(
        base,
        Credentials {
            client_id: "vci_test".into(),
            client_secret: Secret::new(SECRET),
        },
    );
    o.rate_limit_per_min = 0;
    o.retry = RetryPolicy {
        max_attempts: 5,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(5),
        max_retry_after: Duration::from_secs(5),
    };
    o.request_timeout = Duration::from_secs(5);
    o
}

pub(crate) fn page(ids: &[&str], end: Option<&str>, next: bool) -> Value {
    json!({"results": {
        "pageInfo": {"startCursor": null, "endCursor": end, "hasNextPage": next, "hasPreviousPage": false},
        "data": ids.iter().map(|id| json!({"id": id, "severity": "HIGH"})).collect::<Vec<_>>(),
    }})
}

pub(crate) async fn token_mock(server: &MockServer, token: &str, times: u64) {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_partial_json(json!({
            "client_id": "vci_test", "client_secret": SECRET,
            "grant_type": "client_credentials", "scope": "vanta-api.all:read"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": token, "expires_in": 3600, "token_type": "Bearer"}),
        ))
        .up_to_n_times(times)
        .mount(server)
        .await;
}

async fn fetch_all(client: &VantaClient, endpoint: Endpoint) -> Result<Vec<String>, VantaError> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let raw = client.fetch_page(endpoint, cursor.as_deref()).await?;
        let p = raw.decode::<Vulnerability>().expect("a page that decodes");
        ids.extend(p.data.into_iter().map(|v| v.id.to_string()));
        if !p.has_next_page {
            return Ok(ids);
        }
        cursor = p.end_cursor;
    }
}

#[tokio::test]
async fn pages_follow_end_cursor_with_required_query() {
    let server = MockServer::start().await;
    token_mock(&server, "vat_one", 1).await;
    let base = || {
        Mock::given(method("GET"))
            .and(path("/v1/vulnerabilities"))
            .and(query_param("pageSize", "100"))
            .and(query_param("includeVulnerabilitiesWithoutSlas", "true"))
            .and(header("authorization", "Bearer vat_one"))
    };
    base()
        .and(query_param("pageCursor", "c1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&["b", "c"], Some("c2"), true)))
        .expect(1)
        .mount(&server)
        .await;
    base()
        .and(query_param("pageCursor", "c2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&[], None, false)))
        .expect(1)
        .mount(&server)
        .await;
    base()
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&["a"], Some("c1"), true)))
        .expect(1)
        .with_priority(10)
        .mount(&server)
        .await;

    let client = VantaClient::new(options(&server.uri())).unwrap();
    let ids = fetch_all(&client, Endpoint::Vulnerabilities).await.unwrap();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(client.retries(), 0);
}

#[tokio::test]
async fn empty_dataset_is_one_empty_page() {
    let server = MockServer::start().await;
    token_mock(&server, "vat_one", 1).await;
    Mock::given(method("GET"))
        .and(path("/v1/vulnerability-remediations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&[], None, false)))
        .expect(1)
        .mount(&server)
        .await;
    let client = VantaClient::new(options(&server.uri())).unwrap();
    let raw = client
        .fetch_page(Endpoint::Remediations, None)
        .await
        .unwrap();
    let p = raw.decode::<Remediation>().unwrap();
    assert!(p.data.is_empty() && !p.has_next_page && p.end_cursor.is_none());
}

/// Mounts `first` answers once each (in order), then a good page.
async fn flaky(server: &MockServer, first: Vec<ResponseTemplate>) {
    token_mock(server, "vat_one", 1).await;
    for (i, t) in first.into_iter().enumerate() {
        Mock::given(method("GET"))
            .and(path("/v1/vulnerabilities"))
            .respond_with(t)
            .up_to_n_times(1)
            .with_priority(1 + i as u8)
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/v1/vulnerabilities"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&["ok"], None, false)))
        .with_priority(100)
        .mount(server)
        .await;
}

#[tokio::test]
async fn retries_429_and_every_5xx() {
    let server = MockServer::start().await;
    flaky(
        &server,
        [429u16, 500, 502, 503, 504]
            .into_iter()
            .map(ResponseTemplate::new)
            .collect(),
    )
    .await;
    let mut o = options(&server.uri());
    o.retry.max_attempts = 6;
    let client = VantaClient::new(o).unwrap();
    let ids = fetch_all(&client, Endpoint::Vulnerabilities).await.unwrap();
    assert_eq!(ids, ["ok"]);
    assert_eq!(client.retries(), 5);
}

/// With a one-minute backoff, finishing quickly proves `Retry-After` was used.
async fn honours_retry_after(value: String) {
    let server = MockServer::start().await;
    flaky(
        &server,
        vec![ResponseTemplate::new(429).insert_header("retry-after", value.as_str())],
    )
    .await;
    let mut o = options(&server.uri());
    o.retry.base = Duration::from_secs(60);
    o.retry.cap = Duration::from_secs(60);
    let client = VantaClient::new(o).unwrap();
    let ids = tokio::time::timeout(
        Duration::from_secs(20),
        fetch_all(&client, Endpoint::Vulnerabilities),
    )
    .await
    .expect("Retry-After should replace the 60 s backoff")
    .unwrap();
    assert_eq!(ids, ["ok"]);
    assert_eq!(client.retries(), 1);
}

#[tokio::test]
async fn retry_after_seconds_is_honoured() {
    honours_retry_after("1".into()).await;
}

#[tokio::test]
async fn retry_after_http_date_is_honoured() {
    let at = std::time::SystemTime::now() + Duration::from_secs(1);
    honours_retry_after(httpdate::fmt_http_date(at)).await;
}

#[tokio::test]
async fn retry_after_waits_at_least_as_told() {
    let server = MockServer::start().await;
    flaky(
        &server,
        vec![ResponseTemplate::new(503).insert_header("retry-after", "1")],
    )
    .await;
    let client = VantaClient::new(options(&server.uri())).unwrap();
    let started = Instant::now();
    fetch_all(&client, Endpoint::Vulnerabilities).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn malformed_json_is_retried() {
    let server = MockServer::start().await;
    flaky(
        &server,
        vec![
            ResponseTemplate::new(200).set_body_string("{\"results\": {\"pageInfo\""),
            ResponseTemplate::new(200).set_body_string("<html>gateway</html>"),
        ],
    )
    .await;
    let client = VantaClient::new(options(&server.uri())).unwrap();
    assert_eq!(
        fetch_all(&client, Endpoint::Vulnerabilities).await.unwrap(),
        ["ok"]
    );
    assert_eq!(client.retries(), 2);
}

#[tokio::test]
async fn timeouts_are_retried() {
    let server = MockServer::start().await;
    flaky(
        &server,
        vec![ResponseTemplate::new(200)
            .set_body_json(page(&["slow"], None, false))
            .set_delay(Duration::from_secs(3))],
    )
    .await;
    let mut o = options(&server.uri());
    o.request_timeout = Duration::from_millis(300);
    let client = VantaClient::new(o).unwrap();
    assert_eq!(
        fetch_all(&client, Endpoint::Vulnerabilities).await.unwrap(),
        ["ok"]
    );
    assert_eq!(client.retries(), 1);
}

#[tokio::test]
async fn gives_up_after_max_attempts_naming_the_endpoint() {
    let server = MockServer::start().await;
    token_mock(&server, "vat_one", 1).await;
    Mock::given(method("GET"))
        .and(path("/v1/vulnerable-assets"))
        .respond_with(ResponseTemplate::new(503))
        .expect(5)
        .mount(&server)
        .await;
    let client = VantaClient::new(options(&server.uri())).unwrap();
    let err = fetch_all(&client, Endpoint::VulnerableAssets)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, VantaError::Exhausted { attempts: 5, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("/v1/vulnerable-assets") && msg.contains("503"),
        "{msg}"
    );
}

#[tokio::test]
async fn client_errors_fail_fast_with_status_and_endpoint() {
    for status in [400u16, 403, 404] {
        let server = MockServer::start().await;
        token_mock(&server, "vat_one", 1).await;
        Mock::given(method("GET"))
            .and(path("/v1/vulnerabilities"))
            .respond_with(ResponseTemplate::new(status))
            .expect(1)
            .mount(&server)
            .await;
        let client = VantaClient::new(options(&server.uri())).unwrap();
        let err = fetch_all(&client, Endpoint::Vulnerabilities)
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&status.to_string()), "{msg}");
        assert!(msg.contains("/v1/vulnerabilities"), "{msg}");
        assert_eq!(client.retries(), 0);
        server.verify().await;
    }
}

#[tokio::test]
async fn a_401_reauthenticates_once_then_retries() {
    let server = MockServer::start().await;
    // First token issued is revoked (answers 401); the second one works.
    token_mock(&server, "vat_old", 1).await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "vat_new", "expires_in": 3600})),
        )
        .with_priority(10)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer vat_old"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer vat_new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&["x"], None, false)))
        .expect(1)
        .mount(&server)
        .await;
    let client = VantaClient::new(options(&server.uri())).unwrap();
    assert_eq!(
        fetch_all(&client, Endpoint::Vulnerabilities).await.unwrap(),
        ["x"]
    );
    server.verify().await;
}

#[tokio::test]
async fn a_second_401_after_reauth_fails() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "vat_x"})))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .expect(2)
        .mount(&server)
        .await;
    let client = VantaClient::new(options(&server.uri())).unwrap();
    let err = fetch_all(&client, Endpoint::Vulnerabilities)
        .await
        .unwrap_err();
    assert!(matches!(err, VantaError::Unauthorized { .. }), "{err}");
}

#[tokio::test]
async fn bad_credentials_fail_clearly_without_the_secret() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid_client"})))
        .expect(1)
        .mount(&server)
        .await;
    let client = VantaClient::new(options(&server.uri())).unwrap();
    let err = fetch_all(&client, Endpoint::Vulnerabilities)
        .await
        .unwrap_err();
    // The other pagers get the same answer without asking again (expect(1)).
    let again = fetch_all(&client, Endpoint::Remediations)
        .await
        .unwrap_err();
    assert!(matches!(again, VantaError::BadCredentials { status: 401 }));
    server.verify().await;
    let msg = err.to_string();
    assert!(matches!(err, VantaError::BadCredentials { status: 401 }));
    assert!(msg.contains("client credentials"), "{msg}");
    assert!(!msg.contains(SECRET) && !format!("{client:?}").contains(SECRET));
}

#[tokio::test]
async fn token_endpoint_429_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    token_mock(&server, "vat_one", 1).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&["t"], None, false)))
        .mount(&server)
        .await;
    let client = VantaClient::new(options(&server.uri())).unwrap();
    assert_eq!(
        fetch_all(&client, Endpoint::Vulnerabilities).await.unwrap(),
        ["t"]
    );
    assert_eq!(client.retries(), 1);
}

#[tokio::test]
async fn pacer_spaces_requests() {
    let server = MockServer::start().await;
    token_mock(&server, "vat_one", 1).await;
    struct Counter(std::sync::atomic::AtomicU32);
    impl Respond for Counter {
        fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let next = n < 4;
            ResponseTemplate::new(200).set_body_json(page(&["p"], Some(&format!("c{n}")), next))
        }
    }
    Mock::given(method("GET"))
        .respond_with(Counter(0.into()))
        .mount(&server)
        .await;
    let mut o = options(&server.uri());
    o.rate_limit_per_min = 600; // one request per 100 ms
    o.pacing = vanta_vuln_sync::vanta::PacingMode::Even;
    let client = VantaClient::new(o).unwrap();
    let started = Instant::now();
    let ids = fetch_all(&client, Endpoint::Vulnerabilities).await.unwrap();
    assert_eq!(ids.len(), 5);
    // Five paced requests: the last goes out no earlier than 4 intervals in.
    assert!(started.elapsed() >= Duration::from_millis(400));
}

/// A raw HTTP server whose first `broken` connections are cut short: one
/// sends half a body with a larger Content-Length (truncated), the next
/// closes without answering (reset); later connections answer properly.
async fn broken_server(broken: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut n = 0usize;
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let i = n;
            n += 1;
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut req = Vec::new();
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => req.extend_from_slice(&buf[..k]),
                    }
                }
                let text = String::from_utf8_lossy(&req).to_string();
                let body = if text.starts_with("POST /oauth/token") {
                    json!({"access_token": "vat_raw", "expires_in": 3600}).to_string()
                } else {
                    page(&["raw"], None, false).to_string()
                };
                let is_page = text.starts_with("GET ");
                if is_page && i <= broken && i % 2 == 1 {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(&body.as_bytes()[..body.len() / 2]).await;
                    return;
                }
                if is_page && i <= broken {
                    return; // drop the connection without a response
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                    body.len(),
                    body
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn resets_and_truncated_bodies_are_retried() {
    let base = broken_server(2).await;
    let client = VantaClient::new(options(&base)).unwrap();
    let ids = fetch_all(&client, Endpoint::Vulnerabilities).await.unwrap();
    assert_eq!(ids, ["raw"]);
    assert_eq!(client.retries(), 2);
}
