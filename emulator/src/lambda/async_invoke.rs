//! Asynchronous invocation (`InvocationType: Event`) as Lambda runs it. The
//! control plane answers 202 and the event waits in the function's queue
//! for a free environment (throttled events wait, up to the event's maximum
//! age). When the function fails (an error, a crash, a timeout, a kill),
//! Lambda retries up to `MaximumRetryAttempts` times (0-2, default 2), the
//! first retry after one minute and the second after two more; an event
//! older than `MaximumEventAgeInSeconds` (default six hours) is dropped.
//! An event that fails for good goes to the function's dead-letter queue
//! (`DeadLetterConfig`: the payload as the message body, with the
//! `RequestID`, `ErrorCode` and `ErrorMessage` attributes) and to its
//! `OnFailure` destination (an invocation record: request and response
//! context, the payload and the last error).
//!
//! Delivery is at least once: with the duplicate fault on, a chosen share
//! of events is delivered twice with the same request id, either at the
//! same time or right after the first copy ends. The retry delays and
//! event ages are scaled by [`LambdaService::set_async_time_scale`] so tests
//! take seconds.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};

use super::faults::Duplicate;
use super::invocation::InvokeRequest;
use super::service::{Function, LambdaService};
use super::EventInvokeConfig;
use crate::sqs::{MessageAttribute, Queues};

/// AWS's waits before the first and the second retry.
const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];
/// How often a throttled event looks for a free environment again.
const THROTTLE_POLL: Duration = Duration::from_millis(20);
/// Lambda keeps the first kilobyte of the error message in a DLQ message.
const MAX_ERROR_MESSAGE: usize = 1024;

/// Why an event was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    RetriesExhausted,
    EventAgeExceeded,
}

impl Condition {
    fn as_str(self) -> &'static str {
        match self {
            Condition::RetriesExhausted => "RetriesExhausted",
            Condition::EventAgeExceeded => "EventAgeExceeded",
        }
    }
}

/// The last failure of an event that is given up.
struct LastFailure {
    attempts: u32,
    payload: Option<Bytes>,
}

impl LambdaService {
    /// Accepts an Event invocation: it runs when an environment is free,
    /// and is retried and dead-lettered as described in the module docs.
    pub(crate) fn invoke_event(&self, function: Arc<Function>, req: InvokeRequest) {
        function.events.accepted.fetch_add(1, Ordering::Relaxed);
        let enqueued = Instant::now();
        let duplicate = self.inner.host.faults.draw_duplicate();
        let first = tokio::spawn(
            self.clone()
                .deliver(function.clone(), req.clone(), enqueued),
        );
        let Some(how) = duplicate else {
            return;
        };
        function.events.duplicates.fetch_add(1, Ordering::Relaxed);
        let service = self.clone();
        tokio::spawn(async move {
            if how == Duplicate::After {
                let _ = first.await;
            }
            service.deliver(function, req, enqueued).await;
        });
    }

    /// One delivery of an event: attempts until one succeeds, the retries
    /// run out or the event grows too old.
    async fn deliver(self, function: Arc<Function>, req: InvokeRequest, enqueued: Instant) {
        let config = function
            .lock()
            .event_invoke
            .as_ref()
            .map(|(c, _)| c.clone())
            .unwrap_or_default();
        let scale = *self
            .inner
            .async_time_scale
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let max_age = Duration::from_secs(u64::from(config.maximum_event_age_s)).mul_f64(scale);
        let counters = &function.events;
        let mut last = LastFailure {
            attempts: 0,
            payload: None,
        };
        loop {
            let mut lease = loop {
                match self.acquire(&function) {
                    Ok(lease) => break lease,
                    Err(_) if self.is_closing() => return,
                    Err(_) if enqueued.elapsed() >= max_age => {
                        return self.give_up(
                            &function,
                            &req,
                            &config,
                            Condition::EventAgeExceeded,
                            last,
                        );
                    }
                    Err(_) => tokio::time::sleep(THROTTLE_POLL).await,
                }
            };
            last.attempts += 1;
            counters.attempts.fetch_add(1, Ordering::Relaxed);
            let outcome = lease.run(&req).await;
            drop(lease);
            if !outcome.function_error {
                counters.succeeded.fetch_add(1, Ordering::Relaxed);
                return;
            }
            counters.failed_attempts.fetch_add(1, Ordering::Relaxed);
            last.payload = Some(outcome.payload);
            if last.attempts > config.maximum_retry_attempts {
                return self.give_up(&function, &req, &config, Condition::RetriesExhausted, last);
            }
            let delay = RETRY_DELAYS[(last.attempts as usize - 1).min(RETRY_DELAYS.len() - 1)];
            tokio::time::sleep(delay.mul_f64(scale)).await;
            if self.is_closing() {
                return;
            }
            if enqueued.elapsed() >= max_age {
                return self.give_up(&function, &req, &config, Condition::EventAgeExceeded, last);
            }
        }
    }

