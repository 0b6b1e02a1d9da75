//! What the function talks to in a benchmark: mock-vanta (no rate limit, no
//! faults) and the emulator's S3 with the destination bucket, both on
//! loopback in this process, and the environment that points the function's
//! binary at them.

#![allow(dead_code)]

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

/// The destination bucket.
pub const BUCKET: &str = "vanta-vuln-data";

/// mock-vanta and the emulator, running.
pub struct LocalStack {
    pub vanta: mock_vanta::ServerHandle,
    pub emulator: emulator::EmulatorHandle,
    /// An S3 client on the emulator (path-style, test credentials).
    pub s3: aws_sdk_s3::Client,
}

impl LocalStack {
    /// Starts mock-vanta serving this many records (seed 42) and the
    /// emulator with an empty [`BUCKET`].
    pub async fn start(vulnerabilities: u64, remediations: u64, assets: u64) -> LocalStack {
        let vanta = mock_vanta::Server::start(mock_vanta::Config {
            data: mock_vanta::DataConfig {
                seed: 42,
                vulnerabilities,
                remediations,
                assets,
                now: chrono::Utc::now(),
            },
            ..mock_vanta::Config::default()
        })
        .await
        .expect("start mock-vanta");
        let emulator = emulator::Emulator::start(emulator::EmulatorConfig::default())
            .await
            .expect("start the emulator");
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(emulator.endpoint_url())
                .credentials_provider(Credentials::new("test", "test", None, None, "test"))
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("create the bucket");
        LocalStack {
            vanta,
            emulator,
            s3,
        }
    }

    /// Adds what points the function at this stack to `cmd` (inline Vanta
    /// credentials, no client-side rate limit, S3 prefix `prefix`), plus the
    /// glibc malloc knobs of this process's environment, if any.
    pub fn configure(&self, cmd: &mut tokio::process::Command, prefix: &str) {
        cmd.env("AWS_ENDPOINT_URL", self.emulator.endpoint_url())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("VANTA_CLIENT_ID", "vci_mock")
            .env("VANTA_CLIENT_SECRET", "vcs_mock")
            .env("VANTA_BASE_URL", self.vanta.base_url())
            .env("VANTA_RATE_LIMIT_PER_MIN", "0")
            .env("S3_BUCKET", BUCKET)
            .env("S3_PREFIX", prefix);
        for knob in [
            "MALLOC_ARENA_MAX",
            "MALLOC_MMAP_THRESHOLD_",
            "MALLOC_TRIM_THRESHOLD_",
        ] {
            if let Ok(v) = std::env::var(knob) {
                cmd.env(knob, v);
            }
        }
    }

    /// Stores the Vanta credentials in the emulator's Secrets Manager as the
    /// secret `name` (`{"client_id", "client_secret"}`, as the template
    /// deploys them).
    pub async fn put_credentials_secret(&self, name: &str) {
        let sm = aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(self.emulator.endpoint_url())
                .credentials_provider(Credentials::new("test", "test", None, None, "test"))
                .build(),
        );
        sm.create_secret()
            .name(name)
            .secret_string(r#"{"client_id":"vci_mock","client_secret":"vcs_mock"}"#)
            .send()
            .await
            .expect("create the credentials secret");
    }

    /// Stops both servers.
    pub async fn shutdown(self) {
        self.emulator.shutdown().await;
        self.vanta.shutdown().await;
    }
}
