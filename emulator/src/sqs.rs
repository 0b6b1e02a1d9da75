//! Amazon SQS, as much of it as a dead-letter queue needs: queues in memory,
//! `CreateQueue`, `GetQueueUrl`, `ListQueues`, `SendMessage`,
//! `ReceiveMessage` (visibility timeout, long polling), `DeleteMessage`,
//! `PurgeQueue` and `GetQueueAttributes`, in the awsJson 1.0 protocol the
//! current SDKs and the AWS CLI speak (`X-Amz-Target: AmazonSQS.<Operation>`).
//!
//! Lambda puts an asynchronous event that failed for good on a queue
//! ([`Queues::send`]) when the function names it as its dead-letter queue or
//! `OnFailure` destination; tests and the CLI read it back with
//! `ReceiveMessage`. A queue's URL is `<endpoint>/<account>/<name>`, its ARN
//! `arn:aws:sqs:<region>:<account>:<name>`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

/// The `X-Amz-Target` prefix of SQS operations.
pub(crate) const TARGET_PREFIX: &str = "AmazonSQS.";

/// SQS's defaults and limits.
const DEFAULT_VISIBILITY_S: u64 = 30;
const MAX_VISIBILITY_S: i64 = 43_200;
const MAX_WAIT_S: i64 = 20;
const MAX_MESSAGE_BYTES: usize = 1_048_576;
const RETENTION_S: u64 = 345_600;

/// The queue attributes SQS knows (its `QueueAttributeName` enum, less
/// `All`); GetQueueAttributes answers the ones this emulator keeps.
const QUEUE_ATTRIBUTES: &[&str] = &[
    "Policy",
    "VisibilityTimeout",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
    "ApproximateNumberOfMessagesDelayed",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "RedriveAllowPolicy",
    "SqsManagedSseEnabled",
];

/// Attributes SQS computes; CreateQueue refuses them.
const READ_ONLY_ATTRIBUTES: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

/// One message attribute (`DataType` `String`, `Number` or `Binary`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageAttribute {
    /// `String`, `Number` or `Binary` (optionally with a `.label`).
    pub data_type: String,
    /// The value as text; a `Binary` attribute's bytes in base64 (the
    /// `BinaryValue` of the JSON protocol).
    pub string_value: String,
}

impl MessageAttribute {
    /// A `String` attribute.
    pub fn string(value: impl Into<String>) -> Self {
        Self {
            data_type: "String".into(),
            string_value: value.into(),
        }
    }

    /// A `Number` attribute.
    pub fn number(value: impl ToString) -> Self {
        Self {
            data_type: "Number".into(),
            string_value: value.to_string(),
        }
    }

    fn is_binary(&self) -> bool {
        self.data_type.starts_with("Binary")
    }

    /// The attribute in the wire form (`StringValue` or `BinaryValue`).
    fn to_json(&self) -> Value {
        if self.is_binary() {
            json!({"DataType": self.data_type, "BinaryValue": self.string_value})
        } else {
            json!({"DataType": self.data_type, "StringValue": self.string_value})
        }
    }
}

/// `MD5OfMessageAttributes` as SQS computes it (and SDKs that check it
/// recompute it): over the attributes sorted by name, each as its name, its
/// data type, a transport byte (1 text, 2 binary) and its value, every
/// string and value preceded by its length as 4 big-endian bytes.
fn md5_of_attributes<'a>(
    attributes: impl Iterator<Item = (&'a String, &'a MessageAttribute)>,
) -> Option<String> {
    use base64::Engine as _;
    let mut sorted: Vec<_> = attributes.collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    fn field(bytes: &[u8], buf: &mut Vec<u8>) {
        buf.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        buf.extend_from_slice(bytes);
    }
    let mut buf = Vec::new();
    for (name, a) in sorted {
        field(name.as_bytes(), &mut buf);
        field(a.data_type.as_bytes(), &mut buf);
        if a.is_binary() {
            buf.push(2);
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&a.string_value)
                .unwrap_or_default();
            field(&bytes, &mut buf);
        } else {
            buf.push(1);
            field(a.string_value.as_bytes(), &mut buf);
        }
    }
    Some(md5_hex(&buf))
}

