//! The chaos test: the real function, deployed in the emulator from
//! `template.yaml` (its `EventInvokeConfig`: two retries, failures to the
//! `vanta-vuln-sync-dlq` queue), syncs 20,000 vulnerabilities plus
//! remediations and assets from mock-vanta while everything that goes wrong
//! on AWS goes wrong: 20 % of asynchronous events delivered twice (half of
//! those at the same time), 10 % of S3 requests answered 500/503,
//! mock-vanta faults (5xx, resets, truncated bodies), and execution
//! environments killed at random moments. A short timeout with a margin
//! forces a checkpoint every few pages, so a run is a chain of many
//! continuations. Two runs (an older and a newer `asOf`) go at once.
//!
//! After the chains settle (events that failed for good are replayed from
//! the DLQ, as an operator would), for several seeds:
//! - every run has at most one committed snapshot, and each requested run
//!   has one;
//! - every committed snapshot, read as Athena reads the table (its
//!   symlink files, then the Parquet files they name, with DuckDB), holds
//!   the mock's records one for one: the right count and every id once;
//! - `latest.json` only ever moved forward (every value it took is
//!   recorded) and ends at the newer run;
//! - no multipart upload is left open;
//! - the DLQ held only events that failed on every attempt;
//! - replaying every old event after the commit changes nothing, and only
//!   an event that truly fails (a missing checkpoint) is dead-lettered.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use emulator::lambda::FaultSettings;
use serde_json::{json, Value};

const FUNCTION: &str = "vanta-vuln-sync";
const BUCKET: &str = "chaos-data";
const PREFIX: &str = "chaos";
const DLQ: &str = "vanta-vuln-sync-dlq";
const VULNERABILITIES: u64 = 20_000;
const REMEDIATIONS: u64 = 3_000;
const ASSETS: u64 = 600;
const SEEDS: [u64; 3] = [11, 22, 33];

/// What one seed did, for the closing figures.
#[derive(Debug, Default)]
struct Figures {
    events: u64,
    duplicates: u64,
    attempts: u64,
    failed_attempts: u64,
    kills: u64,
    dead_lettered: u64,
    /// DLQ events replayed during the chains, plus old events replayed
    /// after the commit (checkpoints, and one that fails for good).
    replayed: u64,
    runs_committed: usize,
    orphaned_runs: usize,
    rows_checked: u64,
    latest_values: usize,
}

fn template() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")
}

