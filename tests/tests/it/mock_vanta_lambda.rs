//! mock-vanta served as a Lambda function behind a Function URL, as the
//! benchmark stack deploys it, run locally: the `mock-vanta-lambda` binary
//! under the emulator, its URL created and read through the Lambda API
//! (aws-sdk-lambda), answers every conformance request exactly as the same
//! server configuration served directly does; and `perfharness` against
//! the "deployed" sync finds the mock by its Function URL
//! (GetFunctionUrlConfig) with no flag and syncs against it.

use std::collections::BTreeMap;
use std::process::ExitCode;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use clap::Parser;
use serde_json::{json, Value};

const MOCK: &str = "perfharness-mock-vanta";

fn mock_env() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("MOCK_VANTA_RECORDS".to_string(), "230".to_string()),
        ("MOCK_VANTA_SEED".to_string(), "7".to_string()),
        (
            "MOCK_VANTA_NOW".to_string(),
            "2026-11-26T06:00:00Z".to_string(),
        ),
    ])
}

async fn mock_spec() -> emulator::lambda::FunctionSpec {
    let bin = perfharness::local::ensure_binary(perfharness::local::MOCK_VANTA_LAMBDA_BINARY)
        .await
        .expect("the mock-vanta-lambda release binary");
    let mut spec = emulator::lambda::FunctionSpec::new(MOCK, bin);
    spec.timeout_s = 30;
    spec.memory_mb = 1024;
    spec.environment = mock_env();
    spec
}

async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .load()
        .await
}

/// Creates the mock's Function URL through the Lambda API and returns it.
async fn create_url(lambda: &aws_sdk_lambda::Client) -> String {
    let missing = lambda
        .get_function_url_config()
        .function_name(MOCK)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&missing),
        Some("ResourceNotFoundException")
    );
    let created = lambda
        .create_function_url_config()
        .function_name(MOCK)
        .auth_type(aws_sdk_lambda::types::FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();
    let again = lambda
        .create_function_url_config()
        .function_name(MOCK)
        .auth_type(aws_sdk_lambda::types::FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_lambda::error::ProvideErrorMetadata::code(&again),
        Some("ResourceConflictException")
    );
    let got = lambda
        .get_function_url_config()
        .function_name(MOCK)
        .send()
        .await
        .unwrap();
    assert_eq!(got.function_url(), created.function_url());
    assert_eq!(got.auth_type().as_str(), "NONE");
    assert!(got.function_arn().ends_with(&format!(":function:{MOCK}")));
    created.function_url().trim_end_matches('/').to_string()
}

/// Status, content type and body of one request.
async fn call(
    c: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, String, String) {
    let mut rb = c.request(method.parse().unwrap(), format!("{base}{path}"));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ct, r.text().await.unwrap())
}

fn credentials(secret: &str) -> Value {
    json!({
        "client_id": "vci_mock",
        "client_secret": secret,
        "scope": "vanta-api.all:read",
        "grant_type": "client_credentials",
    })
}

