//! SQS answers and errors in the shapes of botocore's SQS model (the trimmed
//! copy in `emulator/tests/botocore/sqs.json`, awsJson 1.0): every answer a
//! 200 `application/x-amz-json-1.0` with `x-amzn-RequestId`, its JSON keys
//! members of the operation's output shape with values of their types;
//! every error a 400 whose `__type` names an error shape the operation
//! lists (or one of AWS's common errors), with only that shape's members,
//! and `x-amzn-query-error` (the code of the older Query protocol, which the
//! model marks `awsQueryCompatible`). The requests go through the real
//! aws-sdk-sqs, which must parse each answer into its typed output or
//! error; an interceptor keeps the answers as they came.

use aws_config::BehaviorVersion;
use aws_sdk_sqs::config::Credentials;
use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use emulator::{Emulator, EmulatorConfig};
use serde_json::Value;

use crate::shapes::{sqs_model, Capture, Wire};

/// AWS's errors common to every service's API (its "Common Errors" page),
/// which models do not list per operation.
const COMMON_ERRORS: &[&str] = &[
    "AccessDeniedException",
    "IncompleteSignature",
    "InternalFailure",
    "InvalidAction",
    "InvalidClientTokenId",
    "InvalidParameterCombination",
    "InvalidParameterValue",
    "InvalidQueryParameter",
    "MalformedQueryString",
    "MissingAction",
    "MissingAuthenticationToken",
    "MissingParameter",
    "NotAuthorized",
    "OptInRequired",
    "RequestExpired",
    "ServiceUnavailable",
    "ThrottlingException",
    "ValidationError",
];

struct Checker {
    model: Value,
    problems: Vec<String>,
    checked: std::collections::BTreeSet<String>,
}

impl Checker {
    fn shape(&self, name: &str) -> Value {
        self.model["shapes"][name].clone()
    }

    fn fail(&mut self, op: &str, what: String) {
        self.problems.push(format!("{op}: {what}"));
    }

    fn headers(&mut self, op: &str, wire: &Wire, status: u16) -> Option<Value> {
        if wire.status != status {
            self.fail(op, format!("status {} instead of {status}", wire.status));
        }
        if wire.header("content-type") != Some("application/x-amz-json-1.0") {
            self.fail(
                op,
                format!("content-type {:?}", wire.header("content-type")),
            );
        }
        if wire.header("x-amzn-requestid").is_none() {
            self.fail(op, "no x-amzn-RequestId".into());
        }
        let body = wire.body.clone().unwrap_or_default();
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) if v.is_object() => Some(v),
            _ => {
                self.fail(
                    op,
                    format!("body is no JSON object: {}", String::from_utf8_lossy(&body)),
                );
                None
            }
        }
    }

    /// A successful answer of `op`.
    fn ok(&mut self, op: &str, wire: &Wire) {
        self.checked.insert(op.to_string());
        let Some(body) = self.headers(op, wire, 200) else {
            return;
        };
        match self.model["operations"][op]["output"]
            .as_str()
            .map(str::to_string)
        {
            Some(output) => self.walk(op, &body, &output, op),
            None => {
                if body.as_object().is_some_and(|o| !o.is_empty()) {
                    self.fail(op, format!("{body} where the operation has no output"));
                }
            }
        }
    }

    /// An error answer of `op` whose shape is `want`.
    fn error(&mut self, op: &str, wire: &Wire, want: &str, query_code: &str) {
        let Some(body) = self.headers(op, wire, 400) else {
            return;
        };
        let listed = self.model["operations"][op]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == want);
        if !listed && !COMMON_ERRORS.contains(&want) {
            self.fail(
                op,
                format!("{want} is neither an error of {op} nor a common error"),
            );
        }
        if body["__type"] != format!("com.amazonaws.sqs#{want}") {
            self.fail(op, format!("__type {} instead of {want}", body["__type"]));
        }
        let members = self.shape(want)["members"].clone();
        for key in body.as_object().unwrap().keys() {
            // A common error has no shape here; its body is `message`.
            let allowed =
                key == "__type" || members.get(key).is_some() || (key == "message" && !listed);
            if !allowed {
                self.fail(op, format!("error member {key} is not in {want}"));
            }
        }
        if !body["message"].is_string() {
            self.fail(op, "error without a message".into());
        }
        let header = wire.header("x-amzn-query-error");
        if header != Some(format!("{query_code};Sender").as_str()) {
            self.fail(
                op,
                format!("x-amzn-query-error {header:?} instead of {query_code};Sender"),
            );
        }
    }

    fn walk(&mut self, op: &str, value: &Value, shape_name: &str, at: &str) {
        let shape = self.shape(shape_name);
        match shape["type"].as_str().unwrap_or("") {
            "structure" => {
                let Some(object) = value.as_object() else {
                    return self.fail(op, format!("{at}: {value} is no object"));
                };
                for (key, v) in object {
                    match shape["members"].get(key) {
                        Some(m) => {
                            let s = m["shape"].as_str().unwrap().to_string();
                            self.walk(op, v, &s, &format!("{at}.{key}"));
                        }
                        None => self.fail(op, format!("{at}.{key} is no member of {shape_name}")),
                    }
                }
                for r in shape["required"].as_array().into_iter().flatten() {
                    if !object.contains_key(r.as_str().unwrap()) {
                        self.fail(op, format!("{at}: required {r} missing"));
                    }
                }
            }
            "list" => match value.as_array() {
                Some(items) => {
                    let s = shape["member"]["shape"].as_str().unwrap().to_string();
                    for (i, item) in items.iter().enumerate() {
                        self.walk(op, item, &s, &format!("{at}[{i}]"));
                    }
                }
                None => self.fail(op, format!("{at}: {value} is no list")),
            },
            "map" => match value.as_object() {
                Some(entries) => {
                    let k = shape["key"]["shape"].as_str().unwrap().to_string();
                    let v = shape["value"]["shape"].as_str().unwrap().to_string();
                    for (key, item) in entries {
                        self.walk(op, &Value::String(key.clone()), &k, &format!("{at} key"));
                        self.walk(op, item, &v, &format!("{at}.{key}"));
                    }
                }
                None => self.fail(op, format!("{at}: {value} is no map")),
            },
            "string" | "blob" => match value.as_str() {
                Some(s) => {
                    if let Some(values) = shape["enum"].as_array() {
                        if !values.iter().any(|v| v == s) {
                            self.fail(op, format!("{at}: {s:?} is not one of {values:?}"));
                        }
                    }
                }
                None => self.fail(op, format!("{at}: {value} is no string")),
            },
            "integer" | "long" => {
                if !value.is_i64() {
                    self.fail(op, format!("{at}: {value} is no integer"));
                }
            }
            "boolean" => {
                if !value.is_boolean() {
                    self.fail(op, format!("{at}: {value} is no boolean"));
                }
            }
            other => self.fail(op, format!("{at}: unchecked type {other}")),
        }
    }
}

