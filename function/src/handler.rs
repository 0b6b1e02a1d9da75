//! The Lambda handler: lazy clients, one invocation, result, metrics.
//!
//! Nothing here runs at init: the AWS configuration, the clients, the Vanta
//! credentials and the HTTP pool are made on the first invocation and kept
//! for the warm ones that follow.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Mutex, OnceCell};

use crate::config::{Config, ConfigError, CredentialSource, Credentials, Secret};
use crate::engine::{Continuer, Engine, SyncError, SyncOptions, SyncOutcome};
use crate::event::{EventError, SyncEvent};
use crate::metrics::{MetricSet, Unit};
use crate::sink::s3::Bucket;
use crate::vanta::{ClientOptions, VantaClient, VantaError};

/// Why an invocation failed; its Lambda `errorType` is the variant's name.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A setting is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The payload has the wrong shape.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The Vanta credentials could not be loaded.
    #[error("{0}")]
    Credentials(String),
    /// The sync failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
}

impl HandlerError {
    /// The Lambda `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::Config(_) => "ConfigError",
            HandlerError::Event(_) => "InvalidEvent",
            HandlerError::Credentials(_) => "CredentialsError",
            HandlerError::Sync(_) => "SyncFailure",
        }
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct SecretCredentials {
    client_id: String,
    client_secret: String,
}

/// State kept for the life of the process (warm invocations reuse it).
pub struct Handler {
    first: AtomicBool,
    sdk: OnceCell<aws_config::SdkConfig>,
    engine: Mutex<Option<(Config, Arc<Engine>)>>,
    lambda: Arc<std::sync::OnceLock<aws_sdk_lambda::Client>>,
    /// The HTTP client of every service reached over plain HTTP.
    plain_http: std::sync::OnceLock<aws_sdk_s3::config::SharedHttpClient>,
    options: SyncOptions,
}

impl Default for Handler {
    fn default() -> Self {
        Self::new(SyncOptions::default())
    }
}

impl Handler {
    /// A handler that has not touched the network or the environment yet.
    pub fn new(options: SyncOptions) -> Self {
        Self {
            first: AtomicBool::new(true),
            sdk: OnceCell::new(),
            engine: Mutex::new(None),
            lambda: Arc::default(),
            plain_http: std::sync::OnceLock::new(),
            options,
        }
    }

