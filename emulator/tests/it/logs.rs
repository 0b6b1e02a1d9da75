//! CloudWatch Logs query API through the real aws-sdk-cloudwatchlogs client;
//! events are appended straight into the emulator's LogStore.

use aws_config::BehaviorVersion;
use aws_sdk_cloudwatchlogs::config::Credentials;
use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_cloudwatchlogs::types::OrderBy;
use emulator::logs::LogEvent;
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};

const GROUP: &str = "/aws/lambda/vanta-vuln-sync";

async fn client(emu: &EmulatorHandle) -> aws_sdk_cloudwatchlogs::Client {
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(emu.endpoint_url())
        .region("us-east-1")
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    aws_sdk_cloudwatchlogs::Client::new(&shared)
}

fn ev(timestamp: i64, message: &str) -> LogEvent {
    LogEvent {
        timestamp,
        message: message.to_string(),
    }
}

/// Two environments' worth of Lambda lines.
fn seed(emu: &EmulatorHandle) -> (String, String) {
    let a = "2026/11/26/[$LATEST]0123456789abcdef0123456789abcdef".to_string();
    let b = "2026/11/26/[$LATEST]fedcba9876543210fedcba9876543210".to_string();
    let logs = emu.logs();
    logs.append(
        GROUP,
        &a,
        vec![
            ev(1000, "INIT_START Runtime Version: provided:al2023.v97\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:abc\n"),
            ev(1001, "START RequestId: r1 Version: $LATEST\n"),
            ev(1002, "ERROR Retrying in 2s"),
            ev(1003, "END RequestId: r1\n"),
            ev(1004, "REPORT RequestId: r1\tDuration: 3.01 ms\tBilled Duration: 114 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\tInit Duration: 110.10 ms\t\n"),
        ],
    );
    logs.append(
        GROUP,
        &b,
        vec![
            ev(2001, "START RequestId: r2 Version: $LATEST\n"),
            ev(2002, "WARN slow page"),
            ev(2003, "END RequestId: r2\n"),
            ev(2004, "REPORT RequestId: r2\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\t\n"),
        ],
    );
    (a, b)
}

#[tokio::test]
async fn filter_log_events_patterns_ranges_streams_and_paging() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let (a, b) = seed(&emu);
    let logs = client(&emu).await;

    let reports = logs
        .filter_log_events()
        .log_group_name(GROUP)
        .filter_pattern("\"REPORT RequestId\"")
        .send()
        .await
        .unwrap();
    let messages: Vec<&str> = reports
        .events()
        .iter()
        .filter_map(|e| e.message())
        .collect();
    assert_eq!(messages.len(), 2);
    assert!(messages.iter().all(|m| m.starts_with("REPORT RequestId: ")));
    assert_eq!(reports.events()[0].log_stream_name(), Some(a.as_str()));
    assert_eq!(reports.events()[1].log_stream_name(), Some(b.as_str()));
    assert!(reports.events()[0].event_id().is_some());
    assert!(reports.events()[0].ingestion_time().is_some());
    assert!(reports.next_token().is_none());

    let alternatives = logs
        .filter_log_events()
        .log_group_name(GROUP)
        .filter_pattern("?ERROR ?WARN")
        .send()
        .await
        .unwrap();
    assert_eq!(alternatives.events().len(), 2);

    let excluded = logs
        .filter_log_events()
        .log_group_name(GROUP)
        .filter_pattern("RequestId -REPORT -START")
        .send()
        .await
        .unwrap();
    let ends: Vec<&str> = excluded
        .events()
        .iter()
        .filter_map(|e| e.message())
        .collect();
    assert_eq!(ends, ["END RequestId: r1\n", "END RequestId: r2\n"]);

    let ranged = logs
        .filter_log_events()
        .log_group_name(GROUP)
        .start_time(1003)
        .end_time(2001)
        .send()
        .await
        .unwrap();
    let stamps: Vec<i64> = ranged
        .events()
        .iter()
        .filter_map(|e| e.timestamp())
        .collect();
    assert_eq!(stamps, [1003, 1004, 2001]);

    let one_stream = logs
        .filter_log_events()
        .log_group_name(GROUP)
        .log_stream_names(&b)
        .send()
        .await
        .unwrap();
    assert_eq!(one_stream.events().len(), 4);
    let by_prefix = logs
        .filter_log_events()
        .log_group_name(GROUP)
        .log_stream_name_prefix("2026/11/26/[$LATEST]0123")
        .send()
        .await
        .unwrap();
    assert_eq!(by_prefix.events().len(), 5);

    // Paging with limit 2 walks every event exactly once, in time order.
    let mut token = None;
    let mut seen = Vec::new();
    loop {
        let page = logs
            .filter_log_events()
            .log_group_name(GROUP)
            .limit(2)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        assert!(page.events().len() <= 2);
        seen.extend(page.events().iter().filter_map(|e| e.timestamp()));
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, [1000, 1001, 1002, 1003, 1004, 2001, 2002, 2003, 2004]);

    // The paginator the harness may use works too.
    let pages: Vec<_> = logs
        .filter_log_events()
        .log_group_name(GROUP)
        .limit(3)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    let total: usize = pages
        .iter()
        .map(|p| p.as_ref().unwrap().events().len())
        .sum();
    assert_eq!(total, 9);
    emu.shutdown().await;
}