/// `MD5OfMessageAttributes` of {ErrorCode: Number 200, RequestID: String
/// abc}, computed by a separate implementation of the documented algorithm.
const ATTRIBUTES_MD5: &str = "fa243acf0e3ba87a36b19c1f9e1d0f68";

#[tokio::test]
async fn every_operation_and_error_has_the_models_shape() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let capture = Capture::default();
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(emu.endpoint_url())
        .region("us-east-1")
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&shared)
            .interceptor(capture.clone())
            .build(),
    );
    let mut c = Checker {
        model: sqs_model(),
        problems: Vec::new(),
        checked: Default::default(),
    };

    let url = sqs
        .create_queue()
        .queue_name("shapes")
        .attributes(QueueAttributeName::VisibilityTimeout, "5")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    c.ok("CreateQueue", &capture.last());
    // The same name with the same attributes is the same queue.
    let again = sqs
        .create_queue()
        .queue_name("shapes")
        .attributes(QueueAttributeName::VisibilityTimeout, "5")
        .send()
        .await
        .unwrap();
    assert_eq!(again.queue_url(), Some(url.as_str()));

    let e = sqs
        .create_queue()
        .queue_name("shapes")
        .attributes(QueueAttributeName::VisibilityTimeout, "6")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_queue_name_exists(), "{e:?}");
    c.error(
        "CreateQueue",
        &capture.last(),
        "QueueNameExists",
        "QueueAlreadyExists",
    );

    let e = sqs
        .create_queue()
        .queue_name("other")
        .attributes(QueueAttributeName::from("Bogus"), "1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_attribute_name(), "{e:?}");
    c.error(
        "CreateQueue",
        &capture.last(),
        "InvalidAttributeName",
        "InvalidAttributeName",
    );

    let e = sqs
        .create_queue()
        .queue_name("other")
        .attributes(QueueAttributeName::VisibilityTimeout, "99999")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_attribute_value(), "{e:?}");
    c.error(
        "CreateQueue",
        &capture.last(),
        "InvalidAttributeValue",
        "InvalidAttributeValue",
    );

    sqs.get_queue_url()
        .queue_name("shapes")
        .send()
        .await
        .unwrap();
    c.ok("GetQueueUrl", &capture.last());
    let e = sqs
        .get_queue_url()
        .queue_name("missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_queue_does_not_exist(), "{e:?}");
    assert_eq!(e.code(), Some("AWS.SimpleQueueService.NonExistentQueue"));
    c.error(
        "GetQueueUrl",
        &capture.last(),
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
    );

    let listed = sqs
        .list_queues()
        .queue_name_prefix("sha")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.queue_urls(), std::slice::from_ref(&url));
    c.ok("ListQueues", &capture.last());

    let sent = sqs
        .send_message()
        .queue_url(&url)
        .message_body("hello")
        .message_attributes(
            "RequestID",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("abc")
                .build()
                .unwrap(),
        )
        .message_attributes(
            "ErrorCode",
            MessageAttributeValue::builder()
                .data_type("Number")
                .string_value("200")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    c.ok("SendMessage", &capture.last());
    assert_eq!(
        sent.md5_of_message_body(),
        Some("5d41402abc4b2a76b9719d911017c592")
    );
    assert_eq!(sent.md5_of_message_attributes(), Some(ATTRIBUTES_MD5));
    let e = sqs
        .send_message()
        .queue_url(format!("{url}-gone"))
        .message_body("x")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_queue_does_not_exist(), "{e:?}");
    c.error(
        "SendMessage",
        &capture.last(),
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
    );
    // A binary attribute travels as BinaryValue and back.
    sqs.send_message()
        .queue_url(&url)
        .message_body("binary")
        .message_attributes(
            "blob",
            MessageAttributeValue::builder()
                .data_type("Binary")
                .binary_value(aws_sdk_sqs::primitives::Blob::new(vec![0u8, 1, 2]))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    c.ok("SendMessage", &capture.last());

    let received = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    c.ok("ReceiveMessage", &capture.last());
    let messages = received.messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0].body(), Some("hello"));
    assert_eq!(
        messages[0].md5_of_message_attributes(),
        Some(ATTRIBUTES_MD5)
    );
    let blob = messages[1].message_attributes().unwrap()["blob"].binary_value();
    assert_eq!(blob.map(|b| b.as_ref().to_vec()), Some(vec![0u8, 1, 2]));
    assert!(messages[0]
        .attributes()
        .is_some_and(|a| a.contains_key(&MessageSystemAttributeName::ApproximateReceiveCount)));

    sqs.get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    c.ok("GetQueueAttributes", &capture.last());
    let e = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::from("Bogus"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_attribute_name(), "{e:?}");
    c.error(
        "GetQueueAttributes",
        &capture.last(),
        "InvalidAttributeName",
        "InvalidAttributeName",
    );

    sqs.delete_message()
        .queue_url(&url)
        .receipt_handle(messages[0].receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    c.ok("DeleteMessage", &capture.last());
    let e = sqs
        .delete_message()
        .queue_url(&url)
        .receipt_handle("garbage")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_receipt_handle_is_invalid(), "{e:?}");
    c.error(
        "DeleteMessage",
        &capture.last(),
        "ReceiptHandleIsInvalid",
        "ReceiptHandleIsInvalid",
    );

    sqs.purge_queue().queue_url(&url).send().await.unwrap();
    c.ok("PurgeQueue", &capture.last());

    let all: Vec<String> = c.model["operations"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let unchecked: Vec<&String> = all.iter().filter(|o| !c.checked.contains(*o)).collect();
    assert!(
        unchecked.is_empty(),
        "operations never checked: {unchecked:?}"
    );
    assert!(
        c.problems.is_empty(),
        "{} deviations from the SQS model:\n{}",
        c.problems.len(),
        c.problems.join("\n")
    );
}