struct Message {
    id: String,
    body: String,
    md5: String,
    attributes: BTreeMap<String, MessageAttribute>,
    sent_ms: i64,
    receive_count: u32,
    first_receive_ms: Option<i64>,
    invisible_until: Option<Instant>,
    receipt: Option<String>,
}

struct Queue {
    created_s: i64,
    /// The settable attributes: SQS's defaults, overridden by CreateQueue.
    attributes: BTreeMap<String, String>,
    messages: Vec<Message>,
}

impl Queue {
    fn new(attributes: BTreeMap<String, String>) -> Self {
        // SQS's defaults; encryption with SQS-owned keys is on by default.
        let mut all: BTreeMap<String, String> = NUMERIC_ATTRIBUTES
            .iter()
            .map(|(k, default, ..)| (k.to_string(), default.to_string()))
            .collect();
        all.insert("SqsManagedSseEnabled".into(), "true".into());
        all.extend(attributes);
        Self {
            created_s: now_ms() / 1000,
            attributes: all,
            messages: Vec::new(),
        }
    }

    /// A numeric attribute (validated when set).
    fn seconds(&self, name: &str) -> u64 {
        self.attributes
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn visibility(&self) -> Duration {
        Duration::from_secs(self.seconds("VisibilityTimeout"))
    }
}

/// The numeric attributes CreateQueue may set: name, SQS's default, bounds.
const NUMERIC_ATTRIBUTES: &[(&str, i64, i64, i64)] = &[
    ("DelaySeconds", 0, 0, 900),
    (
        "MaximumMessageSize",
        MAX_MESSAGE_BYTES as i64,
        1024,
        MAX_MESSAGE_BYTES as i64,
    ),
    ("MessageRetentionPeriod", RETENTION_S as i64, 60, 1_209_600),
    ("ReceiveMessageWaitTimeSeconds", 0, 0, MAX_WAIT_S),
    (
        "VisibilityTimeout",
        DEFAULT_VISIBILITY_S as i64,
        0,
        MAX_VISIBILITY_S,
    ),
];

/// Every queue of the emulator. Cheap to clone; clones share the queues.
#[derive(Clone)]
pub struct Queues {
    inner: Arc<Shared>,
}

struct Shared {
    queues: Mutex<BTreeMap<String, Queue>>,
    /// Woken on every send, for long-polling receivers.
    arrived: Notify,
    endpoint_url: String,
}

impl std::fmt::Debug for Queues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queues")
            .field("queues", &self.lock().keys().cloned().collect::<Vec<_>>())
            .finish()
    }
}

/// A queue name that is not (or no longer) there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoSuchQueue(pub String);

