//! End-to-end sync throughput and peak memory of the real binary: mock-vanta
//! (no rate limit, no faults, pacer off) and the emulator's S3 on loopback,
//! the function driven through a Runtime API like Lambda drives it. Peak RSS
//! is the process's VmHWM after it answered.
//!
//! `cargo bench -p vanta-vuln-sync --bench sync_e2e`
//! (SYNC_BENCH_VULNS="100000,1000000" to change the sizes).

#[path = "support/runtime_api.rs"]
mod runtime_api;

use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use runtime_api::{lambda_command, vm_hwm_kib, RuntimeApi};
use serde_json::Value;

const BUCKET: &str = "vanta-vuln-data";

async fn run(vulns: u64, rems: u64, assets: u64) -> (f64, f64, u64, Value) {
    let vanta = mock_vanta::Server::start(mock_vanta::Config {
        data: mock_vanta::DataConfig {
            seed: 42,
            vulnerabilities: vulns,
            remediations: rems,
            assets,
            now: chrono::Utc::now(),
        },
        ..mock_vanta::Config::default()
    })
    .await
    .unwrap();
    let emu = emulator::Emulator::start(emulator::EmulatorConfig::default())
        .await
        .unwrap();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(emu.endpoint_url())
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();

    let deadline = chrono::Utc::now().timestamp_millis() as u64 + 900_000;
    let api = RuntimeApi::start("{}".into(), deadline).await;
    let binary = Path::new(env!("CARGO_BIN_EXE_vanta-vuln-sync"));
    let mut cmd = lambda_command(binary, &api.addr);
    cmd.env("AWS_ENDPOINT_URL", emu.endpoint_url())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("VANTA_CLIENT_ID", "vci_mock")
        .env("VANTA_CLIENT_SECRET", "vcs_mock")
        .env("VANTA_BASE_URL", vanta.base_url())
        .env("VANTA_RATE_LIMIT_PER_MIN", "0")
        .env("S3_BUCKET", BUCKET)
        .env("S3_PREFIX", "bench");
    for knob in [
        "MALLOC_ARENA_MAX",
        "MALLOC_MMAP_THRESHOLD_",
        "MALLOC_TRIM_THRESHOLD_",
    ] {
        if let Ok(v) = std::env::var(knob) {
            cmd.env(knob, v);
        }
    }
    let mut child = cmd.spawn().expect("spawn function");
    let pid = child.id().unwrap();
    let ok = api
        .wait_for(Duration::from_secs(900), |o| o.answered.is_some())
        .await;
    assert!(ok, "the function did not answer");
    let hwm = vm_hwm_kib(pid).unwrap_or(0);
    let (secs, body, error) = {
        let o = api.observed.lock().unwrap();
        (
            (o.answered.unwrap() - o.first_next.unwrap()).as_secs_f64(),
            o.body.clone().unwrap_or_default(),
            o.error,
        )
    };
    let _ = child.kill().await;
    let result: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    assert!(
        !error && result["status"] == "complete",
        "sync failed: {body}"
    );
    let records = vulns + rems + assets;
    assert_eq!(
        result["counts"]["vulnerabilities"].as_u64().unwrap()
            + result["counts"]["remediations"].as_u64().unwrap()
            + result["counts"]["vulnerableAssets"].as_u64().unwrap(),
        records
    );
    let mut sizes = Vec::new();
    let listed = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("bench/snapshots")
        .send()
        .await
        .unwrap();
    for o in listed.contents() {
        if o.key().unwrap_or("").ends_with(".parquet") {
            sizes.push(o.size().unwrap_or(0) / 1024);
        }
    }
    println!("  part files (KiB): {sizes:?}");
    emu.shutdown().await;
    vanta.shutdown().await;
    (records as f64 / secs, secs, hwm, result)
}

#[tokio::main]
async fn main() {
    let sizes: Vec<u64> = std::env::var("SYNC_BENCH_VULNS")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let mut base_rss = None;
    for vulns in sizes {
        let (rate, secs, hwm, result) = run(vulns, 50_000, 10_000).await;
        let mib = hwm as f64 / 1024.0;
        println!(
            "sync {vulns} vulns + 50000 remediations + 10000 assets: {secs:.2} s, {rate:.0} records/s, peak RSS {mib:.1} MiB, pages {}, retries {}",
            result["pages"], result["retries"]
        );
        match base_rss {
            None => base_rss = Some(mib),
            Some(b) => println!(
                "  peak RSS vs the first size: {:+.1}%",
                (mib / b - 1.0) * 100.0
            ),
        }
    }
}
