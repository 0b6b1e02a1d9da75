//! Shared fixtures: mock-vanta plus the emulator's S3, an engine wired to
//! them, a loop that resumes continuations, and readers for what was written.

#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials as AwsCredentials, Region};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use vanta_vuln_sync::config::{Credentials, Secret};
use vanta_vuln_sync::engine::{Continuer, Engine, Status, SyncError, SyncOptions, SyncOutcome};
use vanta_vuln_sync::event::SyncEvent;
use vanta_vuln_sync::sink::s3::Bucket;
use vanta_vuln_sync::vanta::{ClientOptions, RetryPolicy, VantaClient};

pub const BUCKET: &str = "vanta-vuln-data";
pub const PREFIX: &str = "vanta";

/// mock-vanta and an emulator with an empty bucket.
pub struct World {
    pub vanta: mock_vanta::ServerHandle,
    pub emulator: emulator::EmulatorHandle,
    pub s3: aws_sdk_s3::Client,
    pub data: mock_vanta::DataConfig,
}

pub fn data(vulns: u64, rems: u64, assets: u64) -> mock_vanta::DataConfig {
    mock_vanta::DataConfig {
        seed: 7,
        vulnerabilities: vulns,
        remediations: rems,
        assets,
        now: "2026-11-26T06:00:00.000Z".parse().unwrap(),
    }
}

pub fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(AwsCredentials::new("test", "test", None, None, "test"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

impl World {
    pub async fn start(config: mock_vanta::Config) -> World {
        let data = config.data.clone();
        let vanta = mock_vanta::Server::start(config).await.expect("mock-vanta");
        let emulator = emulator::Emulator::start(emulator::EmulatorConfig::default())
            .await
            .expect("emulator");
        let s3 = s3_client(&emulator.endpoint_url());
        s3.create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("create bucket");
        World {
            vanta,
            emulator,
            s3,
            data,
        }
    }

    pub async fn with_data(data: mock_vanta::DataConfig) -> World {
        Self::start(mock_vanta::Config {
            data,
            ..mock_vanta::Config::default()
        })
        .await
    }

    pub fn client(&self, secret: &str) -> Arc<VantaClient> {
        let mut o = ClientOptions::new(
            self.vanta.base_url(),
            Credentials {
                client_id: "vci_mock".into(),
                client_secret: Secret::new(secret),
            },
        );
        o.rate_limit_per_min = 0;
        o.retry = RetryPolicy {
            max_attempts: 10,
            base: Duration::from_millis(5),
            cap: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(5),
        };
        o.request_timeout = Duration::from_secs(10);
        Arc::new(VantaClient::new(o).unwrap())
    }

    pub fn engine(&self, secret: &str, options: SyncOptions) -> Engine {
        Engine::new(
            self.client(secret),
            Bucket::new(self.s3.clone(), BUCKET),
            PREFIX,
            options,
        )
    }

    pub async fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .s3
                .list_objects_v2()
                .bucket(BUCKET)
                .set_continuation_token(token)
                .send()
                .await
                .unwrap();
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            match out.next_continuation_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return keys,
            }
        }
    }

    pub async fn get(&self, key: &str) -> Option<Bytes> {
        let out = self
            .s3
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .ok()?;
        Some(out.body.collect().await.unwrap().into_bytes())
    }

    pub async fn get_json(&self, key: &str) -> Value {
        serde_json::from_slice(
            &self
                .get(key)
                .await
                .unwrap_or_else(|| panic!("missing {key}")),
        )
        .unwrap()
    }
}

/// Runs `event`, then every continuation it asks for, each invocation with
/// `budget` of time; returns the last outcome and the number of invocations.
pub async fn run_to_completion(
    engine: &Engine,
    event: SyncEvent,
    budget: Option<Duration>,
) -> Result<(SyncOutcome, usize), SyncError> {
    let (continuer, queue) = Continuer::collector();
    let mut event = event;
    let mut invocations = 0;
    loop {
        invocations += 1;
        assert!(invocations < 10_000, "runaway continuation chain");
        let deadline = budget.map(|b| tokio::time::Instant::now() + b);
        let outcome = engine.run(&event, deadline, &continuer).await?;
        if outcome.status == Status::Complete {
            return Ok((outcome, invocations));
        }
        let payload = queue.lock().unwrap().pop().expect("a continuation payload");
        event = SyncEvent::parse(&payload).expect("continuation payload parses");
        assert_eq!(
            payload["resume"].as_str(),
            outcome.checkpoint.as_deref(),
            "the continuation resumes the checkpoint just written"
        );
    }
}

/// Compares JSON documents: integers exactly, floats within 1e-9 relative.
pub fn assert_json_close(got: &Value, want: &Value, path: &str) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            let gk: HashSet<_> = g.keys().collect();
            let wk: HashSet<_> = w.keys().collect();
            assert_eq!(gk, wk, "keys differ at {path}");
            for (k, wv) in w {
                assert_json_close(&g[k], wv, &format!("{path}.{k}"));
            }
        }
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "lengths differ at {path}");
            for (i, (a, b)) in g.iter().zip(w).enumerate() {
                assert_json_close(a, b, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(g), Value::Number(w)) => {
            if let (Some(a), Some(b)) = (g.as_i64(), w.as_i64()) {
                assert_eq!(a, b, "at {path}");
            } else {
                let (a, b) = (g.as_f64().unwrap(), w.as_f64().unwrap());
                let tol = 1e-9 * a.abs().max(b.abs()).max(1e-300);
                assert!((a - b).abs() <= tol, "at {path}: {a} vs {b}");
            }
        }
        _ => assert_eq!(got, want, "at {path}"),
    }
}

/// A Parquet file's rows and the ids in its `id` column.
pub fn read_parquet(bytes: Bytes) -> (arrow_schema::SchemaRef, Vec<String>) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).expect("valid parquet");
    let schema = builder.schema().clone();
    let mut ids = Vec::new();
    for batch in builder.build().unwrap() {
        let batch = batch.unwrap();
        let col = batch
            .column_by_name("id")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap()
            .clone();
        ids.extend(col.iter().map(|v| v.unwrap().to_owned()));
    }
    (schema, ids)
}
