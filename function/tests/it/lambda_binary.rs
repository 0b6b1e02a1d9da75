//! The real binary as the emulator runs it: a run that checkpoints and
//! continues itself through asynchronous self-invocation, and a failure's
//! error payload and EMF metrics.

use crate::support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_lambda::types::LogType;
use base64::Engine as _;
use serde_json::Value;
use support::*;

async fn world_with_function(
    data: mock_vanta::DataConfig,
    env: &[(&str, &str)],
    timeout_s: u32,
) -> (World, aws_sdk_lambda::Client) {
    world_with(data, env, timeout_s, emulator::lambda::LogFormat::Text).await
}

async fn world_with(
    data: mock_vanta::DataConfig,
    env: &[(&str, &str)],
    timeout_s: u32,
    log_format: emulator::lambda::LogFormat,
) -> (World, aws_sdk_lambda::Client) {
    let vanta = mock_vanta::Server::start(mock_vanta::Config {
        data: data.clone(),
        ..mock_vanta::Config::default()
    })
    .await
    .unwrap();
    let mut spec = emulator::lambda::FunctionSpec::new(
        "vanta-vuln-sync",
        env!("CARGO_BIN_EXE_vanta-vuln-sync"),
    );
    spec.timeout_s = timeout_s;
    spec.memory_mb = 256;
    spec.log_format = log_format;
    let mut vars = BTreeMap::from([
        ("VANTA_BASE_URL".to_string(), vanta.base_url()),
        ("S3_BUCKET".to_string(), BUCKET.to_string()),
        ("S3_PREFIX".to_string(), PREFIX.to_string()),
    ]);
    for (k, v) in env {
        vars.insert(k.to_string(), v.to_string());
    }
    spec.environment = vars;
    let emulator = emulator::Emulator::start(emulator::EmulatorConfig {
        functions: vec![spec],
        ..emulator::EmulatorConfig::default()
    })
    .await
    .unwrap();
    let s3 = s3_client(&emulator.endpoint_url());
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(emulator.endpoint_url())
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await;
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    (
        World {
            vanta,
            emulator,
            s3,
            data,
        },
        lambda,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_and_continues_itself_until_complete() {
    // 600 requests a minute paces pages 100 ms apart; a 3 s timeout with a
    // 2 s margin lets each invocation page for about a second.
    let (w, lambda) = world_with_function(
        data(2_500, 600, 40),
        &[
            ("VANTA_CLIENT_ID", "vci_mock"),
            ("VANTA_CLIENT_SECRET", "vcs_mock"),
            ("VANTA_RATE_LIMIT_PER_MIN", "600"),
            ("VANTA_PACING", "even"),
            ("CHECKPOINT_MARGIN_S", "2"),
        ],
        3,
    )
    .await;
    let payload = serde_json::json!({"asOf": "2026-11-26T06:00:00.000Z"}).to_string();
    let out = lambda
        .invoke()
        .function_name("vanta-vuln-sync")
        .payload(aws_sdk_lambda::primitives::Blob::new(payload))
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert!(out.function_error().is_none(), "{body}");
    assert_eq!(body["status"], "continued", "{body}");
    assert!(body["checkpoint"]
        .as_str()
        .unwrap()
        .contains("/_checkpoints/"));
    let run_id = body["runId"].as_str().unwrap().to_owned();

    // The continuations run asynchronously; wait for the commit.
    let started = Instant::now();
    while w.get(&format!("{PREFIX}/latest.json")).await.is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the continuation chain did not commit"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let latest = w.get_json(&format!("{PREFIX}/latest.json")).await;
    assert_eq!(latest["runId"], run_id.as_str());
    let manifest = w.get_json(latest["manifest"].as_str().unwrap()).await;
    assert!(manifest["invocations"].as_u64().unwrap() >= 2, "{manifest}");
    assert_eq!(manifest["counts"]["vulnerabilities"], 2_500);
    assert_eq!(manifest["counts"]["remediations"], 600);
    assert_eq!(manifest["counts"]["vulnerableAssets"], 40);
    let mut ids = std::collections::HashSet::new();
    let mut rows = 0usize;
    for f in manifest["files"].as_array().unwrap() {
        if f["dataset"] == "vulnerabilities" {
            let (_, file_ids) = read_parquet(w.get(f["key"].as_str().unwrap()).await.unwrap());
            rows += file_ids.len();
            ids.extend(file_ids);
        }
    }
    assert_eq!((rows, ids.len()), (2_500, 2_500), "no loss, no duplicate");
    let stats = w.get_json(manifest["stats"].as_str().unwrap()).await;
    assert_json_close(&stats, &mock_vanta::expected_stats(&w.data), "stats");
    w.emulator.shutdown().await;
    w.vanta.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_a_sync_failure_with_metrics() {
    let (w, lambda) = world_with_function(
        data(10, 5, 2),
        &[
            ("VANTA_CLIENT_ID", "vci_mock"),
            ("VANTA_CLIENT_SECRET", "vcs_not_the_secret"),
        ],
        30,
    )
    .await;
    let out = lambda
        .invoke()
        .function_name("vanta-vuln-sync")
        .log_type(LogType::Tail)
        .payload(aws_sdk_lambda::primitives::Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.function_error(), Some("Unhandled"));
    let body: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(body["errorType"], "SyncFailure", "{body}");
    let msg = body["errorMessage"].as_str().unwrap();
    assert!(msg.contains("client credentials"), "{msg}");
    assert!(!msg.contains("vcs_not_the_secret"));

    let tail = base64::engine::general_purpose::STANDARD
        .decode(out.log_result().expect("LogType=Tail returns the log tail"))
        .unwrap();
    let tail = String::from_utf8_lossy(&tail);
    assert!(
        !tail.contains("vcs_not_the_secret"),
        "secret in the log: {tail}"
    );
    let emf: Value = tail
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("_aws").is_some())
        .unwrap_or_else(|| panic!("no EMF line in {tail}"));
    assert_eq!(emf["SyncFailure"], 1);
    assert_eq!(emf["SyncSuccess"], 0);
    assert_eq!(emf["ColdStart"], 1);
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "VantaVulnStats"
    );
    assert!(
        w.keys().await.is_empty(),
        "a failed run wrote {:?}",
        w.keys().await
    );
    w.emulator.shutdown().await;
    w.vanta.shutdown().await;
}

async fn invoke_tail(
    lambda: &aws_sdk_lambda::Client,
    payload: &str,
) -> (Option<String>, Value, String) {
    let out = lambda
        .invoke()
        .function_name("vanta-vuln-sync")
        .log_type(LogType::Tail)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_owned()))
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    let tail = base64::engine::general_purpose::STANDARD
        .decode(out.log_result().unwrap_or_default())
        .unwrap();
    (
        out.function_error().map(str::to_owned),
        body,
        String::from_utf8_lossy(&tail).into_owned(),
    )
}