    async fn sdk(&self) -> &aws_config::SdkConfig {
        self.sdk
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
                if credentials_in_environment() {
                    // What the default chain would find first anyway. The
                    // chain itself builds a web-identity provider whose STS
                    // client makes an HTTPS connector at once: every root
                    // certificate of the system read and parsed on each
                    // first invocation, for a provider that is never asked.
                    loader = loader.credentials_provider(
                        aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
                    );
                }
                loader.load().await
            })
            .await
    }

    /// The HTTP client for services over plain HTTP, made once.
    fn client_without_roots(&self) -> aws_sdk_s3::config::SharedHttpClient {
        self.plain_http
            .get_or_init(build_client_without_roots)
            .clone()
    }

    async fn engine(&self, config: &Config) -> Result<Arc<Engine>, HandlerError> {
        let mut cached = self.engine.lock().await;
        if let Some((c, engine)) = cached.as_ref() {
            if c == config {
                return Ok(engine.clone());
            }
        }
        let sdk = self.sdk().await;
        let credentials = match &config.credentials {
            CredentialSource::Inline(c) => c.clone(),
            CredentialSource::SecretsManager(name) => self.secret_credentials(sdk, name).await?,
        };
        let mut options = ClientOptions::new(&config.base_url, credentials);
        options.page_size = config.page_size;
        options.rate_limit_per_min = config.rate_limit_per_min;
        options.pacing = config.pacing;
        options.max_pool_connections = config.max_pool_connections;
        let vanta = VantaClient::new(options).map_err(|e| HandlerError::Sync(e.into()))?;
        let mut s3 = aws_sdk_s3::config::Builder::from(sdk);
        if std::env::var_os("AWS_ENDPOINT_URL").is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
        {
            s3 = s3.force_path_style(true);
        }
        let plain = over_plain_http("AWS_ENDPOINT_URL_S3");
        if plain {
            s3 = s3.http_client(self.client_without_roots());
        }
        let mut bucket = Bucket::new(aws_sdk_s3::Client::from_conf(s3.build()), &config.bucket);
        if !plain {
            bucket = bucket.unsigned_payloads();
        }
        let mut sync_options = self.options.clone();
        sync_options.checkpoint_margin = config.checkpoint_margin;
        let engine = Arc::new(Engine::new(
            Arc::new(vanta),
            bucket,
            &config.prefix,
            sync_options,
        ));
        *cached = Some((config.clone(), engine.clone()));
        Ok(engine)
    }

    async fn secret_credentials(
        &self,
        sdk: &aws_config::SdkConfig,
        name: &str,
    ) -> Result<Credentials, HandlerError> {
        let mut conf = aws_sdk_secretsmanager::config::Builder::from(sdk);
        if over_plain_http("AWS_ENDPOINT_URL_SECRETS_MANAGER") {
            // As for S3: no root certificates read for a plain-HTTP endpoint
            // (they were most of a first invocation's penalty when the
            // credentials come from Secrets Manager).
            conf = conf.http_client(self.client_without_roots());
        }
        let client = aws_sdk_secretsmanager::Client::from_conf(conf.build());
        let out = client
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| {
                HandlerError::Credentials(format!(
                    "cannot read secret {name:?} (VANTA_CREDENTIALS_SECRET): {}; set VANTA_CLIENT_ID and VANTA_CLIENT_SECRET or create the secret",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                ))
            })?;
        let text = out.secret_string().unwrap_or_default();
        // The parse error is not shown: it could quote the secret.
        let parsed: SecretCredentials = serde_json::from_str(text).map_err(|_| {
            HandlerError::Credentials(format!(
                "secret {name:?} is not JSON of the form {{\"client_id\": \"…\", \"client_secret\": \"…\"}}"
            ))
        })?;
        Ok(Credentials {
            client_id: parsed.client_id,
            client_secret: Secret::new(parsed.client_secret),
        })
    }

    async fn continuer(&self, config: &Config) -> Continuer {
        Continuer::Lambda {
            sdk: Box::new(self.sdk().await.clone()),
            client: self.lambda.clone(),
            function_name: config
                .function_name
                .clone()
                .unwrap_or_else(|| "vanta-vuln-sync".to_owned()),
        }
    }

    /// Handles one invocation: `deadline_ms` is the Runtime API's
    /// `Lambda-Runtime-Deadline-Ms` (epoch milliseconds).
    pub async fn handle(
        &self,
        payload: Value,
        request_id: &str,
        deadline_ms: u64,
    ) -> Result<Value, HandlerError> {
        crate::logging::set_request_id(request_id);
        let cold = self.first.swap(false, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let result = self.invoke(payload, deadline_ms).await;
        let function_name =
            std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "vanta-vuln-sync".into());
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        metric_set(result.as_ref().ok(), cold, elapsed_ms).emit(&function_name);
        match result {
            Ok(outcome) => {
                tracing::info!(
                    status = ?outcome.status,
                    run_id = %outcome.run_id,
                    records = outcome.counts.total(),
                    "invocation finished"
                );
                Ok(serde_json::to_value(&outcome).unwrap_or(Value::Null))
            }
            Err(e) => {
                if matches!(
                    e,
                    HandlerError::Sync(SyncError::Vanta(VantaError::BadCredentials { .. }))
                ) {
                    // A rotated secret is picked up by the next invocation.
                    *self.engine.lock().await = None;
                }
                tracing::error!(error_type = e.error_type(), "{e}");
                Err(e)
            }
        }
    }

    async fn invoke(&self, payload: Value, deadline_ms: u64) -> Result<SyncOutcome, HandlerError> {
        let config = Config::from_env()?;
        let event = SyncEvent::parse(&payload)?;
        let engine = self.engine(&config).await?;
        let now_ms = chrono::Utc::now().timestamp_millis().max(0) as u64;
        let deadline = (deadline_ms > 0).then(|| {
            tokio::time::Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
        });
        let continuer = self.continuer(&config).await;
        Ok(engine.run(&event, deadline, &continuer).await?)
    }
}

