//! The Lambda control plane through the real aws-sdk-lambda client: every
//! operation, typed errors, the update waiter, bad input.

use crate::lambda_support;

use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, InvocationType, LogFormat, LoggingConfig};
use lambda_support::{fixture, TestLambda};

const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:fx";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_describes_the_function() {
    let mut spec = fixture("fx");
    spec.memory_mb = 256;
    spec.timeout_s = 30;
    spec.environment.insert("A".into(), "1".into());
    spec.description = "the fixture".into();
    let t = TestLambda::start(vec![spec, fixture("other")]).await;

    for name in [
        "fx",
        "fx:$LATEST",
        ARN,
        "123456789012:function:fx",
        &format!("{ARN}:$LATEST"),
    ] {
        let c = t
            .client
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(c.function_name(), Some("fx"), "{name}");
    }
    let c = t
        .client
        .get_function_configuration()
        .function_name("fx")
        .qualifier("$LATEST")
        .send()
        .await
        .unwrap();
    assert_eq!(c.function_arn(), Some(ARN));
    assert_eq!(c.runtime().map(|r| r.as_str()), Some("provided.al2023"));
    assert_eq!(c.handler(), Some("bootstrap"));
    assert_eq!(c.memory_size(), Some(256));
    assert_eq!(c.timeout(), Some(30));
    assert_eq!(c.description(), Some("the fixture"));
    assert_eq!(
        c.environment()
            .unwrap()
            .variables()
            .unwrap()
            .get("A")
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(c.architectures()[0].as_str(), "x86_64");
    assert_eq!(c.state().map(|s| s.as_str()), Some("Active"));
    assert_eq!(
        c.last_update_status().map(|s| s.as_str()),
        Some("Successful")
    );
    assert_eq!(c.version(), Some("$LATEST"));
    assert_eq!(c.package_type().map(|p| p.as_str()), Some("Zip"));
    assert_eq!(
        c.tracing_config().unwrap().mode().unwrap().as_str(),
        "PassThrough"
    );
    let lm = c.last_modified().unwrap();
    assert_eq!(lm.len(), "2024-12-28T19:04:46.553+0000".len(), "{lm}");
    assert!(lm.ends_with("+0000"));
    assert!(c.revision_id().is_some_and(|r| r.len() == 36));
    let logging = c.logging_config().unwrap();
    assert_eq!(logging.log_format(), Some(&LogFormat::Text));
    assert_eq!(logging.log_group(), Some("/aws/lambda/fx"));

    let f = t
        .client
        .get_function()
        .function_name("fx")
        .send()
        .await
        .unwrap();
    assert_eq!(f.configuration().unwrap().function_name(), Some("fx"));
    assert_eq!(f.code().unwrap().repository_type(), Some("S3"));

    let all = t.client.list_functions().send().await.unwrap();
    let names: Vec<_> = all
        .functions()
        .iter()
        .filter_map(|f| f.function_name())
        .collect();
    assert_eq!(names, ["fx", "other"]);
    let page = t.client.list_functions().max_items(1).send().await.unwrap();
    assert_eq!(page.functions().len(), 1);
    let next = page.next_marker().unwrap().to_string();
    let page2 = t.client.list_functions().marker(next).send().await.unwrap();
    assert_eq!(page2.functions()[0].function_name(), Some("other"));
    assert!(page2.next_marker().is_none());

    // Unknown function, unknown version: typed 404s.
    let err = t
        .client
        .get_function_configuration()
        .function_name("nope")
        .send()
        .await
        .unwrap_err();
    let service = err.into_service_error();
    assert!(service.is_resource_not_found_exception(), "{service:?}");
    assert!(service.to_string().contains("function:nope"), "{service}");
    let err = t
        .client
        .get_function()
        .function_name("fx:7")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception());
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_goes_in_progress_then_successful() {
    let t = TestLambda::start(vec![fixture("fx")]).await;
    let before = t
        .client
        .get_function_configuration()
        .function_name("fx")
        .send()
        .await
        .unwrap();
    let rev0 = before.revision_id().unwrap().to_string();

    // Stale revision: 412.
    let err = t
        .client
        .update_function_configuration()
        .function_name("fx")
        .revision_id("00000000-0000-4000-8000-000000000000")
        .timeout(5)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_precondition_failed_exception(), "{err:?}");

    let updated = t
        .client
        .update_function_configuration()
        .function_name("fx")
        .revision_id(&rev0)
        .memory_size(512)
        .timeout(9)
        .description("new")
        .environment(Environment::builder().variables("B", "2").build())
        .send()
        .await
        .unwrap();
    assert_eq!(
        updated.last_update_status().map(|s| s.as_str()),
        Some("InProgress")
    );
    let rev1 = updated.revision_id().unwrap().to_string();
    assert_ne!(rev1, rev0);
    assert_eq!(updated.memory_size(), Some(512));

    // A second update while the first is in progress: 409.
    let err = t
        .client
        .update_function_configuration()
        .function_name("fx")
        .timeout(4)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_conflict_exception(), "{err:?}");
    assert!(
        err.to_string()
            .contains("An update is in progress for resource"),
        "{err}"
    );

    // Invoking during an update is allowed.
    let during = t.invoke("fx", "{}").await;
    assert_eq!(during.status, 200);
    assert_eq!(during.function_error, None);

    t.wait_updated("fx").await;
    let after = t
        .client
        .get_function_configuration()
        .function_name("fx")
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.last_update_status().map(|s| s.as_str()),
        Some("Successful")
    );
    let rev2 = after.revision_id().unwrap();
    assert_ne!(rev2, rev1);
    assert_eq!(after.timeout(), Some(9));
    assert_eq!(after.description(), Some("new"));
    // Environment.Variables is replaced wholesale.
    let vars = after.environment().unwrap().variables().unwrap();
    assert_eq!(vars.len(), 1);
    assert_eq!(vars.get("B").map(String::as_str), Some("2"));

    // Over 4 KB of environment: 400 InvalidParameterValueException.
    let err = t
        .client
        .update_function_configuration()
        .function_name("fx")
        .environment(
            Environment::builder()
                .variables("BIG", "x".repeat(5000))
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_value_exception(), "{err:?}");
    assert!(err.to_string().contains("4KB"), "{err}");

    // Reserved keys are refused too.
    let err = t
        .client
        .update_function_configuration()
        .function_name("fx")
        .environment(
            Environment::builder()
                .variables("AWS_REGION", "eu-west-1")
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_value_exception(), "{err:?}");

    // LoggingConfig switches to JSON with default levels.
    t.client
        .update_function_configuration()
        .function_name("fx")
        .logging_config(LoggingConfig::builder().log_format(LogFormat::Json).build())
        .send()
        .await
        .unwrap();
    t.wait_updated("fx").await;
    let c = t
        .client
        .get_function_configuration()
        .function_name("fx")
        .send()
        .await
        .unwrap();
    let logging = c.logging_config().unwrap();
    assert_eq!(logging.log_format(), Some(&LogFormat::Json));
    assert_eq!(
        logging.application_log_level().map(|l| l.as_str()),
        Some("INFO")
    );
    assert_eq!(logging.system_log_level().map(|l| l.as_str()), Some("INFO"));
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_concurrency_round_trips_and_throttles() {
    let t = TestLambda::start(vec![fixture("fx")]).await;
    let got = t
        .client
        .get_function_concurrency()
        .function_name("fx")
        .send()
        .await
        .unwrap();
    assert_eq!(got.reserved_concurrent_executions(), None);
    let put = t
        .client
        .put_function_concurrency()
        .function_name("fx")
        .reserved_concurrent_executions(0)
        .send()
        .await
        .unwrap();
    assert_eq!(put.reserved_concurrent_executions(), Some(0));
    let got = t
        .client
        .get_function_concurrency()
        .function_name("fx")
        .send()
        .await
        .unwrap();
    assert_eq!(got.reserved_concurrent_executions(), Some(0));
    let f = t
        .client
        .get_function()
        .function_name("fx")
        .send()
        .await
        .unwrap();
    assert_eq!(
        f.concurrency().unwrap().reserved_concurrent_executions(),
        Some(0)
    );

    let err = t
        .client
        .invoke()
        .function_name("fx")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap_err();
    let raw = match &err {
        SdkError::ServiceError(e) => e.raw().status().as_u16(),
        other => panic!("{other:?}"),
    };
    assert_eq!(raw, 429);
    let err = err.into_service_error();
    assert!(err.is_too_many_requests_exception(), "{err:?}");
    if let aws_sdk_lambda::operation::invoke::InvokeError::TooManyRequestsException(e) = &err {
        assert_eq!(
            e.reason().map(|r| r.as_str()),
            Some("ReservedFunctionConcurrentInvocationLimitExceeded")
        );
    }

    let err = t
        .client
        .put_function_concurrency()
        .function_name("fx")
        .reserved_concurrent_executions(950)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_value_exception(), "{err:?}");

    t.client
        .delete_function_concurrency()
        .function_name("fx")
        .send()
        .await
        .unwrap();
    let got = t
        .client
        .get_function_concurrency()
        .function_name("fx")
        .send()
        .await
        .unwrap();
    assert_eq!(got.reserved_concurrent_executions(), None);
    let ok = t.invoke("fx", "{}").await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.function_error, None);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_answers_like_aws() {
    let t = TestLambda::start(vec![fixture("fx")]).await;
    for name in ["fx", "fx:$LATEST", ARN, "123456789012:function:fx"] {
        let inv = t.invoke(name, "{}").await;
        assert_eq!(inv.status, 200, "{name}");
        assert_eq!(inv.function_error, None);
        assert_eq!(inv.executed_version.as_deref(), Some("$LATEST"));
        // x-amzn-RequestId is the invocation's request id.
        let request_id = inv.request_id.clone().unwrap();
        assert_eq!(inv.json["requestId"], request_id.as_str());
        assert!(
            inv.log
                .starts_with(&format!("START RequestId: {request_id} Version: $LATEST\n")),
            "{}",
            inv.log
        );
        assert!(inv.log.contains(&format!("END RequestId: {request_id}\n")));
        assert!(inv.log.ends_with("\t\n"));
        assert!(inv.report.is_some());
    }

    // Qualifier through the query string.
    let out = t
        .client
        .invoke()
        .function_name("fx")
        .qualifier("$LATEST")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 200);

    // DryRun 204, Event 202.
    let dry = t
        .client
        .invoke()
        .function_name("fx")
        .invocation_type(InvocationType::DryRun)
        .send()
        .await
        .unwrap();
    assert_eq!(dry.status_code(), 204);
    let event = t
        .client
        .invoke()
        .function_name("fx")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(r#"{"sleepMs": 50}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(event.status_code(), 202);
    assert!(event.payload().is_none_or(|p| p.as_ref().is_empty()));

    // Client context reaches the runtime, decoded.
    use base64::Engine as _;
    let ctx = base64::engine::general_purpose::STANDARD
        .encode(r#"{"custom":{"k":"v"},"environment":{"e":"1"}}"#);
    let out = t
        .client
        .invoke()
        .function_name("fx")
        .client_context(ctx)
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(json["clientContext"]["custom"]["k"], "v");
    assert_eq!(json["functionArn"], ARN);
    let trace = json["traceId"].as_str().unwrap();
    assert!(
        trace.starts_with("Root=1-") && trace.contains(";Parent="),
        "{trace}"
    );
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_aws_errors_and_service_keeps_serving() {
    let t = TestLambda::start(vec![fixture("fx")]).await;
    let err = t
        .client
        .invoke()
        .function_name("missing")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    let err = t
        .client
        .invoke()
        .function_name("fx")
        .payload(Blob::new("not json"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_request_content_exception(), "{err:?}");

    let big = format!("\"{}\"", "x".repeat(6 * 1024 * 1024));
    let err = t
        .client
        .invoke()
        .function_name("fx")
        .payload(Blob::new(big))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_request_too_large_exception(), "{err:?}");

    let err = t
        .client
        .invoke()
        .function_name("bad name!")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap_err();
    let code = aws_sdk_lambda::error::ProvideErrorMetadata::code(&err).map(str::to_string);
    assert_eq!(code.as_deref(), Some("ValidationException"), "{err:?}");

    // Unknown operation and a wrong method, over raw HTTP.
    let http = reqwest_free_get(&t.endpoint, "GET", "/2015-03-31/functions/fx/nothing").await;
    assert!(http.starts_with("HTTP/1.1 404"), "{http}");
    assert!(
        http.to_ascii_lowercase()
            .contains("x-amzn-errortype: unknownoperationexception"),
        "{http}"
    );
    let http = reqwest_free_get(
        &t.endpoint,
        "DELETE",
        "/2015-03-31/functions/fx/invocations",
    )
    .await;
    assert!(
        http.to_ascii_lowercase()
            .contains("x-amzn-errortype: unknownoperationexception"),
        "{http}"
    );
    let http = reqwest_free_get(&t.endpoint, "PUT", "/2015-03-31/functions/fx/configuration").await;
    assert!(
        http.starts_with("HTTP/1.1 200"),
        "empty update body is a no-op update: {http}"
    );

    // A malformed update body.
    t.wait_updated("fx").await;
    let http = raw_request(
        &t.endpoint,
        "PUT",
        "/2015-03-31/functions/fx/configuration",
        "{\"Timeout\":",
    )
    .await;
    assert!(http.starts_with("HTTP/1.1 400"), "{http}");
    assert!(
        http.to_ascii_lowercase()
            .contains("x-amzn-errortype: invalidrequestcontentexception"),
        "{http}"
    );
    // An ARN label, percent-encoded as the SDK sends it.
    let http = reqwest_free_get(
        &t.endpoint,
        "GET",
        "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Afx%3A%24LATEST/configuration",
    )
    .await;
    assert!(http.starts_with("HTTP/1.1 200"), "{http}");

    // Still serving.
    t.wait_updated("fx").await;
    let inv = t.invoke("fx", "{}").await;
    assert_eq!(inv.status, 200);
    t.shutdown().await;
}

/// One raw HTTP/1.1 request; returns the whole answer as text.
async fn reqwest_free_get(endpoint: &str, method: &str, path: &str) -> String {
    raw_request(endpoint, method, path, "").await
}

/// One raw HTTP/1.1 request with a body; returns the whole answer as text.
async fn raw_request(endpoint: &str, method: &str, path: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}
