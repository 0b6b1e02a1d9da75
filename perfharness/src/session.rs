//! A connection to Lambda and CloudWatch Logs (AWS or an emulator), with the
//! local stack when `--local` is given.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_smithy_types::retry::RetryConfig;

use crate::cli::CommonArgs;
use crate::error::HarnessError;

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
    /// Counts of control-plane retries, for the report.
    pub counters: std::sync::Arc<Counters>,
    /// The in-process mock-vanta and emulator of a `--local` run.
    pub local: Option<crate::local::LocalStack>,
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
    /// Connects as `args` say: with `--local`, starts mock-vanta and the
    /// emulator first (building the function's binary if needed) and points
    /// every client at the emulator.
    pub async fn connect(args: &CommonArgs) -> Result<Session, HarnessError> {
        if args.local {
            if args.endpoint_url.is_some() {
                return Err(HarnessError::Usage(
                    "--local starts its own emulator; drop --endpoint-url (or drop --local to use yours)".into(),
                ));
            }
            let stack = crate::local::LocalStack::start(args).await?;
            return match Self::with_endpoint(args, Some(stack.endpoint_url())).await {
                Ok(mut session) => {
                    session.local = Some(stack);
                    Ok(session)
                }
                Err(e) => {
                    stack.shutdown().await;
                    Err(e)
                }
            };
        }
        Self::with_endpoint(args, args.endpoint_url.clone()).await
    }

    async fn with_endpoint(
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
            counters: Default::default(),
            local: None,
        })
    }

    /// True for a `--local` session.
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// A reference no-op function deployed beside the target (the emulator's
    /// fixture in `--local` runs), for comparisons that must cancel out the
    /// machine's speed.
    pub fn reference_function(&self) -> Option<&str> {
        self.local
            .as_ref()
            .map(|_| crate::local::REFERENCE_FUNCTION)
    }

    /// Tears the local stack down (no-op on AWS).
    pub async fn shutdown(self) {
        if let Some(stack) = self.local {
            stack.shutdown().await;
        }
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