/// Whether the environment holds AWS credentials (as Lambda's always does).
fn credentials_in_environment() -> bool {
    ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        .iter()
        .all(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// Whether a service is reached over plain HTTP (an emulator or a local
/// stack): its own endpoint variable (`AWS_ENDPOINT_URL_S3`,
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER`, …), else `AWS_ENDPOINT_URL`, is an
/// `http://` URL and configured endpoints are not ignored.
fn over_plain_http(service_endpoint_variable: &str) -> bool {
    let ignored = std::env::var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let endpoint =
        std::env::var(service_endpoint_variable).or_else(|_| std::env::var("AWS_ENDPOINT_URL"));
    !ignored
        && endpoint.is_ok_and(|url| {
            url.trim()
                .get(..7)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
        })
}

/// The SDK's HTTP client with an empty trust store. Its default client
/// reads and parses every root certificate of the system when it makes its
/// first connection (147 files on this Debian host, about 3 ms of the first
/// invocation), even to a plain-HTTP endpoint that never uses them; over
/// HTTPS the default client, with the roots, is kept. One client
/// ([`Handler::client_without_roots`]) serves every service of the process,
/// so S3 reuses the connection Secrets Manager opened to the same endpoint
/// instead of building a second client and connecting again.
fn build_client_without_roots() -> aws_sdk_s3::config::SharedHttpClient {
    use aws_smithy_http_client::tls;
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(
        tls::rustls_provider::CryptoMode::AwsLc,
    ));
    match tls::TlsContext::builder()
        .with_trust_store(tls::TrustStore::empty())
        .build()
    {
        Ok(context) => builder.tls_context(context).build_https(),
        Err(_) => builder.build_https(),
    }
}

/// The invocation's EMF metrics (`outcome` is `None` for a failure).
pub fn metric_set(outcome: Option<&SyncOutcome>, cold: bool, duration_ms: f64) -> MetricSet {
    let mut m = MetricSet::new();
    let fetched = outcome.map(|o| o.fetched).unwrap_or_default();
    m.put(
        "VulnerabilitiesFetched",
        Unit::Count,
        fetched.vulnerabilities as f64,
    )
    .put(
        "RemediationsFetched",
        Unit::Count,
        fetched.remediations as f64,
    )
    .put(
        "AssetsFetched",
        Unit::Count,
        fetched.vulnerable_assets as f64,
    )
    .put(
        "RecordsStored",
        Unit::Count,
        outcome.map_or(0, |o| o.stored) as f64,
    )
    .put(
        "SyncSuccess",
        Unit::Count,
        outcome.is_some_and(|o| o.status == crate::engine::Status::Complete) as u8 as f64,
    )
    .put("SyncFailure", Unit::Count, outcome.is_none() as u8 as f64)
    .put(
        "RateLimited",
        Unit::Count,
        outcome.map_or(0, |o| o.rate_limited_now) as f64,
    )
    .put("ColdStart", Unit::Count, cold as u8 as f64)
    .put("DurationMs", Unit::Milliseconds, duration_ms);
    if let Some(o) = outcome.filter(|o| o.status == crate::engine::Status::Complete) {
        let v = &o.stats.vulnerabilities;
        m.put("OpenCritical", Unit::Count, v.open_critical() as f64)
            .put("OpenHigh", Unit::Count, v.open_high() as f64)
            .put("Overdue", Unit::Count, v.overdue as f64);
    }
    m
}
