//! The init-duration gate end to end against the emulator: a baseline is
//! recorded, an unchanged function passes, a function whose init is 50 ms
//! slower fails with exit status 1, and too few valid samples is exit 2.
//! The emulator's fixture stands in for the function (with
//! `FIXTURE_INIT_SLEEP_MS`) and for the reference no-op function.

use crate::support;

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

use emulator::lambda::FunctionSpec;
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};

const SUBJECT: &str = "gate-subject";
const REFERENCE: &str = "gate-reference";

async fn emulator_with(
    subject_env: &[(&str, &str)],
    reference_env: &[(&str, &str)],
) -> EmulatorHandle {
    let fixture = support::fixture_bin().await;
    let spec = |name: &str, env: &[(&str, &str)]| {
        let mut s = FunctionSpec::new(name, &fixture);
        s.timeout_s = 10;
        for (k, v) in env {
            s.environment.insert(k.to_string(), v.to_string());
        }
        s
    };
    Emulator::start(EmulatorConfig {
        functions: vec![spec(SUBJECT, subject_env), spec(REFERENCE, reference_env)],
        update_delay_ms: 20,
        ..Default::default()
    })
    .await
    .expect("emulator starts")
}

/// Runs `perfharness gate` in-process (the binary's own parse and run) and
/// returns its exit status and, on exit 2, the error line.
async fn gate(endpoint: &str, baseline: &Path, out: &Path, extra: &[&str]) -> (u8, String) {
    let mut argv: Vec<String> = [
        "perfharness",
        "gate",
        "--function",
        SUBJECT,
        "--reference",
        REFERENCE,
        "--endpoint-url",
        endpoint,
        "--samples",
        "10",
        "--repeat",
        "2",
        "--log-source",
        "tail",
        "--targets",
        "none",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.extend([
        "--baseline".into(),
        baseline.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ]);
    argv.extend(extra.iter().map(|s| s.to_string()));
    let cli = match perfharness::cli::Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => return (2, e.to_string()),
    };
    match perfharness::cli::run(cli).await {
        Ok(code) if code == ExitCode::SUCCESS => (0, String::new()),
        Ok(code) if code == ExitCode::from(1) => (1, String::new()),
        Ok(code) => panic!("unexpected exit status {code:?}"),
        Err(e) => (2, format!("{e:#}")),
    }
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_passes_unchanged_and_fails_a_slower_init() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");

    let emu = emulator_with(&[], &[]).await;
    let url = emu.endpoint_url();
    let (code, err) = gate(
        &url,
        &baseline,
        &dir.path().join("run0"),
        &["--update-baseline"],
    )
    .await;
    assert_eq!(code, 0, "update-baseline failed: {err}");
    let b = read_json(&baseline);
    assert_eq!(b["function"], SUBJECT);
    assert_eq!(b["reference"], REFERENCE);
    assert_eq!(b["mode"], "ratio");
    assert_eq!(b["init"]["function"]["n"], 10);
    assert_eq!(b["repeat"], 2);
    assert!(b["init"]["ratio"]["p50"].as_f64().unwrap() > 0.0);
    assert!(b["machine"]["cpus"].as_u64().unwrap() >= 1);

    // Unchanged: the same binary on both sides. The limit is far wider than
    // the CLI's default because a dozen samples on a loaded 2-core CI machine
    // can swing by more than 100%; a 50 ms slower init (below) moves the
    // ratio some twentyfold, so the same wide limit still fails it.
    let (code, err) = gate(
        &url,
        &baseline,
        &dir.path().join("run1"),
        &["--max-regression", "300%"],
    )
    .await;
    let report = read_json(&dir.path().join("run1/report.json"));
    assert_eq!(
        code, 0,
        "unchanged function failed the gate: {err}\n{:#}",
        report["comparison"]
    );
    assert_eq!(report["comparison"]["pass"], true);
    assert_eq!(report["function"]["restore"]["verified"], true);
    assert_eq!(report["reference"]["restore"]["verified"], true);
    let md = std::fs::read_to_string(dir.path().join("run1/report.md")).unwrap();
    assert!(
        md.contains("| init p50 / reference p50 |") && md.contains("PASS"),
        "{md}"
    );
    emu.shutdown().await;

    // The function's init is now 50 ms slower; the reference is unchanged.
    let emu = emulator_with(&[("FIXTURE_INIT_SLEEP_MS", "50")], &[]).await;
    let (code, err) = gate(
        &emu.endpoint_url(),
        &baseline,
        &dir.path().join("run2"),
        &["--max-regression", "300%"],
    )
    .await;
    emu.shutdown().await;
    let report = read_json(&dir.path().join("run2/report.json"));
    assert_eq!(
        code, 1,
        "a 50 ms slower init passed the gate: {err}\n{:#}",
        report["comparison"]
    );
    assert!(std::fs::read_to_string(dir.path().join("run2/report.md"))
        .unwrap()
        .contains("FAIL"));
    assert_eq!(report["comparison"]["pass"], false);
    assert!(report["function"]["figures"]["p50_ms"].as_f64().unwrap() >= 50.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_valid_samples_is_an_error_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");
    // The reference fails its init every time: no valid reference sample.
    let emu = emulator_with(&[], &[("FIXTURE_INIT_FAIL", "exit")]).await;
    let (code, err) = gate(
        &emu.endpoint_url(),
        &baseline,
        &dir.path().join("run"),
        &["--update-baseline"],
    )
    .await;
    emu.shutdown().await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("valid"), "{err}");
    assert!(
        !baseline.exists(),
        "a baseline was written from invalid samples"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_baseline_and_bad_options_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator_with(&[], &[]).await;
    let url = emu.endpoint_url();
    let (code, err) = gate(
        &url,
        &dir.path().join("none.json"),
        &dir.path().join("r1"),
        &[],
    )
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("--update-baseline"), "{err}");
    let (code, err) = gate(
        &url,
        &dir.path().join("none.json"),
        &dir.path().join("r2"),
        &["--max-regression", "lots"],
    )
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("--max-regression"), "{err}");
    emu.shutdown().await;
}
