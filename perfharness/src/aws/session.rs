//! A connection to Lambda and CloudWatch Logs (AWS or an emulator). A
//! session only connects: it never starts servers or builds anything (the
//! `--local` stack is started by the command, see `crate::local::connect`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_smithy_types::retry::RetryConfig;

use crate::error::HarnessError;
use crate::options::CommonArgs;

/// Everything a driver needs to talk to the function.
pub struct Session {
    /// The function as given (name, ARN or partial ARN).
    pub function: String,
    /// Control-plane client with adaptive retries (configuration reads and
    /// updates, log reads).
    pub lambda: aws_sdk_lambda::Client,
    /// Client for timed invokes, SDK retries disabled: a retried throttle
    /// would silently inflate a sample.
    pub lambda_timed: aws_sdk_lambda::Client,
    /// CloudWatch Logs client (standard retries).
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// Region in use.
    pub region: String,
    /// The custom endpoint, when there is one (an emulator).
    pub endpoint_url: Option<String>,
    /// The RevisionId the harness expects the function to have: the
    /// guard's snapshot, then the settled result of each update the harness
    /// made. Any other value means someone else changed the function.
    pub expected_revision: std::sync::Mutex<Option<String>>,
    /// Counts of control-plane retries, for the report.
    pub counters: std::sync::Arc<Counters>,
    /// True when the endpoint is the in-process stack of a `--local` run.
    pub local: bool,
    /// A reference no-op function deployed beside the target (the
    /// emulator's fixture in `--local` runs), for comparisons that must
    /// cancel out the machine's speed.
    pub reference: Option<String>,
    /// With `--local`: the CPUs execution environments ran on, apart from
    /// the harness and the servers (`None`: every CPU shared).
    pub function_cpus: Option<Vec<usize>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("function", &self.function)
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .finish_non_exhaustive()
    }
}

/// Control-plane retries made during a session.
#[derive(Debug, Default)]
pub struct Counters {
    /// ResourceConflictException answers retried.
    pub conflicts: AtomicU64,
    /// Throttles (TooManyRequestsException, ThrottlingException) retried.
    pub throttles: AtomicU64,
    /// Other retried errors (5xx).
    pub other: AtomicU64,
}

impl Counters {
    /// Counts one retry of an error with `code`.
    pub fn record_retry(&self, code: Option<&str>) {
        let c = match code {
            Some("ResourceConflictException") => &self.conflicts,
            Some("TooManyRequestsException") | Some("ThrottlingException") => &self.throttles,
            _ => &self.other,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

fn is_loopback(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or(url);
    rest.starts_with("127.") || rest.starts_with("localhost") || rest.starts_with("[::1]")
}

impl Session {
    /// Connects to `args.endpoint_url` (or AWS). `--local` is refused
    /// here: the command starts the local stack first and connects with
    /// [`Session::with_endpoint`].
    pub async fn connect(args: &CommonArgs) -> Result<Session, HarnessError> {
        if args.local {
            return Err(HarnessError::Usage(
                "--local: start the local stack first (perfharness::local::connect)".into(),
            ));
        }
        Self::with_endpoint(args, args.endpoint_url.clone()).await
    }

    /// Connects to `endpoint` (an emulator) or, with `None`, to AWS.
    pub async fn with_endpoint(
        args: &CommonArgs,
        endpoint: Option<String>,
    ) -> Result<Session, HarnessError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(r) = &args.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(p) = &args.profile {
            loader = loader.profile_name(p);
        }
        if let Some(url) = &endpoint {
            loader = loader.endpoint_url(url);
            // An emulator on loopback accepts any key; don't make the user
            // configure credentials for it.
            if is_loopback(url)
                && std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
                && args.profile.is_none()
            {
                loader = loader.credentials_provider(aws_sdk_lambda::config::Credentials::new(
                    "test",
                    "test",
                    None,
                    None,
                    "perfharness-loopback",
                ));
                if args.region.is_none() {
                    loader = loader.region(Region::new("us-east-1"));
                }
            }
        }
        let sdk = loader.load().await;
        let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
            HarnessError::Usage("no AWS region configured: pass --region or set AWS_REGION".into())
        })?;
        let lambda = aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(&sdk)
                .retry_config(
                    RetryConfig::adaptive()
                        .with_max_attempts(5)
                        .with_initial_backoff(Duration::from_millis(200))
                        .with_max_backoff(Duration::from_secs(5)),
                )
                .build(),
        );
        let lambda_timed = aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(&sdk)
                .retry_config(RetryConfig::disabled())
                .build(),
        );
        let logs = aws_sdk_cloudwatchlogs::Client::from_conf(
            aws_sdk_cloudwatchlogs::config::Builder::from(&sdk)
                .retry_config(RetryConfig::standard().with_max_attempts(5))
                .build(),
        );
        Ok(Session {
            function: args.function.clone(),
            lambda,
            lambda_timed,
            logs,
            region,
            endpoint_url: endpoint,
            expected_revision: Default::default(),
            counters: Default::default(),
            local: false,
            reference: None,
            function_cpus: None,
        })
    }

    /// True for a `--local` session.
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// The reference no-op function, when the stack has one.
    pub fn reference_function(&self) -> Option<&str> {
        self.reference.as_deref()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_detection() {
        assert!(super::is_loopback("http://127.0.0.1:4566"));
        assert!(super::is_loopback("http://localhost:1"));
        assert!(!super::is_loopback(
            "https://lambda.us-east-1.amazonaws.com"
        ));
    }
}
