//! Asynchronous invocation through the real SDKs: Event invokes answered
//! 202, retried on failure up to `MaximumRetryAttempts`, dead-lettered to
//! SQS (read back with aws-sdk-sqs `ReceiveMessage`), dropped when older
//! than `MaximumEventAgeInSeconds`; the duplicate-delivery fault; killing an
//! execution environment mid-invocation. Attempts are counted from the
//! REPORT lines in CloudWatch Logs, not from the emulator's own counters
//! alone. Retry delays are scaled down (AWS's one and two minutes become
//! 0.3 s and 0.6 s).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_lambda::config::Credentials;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_sqs::types::QueueAttributeName;
use emulator::lambda::{EventInvokeConfig, FaultSettings, FunctionSpec, LambdaSettings};
use serde_json::{json, Value};

use crate::lambda_support::{fixture, TestLambda};

const DLQ_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:async-dlq";
/// AWS's retry delays times this: 0.3 s and 0.6 s.
const SCALE: f64 = 0.005;

struct Async {
    lambda: TestLambda,
    sqs: aws_sdk_sqs::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
}

async fn start(functions: Vec<FunctionSpec>) -> Async {
    let lambda = TestLambda::start_with(functions, LambdaSettings::default()).await;
    lambda.service().set_async_time_scale(SCALE).unwrap();
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&lambda.endpoint)
        .region("us-east-1")
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    Async {
        sqs: aws_sdk_sqs::Client::new(&shared),
        logs: aws_sdk_cloudwatchlogs::Client::new(&shared),
        lambda,
    }
}

/// A fixture function whose failed events go to the `async-dlq` queue.
fn with_dlq(name: &str, retries: u32) -> FunctionSpec {
    let mut spec = fixture(name);
    spec.dead_letter_arn = Some(DLQ_ARN.to_string());
    spec.event_invoke = Some(EventInvokeConfig {
        maximum_retry_attempts: retries,
        ..EventInvokeConfig::default()
    });
    spec
}

impl Async {
    /// An Event invoke; returns its request id after checking the 202.
    async fn event(&self, name: &str, payload: &Value) -> String {
        let out = self
            .lambda
            .client
            .invoke()
            .function_name(name)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .expect("Event invoke");
        assert_eq!(out.status_code(), 202);
        assert!(out.payload().is_none_or(|p| p.as_ref().is_empty()));
        aws_sdk_lambda::operation::RequestId::request_id(&out)
            .expect("a request id")
            .to_string()
    }

    async fn queue_url(&self, queue: &str) -> String {
        self.sqs
            .get_queue_url()
            .queue_name(queue)
            .send()
            .await
            .expect("GetQueueUrl")
            .queue_url()
            .unwrap()
            .to_string()
    }

    /// Long-polls `queue` until `n` messages arrived (or 20 s passed);
    /// deletes them and returns them.
    async fn receive(&self, queue: &str, n: usize) -> Vec<aws_sdk_sqs::types::Message> {
        let url = self.queue_url(queue).await;
        let mut got = Vec::new();
        let until = tokio::time::Instant::now() + Duration::from_secs(20);
        while got.len() < n && tokio::time::Instant::now() < until {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .wait_time_seconds(2)
                .message_attribute_names("All")
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .send()
                .await
                .expect("ReceiveMessage");
            for m in out.messages() {
                self.sqs
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .expect("DeleteMessage");
                got.push(m.clone());
            }
        }
        got
    }

    async fn visible(&self, queue: &str) -> (u64, u64) {
        let url = self.queue_url(queue).await;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .expect("GetQueueAttributes");
        let attrs = out.attributes().unwrap();
        let get = |k: QueueAttributeName| attrs[&k].parse::<u64>().unwrap();
        (
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )
    }

