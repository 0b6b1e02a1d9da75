//! `perfharness power` against the emulator's fixture: a sweep measures
//! every size and picks one, and the original configuration comes back,
//! verified, after success, after a failure and after Ctrl-C.

use crate::support;

use std::process::Command;
use std::time::Duration;

use emulator::lambda::FunctionSpec;
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use perfharness::analysis::power::Strategy;
use perfharness::aws::session::Session;
use perfharness::commands::power::{run_with_session, PowerArgs};
use perfharness::options::{CommonArgs, LogSource};
use perfharness::HarnessError;

const FUNCTION: &str = "power-fn";

async fn emulator() -> EmulatorHandle {
    let mut spec = FunctionSpec::new(FUNCTION, support::fixture_bin().await);
    spec.timeout_s = 10;
    spec.architecture = "arm64".into();
    spec.environment.insert("KEEP_ME".into(), "1".into());
    Emulator::start(EmulatorConfig {
        functions: vec![spec],
        update_delay_ms: 20,
        ..Default::default()
    })
    .await
    .expect("emulator starts")
}

fn args(endpoint: &str, memory: Vec<u32>) -> PowerArgs {
    let mut c = CommonArgs::for_function(FUNCTION);
    c.endpoint_url = Some(endpoint.to_string());
    c.log_source = Some(LogSource::Tail);
    let mut a = PowerArgs::new(c, memory);
    a.cold_samples = 1;
    a.warm_samples = 3;
    a
}

/// Memory size and environment as Lambda reports them now.
async fn config(session: &Session) -> (i32, Vec<(String, String)>) {
    let c = session
        .lambda
        .get_function_configuration()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    let mut env: Vec<(String, String)> = c
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    env.sort();
    (c.memory_size().unwrap(), env)
}

fn original_env() -> Vec<(String, String)> {
    vec![("KEEP_ME".into(), "1".into())]
}

// One test: Ctrl-C is a process-wide signal, so the interrupted sweep must
// not run beside another sweep of this binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeps_choose_a_size_and_always_restore_the_configuration() {
    let emu = emulator().await;
    let url = emu.endpoint_url();
    let session = Session::connect(&args(&url, vec![128]).common)
        .await
        .unwrap();

    // A full sweep.
    let mut a = args(&url, vec![128, 256, 512]);
    a.strategy = Strategy::Cost;
    let (report, err) = run_with_session(&session, &a).await.unwrap();
    assert!(err.is_none(), "{err:?}");
    assert_eq!(report.sizes.len(), 3);
    assert_eq!(report.architecture, "arm64");
    for s in &report.sizes {
        assert_eq!(
            s.warm_duration_ms.as_ref().unwrap().n,
            3,
            "{} MB",
            s.memory_mb
        );
        assert_eq!(s.cold_init_ms.as_ref().unwrap().n, 1, "{} MB", s.memory_mb);
        assert_eq!(s.errors, 0);
        assert!(s.warm_cost_usd.unwrap() > 0.0);
    }
    // Each sample ran at its size.
    for (m, s) in &report.samples {
        assert_eq!(s.memory_size_mb, Some(u64::from(*m)));
    }
    // A no-op bills about the same at every size: the smallest is cheapest.
    assert_eq!(report.best_memory_mb, Some(128));
    assert!(report.restored);
    assert_eq!(config(&session).await, (128, original_env()));
    let dir = tempfile::tempdir().unwrap();
    report.write(dir.path()).unwrap();
    assert!(std::fs::read_to_string(dir.path().join("report.html"))
        .unwrap()
        .contains("<svg"));

    // A failure mid-sweep (a payload over Lambda's 6 MB limit) still
    // restores the original memory and environment.
    let big = dir.path().join("big.json");
    std::fs::write(&big, format!("{{\"pad\":\"{}\"}}", "x".repeat(7 << 20))).unwrap();
    let mut a = args(&url, vec![256, 512]);
    a.common.payload = Some(format!("@{}", big.display()));
    let (report, err) = run_with_session(&session, &a).await.unwrap();
    let err = err.expect("the oversized payload fails the sweep");
    assert_eq!(err.aws_code(), Some("RequestTooLargeException"), "{err}");
    assert!(report.restored);
    assert_eq!(config(&session).await, (128, original_env()));

    // Ctrl-C while the second size is being measured.
    let watcher = {
        let s = Session::connect(&args(&url, vec![128]).common)
            .await
            .unwrap();
        tokio::spawn(async move {
            for _ in 0..600 {
                if config(&s).await.0 == 256 {
                    let pid = std::process::id().to_string();
                    Command::new("kill").args(["-INT", &pid]).status().unwrap();
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            false
        })
    };
    // Installs the process's SIGINT handler before the signal can arrive.
    let _sigint =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).unwrap();
    let mut a = args(&url, vec![128, 256, 512]);
    a.warm_samples = 40;
    let (report, err) = run_with_session(&session, &a).await.unwrap();
    assert!(watcher.await.unwrap(), "the sweep never reached 256 MB");
    assert!(matches!(err, Some(HarnessError::Interrupted)), "{err:?}");
    assert!(report.restored);
    // 512 MB was never reached (256 MB may or may not have a sample).
    assert!(
        report.skipped_memory_mb.contains(&512),
        "{:?}",
        report.skipped_memory_mb
    );
    assert!(report.sizes.iter().any(|s| s.memory_mb == 128));
    assert_eq!(config(&session).await, (128, original_env()));

    emu.shutdown().await;
}

#[test]
fn memory_lists_are_checked_by_the_cli() {
    use clap::Parser;
    let parse = |m: &str| {
        perfharness::cli::Cli::try_parse_from([
            "perfharness",
            "power",
            "--function",
            "f",
            "--memory",
            m,
        ])
    };
    assert!(parse("128,256").is_ok());
    let err = parse("128,99999").unwrap_err().to_string();
    assert!(err.contains("128..=10240"), "{err}");
    let err = perfharness::cli::Cli::try_parse_from([
        "perfharness",
        "power",
        "--function",
        "f",
        "--balanced-weight",
        "2",
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("between 0 and 1"), "{err}");
}
