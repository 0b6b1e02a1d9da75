//! The engine against the running mock-vanta and the emulator's S3: exact
//! counts, Parquet schemas read back, `stats.json` equal to mock-vanta's
//! expected statistics, faults, checkpoints, dry runs and failures.

use crate::support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use support::*;
use vanta_vuln_sync::engine::{Batching, Status, SyncOptions};
use vanta_vuln_sync::event::SyncEvent;
use vanta_vuln_sync::handler::metric_set;
use vanta_vuln_sync::sink::parquet::ParquetRecord;
use vanta_vuln_sync::vanta::model::{Remediation, Vulnerability, VulnerableAsset};

fn event_as_of(w: &World) -> SyncEvent {
    SyncEvent {
        as_of: Some(w.data.now),
        ..SyncEvent::default()
    }
}

/// Checks a committed snapshot end to end: latest → manifest → parts → stats.
async fn verify_snapshot(w: &World, run_id: &str) {
    let latest = w.get_json(&format!("{PREFIX}/latest.json")).await;
    assert_eq!(latest["runId"], run_id);
    let manifest_key = latest["manifest"].as_str().unwrap();
    assert!(manifest_key.starts_with(&format!("{PREFIX}/snapshots/dt=")));
    assert!(manifest_key.contains(&format!("/run={run_id}/")));
    let manifest = w.get_json(manifest_key).await;
    let want = [
        (
            "vulnerabilities",
            w.data.vulnerabilities,
            Vulnerability::schema(),
        ),
        ("remediations", w.data.remediations, Remediation::schema()),
        (
            "vulnerable_assets",
            w.data.assets,
            VulnerableAsset::schema(),
        ),
    ];
    let counts_key = ["vulnerabilities", "remediations", "vulnerableAssets"];
    for ((dataset, expected, schema), count_key) in want.into_iter().zip(counts_key) {
        assert_eq!(manifest["counts"][count_key], expected, "{dataset} count");
        let files: Vec<&Value> = manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["dataset"] == dataset)
            .collect();
        assert!(!files.is_empty(), "{dataset} has at least one file");
        let mut ids = HashSet::new();
        let mut rows = 0u64;
        for f in files {
            let key = f["key"].as_str().unwrap();
            assert!(key.contains(&format!("/{dataset}/part-")) && key.ends_with(".parquet"));
            let bytes = w.get(key).await.unwrap();
            assert_eq!(
                bytes.len() as u64,
                f["sizeBytes"].as_u64().unwrap(),
                "{key} size"
            );
            let (file_schema, file_ids) = read_parquet(bytes);
            assert_eq!(file_schema.fields(), schema.fields(), "{key} schema");
            assert_eq!(
                file_ids.len() as u64,
                f["rows"].as_u64().unwrap(),
                "{key} rows"
            );
            rows += file_ids.len() as u64;
            ids.extend(file_ids);
        }
        assert_eq!(rows, expected, "{dataset} rows");
        assert_eq!(ids.len() as u64, expected, "{dataset} ids are unique");
    }
    let stats = w.get_json(manifest["stats"].as_str().unwrap()).await;
    assert_json_close(&stats, &mock_vanta::expected_stats(&w.data), "stats");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_counts_for_0_1_101_and_25000() {
    for (v, r, a) in [
        (0, 0, 0),
        (1, 1, 1),
        (101, 101, 101),
        (25_000, 10_000, 2_000),
    ] {
        let w = World::with_data(data(v, r, a)).await;
        let options = SyncOptions {
            // Small files so the large case rolls over to several parts.
            max_file_bytes: 2 * 1024 * 1024,
            rows_per_row_group: 2_000,
            ..SyncOptions::default()
        };
        let engine = w.engine("vcs_mock", options);
        let (outcome, invocations) = run_to_completion(&engine, event_as_of(&w), None)
            .await
            .unwrap();
        assert_eq!(invocations, 1);
        assert_eq!(outcome.status, Status::Complete);
        assert_eq!(
            (
                outcome.counts.vulnerabilities,
                outcome.counts.remediations,
                outcome.counts.vulnerable_assets
            ),
            (v, r, a)
        );
        assert_eq!(outcome.stored, v + r + a);
        let snapshot = outcome.snapshot.clone().unwrap();
        assert!(snapshot.starts_with(&format!("s3://{BUCKET}/{PREFIX}/snapshots/dt=")));
        verify_snapshot(&w, &outcome.run_id).await;
        if v == 25_000 {
            let parts = w
                .keys()
                .await
                .into_iter()
                .filter(|k| k.contains("/vulnerabilities/part-"))
                .count();
            assert!(
                parts >= 2,
                "a 2 MiB bound splits 25,000 vulnerabilities ({parts} part)"
            );
        }
        w.vanta.shutdown().await;
        w.emulator.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_faults_of_every_kind() {
    let mut config = mock_vanta::Config {
        data: data(3_000, 1_500, 300),
        ..mock_vanta::Config::default()
    };
    config.faults = mock_vanta::Faults {
        rate: 0.10,
        kinds: mock_vanta::FaultKind::ALL.to_vec(),
        seed: 11,
        slow_ms: 300,
        ..mock_vanta::Faults::default()
    };
    let w = World::start(config).await;
    let engine = w.engine("vcs_mock", SyncOptions::default());
    let (outcome, _) = run_to_completion(&engine, event_as_of(&w), None)
        .await
        .unwrap();
    assert!(
        outcome.retries > 0,
        "faults were injected, so requests were retried"
    );
    verify_snapshot(&w, &outcome.run_id).await;
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_lose_and_duplicate_nothing() {
    let w = World::with_data(data(3_000, 1_000, 150)).await;
    let options = SyncOptions {
        checkpoint_margin: Duration::ZERO,
        rows_per_row_group: 1_000,
        // Rows buffered for the writer when a stream stops must still
        // reach its part file.
        batching: Batching::Always,
        ..SyncOptions::default()
    };
    let engine = w.engine("vcs_mock", options);
    // A deadline that has already passed: every stream stops after its first
    // page or two (the stop signal races the first write), so the run splits
    // into many invocations whatever the machine's speed (30 pages of
    // vulnerabilities).
    let (outcome, invocations) = run_to_completion(&engine, event_as_of(&w), Some(Duration::ZERO))
        .await
        .unwrap();
    assert!(invocations >= 5, "only {invocations} invocations");
    assert_eq!(outcome.invocation as usize, invocations);
    let checkpoints = w
        .keys()
        .await
        .into_iter()
        .filter(|k| k.contains("/_checkpoints/") && k.ends_with(".json"))
        .count();
    // One per invocation: each step is fenced by creating the next one, the
    // last (final) one included.
    assert_eq!(checkpoints, invocations);
    verify_snapshot(&w, &outcome.run_id).await;
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_writes_nothing() {
    let w = World::with_data(data(500, 200, 50)).await;
    let engine = w.engine("vcs_mock", SyncOptions::default());
    let event = SyncEvent {
        dry_run: true,
        ..event_as_of(&w)
    };
    let (outcome, _) = run_to_completion(&engine, event, None).await.unwrap();
    assert!(outcome.dry_run && outcome.snapshot.is_none());
    assert_eq!(outcome.counts.total(), 750);
    assert_eq!(outcome.stored, 0);
    assert_json_close(
        &outcome.stats.document(w.data.now),
        &mock_vanta::expected_stats(&w.data),
        "stats",
    );
    assert!(
        w.keys().await.is_empty(),
        "a dry run wrote {:?}",
        w.keys().await
    );
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_fail_without_touching_the_snapshot() {
    let w = World::with_data(data(120, 30, 10)).await;
    let good = w.engine("vcs_mock", SyncOptions::default());
    run_to_completion(&good, event_as_of(&w), None)
        .await
        .unwrap();
    let latest_before = w.get(&format!("{PREFIX}/latest.json")).await.unwrap();
    let manifests_before = manifests(&w).await;

    let bad = w.engine("vcs_wrong_secret", SyncOptions::default());
    let err = run_to_completion(&bad, event_as_of(&w), None)
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("client credentials") && msg.contains("401"),
        "{msg}"
    );
    assert!(!msg.contains("vcs_wrong_secret"));
    let metrics = metric_set(None, false, 1.0).to_emf("vanta-vuln-sync", 0);
    assert_eq!(metrics["SyncFailure"], 1);
    assert_eq!(metrics["SyncSuccess"], 0);
    assert_eq!(manifests(&w).await, manifests_before, "no new manifest");
    assert_eq!(
        w.get(&format!("{PREFIX}/latest.json")).await.unwrap(),
        latest_before,
        "latest.json unchanged"
    );
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

async fn manifests(w: &World) -> Vec<String> {
    w.keys()
        .await
        .into_iter()
        .filter(|k| k.ends_with("_manifest.json"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_day_rerun_is_a_new_run_and_moves_latest() {
    let w = World::with_data(data(50, 20, 5)).await;
    let engine = w.engine("vcs_mock", SyncOptions::default());
    let (first, _) = run_to_completion(&engine, event_as_of(&w), None)
        .await
        .unwrap();
    let (second, _) = run_to_completion(&engine, event_as_of(&w), None)
        .await
        .unwrap();
    assert_ne!(first.run_id, second.run_id);
    assert_eq!(manifests(&w).await.len(), 2);
    verify_snapshot(&w, &second.run_id).await;
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything runs on this one thread so the thread's subscriber sees every
/// line, at TRACE, through a real re-authentication and a failure.
#[tokio::test(flavor = "current_thread")]
async fn logs_hold_neither_secret_nor_token() {
    let cap = Capture::default();
    let writer = cap.clone();
    let sub = vanta_vuln_sync::logging::subscriber(
        vanta_vuln_sync::logging::LogFormat::Json,
        tracing::Level::TRACE,
        move || writer.clone(),
    );
    let _guard = tracing::subscriber::set_default(sub);

    let mut config = mock_vanta::Config {
        data: data(300, 100, 20),
        ..mock_vanta::Config::default()
    };
    // Short-lived tokens and one live token per client force re-authentication.
    config.limits.single_token = true;
    config.limits.token_ttl_s = 1;
    config.faults.rate = 0.05;
    config.faults.slow_ms = 100;
    let w = World::start(config).await;
    let engine = w.engine("vcs_mock", SyncOptions::default());
    run_to_completion(&engine, event_as_of(&w), None)
        .await
        .unwrap();
    let bad = w.engine("vcs_mock_but_wrong", SyncOptions::default());
    let err = run_to_completion(&bad, event_as_of(&w), None)
        .await
        .unwrap_err();
    tracing::error!(error_type = "SyncFailure", "{err}");

    let text = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
    assert!(text.lines().count() >= 3, "the run logged: {text}");
    for line in text.lines() {
        serde_json::from_str::<Value>(line).expect("every line is JSON");
    }
    assert!(text.contains("snapshot committed"));
    assert!(!text.contains("vcs_mock"), "client secret leaked");
    assert!(!text.contains("vat_"), "token leaked");
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

/// A fetcher stuck in a long `Retry-After` does not hold the invocation past
/// its deadline: the stream stops after the last page written and the
/// checkpoint's cursor points right after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_interrupts_a_long_backoff() {
    use vanta_vuln_sync::config::{Credentials, Secret};
    use vanta_vuln_sync::engine::{Continuer, Engine};
    use vanta_vuln_sync::sink::s3::Bucket;
    use vanta_vuln_sync::vanta::{ClientOptions, VantaClient};
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"access_token": "vat_x", "expires_in": 3600})),
        )
        .mount(&server)
        .await;
    let page = |ids: &[&str], end: Option<&str>, next: bool| {
        serde_json::json!({"results": {
            "pageInfo": {"startCursor": null, "endCursor": end, "hasNextPage": next, "hasPreviousPage": false},
            "data": ids.iter().map(|id| serde_json::json!({"id": id})).collect::<Vec<_>>()}})
    };
    Mock::given(method("GET"))
        .and(path("/v1/vulnerabilities"))
        .and(query_param("pageCursor", "c1"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "60"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/vulnerabilities"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(&["v1"], Some("c1"), true)))
        .with_priority(10)
        .mount(&server)
        .await;
    for p in ["/v1/vulnerability-remediations", "/v1/vulnerable-assets"] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_json(page(&[], None, false)))
            .mount(&server)
            .await;
    }
    let emu = emulator::Emulator::start(emulator::EmulatorConfig::default())
        .await
        .unwrap();
    let s3 = s3_client(&emu.endpoint_url());
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let mut o = ClientOptions::new(
        server.uri(),
        Credentials {
            client_id: "vci_x".into(),
            client_secret: Secret::new("vcs_x"),
        },
    );
    o.rate_limit_per_min = 0;
    let engine = Engine::new(
        std::sync::Arc::new(VantaClient::new(o).unwrap()),
        Bucket::new(s3.clone(), BUCKET),
        PREFIX,
        SyncOptions {
            checkpoint_margin: Duration::ZERO,
            ..SyncOptions::default()
        },
    );
    let (continuer, queue) = Continuer::collector();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        engine.run(&SyncEvent::default(), Some(deadline), &continuer),
    )
    .await
    .expect("the deadline must cut the 60 s backoff short")
    .unwrap();
    assert_eq!(outcome.status, Status::Continued);
    assert_eq!(outcome.counts.vulnerabilities, 1);
    let key = outcome.checkpoint.unwrap();
    assert_eq!(queue.lock().unwrap()[0]["resume"], key.as_str());
    let cp: Value = serde_json::from_slice(
        &s3.get_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes(),
    )
    .unwrap();
    assert_eq!(cp["vulnerabilities"]["cursor"], "c1");
    assert_eq!(cp["vulnerabilities"]["done"], false);
    assert_eq!(cp["remediations"]["done"], true);
    assert_eq!(cp["vulnerabilities"]["parts"][0]["rows"], 1);
    emu.shutdown().await;
}

/// Vanta's limits, scaled to a one-second window (20 list calls and 5 token
/// calls per window, one live token): paced at 1,000 a minute the sync never
/// sees a 429; unpaced, the same sync is throttled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacer_keeps_under_the_rate_limit() {
    use vanta_vuln_sync::config::{Credentials, Secret};
    use vanta_vuln_sync::engine::Engine;
    use vanta_vuln_sync::sink::s3::Bucket;
    use vanta_vuln_sync::vanta::{ClientOptions, RetryPolicy, VantaClient};

    let mut config = mock_vanta::Config {
        data: data(1_500, 400, 40),
        ..mock_vanta::Config::default()
    };
    config.limits = mock_vanta::Limits {
        requests_per_window: 20,
        token_requests_per_window: 5,
        window: Duration::from_secs(1),
        ..mock_vanta::Limits::realistic()
    };
    let w = World::start(config).await;
    let engine = |per_minute: u32| {
        let mut o = ClientOptions::new(
            w.vanta.base_url(),
            Credentials {
                client_id: "vci_mock".into(),
                client_secret: Secret::new("vcs_mock"),
            },
        );
        o.rate_limit_per_min = per_minute;
        o.pacing = vanta_vuln_sync::vanta::PacingMode::Even;
        o.retry = RetryPolicy {
            max_attempts: 20,
            base: Duration::from_millis(5),
            cap: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(2),
        };
        Engine::new(
            Arc::new(VantaClient::new(o).unwrap()),
            Bucket::new(w.s3.clone(), BUCKET),
            PREFIX,
            SyncOptions::default(),
        )
    };
    let (paced, _) = run_to_completion(&engine(1_000), event_as_of(&w), None)
        .await
        .unwrap();
    assert_eq!(paced.retries, 0, "a paced sync is never throttled");
    verify_snapshot(&w, &paced.run_id).await;

    let (unpaced, _) = run_to_completion(&engine(0), event_as_of(&w), None)
        .await
        .unwrap();
    assert!(unpaced.retries > 0, "without the pacer the limit is hit");
    assert_eq!(unpaced.counts, paced.counts);
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

/// A part file larger than S3's 5 MiB minimum part goes up as a multipart
/// upload (a full part, then the rest) and reads back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_part_files_use_multipart_upload() {
    let w = World::with_data(data(60_000, 10, 10)).await;
    let engine = w.engine("vcs_mock", SyncOptions::default());
    let (outcome, _) = run_to_completion(&engine, event_as_of(&w), None)
        .await
        .unwrap();
    verify_snapshot(&w, &outcome.run_id).await;
    let manifest = w
        .get_json(&format!(
            "{}_manifest.json",
            outcome
                .snapshot
                .unwrap()
                .trim_start_matches(&format!("s3://{BUCKET}/"))
        ))
        .await;
    let biggest = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["sizeBytes"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(
        biggest > 5 * 1024 * 1024,
        "expected a file larger than one 5 MiB part, got {biggest} bytes"
    );
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

/// Parts are cut at exactly the part size whatever the writes' sizes, so
/// the last part (sent after the data's last page) is never more than one
/// part. S3's ETag of a multipart object is the MD5 of its parts' MD5s and
/// their count, so it tells where the parts were cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_are_cut_at_exactly_the_part_size() {
    use md5::{Digest, Md5};
    use vanta_vuln_sync::sink::s3::{Bucket, MIN_PART_BYTES};

    let w = World::with_data(data(1, 1, 1)).await;
    let bucket = Bucket::new(w.s3.clone(), BUCKET);
    // Row-group-sized writes that straddle the part boundaries, then one
    // write larger than two parts.
    let writes: Vec<Vec<u8>> = (0..9u8)
        .map(|i| vec![i; 1_400_000])
        .chain(std::iter::once(
            (0..2 * MIN_PART_BYTES + 77)
                .map(|i| (i % 251) as u8)
                .collect(),
        ))
        .collect();
    let all: Vec<u8> = writes.concat();
    let key = format!("{PREFIX}/snapshots/x/part-00000-cccccccc.parquet");
    let mut upload = bucket.upload(key.clone(), MIN_PART_BYTES);
    for chunk in writes {
        upload.write(chunk).await.unwrap();
    }
    assert_eq!(upload.finish().await.unwrap(), all.len() as u64);

    let parts: Vec<&[u8]> = all.chunks(MIN_PART_BYTES).collect();
    assert_eq!(parts.len(), 5, "four full parts and the rest");
    let digests: Vec<u8> = parts.iter().flat_map(Md5::digest).collect();
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let expected = format!("\"{}-{}\"", hex(&Md5::digest(&digests)), parts.len());
    let head =
        w.s3.head_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .unwrap();
    assert_eq!(head.e_tag(), Some(expected.as_str()));
    assert_eq!(w.get(&key).await.unwrap(), all);
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

/// Checkpoints taken while requests fail and are retried still add up to
/// exactly the dataset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_under_faults() {
    let mut config = mock_vanta::Config {
        data: data(5_000, 1_000, 100),
        ..mock_vanta::Config::default()
    };
    config.faults = mock_vanta::Faults {
        rate: 0.10,
        seed: 5,
        slow_ms: 200,
        ..mock_vanta::Faults::default()
    };
    let w = World::start(config).await;
    let options = SyncOptions {
        checkpoint_margin: Duration::ZERO,
        ..SyncOptions::default()
    };
    let engine = w.engine("vcs_mock", options);
    let (outcome, invocations) = run_to_completion(&engine, event_as_of(&w), Some(Duration::ZERO))
        .await
        .unwrap();
    // A page or two per stream per invocation (see above): 50 pages of
    // vulnerabilities take many invocations whatever the machine's speed.
    assert!(invocations >= 5, "only {invocations} invocations");
    assert!(outcome.retries > 0);
    verify_snapshot(&w, &outcome.run_id).await;
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}