    /// REPORT lines (Text format) per request id, read through
    /// FilterLogEvents; waits until `total` are there.
    async fn reports(&self, name: &str, total: usize) -> BTreeMap<String, Vec<String>> {
        let group = format!("/aws/lambda/{name}");
        let until = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
            let mut token = None;
            loop {
                let page = self
                    .logs
                    .filter_log_events()
                    .log_group_name(&group)
                    .filter_pattern("REPORT")
                    .set_next_token(token)
                    .send()
                    .await
                    .expect("FilterLogEvents");
                for e in page.events() {
                    let line = e.message().unwrap_or_default();
                    if let Some(id) = line
                        .strip_prefix("REPORT RequestId: ")
                        .and_then(|r| r.split('\t').next())
                    {
                        by_id
                            .entry(id.to_string())
                            .or_default()
                            .push(e.log_stream_name().unwrap_or_default().to_string());
                    }
                }
                token = page.next_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
            let n: usize = by_id.values().map(Vec::len).sum();
            if n >= total || tokio::time::Instant::now() >= until {
                return by_id;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn attribute(m: &aws_sdk_sqs::types::Message, name: &str) -> String {
    m.message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value())
        .unwrap_or_else(|| panic!("attribute {name} on {m:?}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_event_is_retried_twice_then_dead_lettered() {
    let t = start(vec![with_dlq("fails", 2)]).await;
    let payload = json!({"error": "boom", "n": 1});
    let id = t.event("fails", &payload).await;

    let messages = t.receive("async-dlq", 1).await;
    assert_eq!(messages.len(), 1, "one dead-lettered event");
    let m = &messages[0];
    let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
    assert_eq!(body, payload, "the DLQ message is the event itself");
    assert_eq!(attribute(m, "RequestID"), id);
    assert_eq!(attribute(m, "ErrorCode"), "200");
    assert!(attribute(m, "ErrorMessage").contains("boom"), "{m:?}");
    assert_eq!(m.md5_of_body().unwrap().len(), 32);

    // The first attempt and two retries, each with its REPORT line.
    let reports = t.reports("fails", 3).await;
    assert_eq!(reports.get(&id).map(Vec::len), Some(3), "{reports:?}");
    let stats = t.lambda.service().event_stats("fails").unwrap();
    assert_eq!(
        (
            stats.accepted,
            stats.attempts,
            stats.failed_attempts,
            stats.dead_lettered
        ),
        (1, 3, 3, 1)
    );
    assert_eq!(
        t.visible("async-dlq").await,
        (0, 0),
        "deleted after reading"
    );
    t.lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_invoke_config_sets_retries_and_the_on_failure_record() {
    let t = start(vec![fixture("configured")]).await;
    t.sqs
        .create_queue()
        .queue_name("failures")
        .send()
        .await
        .unwrap();
    let failures = "arn:aws:sqs:us-east-1:123456789012:failures";

    let missing = t
        .lambda
        .client
        .get_function_event_invoke_config()
        .function_name("configured")
        .send()
        .await
        .unwrap_err();
    assert!(
        missing
            .as_service_error()
            .unwrap()
            .is_resource_not_found_exception(),
        "{missing:?}"
    );
    let too_many = t
        .lambda
        .client
        .put_function_event_invoke_config()
        .function_name("configured")
        .maximum_retry_attempts(3)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        too_many.as_service_error().and_then(|e| e.meta().code()),
        Some("ValidationException")
    );
    let put = t
        .lambda
        .client
        .put_function_event_invoke_config()
        .function_name("configured")
        .maximum_retry_attempts(0)
        .destination_config(
            aws_sdk_lambda::types::DestinationConfig::builder()
                .on_failure(
                    aws_sdk_lambda::types::OnFailure::builder()
                        .destination(failures)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(put.maximum_retry_attempts(), Some(0));
    assert_eq!(put.maximum_event_age_in_seconds(), Some(21_600));
    let got = t
        .lambda
        .client
        .get_function_event_invoke_config()
        .function_name("configured")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.destination_config()
            .and_then(|d| d.on_failure())
            .and_then(|f| f.destination()),
        Some(failures)
    );

    let payload = json!({"crash": true});
    let id = t.event("configured", &payload).await;
    let messages = t.receive("failures", 1).await;
    assert_eq!(messages.len(), 1);
    let record: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(record["requestContext"]["requestId"], id.as_str());
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 1);
    assert_eq!(record["requestPayload"], payload);
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    assert_eq!(record["responsePayload"]["errorType"], "Runtime.ExitError");
    let reports = t.reports("configured", 1).await;
    assert_eq!(reports.get(&id).map(Vec::len), Some(1), "no retry at 0");
    t.lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successful_event_is_not_dead_lettered_and_an_old_one_expires() {
    let mut spec = with_dlq("aging", 2);
    spec.event_invoke = Some(EventInvokeConfig {
        maximum_retry_attempts: 2,
        // 60 s scaled: 0.3 s.
        maximum_event_age_s: 60,
        on_failure: None,
    });
    let t = start(vec![spec]).await;
    t.lambda
        .client
        .put_function_concurrency()
        .function_name("aging")
        .reserved_concurrent_executions(1)
        .send()
        .await
        .unwrap();
    let busy = t.event("aging", &json!({"sleepMs": 2000})).await;
    // Wait until the first event holds the only environment.
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while t.lambda.service().environment_count("aging") == 0 {
        assert!(
            tokio::time::Instant::now() < until,
            "the first event never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let starved = t.event("aging", &json!({"n": 2})).await;
    let messages = t.receive("async-dlq", 1).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(attribute(&messages[0], "RequestID"), starved);
    assert!(attribute(&messages[0], "ErrorMessage").contains("EventAgeExceeded"));

    let reports = t.reports("aging", 1).await;
    assert_eq!(reports.get(&busy).map(Vec::len), Some(1));
    assert!(
        !reports.contains_key(&starved),
        "an expired event never runs"
    );
    let stats = t.lambda.service().event_stats("aging").unwrap();
    assert_eq!(
        (stats.succeeded, stats.expired, stats.dead_lettered),
        (1, 1, 0)
    );
    assert_eq!(t.visible("async-dlq").await, (0, 0));
    t.lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_duplicate_fault_delivers_events_twice_at_once_or_after() {
    let t = start(vec![with_dlq("twice", 2)]).await;
    // Every event twice, both copies at once.
    t.lambda
        .service()
        .set_faults(FaultSettings {
            duplicate_rate: 1.0,
            concurrent_share: 1.0,
            seed: 1,
            ..FaultSettings::default()
        })
        .unwrap();
    let together = t.event("twice", &json!({"sleepMs": 600})).await;
    let reports = t.reports("twice", 2).await;
    let streams = &reports[&together];
    assert_eq!(streams.len(), 2, "delivered twice: {reports:?}");
    assert_ne!(streams[0], streams[1], "at once: two environments");

    // Half the events twice, copies one after the other; seeded.
    t.lambda
        .service()
        .set_faults(FaultSettings {
            duplicate_rate: 0.5,
            concurrent_share: 0.0,
            seed: 7,
            ..FaultSettings::default()
        })
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(t.event("twice", &json!({ "n": n })).await);
    }
    let stats = t.lambda.service().event_stats("twice").unwrap();
    let doubled = stats.duplicates - 1;
    assert!((4..=16).contains(&doubled), "{doubled} of 20 at 50 %");
    let reports = t.reports("twice", 2 + 20 + doubled as usize).await;
    let runs: Vec<usize> = ids.iter().map(|id| reports[id].len()).collect();
    assert_eq!(
        runs.iter().filter(|n| **n == 2).count() as u64,
        doubled,
        "{runs:?}"
    );
    assert!(runs.iter().all(|n| (1..=2).contains(n)), "{runs:?}");
    assert_eq!(t.visible("async-dlq").await, (0, 0), "no failure, no DLQ");
    t.lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_environment_fails_the_invocation_and_is_replaced() {
    let t = start(vec![with_dlq("killed", 2)]).await;
    let service = t.lambda.service().clone();
    let client = t.lambda.client.clone();
    let slow = tokio::spawn(async move {
        client
            .invoke()
            .function_name("killed")
            .payload(Blob::new(json!({"sleepMs": 5000}).to_string()))
            .send()
            .await
            .unwrap()
    });
    // Kill at a chosen moment: once the invocation is running.
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while service.kill_running("killed") == 0 {
        assert!(tokio::time::Instant::now() < until, "never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = slow.await.unwrap();
    assert_eq!(out.function_error(), Some("Unhandled"));
    let body: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert_eq!(body["errorType"], "Runtime.ExitError", "{body}");
    let after = t.lambda.invoke("killed", "{}").await;
    assert!(after.function_error.is_none(), "a new environment serves");

    // At random: every invocation killed within 200 ms of delivery, so an
    // Event fails its three attempts and is dead-lettered.
    service
        .set_faults(FaultSettings {
            kill_rate: 1.0,
            kill_within: Duration::from_millis(200),
            seed: 3,
            ..FaultSettings::default()
        })
        .unwrap();
    let id = t.event("killed", &json!({"sleepMs": 3000})).await;
    let messages = t.receive("async-dlq", 1).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(attribute(&messages[0], "RequestID"), id);
    assert!(
        attribute(&messages[0], "ErrorMessage").contains("Runtime exited"),
        "{:?}",
        messages[0]
    );
    assert_eq!(service.kills(), 4);
    let stats = service.event_stats("killed").unwrap();
    assert_eq!((stats.attempts, stats.dead_lettered), (3, 1));
    t.lambda.shutdown().await;
}