/// Attributes given to CreateQueue are kept, answered and applied:
/// `DelaySeconds` hides new messages, `MaximumMessageSize` bounds them,
/// and creating the queue again with another value is `QueueNameExists`.
#[tokio::test]
async fn queue_attributes_are_kept_and_applied() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(emu.endpoint_url())
        .region("us-east-1")
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let sqs = aws_sdk_sqs::Client::new(&shared);
    let url = sqs
        .create_queue()
        .queue_name("delayed")
        .attributes(QueueAttributeName::DelaySeconds, "1")
        .attributes(QueueAttributeName::MaximumMessageSize, "1024")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = attrs.attributes().unwrap();
    assert_eq!(attrs[&QueueAttributeName::DelaySeconds], "1");
    assert_eq!(attrs[&QueueAttributeName::MaximumMessageSize], "1024");
    assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], "30");

    let e = sqs
        .create_queue()
        .queue_name("delayed")
        .attributes(QueueAttributeName::DelaySeconds, "2")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_queue_name_exists(), "{e:?}");

    let e = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x".repeat(1025))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("InvalidParameterValue"), "{e:?}");

    sqs.send_message()
        .queue_url(&url)
        .message_body("later")
        .send()
        .await
        .unwrap();
    let now = sqs.receive_message().queue_url(&url).send().await.unwrap();
    assert!(now.messages().is_empty(), "delayed: {now:?}");
    let counts = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    assert_eq!(
        counts.attributes().unwrap()[&QueueAttributeName::ApproximateNumberOfMessagesDelayed],
        "1"
    );
    let later = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap();
    assert_eq!(later.messages().len(), 1, "{later:?}");
    assert_eq!(later.messages()[0].body(), Some("later"));
}
