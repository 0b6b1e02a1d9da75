//! `perfharness load` against the emulator's fixture: the open and closed
//! models, throttles and errors by type under load, the per-second series,
//! the reports, and a clean stop with a report of what ran.

// Its own test binary: its figures are timings, which the other harness
// tests running beside it in one process would disturb.
#[path = "it/support/mod.rs"]
mod support;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use emulator::lambda::FunctionSpec;
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use perfharness::aws::session::Session;
use perfharness::commands::load::{run_with_session, LoadArgs};
use perfharness::measure::schedule::StopReason;
use perfharness::options::CommonArgs;

const NOOP: &str = "load-noop";

async fn emulator(cap: u32) -> EmulatorHandle {
    let mut spec = FunctionSpec::new(NOOP, support::fixture_bin().await);
    spec.timeout_s = 10;
    Emulator::start(EmulatorConfig {
        functions: vec![spec],
        default_concurrency_cap: cap,
        ..Default::default()
    })
    .await
    .expect("emulator starts")
}

fn common(endpoint: &str) -> CommonArgs {
    let mut c = CommonArgs::for_function(NOOP);
    c.endpoint_url = Some(endpoint.to_string());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_through_the_cli_writes_series_and_charts() {
    let emu = emulator(10).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let cli = perfharness::cli::Cli::try_parse_from([
        "perfharness",
        "load",
        "--function",
        NOOP,
        "--endpoint-url",
        &emu.endpoint_url(),
        "--rate",
        "40",
        "--duration",
        "2s",
        "--ramp",
        "500ms",
        "--out",
        out.to_str().unwrap(),
        "--output",
        "json",
    ])
    .unwrap();
    let code = perfharness::cli::run(cli).await.expect("load runs");
    emu.shutdown().await;
    assert_eq!(code, ExitCode::SUCCESS);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    // 40/s for 2 s with a 0.5 s ramp: 70 due.
    let n = r["invocations"].as_u64().unwrap();
    assert!((65..=75).contains(&n), "{n} invocations");
    assert_eq!(r["stop"], "duration");
    assert_eq!(
        r["ok"].as_u64().unwrap() + r["throttles"].as_u64().unwrap(),
        n,
        "{:#}",
        r["errors"]
    );
    assert!(r["ok"].as_u64().unwrap() > 0);
    assert!(
        r["cold_starts"].as_u64().unwrap() >= 1,
        "the first invocation is cold"
    );
    assert_eq!(r["missing_reports"], 0);
    assert!(r["lambda_duration_ms"]["n"].as_u64().unwrap() > 0);
    let series = r["series"].as_array().unwrap();
    assert!(series.len() >= 2);
    let offered: u64 = series.iter().map(|s| s["offered"].as_u64().unwrap()).sum();
    assert_eq!(offered, n);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Throughput per second"));
    assert!(std::fs::read_to_string(out.join("report.md"))
        .unwrap()
        .contains("| invocations |"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_model_over_the_cap_is_throttled_and_errors_are_typed() {
    let emu = emulator(2).await;
    let session = Arc::new(
        Session::connect(&common(&emu.endpoint_url()))
            .await
            .unwrap(),
    );
    let mut args = LoadArgs::new(common(&emu.endpoint_url()));
    args.concurrency = Some(6);
    args.max_invocations = 60;
    args.common.payload = Some(r#"{"sleepMs": 20}"#.into());
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let (r, fatal) = run_with_session(session.clone(), &args, rx).await.unwrap();
    assert!(fatal.is_none());
    assert_eq!(r.invocations, 60);
    assert_eq!(r.stop, StopReason::MaxCount);
    assert!(
        r.throttles > 0,
        "6 workers against 2 environments were never throttled"
    );
    assert!(r.ok > 0);
    assert!(r.peak_in_flight <= 6);

    // Function errors are counted by their type.
    let mut args = LoadArgs::new(common(&emu.endpoint_url()));
    args.concurrency = Some(1);
    args.max_invocations = 5;
    args.common.payload = Some(r#"{"error": "boom"}"#.into());
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let (r, _) = run_with_session(session.clone(), &args, rx).await.unwrap();
    assert_eq!(r.errors.get("Fixture.Error"), Some(&5), "{:?}", r.errors);
    assert_eq!(r.ok, 0);
    drop(session);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_ends_the_run_with_a_report_of_what_ran() {
    let emu = emulator(10).await;
    let session = Arc::new(
        Session::connect(&common(&emu.endpoint_url()))
            .await
            .unwrap(),
    );
    let mut args = LoadArgs::new(common(&emu.endpoint_url()));
    args.rate = Some(50.0);
    args.duration = Duration::from_secs(600);
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let _ = tx.send(true);
    });
    let (r, fatal) = run_with_session(session.clone(), &args, rx).await.unwrap();
    assert!(fatal.is_none());
    assert_eq!(r.stop, StopReason::Interrupted);
    assert!(r.invocations > 0 && r.invocations < 30_000);
    assert_eq!(r.abandoned, 0);
    assert!(r.to_table().contains("interrupt"));
    drop(session);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_function_is_a_clear_error() {
    let emu = emulator(10).await;
    let mut c = common(&emu.endpoint_url());
    c.function = "no-such-function".into();
    let session = Arc::new(Session::connect(&c).await.unwrap());
    let mut args = LoadArgs::new(c);
    args.rate = Some(10.0);
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let err = run_with_session(session, &args, rx).await.unwrap_err();
    assert!(err.to_string().contains("no-such-function"), "{err}");
    emu.shutdown().await;

    let mut args = LoadArgs::new(CommonArgs::for_function(NOOP));
    args.rate = Some(10.0);
    args.concurrency = Some(2);
    assert!(args.model().is_err());
    args.concurrency = None;
    args.ramp = Duration::from_secs(120);
    assert!(args.model().unwrap_err().to_string().contains("--ramp"));
}
