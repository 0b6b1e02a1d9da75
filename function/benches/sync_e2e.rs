//! End-to-end sync throughput and peak memory of the real binary: mock-vanta
//! (no rate limit, no faults, pacer off) and the emulator's S3 on loopback,
//! the function driven through a Runtime API like Lambda drives it. Peak RSS
//! is the process's VmHWM after it answered.
//!
//! Against the same servers and just before the sync, the fetch-only limit:
//! the function's own Vanta client pages the same three endpoints with the
//! same concurrency (one pager per endpoint, pages of 100) and discards every
//! record unread (only the cursor is decoded, from `pageInfo`, and the
//! records counted by their `"id":` keys), so no sync on this machine could
//! be faster. The sync is reported as a fraction of it.
//!
//! `cargo bench -p vanta-vuln-sync --bench sync_e2e`
//! (SYNC_BENCH_VULNS="100000,1000000" to change the sizes;
//! SYNC_BENCH_BINARY, another build of the function to measure).

#[path = "support/local_stack.rs"]
mod local_stack;
#[path = "support/runtime_api.rs"]
mod runtime_api;

use std::sync::Arc;
use std::time::{Duration, Instant};

use local_stack::{LocalStack, BUCKET};
use runtime_api::{cpu_seconds, lambda_command, vm_hwm_kib, RuntimeApi};
use serde_json::Value;
use vanta_vuln_sync::config::{Credentials, Secret};
use vanta_vuln_sync::vanta::{ClientOptions, Endpoint, VantaClient};

/// Records in a page body without decoding them: each record has one
/// `"id":` key and nothing in the mock's records but the record itself has
/// one (scanner objects have `resourceId`, tags `key`).
fn count_records(body: &[u8]) -> u64 {
    body.windows(5).filter(|w| w == b"\"id\":").count() as u64
}

/// Pages all three endpoints concurrently, discarding the records; returns
/// the seconds taken and the records paged.
async fn fetch_only(stack: &LocalStack) -> (f64, u64) {
    let mut options = ClientOptions::new(
        stack.vanta.base_url(),
        Credentials {
            client_id: "vci_mock".into(),
            client_secret: Secret::new("vcs_mock"),
        },
    );
    options.rate_limit_per_min = 0;
    let client = Arc::new(VantaClient::new(options).expect("client"));
    let started = Instant::now();
    let pagers: Vec<_> = [
        Endpoint::Vulnerabilities,
        Endpoint::Remediations,
        Endpoint::VulnerableAssets,
    ]
    .into_iter()
    .map(|endpoint| {
        let client = client.clone();
        tokio::spawn(async move {
            let (mut cursor, mut records) = (None::<String>, 0u64);
            loop {
                let page = client
                    .fetch_raw_page_by(endpoint, cursor.as_deref(), None)
                    .await
                    .expect("fetch a page");
                records += count_records(&page.body);
                if !page.has_next_page {
                    return records;
                }
                cursor = page.end_cursor;
            }
        })
    })
    .collect();
    let mut records = 0;
    for p in pagers {
        records += p.await.expect("pager");
    }
    (started.elapsed().as_secs_f64(), records)
}

/// The fetch-only limit then the sync, on one stack: (sync records/s, sync
/// seconds, peak RSS KiB, the sync's result, fetch-only records/s).
async fn run(vulns: u64, rems: u64, assets: u64) -> (f64, f64, u64, Value, f64) {
    let stack = LocalStack::start(vulns, rems, assets).await;
    let (limit_secs, paged) = fetch_only(&stack).await;
    assert_eq!(
        paged,
        vulns + rems + assets,
        "fetch-only paged every record"
    );
    let deadline = chrono::Utc::now().timestamp_millis() as u64 + 900_000;
    let api = RuntimeApi::start("{}".into(), deadline).await;
    let binary = std::env::var_os("SYNC_BENCH_BINARY")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_vanta-vuln-sync").into());
    let binary = binary.as_path();
    let mut cmd = lambda_command(binary, &api.addr);
    stack.configure(&mut cmd, "bench");
    let mut child = cmd.spawn().expect("spawn function");
    let pid = child.id().unwrap();
    let ok = api
        .wait_for(Duration::from_secs(900), |o| o.answered.is_some())
        .await;
    assert!(ok, "the function did not answer");
    let hwm = vm_hwm_kib(pid).unwrap_or(0);
    let cpu = cpu_seconds(pid).unwrap_or(0.0);
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
    let listed = stack
        .s3
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
    println!("  part files (KiB): {sizes:?}; the function's CPU time: {cpu:.2} s");
    stack.shutdown().await;
    (
        records as f64 / secs,
        secs,
        hwm,
        result,
        paged as f64 / limit_secs,
    )
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
        let (rate, secs, hwm, result, limit) = run(vulns, 50_000, 10_000).await;
        let mib = hwm as f64 / 1024.0;
        println!(
            "sync {vulns} vulns + 50000 remediations + 10000 assets: {secs:.2} s, {rate:.0} records/s, peak RSS {mib:.1} MiB, pages {}, retries {}",
            result["pages"], result["retries"]
        );
        println!(
            "  fetch-only limit {limit:.0} records/s; the sync runs at {:.1}% of it (goal: 70%)",
            rate / limit * 100.0
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
