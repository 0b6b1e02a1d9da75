//! At-least-once in, exactly-once out: duplicate continuations, replays after
//! the commit, late older runs and killed attempts leave every committed
//! snapshot complete and exact (each of mock-vanta's records once), and
//! `latest.json` only moves forward.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::Value;
use support::*;
use tokio::time::Instant;
use vanta_vuln_sync::engine::{Continuer, Engine, Status, SyncOptions};
use vanta_vuln_sync::event::SyncEvent;
use vanta_vuln_sync::vanta::model::Page;
use vanta_vuln_sync::vanta::Endpoint;

const DATASETS: [(&str, Endpoint); 3] = [
    ("vulnerabilities", Endpoint::Vulnerabilities),
    ("remediations", Endpoint::Remediations),
    ("vulnerable_assets", Endpoint::VulnerableAssets),
];

fn event_at(at: DateTime<Utc>) -> SyncEvent {
    SyncEvent {
        as_of: Some(at),
        ..SyncEvent::default()
    }
}

/// Small files and no checkpoint margin: a run with an expired deadline
/// checkpoints after a page or two per stream.
fn options() -> SyncOptions {
    SyncOptions {
        checkpoint_margin: Duration::ZERO,
        rows_per_row_group: 500,
        max_file_bytes: 64 * 1024,
        ..SyncOptions::default()
    }
}

/// Every id mock-vanta serves for `endpoint`, in order, read page by page
/// (mock-vanta serves the same records to every reader).
async fn mock_ids(w: &World, endpoint: Endpoint) -> Vec<String> {
    let client = w.client("vcs_mock");
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let raw = client
            .fetch_page(endpoint, cursor.as_deref())
            .await
            .unwrap();
        let page: Page<Value> = raw.decode().unwrap();
        ids.extend(
            page.data
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned()),
        );
        if !page.has_next_page {
            return ids;
        }
        cursor = page.end_cursor;
    }
}

/// The manifest of run `run_id`.
async fn manifest_of(w: &World, run_id: &str) -> (String, Value) {
    let keys = w.keys().await;
    let key = keys
        .iter()
        .find(|k| k.ends_with(&format!("/run={run_id}/_manifest.json")))
        .unwrap_or_else(|| panic!("run {run_id} has no manifest"))
        .clone();
    let manifest = w.get_json(&key).await;
    (key, manifest)
}

