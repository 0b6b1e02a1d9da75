//! Who may talk to the emulator: only requests addressed to a loopback
//! host, no cross-site browser writes, and with `--credentials` only
//! requests SigV4-signed with that key pair, checked through the real SDK
//! clients (and the AWS CLI when it is installed).

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use emulator::{Credentials, Emulator, EmulatorConfig, EmulatorHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::served::Served;

/// Sends `head` (request line and headers, without the blank line) and a
/// body over a fresh connection; returns the status and the whole answer.
async fn raw(endpoint: &str, head: &str, body: &str) -> (u16, String) {
    let addr = endpoint.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    (status, answer)
}

async fn start(credentials: Option<Credentials>) -> EmulatorHandle {
    Emulator::start(EmulatorConfig {
        credentials,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}

async fn shared(emu: &EmulatorHandle, key: &str, secret: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(emu.endpoint_url())
        .region("us-east-1")
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            key, secret, None, None, "static",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

const LIST_SECRETS: &str = "POST / HTTP/1.1\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: secretsmanager.ListSecrets";

#[tokio::test]
async fn a_foreign_host_is_refused_whatever_the_api() {
    let emu = start(None).await;
    let url = emu.endpoint_url();
    let port = url.rsplit(':').next().unwrap();
    let (status, answer) = raw(
        &url,
        &format!("{LIST_SECRETS}\r\nHost: evil.example:{port}"),
        "{}",
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("not a loopback name"), "{answer}");
    for head in [
        "GET / HTTP/1.1\r\nHost: evil.example".to_string(),
        "GET /2015-03-31/functions/ HTTP/1.1\r\nHost: 127.0.0.1.nip.io".to_string(),
        "GET /bucket/key HTTP/1.1\r\nHost: localhost.evil.example".to_string(),
    ] {
        let (status, answer) = raw(&url, &head, "").await;
        assert_eq!(status, 403, "{head}: {answer}");
    }
    // The same requests addressed to loopback names are answered.
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let (status, answer) = raw(&url, &format!("{LIST_SECRETS}\r\nHost: {host}"), "{}").await;
        assert_eq!(status, 200, "{host}: {answer}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn browser_writes_from_other_sites_are_refused() {
    let emu = start(None).await;
    let url = emu.endpoint_url();
    let host = url.strip_prefix("http://").unwrap();
    let create = format!("POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\nX-Amz-Target: secretsmanager.CreateSecret");
    let (status, answer) = raw(
        &url,
        &format!("{create}\r\nOrigin: https://evil.example"),
        r#"{"Name":"stolen","SecretString":"x"}"#,
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("Origin"), "{answer}");
    let (status, answer) = raw(
        &url,
        &format!("{create}\r\nSec-Fetch-Site: cross-site"),
        r#"{"Name":"stolen","SecretString":"x"}"#,
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    // Nothing was created.
    let (status, answer) = raw(&url, &format!("{LIST_SECRETS}\r\nHost: {host}"), "{}").await;
    assert_eq!(status, 200);
    assert!(!answer.contains("stolen"), "{answer}");
    emu.shutdown().await;
}

#[tokio::test]
async fn with_credentials_only_requests_signed_with_them_pass() {
    let keys: Credentials = "AKIDLOCAL:very-secret".parse().unwrap();
    let emu = start(Some(keys)).await;

    // The right keys work for every service.
    let right = shared(&emu, "AKIDLOCAL", "very-secret").await;
    let sm = aws_sdk_secretsmanager::Client::new(&right);
    sm.create_secret()
        .name("s")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    assert_eq!(
        sm.get_secret_value()
            .secret_id("s")
            .send()
            .await
            .unwrap()
            .secret_string(),
        Some("v")
    );
    aws_sdk_cloudwatchlogs::Client::new(&right)
        .describe_log_groups()
        .send()
        .await
        .unwrap();
    aws_sdk_lambda::Client::new(&right)
        .list_functions()
        .send()
        .await
        .unwrap();
    let s3 = |cfg: &aws_config::SdkConfig| {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(cfg)
                .force_path_style(true)
                .build(),
        )
    };
    s3(&right)
        .create_bucket()
        .bucket("signed-bucket")
        .send()
        .await
        .unwrap();

    // A wrong secret, or another key id, is refused everywhere.
    for (key, secret) in [("AKIDLOCAL", "wrong"), ("test", "test")] {
        let wrong = shared(&emu, key, secret).await;
        let err = aws_sdk_secretsmanager::Client::new(&wrong)
            .get_secret_value()
            .secret_id("s")
            .send()
            .await
            .unwrap_err();
        let code = err.code().unwrap_or_default().to_string();
        assert!(
            code == "InvalidSignatureException" || code == "UnrecognizedClientException",
            "{key}:{secret}: {err:?}"
        );
        let err = aws_sdk_cloudwatchlogs::Client::new(&wrong)
            .describe_log_groups()
            .send()
            .await
            .unwrap_err();
        assert!(err.code().is_some(), "{err:?}");
        let err = aws_sdk_lambda::Client::new(&wrong)
            .list_functions()
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
        let err = s3(&wrong)
            .head_bucket()
            .bucket("signed-bucket")
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403)); // S3's own codes: another key id, or the right one with a wrong secret.
        let err = s3(&wrong).list_buckets().send().await.unwrap_err();
        let want = if key == "AKIDLOCAL" {
            "SignatureDoesNotMatch"
        } else {
            "InvalidAccessKeyId"
        };
        assert_eq!(err.code(), Some(want), "{key}:{secret}: {err:?}");
    }

    // Unsigned: refused.
    let url = emu.endpoint_url();
    let host = url.strip_prefix("http://").unwrap();
    let (status, answer) = raw(&url, &format!("{LIST_SECRETS}\r\nHost: {host}"), "{}").await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("MissingAuthenticationToken"), "{answer}");
    let (status, _) = raw(
        &url,
        &format!("GET /signed-bucket HTTP/1.1\r\nHost: {host}"),
        "",
    )
    .await;
    assert_eq!(status, 403);
    emu.shutdown().await;
}

#[tokio::test]
async fn the_aws_cli_works_with_the_right_keys_and_not_with_others() {
    if std::process::Command::new("aws")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("note: the AWS CLI is not installed; skipped");
        return;
    }
    let served = Served::start(&["--credentials", "AKIDCLI:cli-secret"]).await;
    let cli = |key: &str, secret: &str, args: &[&str]| {
        std::process::Command::new("aws")
            .args(["--endpoint-url", &served.endpoint, "--region", "us-east-1"])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_MAX_ATTEMPTS", "1")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .unwrap()
    };
    for args in [
        &["secretsmanager", "list-secrets"][..],
        &["logs", "describe-log-groups"],
        &["lambda", "list-functions"],
        &["s3api", "list-buckets"],
    ] {
        let ok = cli("AKIDCLI", "cli-secret", args);
        assert!(
            ok.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        let refused = cli("AKIDCLI", "not-it", args);
        assert!(
            !refused.status.success(),
            "{args:?} passed with a wrong secret"
        );
    }
}