/// Without VANTA_CLIENT_ID/SECRET the credentials come from the secret named
/// by VANTA_CREDENTIALS_SECRET (default `vanta-api-credentials`); a missing
/// secret is a clear CredentialsError. Logs follow the JSON log format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_secrets_manager_and_json_logs() {
    let (w, lambda) = world_with(data(30, 10, 3), &[], 30, emulator::lambda::LogFormat::Json).await;

    let (error, body, _) = invoke_tail(&lambda, "{}").await;
    assert_eq!(error.as_deref(), Some("Unhandled"));
    assert_eq!(body["errorType"], "CredentialsError", "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("vanta-api-credentials"),
        "{body}"
    );

    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(w.emulator.endpoint_url())
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name("vanta-api-credentials")
        .secret_string(r#"{"client_id":"vci_mock","client_secret":"vcs_mock"}"#)
        .send()
        .await
        .unwrap();

    let (error, body, tail) = invoke_tail(&lambda, r#"{"asOf":"2026-11-26T06:00:00.000Z"}"#).await;
    assert!(error.is_none(), "{body}");
    assert_eq!(body["status"], "complete");
    assert_eq!(body["counts"]["vulnerabilities"], 30);
    assert!(!tail.contains("vcs_mock"), "secret in the log: {tail}");
    let app_lines: Vec<Value> = tail
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("message").is_some())
        .collect();
    assert!(!app_lines.is_empty(), "no JSON application lines in {tail}");
    for line in &app_lines {
        assert!(
            line["level"].is_string() && line["timestamp"].is_string(),
            "{line}"
        );
        assert!(line["requestId"].is_string(), "{line}");
    }
    let emf = tail
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("_aws").is_some())
        .expect("an EMF line");
    assert_eq!(emf["SyncSuccess"], 1);
    assert_eq!(emf["ColdStart"], 0, "the second invocation is warm");
    assert_eq!(emf["VulnerabilitiesFetched"], 30);
    assert!(emf.get("OpenCritical").is_some());
    w.emulator.shutdown().await;
    w.vanta.shutdown().await;
}

/// A malformed setting or payload is one clear line, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_setting_and_payload_are_clear_errors() {
    let (w, lambda) = world_with_function(
        data(5, 1, 1),
        &[
            ("VANTA_CLIENT_ID", "vci_mock"),
            ("VANTA_CLIENT_SECRET", "vcs_mock"),
            ("VANTA_PAGE_SIZE", "500"),
        ],
        30,
    )
    .await;
    let (error, body, _) = invoke_tail(&lambda, "{}").await;
    assert_eq!(error.as_deref(), Some("Unhandled"));
    assert_eq!(body["errorType"], "ConfigError", "{body}");
    let msg = body["errorMessage"].as_str().unwrap();
    assert!(
        msg.contains("VANTA_PAGE_SIZE") && !msg.contains('\n'),
        "{msg}"
    );
    w.emulator.shutdown().await;
    w.vanta.shutdown().await;

    let (w, lambda) = world_with_function(
        data(5, 1, 1),
        &[
            ("VANTA_CLIENT_ID", "vci_mock"),
            ("VANTA_CLIENT_SECRET", "vcs_mock"),
        ],
        30,
    )
    .await;
    let (error, body, _) = invoke_tail(&lambda, r#"{"dryRun": "yes"}"#).await;
    assert_eq!(error.as_deref(), Some("Unhandled"));
    assert_eq!(body["errorType"], "InvalidEvent", "{body}");
    assert!(body["errorMessage"].as_str().unwrap().contains("dryRun"));
    // A dry run through the real binary writes nothing.
    let (error, body, _) = invoke_tail(&lambda, r#"{"dryRun": true}"#).await;
    assert!(error.is_none(), "{body}");
    assert_eq!(body["dryRun"], true);
    assert_eq!(body["counts"]["vulnerabilities"], 5);
    assert!(w.keys().await.is_empty());
    w.emulator.shutdown().await;
    w.vanta.shutdown().await;
}