/// The committed snapshot of `run_id`, read the way Athena reads its
/// tables (the partition location `symlinks/dt=…/run=…/<dataset>/` holds one
/// symlink file naming the Parquet files), holds each of mock-vanta's records
/// exactly once (compared id for id, duplicates included); the symlink files
/// name exactly the manifest's files, each of the size and rows it claims.
async fn assert_exact(w: &World, run_id: &str) {
    let (manifest_key, manifest) = manifest_of(w, run_id).await;
    let run_prefix = manifest_key.trim_end_matches("_manifest.json").to_owned();
    let table_run = run_prefix.replacen(
        &format!("{PREFIX}/snapshots/"),
        &format!("{PREFIX}/symlinks/"),
        1,
    );
    let files = manifest["files"].as_array().unwrap();
    let keys = w.keys().await;
    for (dataset, endpoint) in DATASETS {
        let location = format!("{table_run}{dataset}/");
        let in_location: Vec<&String> = keys.iter().filter(|k| k.starts_with(&location)).collect();
        assert_eq!(
            in_location,
            vec![&format!("{location}symlink.txt")],
            "the table's partition location holds just the symlink file"
        );
        let symlink = w.get(in_location[0]).await.unwrap();
        let linked: Vec<String> = std::str::from_utf8(&symlink)
            .unwrap()
            .lines()
            .map(|l| {
                l.strip_prefix(&format!("s3://{BUCKET}/"))
                    .unwrap_or_else(|| panic!("{l} is not in s3://{BUCKET}/"))
                    .to_owned()
            })
            .collect();
        let listed: Vec<&Value> = files.iter().filter(|f| f["dataset"] == dataset).collect();
        assert_eq!(
            linked,
            listed
                .iter()
                .map(|f| f["key"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>(),
            "{dataset}: the symlink file names exactly the manifest's files"
        );
        let mut got = Vec::new();
        for f in listed {
            let key = f["key"].as_str().unwrap();
            let bytes = w.get(key).await.unwrap_or_else(|| panic!("{key} missing"));
            assert_eq!(
                bytes.len() as u64,
                f["sizeBytes"].as_u64().unwrap(),
                "{key}"
            );
            let (_, ids) = read_parquet(bytes);
            assert_eq!(ids.len() as u64, f["rows"].as_u64().unwrap(), "{key} rows");
            got.extend(ids);
        }
        let mut want = mock_ids(w, endpoint).await;
        assert_eq!(got.len(), want.len(), "{dataset}: rows vs mock records");
        got.sort();
        want.sort();
        assert!(
            got == want,
            "{dataset}: the rows are not the mock's records one for one"
        );
    }
}

/// Every object under the prefix with its bytes.
async fn objects(w: &World) -> BTreeMap<String, Bytes> {
    let mut all = BTreeMap::new();
    for k in w.keys().await {
        let bytes = w.get(&k).await.unwrap();
        all.insert(k, bytes);
    }
    all
}

/// Starts a run with a deadline already passed: it checkpoints at once.
/// Returns the outcome's run id and the continuation event.
async fn start_split(
    engine: &Engine,
    event: SyncEvent,
    continuer: &Continuer,
    queue: &std::sync::Mutex<Vec<Value>>,
) -> (String, SyncEvent) {
    let first = engine
        .run(&event, Some(Instant::now()), continuer)
        .await
        .unwrap();
    assert_eq!(first.status, Status::Continued);
    let payload = queue.lock().unwrap().pop().expect("a continuation");
    (first.run_id, SyncEvent::parse(&payload).unwrap())
}

/// Resumes `event` and every continuation it asks for, without deadline.
async fn finish(engine: &Engine, mut event: SyncEvent) -> String {
    let (continuer, queue) = Continuer::collector();
    loop {
        let outcome = engine.run(&event, None, &continuer).await.unwrap();
        match outcome.status {
            Status::Complete => return outcome.run_id,
            Status::Continued => {
                let payload = queue.lock().unwrap().pop().unwrap();
                event = SyncEvent::parse(&payload).unwrap();
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_executions_of_one_continuation() {
    let w = World::with_data(data(3_000, 1_000, 150)).await;
    let a = w.engine("vcs_mock", options());
    let b = w.engine("vcs_mock", options());
    let (continuer, queue) = Continuer::collector();
    let (run_id, resume) = start_split(&a, event_at(w.data.now), &continuer, &queue).await;

    // Both executions start together and run to the end of the run; only
    // one may commit it.
    let (ra, rb) = tokio::join!(
        a.run(&resume, None, &continuer),
        b.run(&resume, None, &continuer)
    );
    let mut statuses = vec![ra.unwrap().status, rb.unwrap().status];
    statuses.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(statuses, vec![Status::Complete, Status::Duplicate]);
    assert!(
        queue.lock().unwrap().is_empty(),
        "neither started a second chain"
    );
    assert_exact(&w, &run_id).await;
    let latest = w.get_json(&format!("{PREFIX}/latest.json")).await;
    assert_eq!(latest["runId"], run_id.as_str());
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_duplicate_stops_and_reinvokes_only_a_lost_continuation() {
    let w = World::with_data(data(3_000, 1_000, 150)).await;
    let engine = w.engine("vcs_mock", options());
    let (continuer, queue) = Continuer::collector();
    let (run_id, resume) = start_split(&engine, event_at(w.data.now), &continuer, &queue).await;
    // The step runs and continues.
    let step = engine
        .run(&resume, Some(Instant::now()), &continuer)
        .await
        .unwrap();
    assert_eq!(step.status, Status::Continued);
    let next = queue.lock().unwrap().clone();
    assert_eq!(next.len(), 1);
    let before = objects(&w).await;

    // A duplicate of the same event afterwards: stops, writes nothing, and
    // does not invoke the continuation again.
    let dup = engine.run(&resume, None, &continuer).await.unwrap();
    assert_eq!(dup.status, Status::Duplicate);
    assert_eq!(queue.lock().unwrap().len(), 1);
    assert!(objects(&w).await == before, "a duplicate changed objects");

    // Had the execution died between its checkpoint and its continuation
    // (no `.continued` record), a duplicate invokes the continuation.
    let checkpoint = step.checkpoint.clone().unwrap();
    let marker = checkpoint.replace(".json", ".continued");
    w.s3.delete_object()
        .bucket(BUCKET)
        .key(&marker)
        .send()
        .await
        .unwrap();
    let dup = engine.run(&resume, None, &continuer).await.unwrap();
    assert_eq!(dup.status, Status::Duplicate);
    let queued = queue.lock().unwrap().clone();
    assert_eq!(queued.len(), 2);
    assert_eq!(queued[0], queued[1], "the same continuation, invoked again");

    // Both deliveries of the continuation: one finishes the run, the other
    // finds it done.
    let event = SyncEvent::parse(&queued[0]).unwrap();
    assert_eq!(finish(&engine, event.clone()).await, run_id);
    let again = engine.run(&event, None, &continuer).await.unwrap();
    assert_eq!(again.status, Status::AlreadyComplete);
    assert_exact(&w, &run_id).await;
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_any_event_after_the_commit_changes_nothing() {
    let w = World::with_data(data(3_000, 1_000, 150)).await;
    let engine = w.engine("vcs_mock", options());
    let (continuer, queue) = Continuer::collector();
    let mut events = Vec::new();
    let mut event = event_at(w.data.now);
    let run_id = loop {
        let outcome = engine
            .run(&event, Some(Instant::now()), &continuer)
            .await
            .unwrap();
        if outcome.status == Status::Complete {
            break outcome.run_id;
        }
        assert_eq!(outcome.status, Status::Continued);
        let payload = queue.lock().unwrap().pop().unwrap();
        event = SyncEvent::parse(&payload).unwrap();
        events.push(event.clone());
    };
    assert!(events.len() >= 3, "only {} continuations", events.len());
    assert_exact(&w, &run_id).await;
    let committed = objects(&w).await;

    // An operator replays every continuation of the run (from the DLQ, or
    // a delivery hours late): each is `already-complete`, not an error.
    for event in events.iter().rev().chain(events.iter()) {
        let outcome = engine.run(event, None, &continuer).await.unwrap();
        assert_eq!(outcome.status, Status::AlreadyComplete, "{event:?}");
        assert_eq!(outcome.run_id, run_id);
    }
    assert!(queue.lock().unwrap().is_empty(), "no continuation invoked");
    let after = objects(&w).await;
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>()
    );
    for (key, bytes) in &committed {
        assert!(after[key] == *bytes, "{key} changed");
    }
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_json_only_moves_forward() {
    let w = World::with_data(data(400, 200, 50)).await;
    let engine = w.engine("vcs_mock", options());
    let (continuer, queue) = Continuer::collector();
    let latest_key = format!("{PREFIX}/latest.json");
    let hour = chrono::Duration::hours(1);

    // An older run (asOf now-1h) starts first but finishes last.
    let (old_run, old_resume) =
        start_split(&engine, event_at(w.data.now - hour), &continuer, &queue).await;
    let new_run = finish(&engine, event_at(w.data.now)).await;
    assert_eq!(w.get_json(&latest_key).await["runId"], new_run.as_str());
    let held = w.get(&latest_key).await.unwrap();
    assert_eq!(finish(&engine, old_resume).await, old_run);
    assert!(
        w.get(&latest_key).await.unwrap() == held,
        "the older run moved latest.json"
    );
    // It still committed a complete snapshot of its own.
    assert_exact(&w, &old_run).await;

    // Racing commits of runs with different asOf: latest.json ends at the
    // newest whatever the order the compare-and-swaps land in.
    let engines: Vec<Engine> = (0..4).map(|_| w.engine("vcs_mock", options())).collect();
    let runs = engines.iter().enumerate().map(|(i, e)| {
        let event = event_at(w.data.now + hour * (i as i32 + 1));
        async move { finish(e, event).await }
    });
    let ids = futures_util_join_all(runs).await;
    let latest = w.get_json(&latest_key).await;
    assert_eq!(latest["runId"], ids[3].as_str(), "{latest}");
    assert_eq!(
        latest["asOf"],
        (w.data.now + hour * 4)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            .as_str()
    );
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

/// Runs the futures concurrently on this task and returns their outputs in
/// order.
async fn futures_util_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_attempt_leaves_nothing_in_the_snapshot() {
    let mut config = mock_vanta::Config {
        data: data(5_000, 1_000, 150),
        ..mock_vanta::Config::default()
    };
    // Slow pages, so the attempt is killed mid-way.
    config.faults.latency_ms = 10;
    let w = World::start(config).await;
    let engine = std::sync::Arc::new(w.engine("vcs_mock", options()));
    let (continuer, queue) = Continuer::collector();
    let (run_id, resume) = start_split(&engine, event_at(w.data.now), &continuer, &queue).await;
    let parts_before: BTreeSet<String> = w
        .keys()
        .await
        .into_iter()
        .filter(|k| k.ends_with(".parquet"))
        .collect();

    // The attempt is killed (its task dropped at an await point) once it has
    // written a part file of its own.
    let killed = {
        let (engine, resume, continuer) = (engine.clone(), resume.clone(), continuer.clone());
        tokio::spawn(async move { engine.run(&resume, None, &continuer).await })
    };
    let orphans = loop {
        let new: Vec<String> = w
            .keys()
            .await
            .into_iter()
            .filter(|k| k.ends_with(".parquet") && !parts_before.contains(k))
            .collect();
        if !new.is_empty() {
            break new;
        }
        assert!(
            !killed.is_finished(),
            "the attempt finished before it was killed"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    killed.abort();
    assert!(killed.await.unwrap_err().is_cancelled());

    // Lambda retries the event: the retry completes the run, and the killed
    // attempt's parts are in no manifest.
    assert_eq!(finish(&engine, resume).await, run_id);
    let token = orphans[0]
        .rsplit('-')
        .next()
        .unwrap()
        .trim_end_matches(".parquet")
        .to_owned();
    let (manifest_key, manifest) = manifest_of(&w, &run_id).await;
    let run_prefix = manifest_key.trim_end_matches("_manifest.json");
    let listed: BTreeSet<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert!(!listed
        .iter()
        .any(|k| k.ends_with(&format!("-{token}.parquet"))));
    let unlisted: Vec<String> = w
        .keys()
        .await
        .into_iter()
        .filter(|k| k.starts_with(run_prefix) && k.ends_with(".parquet"))
        .filter(|k| !listed.contains(k.as_str()))
        .collect();
    assert!(!unlisted.is_empty(), "the killed attempt left part files");
    for k in &unlisted {
        assert!(
            k.ends_with(&format!("-{token}.parquet")),
            "{k} is unlisted but not the killed attempt's"
        );
    }
    // Left in the run's folder, yet not read: the tables read the symlinks.
    assert_exact(&w, &run_id).await;
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

/// Answers 500 InternalError to every PUT whose URI contains `fail` (an S3
/// that keeps failing one key) and hands every other request to the SDK's
/// HTTP client.
#[derive(Debug, Clone)]
struct FailingPuts {
    inner: aws_smithy_runtime_api::client::http::SharedHttpClient,
    fail: String,
}

#[derive(Debug)]
struct FailingPutsConnector {
    inner: aws_smithy_runtime_api::client::http::SharedHttpConnector,
    fail: String,
}

impl aws_smithy_runtime_api::client::http::HttpConnector for FailingPutsConnector {
    fn call(
        &self,
        request: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
    ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
        if request.method() == "PUT" && request.uri().contains(&self.fail) {
            let body = "<Error><Code>InternalError</Code><Message>injected</Message></Error>";
            let response = aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
                500.try_into().unwrap(),
                aws_smithy_types::body::SdkBody::from(body),
            );
            return aws_smithy_runtime_api::client::http::HttpConnectorFuture::ready(Ok(response));
        }
        self.inner.call(request)
    }
}

impl aws_smithy_runtime_api::client::http::HttpClient for FailingPuts {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        aws_smithy_runtime_api::client::http::SharedHttpConnector::new(FailingPutsConnector {
            inner: self.inner.http_connector(settings, components),
            fail: self.fail.clone(),
        })
    }
}

/// The symlink files go up together after the manifest (the commit
/// point); when one of them cannot be written the run fails and
/// `latest.json` does not move: no reader is sent to a snapshot a table
/// cannot read. The event's next delivery syncs again and publishes its
/// own snapshot, exact, in every table and in `latest.json`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_that_cannot_be_written_keeps_latest_where_it_was() {
    use aws_smithy_http_client::tls;
    use vanta_vuln_sync::sink::s3::Bucket;

    let w = World::with_data(data(3_000, 1_000, 150)).await;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_https();
    let failing =
        w.s3.config()
            .to_builder()
            .http_client(FailingPuts {
                inner: http,
                fail: "/remediations/symlink.txt".into(),
            })
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build();
    let engine = Engine::new(
        w.client("vcs_mock"),
        Bucket::new(aws_sdk_s3::Client::from_conf(failing), BUCKET),
        PREFIX,
        options(),
    );
    let (continuer, _queue) = Continuer::collector();
    let event = event_at(w.data.now);
    let e = engine.run(&event, None, &continuer).await.unwrap_err();
    assert!(e.to_string().contains("symlink.txt"), "{e}");
    assert!(
        w.get(&format!("{PREFIX}/latest.json")).await.is_none(),
        "latest.json moved before every table could read the snapshot"
    );
    let keys = w.keys().await;
    let manifests: Vec<&String> = keys
        .iter()
        .filter(|k| k.ends_with("_manifest.json"))
        .collect();
    assert_eq!(manifests.len(), 1, "the run was committed: {keys:?}");
    assert!(!keys
        .iter()
        .any(|k| k.ends_with("/remediations/symlink.txt")));

    let failed_run = manifests[0]
        .trim_end_matches("_manifest.json")
        .rsplit("run=")
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();

    // The event is delivered again (Lambda's retry of a failed invocation):
    // a new run, whose snapshot every table and `latest.json` then name.
    // The failed run's snapshot stays unpublished: no table lists it.
    let again = w.engine("vcs_mock", options());
    let outcome = again.run(&event, None, &continuer).await.unwrap();
    assert_eq!(outcome.status, Status::Complete);
    assert_ne!(outcome.run_id, failed_run);
    assert_exact(&w, &outcome.run_id).await;
    let latest = w.get_json(&format!("{PREFIX}/latest.json")).await;
    assert_eq!(latest["runId"], outcome.run_id.as_str());
    // Of the failed run, a symlink file that went up before the failure
    // names exactly its committed manifest's files for that table; the one
    // that failed is absent.
    let (_, failed_manifest) = manifest_of(&w, &failed_run).await;
    for k in w.keys().await {
        if !(k.contains("/symlinks/") && k.contains(&failed_run)) {
            continue;
        }
        assert!(!k.ends_with("/remediations/symlink.txt"), "{k}");
        let dataset = k
            .trim_end_matches("/symlink.txt")
            .rsplit('/')
            .next()
            .unwrap();
        let listed: BTreeSet<String> = failed_manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["dataset"] == dataset)
            .map(|f| format!("s3://{BUCKET}/{}", f["key"].as_str().unwrap()))
            .collect();
        let linked: BTreeSet<String> = std::str::from_utf8(&w.get(&k).await.unwrap())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(linked, listed, "{k}");
    }
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}