/// `PYTHONPATH` for duckdb (the pyarrow test installs it when missing).
fn python_path() -> Option<PathBuf> {
    let works = |path: Option<&Path>| {
        let mut cmd = Command::new("python3");
        cmd.args(["-c", "import duckdb"]);
        if let Some(p) = path {
            cmd.env("PYTHONPATH", p);
        }
        cmd.output().is_ok_and(|o| o.status.success())
    };
    if works(None) {
        return None;
    }
    let exe = std::env::current_exe().unwrap();
    let site = exe.parent().and_then(Path::parent).unwrap().join("py-e2e");
    if !works(Some(&site)) {
        let out = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(&site)
            .args(["pyarrow", "duckdb"])
            .output()
            .expect("python3 -m pip");
        assert!(
            out.status.success() && works(Some(&site)),
            "duckdb is missing and `python3 -m pip install duckdb` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Some(site)
}

/// Counts rows and distinct ids per snapshot and dataset with DuckDB.
const READER: &str = r#"
import json, sys
import duckdb
con = duckdb.connect()
out = {}
for run, datasets in json.loads(sys.argv[1]).items():
    out[run] = {}
    for dataset, files in datasets.items():
        rows, ids = con.execute("select count(*), count(distinct id) from read_parquet(?)", [files]).fetchone()
        out[run][dataset] = {"rows": rows, "ids": ids}
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_stay_exact_under_duplicates_faults_and_kills() {
    let python = python_path();
    let binary = perfharness::local::ensure_binary(perfharness::local::FUNCTION_BINARY)
        .await
        .expect("the vanta-vuln-sync release binary");
    let mut all = Vec::new();
    for seed in SEEDS {
        let figures = one_seed(seed, &binary, python.as_deref()).await;
        println!("chaos seed {seed}: {figures:?}");
        all.push(figures);
    }
    let sum = |f: fn(&Figures) -> u64| all.iter().map(f).sum::<u64>();
    println!(
        "chaos: {} seeds, {} runs committed, {} events, {} duplicates delivered, {} attempts ({} failed), {} environments killed, {} dead-lettered, {} events replayed (from the DLQ, and old ones after the commit), {} rows checked, {} values of latest.json (all forward), {} runs orphaned by a retried first invocation",
        SEEDS.len(),
        all.iter().map(|f| f.runs_committed).sum::<usize>(),
        sum(|f| f.events),
        sum(|f| f.duplicates),
        sum(|f| f.attempts),
        sum(|f| f.failed_attempts),
        sum(|f| f.kills),
        sum(|f| f.dead_lettered),
        sum(|f| f.replayed),
        sum(|f| f.rows_checked),
        all.iter().map(|f| f.latest_values).sum::<usize>(),
        all.iter().map(|f| f.orphaned_runs).sum::<usize>(),
    );
    assert!(sum(|f| f.duplicates) > 0, "duplicates were delivered");
    assert!(sum(|f| f.kills) > 0, "environments were killed");
    assert!(
        sum(|f| f.failed_attempts) > 0,
        "invocations failed and were retried"
    );
}

async fn one_seed(seed: u64, binary: &Path, python: Option<&Path>) -> Figures {
    let data = mock_vanta::DataConfig {
        seed,
        vulnerabilities: VULNERABILITIES,
        remediations: REMEDIATIONS,
        assets: ASSETS,
        now: "2026-11-26T06:00:00.000Z".parse().unwrap(),
    };
    let vanta = mock_vanta::Server::start(mock_vanta::Config {
        data,
        faults: mock_vanta::Faults {
            rate: 0.03,
            kinds: vec![
                mock_vanta::FaultKind::Status500,
                mock_vanta::FaultKind::Status502,
                mock_vanta::FaultKind::Status503,
                mock_vanta::FaultKind::Status504,
                mock_vanta::FaultKind::Reset,
                mock_vanta::FaultKind::Truncated,
            ],
            seed,
            // A page takes ~40 ms, so an invocation's one second of paging
            // is a few dozen pages across the three streams.
            latency_ms: 40,
            ..mock_vanta::Faults::default()
        },
        ..mock_vanta::Config::default()
    })
    .await
    .unwrap();

    let mut specs = emulator::template::load_functions(
        &template(),
        &[(FUNCTION.to_string(), binary.to_path_buf())],
    )
    .expect("template.yaml");
    let spec = &mut specs[0];
    assert_eq!(
        spec.event_invoke.as_ref().map(|c| c.maximum_retry_attempts),
        Some(2),
        "the template's EventInvokeConfig"
    );
    // Three seconds with a two-second margin: every invocation pages for
    // about one second, checkpoints and continues.
    spec.timeout_s = 3;
    for (k, v) in [
        ("VANTA_CLIENT_ID", "vci_mock".to_string()),
        ("VANTA_CLIENT_SECRET", "vcs_mock".to_string()),
        ("VANTA_BASE_URL", vanta.base_url()),
        ("VANTA_RATE_LIMIT_PER_MIN", "0".to_string()),
        ("S3_BUCKET", BUCKET.to_string()),
        ("S3_PREFIX", PREFIX.to_string()),
        ("CHECKPOINT_MARGIN_S", "2".to_string()),
    ] {
        spec.environment.insert(k.to_string(), v);
    }
    let state = tempfile::tempdir().unwrap();
    let emu = emulator::Emulator::start(emulator::EmulatorConfig {
        functions: specs,
        state_dir: Some(state.path().to_path_buf()),
        s3_fault_rate: 0.10,
        ..emulator::EmulatorConfig::default()
    })
    .await
    .unwrap();
    let service = emu.lambda();
    // AWS's 1- and 2-minute retry delays become 0.12 s and 0.24 s.
    service.set_async_time_scale(0.002).unwrap();
    service
        .set_faults(FaultSettings {
            duplicate_rate: 0.2,
            concurrent_share: 0.5,
            kill_rate: 0.05,
            kill_within: Duration::from_millis(1500),
            seed,
        })
        .unwrap();

    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(emu.endpoint_url())
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        // The test's own reads go through the same 10 % S3 faults.
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(10))
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();

    // Every value latest.json takes, in order. The watcher polls every
    // 20 ms and retries a faulted read after at most 20 ms too: with the
    // SDK's default backoff (up to 20 s) three faulted reads in a row could
    // keep it asleep through a whole chain.
    let history = Arc::new(Mutex::new(Vec::<String>::new()));
    let watcher = {
        let s3 = aws_sdk_s3::Client::from_conf(
            s3.config()
                .to_builder()
                .retry_config(
                    aws_config::retry::RetryConfig::standard()
                        .with_max_attempts(10)
                        .with_max_backoff(Duration::from_millis(20)),
                )
                .build(),
        );
        let history = history.clone();
        tokio::spawn(async move {
            loop {
                record_latest(&s3, &history).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let older = "2026-11-26T05:00:00.000Z";
    let newer = "2026-11-26T06:00:00.000Z";
    for as_of in [older, newer] {
        event(&lambda, &json!({ "asOf": as_of })).await;
    }

    // Settle: no delivery in flight, then replay what the DLQ holds.
    let dlq_url = sqs
        .get_queue_url()
        .queue_name(DLQ)
        .send()
        .await
        .expect("the template's DLQ exists")
        .queue_url()
        .unwrap()
        .to_string();
    let mut replayed = 0u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "seed {seed}: the chains did not settle: {:?}",
            service.event_stats(FUNCTION)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let s = service.event_stats(FUNCTION).unwrap();
        if s.accepted + s.duplicates != s.succeeded + s.dead_lettered + s.expired {
            continue;
        }
        let out = sqs
            .receive_message()
            .queue_url(&dlq_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if out.messages().is_empty() {
            // Nothing in flight, nothing failed: settled (checked twice, as
            // a delivery may be between attempts' bookkeeping).
            tokio::time::sleep(Duration::from_millis(300)).await;
            let again = service.event_stats(FUNCTION).unwrap();
            if again == s {
                break;
            }
            continue;
        }
        for m in out.messages() {
            let record: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            // Only events that failed on every attempt reach the DLQ.
            assert_eq!(
                record["requestContext"]["condition"], "RetriesExhausted",
                "{record}"
            );
            assert_eq!(
                record["requestContext"]["approximateInvokeCount"], 3,
                "{record}"
            );
            assert_eq!(
                record["responseContext"]["functionError"], "Unhandled",
                "{record}"
            );
            event(&lambda, &record["requestPayload"]).await;
            replayed += 1;
            sqs.delete_message()
                .queue_url(&dlq_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    watcher.abort();
    // The value it settled on, whenever the watcher last looked.
    record_latest(&s3, &history).await;
    let stats = service.event_stats(FUNCTION).unwrap();
    assert_eq!(stats.expired, 0, "no event outlived its maximum age");

    // The bucket as it is now.
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix(format!("{PREFIX}/"))
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key())
                .map(str::to_string),
        );
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let run_of = |key: &str| {
        key.split('/')
            .find_map(|s| s.strip_prefix("run="))
            .map(str::to_string)
    };
    let mut manifests: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    let mut started: BTreeSet<String> = BTreeSet::new();
    for key in keys.iter().filter(|k| k.contains("/snapshots/")) {
        let Some(run) = run_of(key) else { continue };
        started.insert(run.clone());
        if key.ends_with("_manifest.json") {
            manifests.entry(run).or_default().push(key);
        }
    }
    for (run, list) in &manifests {
        assert_eq!(
            list.len(),
            1,
            "seed {seed}: run {run} has one manifest: {list:?}"
        );
    }
    // Each requested run committed.
    let mut committed_as_of = BTreeSet::new();
    for list in manifests.values() {
        let manifest = get_json(&s3, list[0]).await;
        committed_as_of.insert(manifest["asOf"].as_str().unwrap_or_default().to_string());
    }
    for as_of in [older, newer] {
        assert!(
            committed_as_of.iter().any(|a| a.starts_with(&as_of[..19])),
            "seed {seed}: the run as of {as_of} committed ({committed_as_of:?})"
        );
    }

    // latest.json moved only forward and ends at the newer run.
    let history = history.lock().unwrap().clone();
    assert!(!history.is_empty(), "latest.json was written");
    assert!(
        history.windows(2).all(|w| w[0] < w[1]),
        "seed {seed}: latest.json moved backward: {history:?}"
    );
    let latest = get_json(&s3, &format!("{PREFIX}/latest.json")).await;
    assert!(
        latest["asOf"].as_str().unwrap().starts_with(&newer[..19]),
        "{latest}"
    );

    // Read every committed snapshot as Athena does: the symlink files of
    // the run's partition, then the Parquet files they name.
    let dir = tempfile::tempdir().unwrap();
    let mut files: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut n = 0;
    for run in manifests.keys() {
        for dataset in ["vulnerabilities", "remediations", "vulnerable_assets"] {
            let location = format!("/run={run}/{dataset}/");
            let links: Vec<&String> = keys
                .iter()
                .filter(|k| k.starts_with(&format!("{PREFIX}/symlinks/")) && k.contains(&location))
                .collect();
            assert_eq!(links.len(), 1, "seed {seed}: {run}/{dataset}: {links:?}");
            let text = String::from_utf8(get(&s3, links[0]).await).unwrap();
            let list = files
                .entry(run.clone())
                .or_default()
                .entry(dataset.to_string())
                .or_default();
            for url in text.lines() {
                let key = url.strip_prefix(&format!("s3://{BUCKET}/")).unwrap();
                n += 1;
                let path = dir.path().join(format!("{n}.parquet"));
                std::fs::write(&path, get(&s3, key).await).unwrap();
                list.push(path.to_string_lossy().into_owned());
            }
        }
    }
    let mut cmd = Command::new("python3");
    cmd.args(["-c", READER, &serde_json::to_string(&files).unwrap()]);
    if let Some(p) = python {
        cmd.env("PYTHONPATH", p);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "duckdb reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut rows_checked = 0;
    for run in manifests.keys() {
        for (dataset, expected) in [
            ("vulnerabilities", VULNERABILITIES),
            ("remediations", REMEDIATIONS),
            ("vulnerable_assets", ASSETS),
        ] {
            let got = &read[run][dataset];
            assert_eq!(
                (got["rows"].as_u64(), got["ids"].as_u64()),
                (Some(expected), Some(expected)),
                "seed {seed}: run {run} {dataset}: every record once"
            );
            rows_checked += expected;
        }
    }

    // No multipart upload left open (the store keeps one file per upload).
    let open: Vec<_> = std::fs::read_dir(state.path().join(".store"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("upload-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        open.is_empty(),
        "seed {seed}: open multipart uploads: {open:?}"
    );

    // An operator replays old events after the fact, with the faults off
    // but S3's: every checkpoint of the committed runs (each answered
    // already-complete, changing nothing) and one event that truly fails
    // (a checkpoint that does not exist), which alone reaches the DLQ.
    service.set_faults(FaultSettings::default()).unwrap();
    let old_events: Vec<&String> = keys
        .iter()
        .filter(|k| k.contains("/_checkpoints/") && k.ends_with(".json"))
        .filter(|k| run_of(k).is_some_and(|r| manifests.contains_key(&r)))
        .collect();
    for key in &old_events {
        event(&lambda, &json!({ "resume": key })).await;
    }
    let bogus = json!({
        "resume": format!("{PREFIX}/snapshots/dt=2026-01-01/run=missing/_checkpoints/00001.json")
    });
    event(&lambda, &bogus).await;
    let mut failed = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while failed.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "seed {seed}: the failing replay never reached the DLQ"
        );
        let out = sqs
            .receive_message()
            .queue_url(&dlq_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        failed.extend(
            out.messages()
                .iter()
                .map(|m| m.body().unwrap_or_default().to_string()),
        );
    }
    loop {
        let s = service.event_stats(FUNCTION).unwrap();
        if s.accepted + s.duplicates == s.succeeded + s.dead_lettered + s.expired {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "seed {seed}: replays did not settle"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = sqs
        .receive_message()
        .queue_url(&dlq_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    failed.extend(
        out.messages()
            .iter()
            .map(|m| m.body().unwrap_or_default().to_string()),
    );
    assert_eq!(
        failed.len(),
        1,
        "seed {seed}: only the failing replay is dead-lettered: {failed:?}"
    );
    let record: Value = serde_json::from_str(&failed[0]).unwrap();
    assert_eq!(record["requestPayload"], bogus);
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    let mut after = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix(format!("{PREFIX}/"))
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        after.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key())
                .map(str::to_string),
        );
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(
        after, keys,
        "seed {seed}: replays after the commit wrote nothing"
    );
    let latest_after = get_json(&s3, &format!("{PREFIX}/latest.json")).await;
    assert_eq!(
        latest_after, latest,
        "seed {seed}: replays left latest.json alone"
    );

    let stats = service.event_stats(FUNCTION).unwrap();
    let figures = Figures {
        events: stats.accepted,
        duplicates: stats.duplicates,
        attempts: stats.attempts,
        failed_attempts: stats.failed_attempts,
        kills: service.kills(),
        dead_lettered: stats.dead_lettered,
        replayed: replayed + old_events.len() as u64 + 1,
        runs_committed: manifests.len(),
        orphaned_runs: started.len() - manifests.len(),
        rows_checked,
        latest_values: history.len(),
    };
    assert_eq!(figures.dead_lettered, replayed + 1);
    emu.shutdown().await;
    vanta.shutdown().await;
    figures
}

/// Appends latest.json's `asOf` to `history` when it differs from the last
/// value seen (a missing or faulted read records nothing).
async fn record_latest(s3: &aws_sdk_s3::Client, history: &Mutex<Vec<String>>) {
    let Ok(out) = s3
        .get_object()
        .bucket(BUCKET)
        .key(format!("{PREFIX}/latest.json"))
        .send()
        .await
    else {
        return;
    };
    let Ok(body) = out.body.collect().await else {
        return;
    };
    if let Ok(v) = serde_json::from_slice::<Value>(&body.into_bytes()) {
        let as_of = v["asOf"].as_str().unwrap_or_default().to_string();
        let mut h = history.lock().unwrap();
        if h.last() != Some(&as_of) {
            h.push(as_of);
        }
    }
}

async fn event(lambda: &aws_sdk_lambda::Client, payload: &Value) {
    let out = lambda
        .invoke()
        .function_name(FUNCTION)
        .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 202);
}

async fn get(s3: &aws_sdk_s3::Client, key: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

async fn get_json(s3: &aws_sdk_s3::Client, key: &str) -> Value {
    serde_json::from_slice(&get(s3, key).await).unwrap()
}
