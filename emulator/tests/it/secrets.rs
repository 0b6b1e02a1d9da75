//! Secrets Manager through the real aws-sdk-secretsmanager client.

use aws_config::BehaviorVersion;
use aws_sdk_secretsmanager::config::Credentials;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};

async fn client(emu: &EmulatorHandle) -> aws_sdk_secretsmanager::Client {
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(emu.endpoint_url())
        .region("us-east-1")
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&shared)
}

#[tokio::test]
async fn create_get_put_describe() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let sm = client(&emu).await;

    let created = sm
        .create_secret()
        .name("vanta-api-credentials")
        .secret_string(r#"{"client_id":"a","client_secret":"b"}"#)
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap().to_string();
    assert!(
        arn.starts_with(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:vanta-api-credentials-"
        ),
        "{arn}"
    );
    assert_eq!(
        arn.len(),
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:vanta-api-credentials-".len() + 6
    );
    let v1 = created.version_id().unwrap().to_string();

    let got = sm
        .get_secret_value()
        .secret_id("vanta-api-credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.secret_string(),
        Some(r#"{"client_id":"a","client_secret":"b"}"#)
    );
    assert_eq!(got.version_id(), Some(v1.as_str()));
    assert_eq!(got.version_stages(), ["AWSCURRENT"]);
    assert!(got.created_date().is_some());

    // By full ARN and by partial ARN (without the random suffix).
    let by_arn = sm.get_secret_value().secret_id(&arn).send().await.unwrap();
    assert_eq!(by_arn.name(), Some("vanta-api-credentials"));
    let partial = &arn[..arn.len() - 7];
    let by_partial = sm
        .get_secret_value()
        .secret_id(partial)
        .send()
        .await
        .unwrap();
    assert_eq!(by_partial.arn(), Some(arn.as_str()));

    let put = sm
        .put_secret_value()
        .secret_id("vanta-api-credentials")
        .secret_string("v2")
        .send()
        .await
        .unwrap();
    let v2 = put.version_id().unwrap().to_string();
    assert_ne!(v1, v2);
    let got = sm
        .get_secret_value()
        .secret_id("vanta-api-credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some("v2"));
    let previous = sm
        .get_secret_value()
        .secret_id("vanta-api-credentials")
        .version_stage("AWSPREVIOUS")
        .send()
        .await
        .unwrap();
    assert_eq!(previous.version_id(), Some(v1.as_str()));

    // UpdateSecret with a value makes a new current version too.
    let updated = sm
        .update_secret()
        .secret_id("vanta-api-credentials")
        .description("Vanta app")
        .secret_string("v3")
        .send()
        .await
        .unwrap();
    let v3 = updated.version_id().unwrap().to_string();
    let versions = sm
        .list_secret_version_ids()
        .secret_id("vanta-api-credentials")
        .send()
        .await
        .unwrap();
    let labelled: Vec<&str> = versions
        .versions()
        .iter()
        .filter_map(|v| v.version_id())
        .collect();
    assert_eq!(labelled, [v2.as_str(), v3.as_str()], "v1 lost its labels");

    let described = sm
        .describe_secret()
        .secret_id("vanta-api-credentials")
        .send()
        .await
        .unwrap();
    let stages = described.version_ids_to_stages().unwrap();
    assert_eq!(stages[&v3], ["AWSCURRENT"]);
    assert_eq!(stages[&v2], ["AWSPREVIOUS"]);
    assert!(!stages.contains_key(&v1));
    assert_eq!(described.description(), Some("Vanta app"));

    emu.shutdown().await;
}

#[tokio::test]
async fn errors_match_the_sdks_typed_errors() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let sm = client(&emu).await;

    let err = sm
        .get_secret_value()
        .secret_id("missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert_eq!(
        err.message(),
        Some("Secrets Manager can't find the specified secret.")
    );

    sm.create_secret()
        .name("s")
        .secret_string("x")
        .send()
        .await
        .unwrap();
    let err = sm
        .create_secret()
        .name("s")
        .secret_string("y")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_exists_exception(), "{err:?}");

    let err = sm
        .put_secret_value()
        .secret_id("missing")
        .secret_string("y")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    let err = sm
        .create_secret()
        .name("bad name with spaces")
        .secret_string("y")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_exception(), "{err:?}");

    // Scheduled deletion: reads fail with InvalidRequestException.
    sm.delete_secret().secret_id("s").send().await.unwrap();
    let err = sm
        .get_secret_value()
        .secret_id("s")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_request_exception(), "{err:?}");
    // RestoreSecret undoes the scheduled deletion.
    sm.restore_secret().secret_id("s").send().await.unwrap();
    let got = sm.get_secret_value().secret_id("s").send().await.unwrap();
    assert_eq!(got.secret_string(), Some("x"));
    emu.shutdown().await;
}

#[tokio::test]
async fn malformed_json_and_unknown_operations_get_awsjson_errors() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let url = emu.endpoint_url();
    let raw = |target: &'static str, body: &'static str| {
        let url = url.clone();
        async move { post(&url, target, body).await }
    };
    let (status, body) = raw("secretsmanager.GetSecretValue", "{not json").await;
    assert_eq!(status, 400);
    assert!(body.contains("SerializationException"), "{body}");
    let (status, body) = raw("secretsmanager.RotateEverything", "{}").await;
    assert_eq!(status, 400);
    assert!(body.contains("UnknownOperationException"), "{body}");
    // A service the emulator does not provide.
    let (status, body) = raw("DynamoDB_20120810.ListTables", "{}").await;
    assert_eq!(status, 400);
    assert!(body.contains("UnknownOperationException"), "{body}");
    // Still serving.
    let (status, body) = raw("secretsmanager.ListSecrets", "{}").await;
    assert_eq!(status, 200, "{body}");
    emu.shutdown().await;
}

/// A minimal HTTP/1.1 POST over a raw socket, for requests the SDK would
/// refuse to send.
async fn post(base: &str, target: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: {target}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (status, body)
}