    /// Sends a failed event to the dead-letter queue and the `OnFailure`
    /// destination the function has.
    fn give_up(
        &self,
        function: &Function,
        req: &InvokeRequest,
        config: &EventInvokeConfig,
        condition: Condition,
        last: LastFailure,
    ) {
        let counter = match condition {
            Condition::RetriesExhausted => &function.events.dead_lettered,
            Condition::EventAgeExceeded => &function.events.expired,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let dead_letter = function.lock().desc.config.spec.dead_letter_arn.clone();
        let queues = &self.inner.queues;
        if let Some(arn) = dead_letter {
            let message = last
                .payload
                .as_deref()
                .and_then(|p| serde_json::from_slice::<Value>(p).ok())
                .and_then(|v| {
                    v.get("errorMessage")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_else(|| format!("Event dropped: {}", condition.as_str()));
            let mut cut = message.len().min(MAX_ERROR_MESSAGE);
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            let attributes = BTreeMap::from([
                (
                    "RequestID".to_string(),
                    MessageAttribute::string(&*req.request_id),
                ),
                ("ErrorCode".to_string(), MessageAttribute::number(200)),
                (
                    "ErrorMessage".to_string(),
                    MessageAttribute::string(&message[..cut]),
                ),
            ]);
            let body = String::from_utf8_lossy(&req.payload).into_owned();
            send(queues, &function.name, &arn, body, attributes);
        }
        if let Some(arn) = &config.on_failure {
            let record = invocation_record(function, req, condition, &last);
            send(
                queues,
                &function.name,
                arn,
                record.to_string(),
                BTreeMap::new(),
            );
        }
    }
}

/// The record an `OnFailure` destination receives.
fn invocation_record(
    function: &Function,
    req: &InvokeRequest,
    condition: Condition,
    last: &LastFailure,
) -> Value {
    let arn = format!("{}:$LATEST", function.lock().desc.config.arn);
    let as_json = |b: &[u8]| {
        serde_json::from_slice::<Value>(b)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned()))
    };
    let mut record = json!({
        "version": "1.0",
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "requestContext": {
            "requestId": &*req.request_id,
            "functionArn": arn,
            "condition": condition.as_str(),
            "approximateInvokeCount": last.attempts,
        },
        "requestPayload": as_json(&req.payload),
    });
    if let Some(payload) = &last.payload {
        record["responseContext"] = json!({
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        });
        record["responsePayload"] = as_json(payload);
    }
    record
}

fn send(
    queues: &Queues,
    function: &str,
    arn: &str,
    body: String,
    attributes: BTreeMap<String, MessageAttribute>,
) {
    let sent = Queues::name_of_arn(arn)
        .ok_or(())
        .and_then(|queue| queues.send(queue, body, attributes).map_err(|_| ()));
    if sent.is_err() {
        tracing::warn!(
            function,
            target = arn,
            "a failed event could not be delivered: no such SQS queue in this emulator"
        );
    }
}