#[tokio::test]
async fn get_log_events_reads_both_ways_and_keeps_a_stable_end_token() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let (a, _) = seed(&emu);
    let logs = client(&emu).await;

    let head = logs
        .get_log_events()
        .log_group_name(GROUP)
        .log_stream_name(&a)
        .start_from_head(true)
        .limit(2)
        .send()
        .await
        .unwrap();
    let stamps: Vec<i64> = head.events().iter().filter_map(|e| e.timestamp()).collect();
    assert_eq!(stamps, [1000, 1001]);
    let forward = head.next_forward_token().unwrap().to_string();
    assert!(
        forward.starts_with("f/") && forward.len() == 58,
        "{forward}"
    );

    let mut token = forward;
    let mut rest = Vec::new();
    loop {
        let page = logs
            .get_log_events()
            .log_group_name(GROUP)
            .log_stream_name(&a)
            .start_from_head(true)
            .next_token(&token)
            .limit(2)
            .send()
            .await
            .unwrap();
        rest.extend(page.events().iter().filter_map(|e| e.timestamp()));
        let next = page.next_forward_token().unwrap().to_string();
        if page.events().is_empty() {
            // End of stream: the same token comes back.
            assert_eq!(next, token);
            break;
        }
        token = next;
    }
    assert_eq!(rest, [1002, 1003, 1004]);

    // New events after the end are found with the same end token.
    emu.logs().append(GROUP, &a, vec![ev(1005, "late line")]);
    let tail = logs
        .get_log_events()
        .log_group_name(GROUP)
        .log_stream_name(&a)
        .next_token(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(tail.events()[0].message(), Some("late line"));

    // Default: the newest events, then backwards.
    let newest = logs
        .get_log_events()
        .log_group_name(GROUP)
        .log_stream_name(&a)
        .limit(2)
        .send()
        .await
        .unwrap();
    let stamps: Vec<i64> = newest
        .events()
        .iter()
        .filter_map(|e| e.timestamp())
        .collect();
    assert_eq!(stamps, [1004, 1005]);
    let back = newest.next_backward_token().unwrap();
    assert!(back.starts_with("b/"));
    let older = logs
        .get_log_events()
        .log_group_name(GROUP)
        .log_stream_name(&a)
        .next_token(back)
        .limit(2)
        .send()
        .await
        .unwrap();
    let stamps: Vec<i64> = older
        .events()
        .iter()
        .filter_map(|e| e.timestamp())
        .collect();
    assert_eq!(stamps, [1002, 1003]);

    let err = logs
        .get_log_events()
        .log_group_name(GROUP)
        .log_stream_name("no-such-stream")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception());
    assert_eq!(
        err.message(),
        Some("The specified log stream does not exist.")
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn describe_log_streams_orders_filters_and_pages() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let (a, b) = seed(&emu);
    // A third stream whose last event is the oldest.
    let c = "2026/11/25/[$LATEST]99999999999999999999999999999999".to_string();
    emu.logs().append(GROUP, &c, vec![ev(500, "old")]);
    let logs = client(&emu).await;

    let by_name = logs
        .describe_log_streams()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = by_name
        .log_streams()
        .iter()
        .filter_map(|s| s.log_stream_name())
        .collect();
    assert_eq!(names, [c.as_str(), a.as_str(), b.as_str()]);
    let first = &by_name.log_streams()[1];
    assert_eq!(first.first_event_timestamp(), Some(1000));
    assert_eq!(first.last_event_timestamp(), Some(1004));
    assert!(first.arn().unwrap().ends_with(&format!(":log-stream:{a}")));

    let newest_first = logs
        .describe_log_streams()
        .log_group_name(GROUP)
        .order_by(OrderBy::LastEventTime)
        .descending(true)
        .limit(1)
        .send()
        .await
        .unwrap();
    assert_eq!(
        newest_first.log_streams()[0].log_stream_name(),
        Some(b.as_str())
    );
    let token = newest_first.next_token().unwrap();
    let second = logs
        .describe_log_streams()
        .log_group_name(GROUP)
        .order_by(OrderBy::LastEventTime)
        .descending(true)
        .limit(1)
        .next_token(token)
        .send()
        .await
        .unwrap();
    assert_eq!(second.log_streams()[0].log_stream_name(), Some(a.as_str()));

    let prefixed = logs
        .describe_log_streams()
        .log_group_name(GROUP)
        .log_stream_name_prefix("2026/11/26/")
        .send()
        .await
        .unwrap();
    assert_eq!(prefixed.log_streams().len(), 2);

    let err = logs
        .describe_log_streams()
        .log_group_name(GROUP)
        .log_stream_name_prefix("2026")
        .order_by(OrderBy::LastEventTime)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_exception(), "{err:?}");

    let err = logs
        .describe_log_streams()
        .log_group_name(GROUP)
        .limit(51)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    emu.shutdown().await;
}