impl Queues {
    /// No queues; URLs name `endpoint_url`.
    pub fn new(endpoint_url: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(Shared {
                queues: Mutex::new(BTreeMap::new()),
                arrived: Notify::new(),
                endpoint_url: endpoint_url.into(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Queue>> {
        self.inner.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates queue `name` unless it exists; returns its URL.
    pub fn create(&self, name: &str) -> String {
        self.lock()
            .entry(name.to_string())
            .or_insert_with(|| Queue::new(BTreeMap::new()));
        self.url_of(name)
    }

    /// `<endpoint>/<account>/<name>`.
    pub fn url_of(&self, name: &str) -> String {
        format!(
            "{}/{}/{name}",
            self.inner.endpoint_url.trim_end_matches('/'),
            crate::ACCOUNT_ID
        )
    }

    /// The queue name an ARN of this emulator's region and account names.
    pub fn name_of_arn(arn: &str) -> Option<&str> {
        let rest = arn.strip_prefix("arn:aws:sqs:")?;
        let (region, rest) = rest.split_once(':')?;
        let (account, name) = rest.split_once(':')?;
        (region == crate::REGION && account == crate::ACCOUNT_ID && valid_name(name))
            .then_some(name)
    }

    /// Puts a message on queue `name`; returns its id.
    ///
    /// # Errors
    /// [`NoSuchQueue`] when the queue does not exist.
    pub fn send(
        &self,
        name: &str,
        body: String,
        attributes: BTreeMap<String, MessageAttribute>,
    ) -> Result<String, NoSuchQueue> {
        self.send_delayed(name, body, attributes, None)
    }

    /// [`Queues::send`], the message hidden for `delay_s` seconds (the
    /// queue's `DelaySeconds` when `None`).
    fn send_delayed(
        &self,
        name: &str,
        body: String,
        attributes: BTreeMap<String, MessageAttribute>,
        delay_s: Option<u64>,
    ) -> Result<String, NoSuchQueue> {
        let id = crate::awsjson::new_request_id();
        {
            let mut queues = self.lock();
            let queue = queues
                .get_mut(name)
                .ok_or_else(|| NoSuchQueue(name.to_string()))?;
            let delay = delay_s.unwrap_or_else(|| queue.seconds("DelaySeconds"));
            let invisible_until = (delay > 0).then(|| Instant::now() + Duration::from_secs(delay));
            queue.messages.push(Message {
                id: id.clone(),
                md5: md5_hex(body.as_bytes()),
                body,
                attributes,
                sent_ms: now_ms(),
                receive_count: 0,
                first_receive_ms: None,
                invisible_until,
                receipt: None,
            });
        }
        self.inner.arrived.notify_waiters();
        Ok(id)
    }

    /// Answers one SQS operation (the `X-Amz-Target` after `AmazonSQS.`).
    pub(crate) async fn handle(&self, operation: &str, body: &Bytes) -> Response<Bytes> {
        let input = match crate::awsjson::parse_body(body) {
            Ok(v) => v,
            Err(e) => return e.into_response(),
        };
        let result = match operation {
            "CreateQueue" => self.api_create(&input),
            "GetQueueUrl" => self.api_get_url(&input),
            "ListQueues" => Ok(self.api_list(&input)),
            "SendMessage" => self.api_send(&input),
            "ReceiveMessage" => self.api_receive(&input).await,
            "DeleteMessage" => self.api_delete(&input),
            "PurgeQueue" => self.api_purge(&input),
            "GetQueueAttributes" => self.api_attributes(&input),
            other => Err(SqsError::new(
                "UnsupportedOperation",
                "AWS.SimpleQueueService.UnsupportedOperation",
                format!("{other} is not an SQS operation this emulator serves (CreateQueue, GetQueueUrl, ListQueues, SendMessage, ReceiveMessage, DeleteMessage, PurgeQueue, GetQueueAttributes)."),
            )),
        };
        match result {
            Ok(v) => respond(StatusCode::OK, &v, None),
            Err(e) => e.into_response(),
        }
    }

    /// The queue a request's `QueueUrl` names.
    fn queue_of(&self, input: &Value) -> Result<String, SqsError> {
        let url = required(input, "QueueUrl")?;
        let name = url.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        if self.lock().contains_key(name) {
            Ok(name.to_string())
        } else {
            Err(SqsError::no_queue())
        }
    }

    fn api_create(&self, input: &Value) -> Result<Value, SqsError> {
        let name = required(input, "QueueName")?;
        if !valid_name(name) {
            return Err(SqsError::invalid(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
            ));
        }
        let mut given = BTreeMap::new();
        if let Some(attributes) = input.get("Attributes").and_then(Value::as_object) {
            for (key, value) in attributes {
                let value = value.as_str().unwrap_or_default();
                if let Some((_, _, min, max)) = NUMERIC_ATTRIBUTES.iter().find(|(n, ..)| n == key) {
                    parse_bounded(value, key, *min, *max)?;
                } else if !QUEUE_ATTRIBUTES.contains(&key.as_str())
                    || READ_ONLY_ATTRIBUTES.contains(&key.as_str())
                {
                    return Err(SqsError::new(
                        "InvalidAttributeName",
                        "InvalidAttributeName",
                        format!("Unknown Attribute {key}."),
                    ));
                }
                given.insert(key.clone(), value.to_string());
            }
        }
        let mut queues = self.lock();
        match queues.get(name) {
            // Creating an existing queue with other attributes fails, as on SQS.
            Some(q) => {
                if let Some((key, _)) = given.iter().find(|(k, v)| q.attributes.get(*k) != Some(*v))
                {
                    return Err(SqsError::new(
                        "QueueNameExists",
                        "QueueAlreadyExists",
                        format!("A queue already exists with the same name and a different value for attribute {key}"),
                    ));
                }
            }
            None => {
                queues.insert(name.to_string(), Queue::new(given));
            }
        }
        Ok(json!({ "QueueUrl": self.url_of(name) }))
    }

    fn api_get_url(&self, input: &Value) -> Result<Value, SqsError> {
        let name = required(input, "QueueName")?;
        if self.lock().contains_key(name) {
            Ok(json!({ "QueueUrl": self.url_of(name) }))
        } else {
            Err(SqsError::no_queue())
        }
    }

    fn api_list(&self, input: &Value) -> Value {
        let prefix = input
            .get("QueueNamePrefix")
            .and_then(Value::as_str)
            .unwrap_or("");
        let urls: Vec<String> = self
            .lock()
            .keys()
            .filter(|n| n.starts_with(prefix))
            .map(|n| self.url_of(n))
            .collect();
        json!({ "QueueUrls": urls })
    }

    fn api_send(&self, input: &Value) -> Result<Value, SqsError> {
        let name = self.queue_of(input)?;
        let body = required(input, "MessageBody")?;
        let limit = self
            .lock()
            .get(&name)
            .map_or(MAX_MESSAGE_BYTES as u64, |q| {
                q.seconds("MaximumMessageSize")
            });
        if body.is_empty() || body.len() as u64 > limit {
            return Err(SqsError::invalid(format!(
                "One or more parameters are invalid. Reason: Message must be 1 to {limit} bytes long."
            )));
        }
        let delay = optional_int(input, "DelaySeconds", 0, 900)?.map(|d| d as u64);
        let mut attributes = BTreeMap::new();
        if let Some(Value::Object(map)) = input.get("MessageAttributes") {
            for (k, v) in map {
                let data_type = v.get("DataType").and_then(Value::as_str);
                let value = match data_type {
                    Some(t) if t.starts_with("Binary") => v.get("BinaryValue"),
                    _ => v.get("StringValue"),
                }
                .and_then(Value::as_str);
                let (Some(data_type), Some(value)) = (data_type, value) else {
                    return Err(SqsError::invalid(format!(
                        "The message attribute '{k}' must contain a non-empty value of message attribute type '{}'.",
                        data_type.unwrap_or("String")
                    )));
                };
                let base = data_type.split('.').next().unwrap_or_default();
                if !["String", "Number", "Binary"].contains(&base) {
                    return Err(SqsError::invalid(format!(
                        "The type of message (user) attribute '{k}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
                    )));
                }
                attributes.insert(
                    k.clone(),
                    MessageAttribute {
                        data_type: data_type.to_string(),
                        string_value: value.to_string(),
                    },
                );
            }
        }
        let md5 = md5_hex(body.as_bytes());
        let attributes_md5 = md5_of_attributes(attributes.iter());
        let id = self
            .send_delayed(&name, body.to_string(), attributes, delay)
            .map_err(|_| SqsError::no_queue())?;
        let mut answer = json!({ "MessageId": id, "MD5OfMessageBody": md5 });
        if let Some(digest) = attributes_md5 {
            answer["MD5OfMessageAttributes"] = Value::String(digest);
        }
        Ok(answer)
    }

    async fn api_receive(&self, input: &Value) -> Result<Value, SqsError> {
        let name = self.queue_of(input)?;
        let max = optional_int(input, "MaxNumberOfMessages", 1, 10)?.unwrap_or(1) as usize;
        let queue_wait = self
            .lock()
            .get(&name)
            .map_or(0, |q| q.seconds("ReceiveMessageWaitTimeSeconds") as i64);
        let wait = optional_int(input, "WaitTimeSeconds", 0, MAX_WAIT_S)?.unwrap_or(queue_wait);
        let visibility = optional_int(input, "VisibilityTimeout", 0, MAX_VISIBILITY_S)?
            .map(|s| Duration::from_secs(s as u64));
        let system = names(input, "MessageSystemAttributeNames")
            .into_iter()
            .chain(names(input, "AttributeNames"))
            .collect::<Vec<_>>();
        let wanted = names(input, "MessageAttributeNames");
        let until = tokio::time::Instant::now() + Duration::from_secs(wait as u64);
        loop {
            // Registered before looking, so a send in between is not missed.
            let arrived = self.inner.arrived.notified();
            let taken = self.take(&name, max, visibility, &system, &wanted)?;
            if !taken.is_empty() || tokio::time::Instant::now() >= until {
                return Ok(json!({ "Messages": taken }));
            }
            // Also wakes when an invisible message becomes visible again.
            let _ = tokio::time::timeout_at(
                until.min(tokio::time::Instant::now() + Duration::from_millis(200)),
                arrived,
            )
            .await;
        }
    }

    /// Up to `max` visible messages of `name`, now hidden for the
    /// visibility timeout, in their wire form.
    fn take(
        &self,
        name: &str,
        max: usize,
        visibility: Option<Duration>,
        system: &[String],
        wanted: &[String],
    ) -> Result<Vec<Value>, SqsError> {
        let mut queues = self.lock();
        let queue = queues.get_mut(name).ok_or_else(SqsError::no_queue)?;
        let now = Instant::now();
        let hide_for = visibility.unwrap_or(queue.visibility());
        let all_system = system.iter().any(|n| n == "All");
        let mut out = Vec::new();
        for m in queue
            .messages
            .iter_mut()
            .filter(|m| m.invisible_until.is_none_or(|t| t <= now))
            .take(max)
        {
            m.receive_count += 1;
            let received_ms = now_ms();
            let first = *m.first_receive_ms.get_or_insert(received_ms);
            m.invisible_until = Some(now + hide_for);
            let receipt = format!("{}#{}", m.id, crate::awsjson::new_request_id());
            m.receipt = Some(receipt.clone());
            let mut entry = json!({
                "MessageId": m.id,
                "ReceiptHandle": receipt,
                "MD5OfBody": m.md5,
                "Body": m.body,
            });
            let system_values = [
                ("SenderId", crate::ACCOUNT_ID.to_string()),
                ("SentTimestamp", m.sent_ms.to_string()),
                ("ApproximateReceiveCount", m.receive_count.to_string()),
                ("ApproximateFirstReceiveTimestamp", first.to_string()),
            ];
            let attrs: Map<String, Value> = system_values
                .into_iter()
                .filter(|(k, _)| all_system || system.iter().any(|n| n == k))
                .map(|(k, v)| (k.to_string(), Value::String(v)))
                .collect();
            if !attrs.is_empty() {
                entry["Attributes"] = Value::Object(attrs);
            }
            let returned = m
                .attributes
                .iter()
                .filter(|(k, _)| attribute_wanted(wanted, k));
            let user: Map<String, Value> = returned
                .clone()
                .map(|(k, a)| (k.clone(), a.to_json()))
                .collect();
            if let Some(digest) = md5_of_attributes(returned) {
                entry["MD5OfMessageAttributes"] = Value::String(digest);
                entry["MessageAttributes"] = Value::Object(user);
            }
            out.push(entry);
        }
        Ok(out)
    }

    fn api_delete(&self, input: &Value) -> Result<Value, SqsError> {
        let name = self.queue_of(input)?;
        let receipt = required(input, "ReceiptHandle")?;
        let mut queues = self.lock();
        let queue = queues.get_mut(&name).ok_or_else(SqsError::no_queue)?;
        let id = receipt.split('#').next().unwrap_or("");
        if !queue.messages.iter().any(|m| m.id == id) && !receipt.contains('#') {
            return Err(SqsError::new(
                "ReceiptHandleIsInvalid",
                "ReceiptHandleIsInvalid",
                format!("The input receipt handle \"{receipt}\" is not a valid receipt handle."),
            ));
        }
        // Deleting with an older receipt of a message still deletes it, and
        // deleting a message twice succeeds, as on SQS.
        queue.messages.retain(|m| m.id != id);
        Ok(json!({}))
    }

    fn api_purge(&self, input: &Value) -> Result<Value, SqsError> {
        let name = self.queue_of(input)?;
        if let Some(q) = self.lock().get_mut(&name) {
            q.messages.clear();
        }
        Ok(json!({}))
    }

    fn api_attributes(&self, input: &Value) -> Result<Value, SqsError> {
        let name = self.queue_of(input)?;
        let asked = names(input, "AttributeNames");
        let queues = self.lock();
        let queue = queues.get(&name).ok_or_else(SqsError::no_queue)?;
        let now = Instant::now();
        let hidden = |m: &&Message| m.invisible_until.is_some_and(|t| t > now);
        // Hidden before any receive: delayed; after one: in flight.
        let delayed = queue
            .messages
            .iter()
            .filter(hidden)
            .filter(|m| m.receive_count == 0)
            .count();
        let in_flight = queue.messages.iter().filter(hidden).count() - delayed;
        let mut all: Vec<(String, String)> = vec![
            (
                "ApproximateNumberOfMessages".into(),
                (queue.messages.len() - delayed - in_flight).to_string(),
            ),
            (
                "ApproximateNumberOfMessagesNotVisible".into(),
                in_flight.to_string(),
            ),
            (
                "ApproximateNumberOfMessagesDelayed".into(),
                delayed.to_string(),
            ),
            ("CreatedTimestamp".into(), queue.created_s.to_string()),
            ("LastModifiedTimestamp".into(), queue.created_s.to_string()),
            (
                "QueueArn".into(),
                format!("arn:aws:sqs:{}:{}:{name}", crate::REGION, crate::ACCOUNT_ID),
            ),
        ];
        all.extend(queue.attributes.clone());
        if let Some(unknown) = asked
            .iter()
            .find(|n| *n != "All" && !QUEUE_ATTRIBUTES.contains(&n.as_str()))
        {
            return Err(SqsError::new(
                "InvalidAttributeName",
                "InvalidAttributeName",
                format!("Unknown Attribute {unknown}."),
            ));
        }
        let every = asked.iter().any(|n| n == "All");
        let attrs: Map<String, Value> = all
            .into_iter()
            .filter(|(k, _)| every || asked.iter().any(|n| n == k))
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        Ok(json!({ "Attributes": attrs }))
    }
}

/// An SQS error before it is put on the wire.
#[derive(Debug)]
struct SqsError {
    status: StatusCode,
    code: &'static str,
    /// The code of the older Query protocol (`x-amzn-query-error`), which
    /// the SDKs still map typed errors from.
    query_code: &'static str,
    message: String,
}

impl SqsError {
    fn new(code: &'static str, query_code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            query_code,
            message: message.into(),
        }
    }

    fn no_queue() -> Self {
        Self::new(
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
            "The specified queue does not exist.",
        )
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterValue", "InvalidParameterValue", message)
    }

    fn missing(field: &str) -> Self {
        Self::new(
            "MissingParameter",
            "MissingParameter",
            format!("The request must contain the parameter {field}."),
        )
    }

    fn into_response(self) -> Response<Bytes> {
        let body = json!({
            "__type": format!("com.amazonaws.sqs#{}", self.code),
            "message": self.message,
        });
        respond(
            self.status,
            &body,
            Some(format!("{};Sender", self.query_code)),
        )
    }
}

/// An awsJson 1.0 answer.
fn respond(status: StatusCode, body: &Value, query_error: Option<String>) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(body.to_string()));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    if let Ok(id) = HeaderValue::from_str(&crate::awsjson::new_request_id()) {
        headers.insert("x-amzn-requestid", id);
    }
    if let Some(v) = query_error.and_then(|q| HeaderValue::from_str(&q).ok()) {
        headers.insert("x-amzn-query-error", v);
    }
    resp
}

fn required<'a>(input: &'a Value, field: &str) -> Result<&'a str, SqsError> {
    input
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| SqsError::missing(field))
}

