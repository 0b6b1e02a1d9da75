//! No value from Vanta can panic the client or keep it waiting past the
//! invocation's deadline: absurd `Retry-After` values and `expires_in`
//! through wiremock, and a server that stalls (the token endpoint, a page, a
//! long `Retry-After`) against a deadline.

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use vanta_vuln_sync::vanta::model::Vulnerability;
use vanta_vuln_sync::vanta::{Endpoint, PacingMode, VantaClient, VantaError};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::vanta_client::{options, page, token_mock};

/// A guard against a hang, far above anything the cases need: the cases
/// assert what came back, not how fast.
const HANG: Duration = Duration::from_secs(20);

/// One 429 with `Retry-After: value`, then a page.
async fn limited_once(value: &str) -> MockServer {
    let server = MockServer::start().await;
    token_mock(&server, "vat_x", 10).await;
    Mock::given(method("GET"))
        .and(path("/v1/vulnerabilities"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", value))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/vulnerabilities"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&["v1"], None, false)))
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_retry_after_values_are_clamped_or_ignored_never_a_panic() {
    for value in [
        "1e20",
        "1e300",
        "inf",
        "-inf",
        "NaN",
        "-5",
        "99999999999999999999999",
    ] {
        for pacing in [None, Some(PacingMode::Adaptive), Some(PacingMode::Even)] {
            let server = limited_once(value).await;
            let mut o = options(&server.uri());
            o.retry.max_retry_after = Duration::from_millis(50);
            if let Some(mode) = pacing {
                o.pacing = mode;
                o.rate_limit_per_min = 50;
                o.rate_window = Duration::from_secs(1);
            }
            let client = VantaClient::new(o).unwrap();
            let got =
                tokio::time::timeout(HANG, client.fetch_page(Endpoint::Vulnerabilities, None))
                    .await
                    .unwrap_or_else(|_| panic!("Retry-After {value} ({pacing:?}) was not clamped"))
                    .unwrap_or_else(|e| panic!("Retry-After {value} ({pacing:?}): {e}"));
            let got = got.decode::<Vulnerability>().unwrap();
            assert_eq!(got.data[0].id, "v1");
            assert_eq!(client.rate_limited(), 1);
        }
    }
}

#[tokio::test]
async fn a_huge_expires_in_is_a_long_lived_token_not_a_panic() {
    for expires_in in [
        json!(u64::MAX),
        json!(1e30),
        json!(1.0e308),
        json!(-3600),
        json!(0),
        json!(0.5),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"access_token": "vat_long", "expires_in": expires_in})),
            )
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/vulnerabilities"))
            .respond_with(ResponseTemplate::new(200).set_body_json(page(&["v1"], None, false)))
            .mount(&server)
            .await;
        let client = VantaClient::new(options(&server.uri())).unwrap();
        for _ in 0..2 {
            let got = client
                .fetch_page(Endpoint::Vulnerabilities, None)
                .await
                .unwrap_or_else(|e| panic!("expires_in {expires_in}: {e}"));
            assert_eq!(got.decode::<Vulnerability>().unwrap().data.len(), 1);
        }
    }
}

/// `fetch_raw_page_by` against `server`, `by` 300 ms from now.
async fn fetch_by(server: &MockServer) -> VantaError {
    let client = VantaClient::new(options(&server.uri())).unwrap();
    let by = Instant::now() + Duration::from_millis(300);
    tokio::time::timeout(
        HANG,
        client.fetch_raw_page_by(Endpoint::Vulnerabilities, None, Some(by)),
    )
    .await
    .expect("the deadline must end the wait")
    .expect_err("nothing can arrive before the deadline")
}

#[tokio::test]
async fn a_stalled_page_ends_at_the_deadline() {
    let server = MockServer::start().await;
    token_mock(&server, "vat_x", 1).await;
    Mock::given(method("GET"))
        .and(path("/v1/vulnerabilities"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(&["v1"], None, false))
                .set_delay(Duration::from_secs(60)),
        )
        .mount(&server)
        .await;
    let e = fetch_by(&server).await;
    assert!(matches!(e, VantaError::Deadline { .. }), "{e}");
    assert!(e.to_string().contains("deadline"), "{e}");
}

#[tokio::test]
async fn a_stalled_token_endpoint_ends_at_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "vat_x", "expires_in": 3600}))
                .set_delay(Duration::from_secs(60)),
        )
        .mount(&server)
        .await;
    let e = fetch_by(&server).await;
    assert!(matches!(e, VantaError::Deadline { .. }), "{e}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_retry_after_past_the_deadline_is_not_waited_out() {
    let server = MockServer::start().await;
    token_mock(&server, "vat_x", 1).await;
    Mock::given(method("GET"))
        .and(path("/v1/vulnerabilities"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "4"))
        .mount(&server)
        .await;
    let e = fetch_by(&server).await;
    // Refused at once, naming the wait it would not start (not cut short
    // by the timer after a sleep).
    let msg = e.to_string();
    assert!(
        matches!(e, VantaError::Deadline { .. })
            && msg.contains("a retry in 4000 ms after HTTP 503"),
        "{msg}"
    );
    let gets = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "GET")
        .count();
    assert_eq!(gets, 1, "no retry once the wait could not end in time");
}
