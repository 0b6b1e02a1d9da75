//! The init gate end to end against the emulator, both tiers: a baseline
//! is recorded, an unchanged function passes both, init work worth +1 % of
//! the init's instructions fails the instruction tier, a 15 ms init wait
//! fails the wall tier (and passes the instruction tier), a missing
//! Valgrind is an error, and too few valid samples is exit 2. The emulator's
//! fixture stands in for the function (with `FIXTURE_INIT_SPIN_ITERS` and
//! `FIXTURE_INIT_SLEEP_MS`) and for the reference no-op function.

// Its own test binary: its figures are timings, which the other harness
// tests running beside it in one process would disturb.
#[path = "it/support/mod.rs"]
mod support;

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
/// returns its exit status and, on an error, the error line.
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
        "16",
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
        Ok(code) if code == ExitCode::from(2) => (2, "undecided".into()),
        Ok(code) => panic!("unexpected exit status {code:?}"),
        Err(e) => (2, format!("{e:#}")),
    }
}

/// [`gate`], run once more when the first run was too noisy to decide
/// (exit 2 without an error), as `.ci/run` does: a loaded test machine can
/// make one wall-tier run undecided, a real outcome repeats.
async fn gate_decided(endpoint: &str, baseline: &Path, out: &Path, extra: &[&str]) -> (u8, String) {
    let first = gate(endpoint, baseline, out, extra).await;
    if first != (2, "undecided".to_string()) {
        return first;
    }
    eprintln!("gate undecided on a loaded machine; running it again");
    gate(endpoint, baseline, out, extra).await
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The instruction tier's options for the fixture: its binary, five
/// counting runs (the median of five: on a loaded machine a run's count
/// moves by a few tenths of a percent of the fixture's small init).
async fn counting(extra: &[&'static str]) -> Vec<String> {
    let fixture = support::fixture_bin().await;
    let mut v = vec![
        "--binary".to_string(),
        fixture.display().to_string(),
        "--count-runs".to_string(),
        "5".to_string(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The wall tier's limit in these tests: 16 rounds of best-of-2 on a loaded
/// 2-core CI machine give a wide interval, so the unchanged case gets a
/// limit its interval stays under; a 15 ms wait on the fixture's ~2-3 ms init
/// moves the ratio some 6-fold, whose interval lies wholly above it even
/// under load (a 5 ms wait gave intervals such as [+85 %, +215 %] on a
/// 2-core machine running four builds: undecided, not a miss).
const WALL_LIMIT: &str = "100%";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_tiers_pass_unchanged_and_each_catches_its_regression() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");

    // Baseline: both tiers.
    let emu = emulator_with(&[], &[]).await;
    let url = emu.endpoint_url();
    let args = counting(&["--update-baseline"]).await;
    let (code, err) = gate(&url, &baseline, &dir.path().join("run0"), &strs(&args)).await;
    assert_eq!(code, 0, "update-baseline failed: {err}");
    let b = read_json(&baseline);
    assert_eq!(b["schema"], 2);
    assert_eq!(b["function"], SUBJECT);
    assert_eq!(b["reference"], REFERENCE);
    assert_eq!(b["mode"], "ratio");
    assert_eq!(b["repeat"], 2);
    assert_eq!(b["rounds"]["function"].as_array().unwrap().len(), 16);
    assert_eq!(b["rounds"]["reference"].as_array().unwrap().len(), 16);
    let base_count = b["instructions"]["total"].as_u64().unwrap();
    assert!(base_count > 100_000, "{}", b["instructions"]);
    assert_eq!(b["instructions"]["runs"].as_array().unwrap().len(), 5);
    let phases = b["instructions"]["phases"].as_object().unwrap();
    assert!(
        phases["dynamic loading (ld.so)"].as_u64().unwrap() > 0,
        "{phases:?}"
    );
    assert_eq!(
        phases.values().map(|v| v.as_u64().unwrap()).sum::<u64>(),
        base_count
    );
    assert!(b["instructions"]["valgrind"]
        .as_str()
        .unwrap()
        .starts_with("valgrind"));
    let gate_json = read_json(&dir.path().join("run0/gate.json"));
    assert_eq!(gate_json["instructions"]["total"], base_count);

    // Unchanged: the same binary, both tiers pass.
    let args = counting(&["--max-regression", WALL_LIMIT]).await;
    let (code, err) = gate_decided(&url, &baseline, &dir.path().join("run1"), &strs(&args)).await;
    let report = read_json(&dir.path().join("run1/report.json"));
    let c = &report["comparison"];
    assert_eq!(code, 0, "unchanged function failed the gate: {err}\n{c:#}");
    assert_eq!(c["verdict"], "pass");
    assert_eq!(c["instructions"]["verdict"], "pass");
    assert_eq!(c["wall"]["verdict"], "pass");
    assert!(
        c["instructions"]["change"].as_f64().unwrap().abs() < 0.005,
        "{c:#}"
    );
    assert_eq!(report["function"]["restore"]["verified"], true);
    assert_eq!(report["reference"]["restore"]["verified"], true);
    let md = std::fs::read_to_string(dir.path().join("run1/report.md")).unwrap();
    assert!(
        md.contains(
            "| instructions | init instructions (exec → first /next, without the stack lookup) |"
        ) && md.contains("| wall | init / reference (median of rounds) |")
            && md.contains("PASS"),
        "{md}"
    );
    assert_eq!(
        read_json(&dir.path().join("run1/gate.json"))["verdict"],
        "pass"
    );
    // The page: the verdict and each tier's change first, then the same
    // table, then the rounds of both functions overlaid.
    let html = std::fs::read_to_string(dir.path().join("run1/report.html")).unwrap();
    let at = |s: &str| html.find(s).unwrap_or_else(|| panic!("{s} missing"));
    assert!(at("<dd>PASS</dd>") < at("<table"), "headline first");
    assert!(at("init instructions</dt>") < at("<table") && at("wall (ratio)</dt>") < at("<table"));
    assert!(html.contains("init / reference (median of rounds)"));
    assert!(html.contains(&format!("{SUBJECT} (n=")) && html.contains(&format!("{REFERENCE} (n=")));
    assert!(!html.contains("<script") && html.matches("<svg").count() == 3);
    emu.shutdown().await;

    // Calibration: instructions per iteration of the fixture's init loop.
    let big = 200_000u64;
    let emu = emulator_with(&[("FIXTURE_INIT_SPIN_ITERS", "200000")], &[]).await;
    let args = counting(&["--tiers", "instructions"]).await;
    let (code, err) = gate(
        &emu.endpoint_url(),
        &baseline,
        &dir.path().join("calibrate"),
        &strs(&args),
    )
    .await;
    emu.shutdown().await;
    assert_eq!(code, 1, "{err}");
    let spun = read_json(&dir.path().join("calibrate/report.json"))["instructions"]["profile"]
        ["total"]
        .as_u64()
        .unwrap();
    let per_iter = (spun - base_count) as f64 / big as f64;
    assert!(
        (2.0..20.0).contains(&per_iter),
        "{per_iter} instructions per iteration"
    );

    // Init work worth +1 % of the init's instructions: the instruction tier
    // fails (default limit 0.5 %) and names the phase it grew in.
    let iters = ((base_count as f64 * 0.01) / per_iter).ceil() as u64;
    let iters_s = iters.to_string();
    let emu = emulator_with(&[("FIXTURE_INIT_SPIN_ITERS", &iters_s)], &[]).await;
    let args = counting(&["--tiers", "instructions"]).await;
    let (code, err) = gate(
        &emu.endpoint_url(),
        &baseline,
        &dir.path().join("run2"),
        &strs(&args),
    )
    .await;
    emu.shutdown().await;
    let c = read_json(&dir.path().join("run2/report.json"))["comparison"].clone();
    assert_eq!(
        code, 1,
        "+1 % init instructions passed the gate: {err}\n{c:#}"
    );
    assert_eq!(c["instructions"]["verdict"], "fail");
    let change = c["instructions"]["change"].as_f64().unwrap();
    // +1 % of work, give or take the count's jitter on a loaded machine.
    assert!((0.006..0.016).contains(&change), "change {change}");
    assert_eq!(
        c["instructions"]["largest_growth"][0], "function code, logging and its libraries",
        "{c:#}"
    );
    assert!(std::fs::read_to_string(dir.path().join("run2/report.md"))
        .unwrap()
        .contains("FAIL"));

    // A 15 ms init wait: the wall tier fails, the instruction tier passes.
    let emu = emulator_with(&[("FIXTURE_INIT_SLEEP_MS", "15")], &[]).await;
    let args = counting(&["--max-regression", WALL_LIMIT]).await;
    let (code, err) = gate_decided(
        &emu.endpoint_url(),
        &baseline,
        &dir.path().join("run3"),
        &strs(&args),
    )
    .await;
    emu.shutdown().await;
    let report = read_json(&dir.path().join("run3/report.json"));
    let c = &report["comparison"];
    assert_eq!(code, 1, "a 15 ms init wait passed the gate: {err}\n{c:#}");
    assert_eq!(c["wall"]["verdict"], "fail", "{c:#}");
    assert!(c["wall"]["low"].as_f64().unwrap() > 1.0, "{c:#}");
    assert_eq!(c["instructions"]["verdict"], "pass", "{c:#}");
    assert!(report["function"]["figures"]["p50_ms"].as_f64().unwrap() >= 15.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_valgrind_is_an_error_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");
    let emu = emulator_with(&[], &[]).await;
    let url = emu.endpoint_url();
    for (valgrind, says) in [
        (
            "/nonexistent/bin/valgrind",
            "/nonexistent/bin/valgrind does not exist",
        ),
        (
            "valgrind-that-is-not-installed",
            "no valgrind-that-is-not-installed in PATH",
        ),
    ] {
        let out = dir.path().join("run");
        let args = counting(&["--valgrind", valgrind, "--update-baseline"]).await;
        let (code, err) = gate(&url, &baseline, &out, &strs(&args)).await;
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("apt-get install valgrind"), "{err}");
        assert!(err.contains(says), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
        assert!(!baseline.exists(), "a baseline was written without a count");
        assert!(!out.join("gate.json").exists());
    }
    emu.shutdown().await;
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
