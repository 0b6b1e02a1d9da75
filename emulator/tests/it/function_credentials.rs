//! A function's own AWS calls under `--credentials`: the process gets the
//! configured key pair (and a session token) in its environment, as Lambda
//! hands out its execution role's credentials, so a function that calls S3
//! and Secrets Manager through the real SDKs, with the SDKs' default
//! credential chain, passes the emulator's signature checks.
//!
//! The function is this test binary itself: a small shell `bootstrap`
//! re-runs it with only [`function_process`] selected, which speaks the
//! Runtime API and calls back into the emulator.

use std::time::Duration;

use aws_config::BehaviorVersion;
use emulator::lambda::FunctionSpec;
use emulator::{Credentials, Emulator, EmulatorConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Set in the function's environment; the child test runs only with it.
const ROLE_VAR: &str = "EMULATOR_IT_FUNCTION_ROLE";
const BUCKET: &str = "function-writes";

/// One HTTP/1.1 exchange with the Runtime API (`Connection: close`);
/// returns the head and the body of the answer.
async fn runtime_api(api: &str, method: &str, path: &str, body: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(api)
        .await
        .expect("Runtime API reachable");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or((answer.as_str(), ""));
    (head.to_string(), body.to_string())
}

/// What the function does with one event: put an object named by the
/// request id and list secrets, through clients built from the environment
/// alone (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...).
async fn handle(request_id: &str) -> Value {
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .build(),
    );
    let put = s3
        .put_object()
        .bucket(BUCKET)
        .key(request_id)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"written by the function",
        ))
        .send()
        .await;
    let secrets = aws_sdk_secretsmanager::Client::new(&shared)
        .list_secrets()
        .send()
        .await;
    let show = |e: String| Value::String(e);
    json!({
        "s3": put.map_or_else(|e| show(format!("{:?}", e.into_service_error())), |_| "ok".into()),
        "secrets": secrets.map_or_else(|e| show(format!("{:?}", e.into_service_error())), |_| "ok".into()),
        "keyId": std::env::var("AWS_ACCESS_KEY_ID").ok(),
        "sessionToken": std::env::var("AWS_SESSION_TOKEN").is_ok(),
    })
}

/// The function's process: does nothing in an ordinary test run; run by
/// the bootstrap below, it serves invocations until the emulator ends it.
#[tokio::test]
async fn function_process() {
    if std::env::var_os(ROLE_VAR).is_none() {
        return;
    }
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").expect("AWS_LAMBDA_RUNTIME_API");
    loop {
        let (head, _event) =
            runtime_api(&api, "GET", "/2018-06-01/runtime/invocation/next", "").await;
        let request_id = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("lambda-runtime-aws-request-id")
                    .then(|| value.trim().to_string())
            })
            .expect("a request id header");
        let answer = handle(&request_id).await.to_string();
        runtime_api(
            &api,
            "POST",
            &format!("/2018-06-01/runtime/invocation/{request_id}/response"),
            &answer,
        )
        .await;
    }
}

#[tokio::test]
async fn a_function_under_credentials_calls_s3_and_secrets_manager() {
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = dir.path().join("bootstrap");
    let exe = std::env::current_exe().unwrap();
    std::fs::write(
        &bootstrap,
        format!(
            "#!/bin/sh\nexec '{}' --exact function_credentials::function_process --nocapture --test-threads=1\n",
            exe.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut spec = FunctionSpec::new("caller", &bootstrap);
    spec.timeout_s = 30;
    spec.environment.insert(ROLE_VAR.into(), "1".into());
    let credentials: Credentials = "AKIDFUNCTION:s3cr3t-for-the-test".parse().unwrap();
    let emu = Emulator::start(EmulatorConfig {
        functions: vec![spec],
        credentials: Some(credentials),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();

    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(emu.endpoint_url())
        .region("us-east-1")
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "AKIDFUNCTION",
            "s3cr3t-for-the-test",
            None,
            None,
            "static",
        ))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(60))
                .build(),
        )
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();

    let lambda = aws_sdk_lambda::Client::new(&shared);
    let out = lambda
        .invoke()
        .function_name("caller")
        .send()
        .await
        .unwrap();
    assert_eq!(out.function_error(), None, "{out:?}");
    let payload: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(payload["s3"], "ok", "the function's PutObject: {payload}");
    assert_eq!(
        payload["secrets"], "ok",
        "the function's ListSecrets: {payload}"
    );
    assert_eq!(payload["keyId"], "AKIDFUNCTION", "{payload}");
    assert_eq!(payload["sessionToken"], true, "{payload}");

    // The object the function wrote is there, under its invocation's id.
    let listed = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    let key = listed.contents()[0].key().unwrap().to_string();
    let got = s3
        .get_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"written by the function");
}
