//! Bounded inputs: request bodies over an API's limit get AWS's error
//! before they are read whole, and a flood of log lines keeps a log group
//! under its cap.

use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use emulator::logs::LogEvent;
use emulator::{Emulator, EmulatorConfig};

use crate::lambda_support::{fixture, TestLambda};

#[tokio::test]
async fn an_invoke_payload_over_6_mb_gets_requesttoolarge() {
    let lambda = TestLambda::start(vec![fixture("f")]).await;
    let over = format!("\"{}\"", "x".repeat(6 * 1024 * 1024 - 1));
    let err = lambda
        .client_no_retry
        .invoke()
        .function_name("f")
        .payload(Blob::new(over))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("RequestTooLargeException"), "{err:?}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(413));
    assert!(
        err.message().unwrap_or_default().contains("6291456"),
        "{err:?}"
    );

    // An Event payload's limit is 1 MB (1,048,576 bytes).
    let event = format!("\"{}\"", "x".repeat(1024 * 1024));
    let err = lambda
        .client_no_retry
        .invoke()
        .function_name("f")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(event))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("RequestTooLargeException"), "{err:?}");

    // An Event payload just under 1 MB is accepted (it was refused at 256 KB
    // before Lambda raised the limit).
    let event = format!("\"{}\"", "x".repeat(1024 * 1024 - 16));
    let queued = lambda
        .client_no_retry
        .invoke()
        .function_name("f")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(event))
        .send()
        .await
        .unwrap();
    assert_eq!(queued.status_code(), 202);

    // Just under the limit is served.
    let under = format!("\"{}\"", "x".repeat(1024 * 1024));
    let ok = lambda
        .client_no_retry
        .invoke()
        .function_name("f")
        .payload(Blob::new(under))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status_code(), 200);
    lambda.shutdown().await;
}

#[tokio::test]
async fn a_flood_of_log_lines_keeps_the_group_under_its_cap() {
    const CAP: usize = 1024 * 1024;
    let emu = Emulator::start(EmulatorConfig {
        log_group_cap_bytes: CAP,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(emu.endpoint_url())
        .region("us-east-1")
        .credentials_provider(aws_sdk_cloudwatchlogs::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .load()
        .await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&shared);
    logs.create_log_group()
        .log_group_name("flood")
        .send()
        .await
        .unwrap();
    logs.create_log_stream()
        .log_group_name("flood")
        .log_stream_name("s")
        .send()
        .await
        .unwrap();
    // 8 MB through the API in 1,000-line batches of ~1 KB lines.
    let line = "y".repeat(998);
    for batch in 0..8i64 {
        let events = (0..1000i64).map(|i| {
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(1_000_000 + batch * 1000 + i)
                .message(format!("{batch:02}{line}"))
                .build()
                .unwrap()
        });
        logs.put_log_events()
            .log_group_name("flood")
            .log_stream_name("s")
            .set_log_events(Some(events.collect()))
            .send()
            .await
            .unwrap();
    }
    let store = emu.logs();
    let stored = store.stored_bytes("flood");
    assert!(stored <= CAP, "{stored} bytes stored, cap {CAP}");
    let dropped = store.dropped_events("flood");
    assert!(dropped >= 7000, "only {dropped} events dropped");
    let group = logs
        .describe_log_groups()
        .log_group_name_prefix("flood")
        .send()
        .await
        .unwrap();
    assert_eq!(group.log_groups()[0].stored_bytes(), Some(stored as i64));
    // The newest events are the ones kept.
    let first = logs
        .get_log_events()
        .log_group_name("flood")
        .log_stream_name("s")
        .start_from_head(true)
        .limit(1)
        .send()
        .await
        .unwrap();
    let first = first.events()[0].timestamp().unwrap();
    assert_eq!(first, 1_000_000 + dropped as i64);

    // Another flood via the Lambda side is capped the same way.
    let sink = "/aws/lambda/direct";
    for i in 0..4000 {
        store.append(
            sink,
            "s",
            vec![LogEvent {
                timestamp: i,
                message: line.clone(),
            }],
        );
    }
    assert!(store.stored_bytes(sink) <= CAP);
    emu.shutdown().await;
}
