//! Shared setup of the Lambda tests: the emulator (`Emulator::start`), the
//! real aws-sdk-lambda client pointed at it, the fixture function, and a
//! parser for REPORT lines.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_lambda::config::Credentials;
use base64::Engine as _;
use emulator::lambda::{FunctionSpec, LambdaService, LambdaSettings};
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};

mod fixture_bin;

pub use fixture_bin::fixture_path;

/// A fixture function definition.
pub fn fixture(name: &str) -> FunctionSpec {
    FunctionSpec::new(name, fixture_path())
}

/// A running emulator and SDK clients for it.
pub struct TestLambda {
    pub endpoint: String,
    pub client: aws_sdk_lambda::Client,
    /// The same client without the SDK's retries (a 429 is retried by the
    /// SDK as throttling; tests that expect one must see it).
    pub client_no_retry: aws_sdk_lambda::Client,
    emulator: EmulatorHandle,
}

impl TestLambda {
    pub async fn start(functions: Vec<FunctionSpec>) -> TestLambda {
        Self::start_with(functions, LambdaSettings::default()).await
    }

    pub async fn start_with(functions: Vec<FunctionSpec>, settings: LambdaSettings) -> TestLambda {
        Self::try_start_with(functions, settings)
            .await
            .expect("emulator starts")
    }

    /// Like `start_with`, but an emulator that refuses to start (e.g. CPU
    /// scaling without cgroups) is the caller's to judge.
    pub async fn try_start_with(
        functions: Vec<FunctionSpec>,
        settings: LambdaSettings,
    ) -> Result<TestLambda, emulator::Error> {
        let emulator = Emulator::start(EmulatorConfig {
            functions,
            update_delay_ms: settings.update_delay_ms,
            idle_timeout: settings.idle_timeout,
            default_concurrency_cap: settings.default_concurrency_cap,
            cpu_scaling: settings.cpu_scaling,
            function_cpus: settings.function_cpus,
            ..EmulatorConfig::default()
        })
        .await?;
        let endpoint = emulator.endpoint_url();
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region("us-east-1")
            .credentials_provider(Credentials::new("test", "test", None, None, "static"))
            .load()
            .await;
        let client = aws_sdk_lambda::Client::new(&shared);
        let client_no_retry = aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(&shared)
                .retry_config(aws_config::retry::RetryConfig::disabled())
                .build(),
        );
        Ok(TestLambda {
            endpoint,
            client,
            client_no_retry,
            emulator,
        })
    }

    /// The Lambda service behind the edge.
    pub fn service(&self) -> &LambdaService {
        self.emulator.lambda()
    }

    pub async fn shutdown(self) {
        self.emulator.shutdown().await;
    }

    /// Invokes with `LogType=Tail`; returns the payload, the function error
    /// header and the decoded log tail.
    pub async fn invoke(&self, name: &str, payload: &str) -> Invocation {
        let out = self
            .client
            .invoke()
            .function_name(name)
            .log_type(aws_sdk_lambda::types::LogType::Tail)
            .payload(aws_sdk_lambda::primitives::Blob::new(
                payload.as_bytes().to_vec(),
            ))
            .send()
            .await
            .expect("invoke");
        let log = out
            .log_result()
            .map(|b64| {
                String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .unwrap(),
                )
                .unwrap()
            })
            .unwrap_or_default();
        let payload = out
            .payload()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default();
        Invocation {
            status: out.status_code(),
            function_error: out.function_error().map(str::to_string),
            executed_version: out.executed_version().map(str::to_string),
            request_id: aws_sdk_lambda::operation::RequestId::request_id(&out).map(str::to_string),
            json: serde_json::from_slice(&payload).unwrap_or(serde_json::Value::Null),
            payload,
            report: Report::find(&log),
            log,
        }
    }

    /// Waits until an UpdateFunctionConfiguration has completed.
    pub async fn wait_updated(&self, name: &str) {
        use aws_sdk_lambda::client::Waiters as _;
        self.client
            .wait_until_function_updated_v2()
            .function_name(name)
            .wait(Duration::from_secs(10))
            .await
            .expect("update completes");
    }

    /// Sets one function's environment and waits for the update to land.
    pub async fn set_env(&self, name: &str, vars: &[(&str, &str)]) {
        let mut env = aws_sdk_lambda::types::Environment::builder();
        for (k, v) in vars {
            env = env.variables(*k, *v);
        }
        self.client
            .update_function_configuration()
            .function_name(name)
            .environment(env.build())
            .send()
            .await
            .unwrap();
        self.wait_updated(name).await;
    }
}

/// One Invoke's answer.
#[derive(Debug)]
pub struct Invocation {
    pub status: i32,
    pub function_error: Option<String>,
    pub executed_version: Option<String>,
    pub request_id: Option<String>,
    pub payload: Vec<u8>,
    pub json: serde_json::Value,
    pub log: String,
    pub report: Option<Report>,
}

/// A REPORT line parsed back by field name.
#[derive(Debug, Clone)]
pub struct Report {
    pub raw: String,
    pub fields: BTreeMap<String, String>,
}

impl Report {
    pub fn find(log: &str) -> Option<Report> {
        let line = log.lines().find(|l| l.starts_with("REPORT "))?;
        Self::parse(line)
    }

    pub fn parse(line: &str) -> Option<Report> {
        let rest = line.strip_prefix("REPORT ")?;
        let fields = rest
            .split('\t')
            .filter(|f| !f.is_empty())
            .filter_map(|f| f.split_once(": "))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(Report {
            raw: line.to_string(),
            fields,
        })
    }

    pub fn ms(&self, field: &str) -> Option<f64> {
        self.fields.get(field)?.strip_suffix(" ms")?.parse().ok()
    }

    pub fn mb(&self, field: &str) -> Option<u64> {
        self.fields.get(field)?.strip_suffix(" MB")?.parse().ok()
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }
}

/// Pids of this process's direct children.
pub fn child_pids() -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
                out.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<u32>().ok()),
                );
            }
        }
    }
    out
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}