fn optional_int(input: &Value, field: &str, min: i64, max: i64) -> Result<Option<i64>, SqsError> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(SqsError::invalid(format!(
                "Value {v} for parameter {field} is invalid. Reason: must be between {min} and {max}."
            ))),
        },
    }
}

/// A queue attribute's value within bounds; else SQS's InvalidAttributeValue.
fn parse_bounded(v: &str, field: &str, min: i64, max: i64) -> Result<u64, SqsError> {
    match v.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n as u64),
        _ => Err(SqsError::new(
            "InvalidAttributeValue",
            "InvalidAttributeValue",
            format!("Invalid value for the parameter {field}: must be between {min} and {max}."),
        )),
    }
}

fn names(input: &Value, field: &str) -> Vec<String> {
    input
        .get(field)
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `All`, `.*`, an exact name, or a `prefix.*`.
fn attribute_wanted(wanted: &[String], name: &str) -> bool {
    wanted.iter().any(|w| {
        w == "All"
            || w == ".*"
            || w == name
            || w.strip_suffix(".*")
                .is_some_and(|prefix| name.starts_with(prefix))
    })
}

fn valid_name(name: &str) -> bool {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    !base.is_empty()
        && name.len() <= 80
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_of_this_account_name_queues() {
        assert_eq!(
            Queues::name_of_arn("arn:aws:sqs:us-east-1:123456789012:dlq"),
            Some("dlq")
        );
        assert_eq!(
            Queues::name_of_arn("arn:aws:sqs:eu-west-1:123456789012:dlq"),
            None
        );
        assert_eq!(Queues::name_of_arn("arn:aws:sns:us-east-1:1:t"), None);
    }

    #[test]
    fn attribute_filters_match_as_sqs_does() {
        let w = vec!["Error.*".to_string(), "RequestID".to_string()];
        assert!(attribute_wanted(&w, "ErrorCode"));
        assert!(attribute_wanted(&w, "RequestID"));
        assert!(!attribute_wanted(&w, "Other"));
        assert!(attribute_wanted(&["All".to_string()], "x"));
    }

    /// Digests computed by a separate implementation of the documented
    /// algorithm (Python's hashlib and struct).
    #[test]
    fn attribute_digests_follow_the_documented_encoding() {
        let attrs = BTreeMap::from([
            ("RequestID".to_string(), MessageAttribute::string("abc")),
            ("ErrorCode".to_string(), MessageAttribute::number(200)),
        ]);
        assert_eq!(
            md5_of_attributes(attrs.iter()).as_deref(),
            Some("fa243acf0e3ba87a36b19c1f9e1d0f68")
        );
        let binary = BTreeMap::from([(
            "blob".to_string(),
            MessageAttribute {
                data_type: "Binary".into(),
                string_value: "AAEC".into(),
            },
        )]);
        assert_eq!(
            md5_of_attributes(binary.iter()).as_deref(),
            Some("a44784199c97ff8c40423784a25b2410")
        );
        assert_eq!(md5_of_attributes(BTreeMap::new().iter()), None);
    }

    #[test]
    fn md5_is_the_body_digest() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