async fn token(c: &reqwest::Client, base: &str) -> String {
    let (status, _, body) = call(
        c,
        base,
        "POST",
        "/oauth/token",
        None,
        Some(&credentials("vcs_mock")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_vanta_behind_a_function_url_answers_as_served_directly() {
    let emu = emulator::Emulator::start(emulator::EmulatorConfig {
        functions: vec![mock_spec().await],
        ..Default::default()
    })
    .await
    .unwrap();
    let lambda = aws_sdk_lambda::Client::new(&sdk(&emu.endpoint_url()).await);
    let url = create_url(&lambda).await;
    let config =
        mock_vanta::lambda::config_from_env(|k| mock_env().get(k).cloned()).expect("config");
    let direct = mock_vanta::Server::start(config).await.unwrap();
    let base = direct.base_url();
    let c = reqwest::Client::new();

    // The token endpoint: accepted and rejected clients.
    let (s_url, _, b_url) = call(
        &c,
        &url,
        "POST",
        "/oauth/token",
        None,
        Some(&credentials("vcs_mock")),
    )
    .await;
    let (s_dir, _, b_dir) = call(
        &c,
        &base,
        "POST",
        "/oauth/token",
        None,
        Some(&credentials("vcs_mock")),
    )
    .await;
    assert_eq!((s_url, s_dir), (200, 200), "{b_url}");
    let keys = |b: &str| -> Vec<String> {
        serde_json::from_str::<Value>(b)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(keys(&b_url), keys(&b_dir));
    let bad_url = call(
        &c,
        &url,
        "POST",
        "/oauth/token",
        None,
        Some(&credentials("wrong")),
    )
    .await;
    let bad_dir = call(
        &c,
        &base,
        "POST",
        "/oauth/token",
        None,
        Some(&credentials("wrong")),
    )
    .await;
    assert_eq!(bad_url, bad_dir);
    assert_eq!(bad_url.0, 401);

    let (t_url, t_dir) = (token(&c, &url).await, token(&c, &base).await);
    let mut requests: Vec<String> = vec![
        "/v1/vulnerabilities?severity=CRITICAL&pageSize=100".into(),
        "/v1/vulnerabilities?includeVulnerabilitiesWithoutSlas=true&pageSize=7".into(),
        "/v1/vulnerabilities?pageSize=0".into(),
        "/v1/vulnerable-assets?pageSize=ten".into(),
        "/v1/vulnerabilities?pageCursor=%25%25%25not-base64".into(),
        "/v1/vulnerability-remediations?severity=high".into(),
        "/v1/vulnerabilities/000000000000000000000000".into(),
        "/v1/nothing-here".into(),
    ];
    // Every page of every list endpoint, following the cursors.
    let mut compared_pages = 0;
    for path in [
        "/v1/vulnerabilities",
        "/v1/vulnerability-remediations",
        "/v1/vulnerable-assets",
    ] {
        let mut cursor: Option<String> = None;
        loop {
            let mut q = format!("{path}?pageSize=37");
            if let Some(cur) = &cursor {
                q.push_str(&format!("&pageCursor={cur}"));
            }
            let a = call(&c, &url, "GET", &q, Some(&t_url), None).await;
            let b = call(&c, &base, "GET", &q, Some(&t_dir), None).await;
            assert_eq!(a, b, "{q}");
            assert_eq!(a.0, 200, "{q}: {}", a.2);
            compared_pages += 1;
            let v: Value = serde_json::from_str(&a.2).unwrap();
            let info = &v["results"]["pageInfo"];
            if info["hasNextPage"] != true {
                break;
            }
            cursor = info["endCursor"].as_str().map(str::to_string);
        }
        // One record by id.
        let first = call(
            &c,
            &base,
            "GET",
            &format!("{path}?pageSize=1"),
            Some(&t_dir),
            None,
        )
        .await;
        let v: Value = serde_json::from_str(&first.2).unwrap();
        if path != "/v1/vulnerability-remediations" {
            let id = v["results"]["data"][0]["id"].as_str().unwrap();
            requests.push(format!("{path}/{id}"));
        }
    }
    // 230 vulnerabilities (those with an SLA by default), 92 remediations
    // and 23 assets at 37 a page: several pages of each list, cursors
    // included.
    assert!(compared_pages > 6, "{compared_pages} pages");
    for q in &requests {
        let a = call(&c, &url, "GET", q, Some(&t_url), None).await;
        let b = call(&c, &base, "GET", q, Some(&t_dir), None).await;
        assert_eq!(a, b, "{q}");
    }
    // No token: the same refusal.
    let a = call(&c, &url, "GET", "/v1/vulnerabilities", None, None).await;
    let b = call(&c, &base, "GET", "/v1/vulnerabilities", None, None).await;
    assert_eq!(a, b);
    assert_eq!(a.0, 401);
    // A URL of a function without a URL configuration is not found.
    let other = format!("{}/lambda-url/no-such-function/", emu.endpoint_url());
    assert_eq!(c.get(other).send().await.unwrap().status().as_u16(), 404);

    direct.shutdown().await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmark_stack_runs_locally_with_mock_vanta_as_a_function() {
    let bin = perfharness::local::ensure_binary(perfharness::local::FUNCTION_BINARY)
        .await
        .expect("the vanta-vuln-sync release binary");
    let mut sync = emulator::lambda::FunctionSpec::new("vanta-vuln-sync", bin);
    sync.timeout_s = 60;
    sync.memory_mb = 512;
    let production = BTreeMap::from([
        (
            "VANTA_BASE_URL".to_string(),
            "http://127.0.0.1:9".to_string(),
        ),
        (
            "VANTA_CREDENTIALS_SECRET".to_string(),
            "vanta-api-credentials".to_string(),
        ),
        ("S3_BUCKET".to_string(), "vanta-vuln-data".to_string()),
        ("S3_PREFIX".to_string(), "vanta".to_string()),
    ]);
    sync.environment = production.clone();
    let emu = emulator::Emulator::start(emulator::EmulatorConfig {
        functions: vec![sync, mock_spec().await],
        ..Default::default()
    })
    .await
    .unwrap();
    let endpoint = emu.endpoint_url();
    let sdk = sdk(&endpoint).await;
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    create_url(&lambda).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bench_bucket = "perfharness-bench-123456789012-us-east-1";
    for b in ["vanta-vuln-data", bench_bucket] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(perfharness::bench::MOCK_SECRET)
        .secret_string(r#"{"client_id":"vci_mock","client_secret":"vcs_mock"}"#)
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let cli = perfharness::cli::Cli::try_parse_from([
        "perfharness",
        "full",
        "--function",
        "vanta-vuln-sync",
        "--endpoint-url",
        &endpoint,
        "--cold",
        "2",
        "--warm",
        "2",
        "--log-source",
        "tail",
        "--targets",
        "none",
        "--output",
        "json",
        "--out",
        out.to_str().unwrap(),
    ])
    .unwrap();
    let code = perfharness::cli::run(cli).await.expect("the run completes");
    assert_eq!(code, ExitCode::SUCCESS);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    for s in report["samples"].as_array().unwrap() {
        assert_eq!(s["status"], "success", "{s}");
    }
    let latest = s3
        .get_object()
        .bucket(bench_bucket)
        .key("perfharness-bench/latest.json")
        .send()
        .await
        .expect("the benchmark snapshot")
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let latest: Value = serde_json::from_slice(&latest).unwrap();
    // The dataset of the mock function's environment, through its URL.
    assert_eq!(latest["counts"]["vulnerabilities"], 230, "{latest}");
    let prod = s3
        .list_objects_v2()
        .bucket("vanta-vuln-data")
        .send()
        .await
        .unwrap();
    assert!(prod.contents().is_empty());
    let env: BTreeMap<String, String> = lambda
        .get_function_configuration()
        .function_name("vanta-vuln-sync")
        .send()
        .await
        .unwrap()
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    assert_eq!(env, production);
    emu.shutdown().await;
}