#[tokio::test]
async fn describe_log_groups_and_missing_group_errors() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    seed(&emu);
    emu.logs()
        .append("/aws/lambda/other", "s", vec![ev(1, "x")]);
    let logs = client(&emu).await;

    let groups = logs
        .describe_log_groups()
        .log_group_name_prefix("/aws/lambda/v")
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = groups
        .log_groups()
        .iter()
        .filter_map(|g| g.log_group_name())
        .collect();
    assert_eq!(names, [GROUP]);
    assert_eq!(
        groups.log_groups()[0].arn(),
        Some("arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/vanta-vuln-sync:*")
    );
    let all = logs.describe_log_groups().send().await.unwrap();
    assert_eq!(all.log_groups().len(), 2);

    let err = logs
        .filter_log_events()
        .log_group_name("/aws/lambda/missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert_eq!(
        err.message(),
        Some("The specified log group does not exist.")
    );

    // logGroupIdentifier as an ARN works like the name.
    let by_arn = logs
        .filter_log_events()
        .log_group_identifier("arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/other:*")
        .send()
        .await
        .unwrap();
    assert_eq!(by_arn.events().len(), 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn writers_create_groups_streams_and_events() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let logs = client(&emu).await;
    logs.create_log_group()
        .log_group_name("/app")
        .send()
        .await
        .unwrap();
    let err = logs
        .create_log_group()
        .log_group_name("/app")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_already_exists_exception());
    logs.create_log_stream()
        .log_group_name("/app")
        .log_stream_name("s1")
        .send()
        .await
        .unwrap();
    let event = aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
        .timestamp(42)
        .message("hello")
        .build()
        .unwrap();
    logs.put_log_events()
        .log_group_name("/app")
        .log_stream_name("s1")
        .log_events(event)
        .send()
        .await
        .unwrap();
    let got = logs
        .filter_log_events()
        .log_group_name("/app")
        .send()
        .await
        .unwrap();
    assert_eq!(got.events()[0].message(), Some("hello"));

    logs.put_retention_policy()
        .log_group_name("/app")
        .retention_in_days(30)
        .send()
        .await
        .unwrap();
    let groups = logs.describe_log_groups().send().await.unwrap();
    assert_eq!(groups.log_groups()[0].retention_in_days(), Some(30));
    let err = logs
        .put_retention_policy()
        .log_group_name("/app")
        .retention_in_days(31)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_parameter_exception(), "{err:?}");
    emu.shutdown().await;
}

#[tokio::test]
async fn events_become_visible_only_after_the_delay() {
    let cfg = EmulatorConfig {
        log_delay_ms: 400,
        ..EmulatorConfig::default()
    };
    let emu = Emulator::start(cfg).await.unwrap();
    let logs = client(&emu).await;
    emu.logs()
        .append(GROUP, "s", vec![ev(1, "REPORT RequestId: late")]);
    let now = logs
        .filter_log_events()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap();
    assert!(now.events().is_empty(), "visible before the delay");
    let mut found = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let later = logs
            .filter_log_events()
            .log_group_name(GROUP)
            .send()
            .await
            .unwrap();
        if later.events().len() == 1 {
            found = true;
            break;
        }
    }
    assert!(found, "never became visible");
    emu.shutdown().await;
}

#[tokio::test]
async fn unknown_operations_and_malformed_json_get_awsjson_errors() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let base = emu.endpoint_url();
    let (status, body) = post(&base, "Logs_20140328.StartLiveTail2", "{}").await;
    assert_eq!(status, 400);
    assert!(
        body.contains("\"__type\":\"UnknownOperationException\""),
        "{body}"
    );
    let (status, body) = post(&base, "Logs_20140328.FilterLogEvents", "{\"logGroupName\":").await;
    assert_eq!(status, 400);
    assert!(body.contains("SerializationException"), "{body}");
    let (status, body) = post(
        &base,
        "Logs_20140328.FilterLogEvents",
        r#"{"logGroupName":"/x","filterPattern":"\"open"}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("InvalidParameterException"), "{body}");
    let (status, _) = post(&base, "Logs_20140328.DescribeLogGroups", "{}").await;
    assert_eq!(status, 200);
    emu.shutdown().await;
}

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

#[tokio::test]
async fn malformed_http_is_refused_and_the_edge_keeps_serving() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let addr = emu.endpoint_url().trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"NOT HTTP AT ALL\r\n\x00\x01\x02\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    let out = String::from_utf8_lossy(&out);
    assert!(out.is_empty() || out.starts_with("HTTP/1.1 400"), "{out}");

    let logs = client(&emu).await;
    logs.describe_log_groups().send().await.unwrap();
    emu.shutdown().await;
}
