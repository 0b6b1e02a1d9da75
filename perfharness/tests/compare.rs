//! `perfharness compare` end to end, run in-process as the binary runs it:
//! the function against the emulator's fixture with `--local` (both rows,
//! ratios consistent with the values, the HTML overlay, a target met), and
//! two fixtures in an emulator started here (one with a 40 ms init wait) for
//! the exit status of ratio targets, the restored configurations and the
//! usage errors.

// Its own test binary: its figures are timings, which the other harness
// tests running beside it in one process would disturb.
#[path = "it/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

use emulator::lambda::FunctionSpec;
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use perfharness::export::compare::CompareReport;

const SLOW: &str = "compare-slow";
const FAST: &str = "compare-fast";

/// Two fixtures: SLOW sleeps 40 ms in init, FAST does nothing.
async fn emulator() -> EmulatorHandle {
    let fixture = support::fixture_bin().await;
    let spec = |name: &str, sleep: Option<&str>| {
        let mut s = FunctionSpec::new(name, &fixture);
        s.timeout_s = 10;
        s.environment = support::original_env();
        if let Some(ms) = sleep {
            s.environment
                .insert("FIXTURE_INIT_SLEEP_MS".into(), ms.into());
        }
        s
    };
    Emulator::start(EmulatorConfig {
        functions: vec![spec(SLOW, Some("40")), spec(FAST, None)],
        update_delay_ms: 20,
        ..Default::default()
    })
    .await
    .expect("emulator starts")
}

/// Runs `perfharness compare ARGS` in-process; the exit status and, on an
/// error, its message.
async fn compare(args: &[&str]) -> (u8, String) {
    let mut argv = vec!["perfharness", "compare"];
    argv.extend(args);
    let cli = match perfharness::cli::Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => return (2, e.to_string()),
    };
    match perfharness::cli::run(cli).await {
        Ok(code) if code == ExitCode::SUCCESS => (0, String::new()),
        Ok(code) if code == ExitCode::from(1) => (1, String::new()),
        Ok(code) if code == ExitCode::from(2) => (2, String::new()),
        Ok(code) => panic!("unexpected exit status {code:?}"),
        Err(e) => (2, format!("{e:#}")),
    }
}

fn report(dir: &Path) -> CompareReport {
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every figure's ratios: 1 for the fastest, value / fastest value for the
/// others, inside their interval; the figure's ratio the largest of them.
fn assert_ratios_consistent(r: &CompareReport) {
    for row in &r.figures {
        let Some(best) = row.fastest else { continue };
        let fastest = row.cells[best].value.unwrap();
        let mut largest: f64 = 0.0;
        for (i, c) in row.cells.iter().enumerate() {
            let Some(v) = c.value else { continue };
            let ratio = c
                .ratio
                .unwrap_or_else(|| panic!("{}: no ratio", row.figure));
            assert!(v >= fastest, "{}: {v} below the fastest", row.figure);
            if i == best {
                assert_eq!(ratio.value, 1.0, "{}", row.figure);
            } else {
                assert!(
                    (ratio.value - v / fastest).abs() < 1e-9,
                    "{}: {ratio:?} vs {v} / {fastest}",
                    row.figure
                );
            }
            assert!(
                ratio.low <= ratio.value && ratio.value <= ratio.high,
                "{}: {ratio:?}",
                row.figure
            );
            largest = largest.max(ratio.value);
        }
        assert_eq!(row.ratio, Some(largest), "{}", row.figure);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_against_the_fixture_locally() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let targets = dir.path().join("compare.toml");
    // The function syncs a mock Vanta tenant; the fixture does nothing: its
    // warm duration is at least twice the fixture's.
    std::fs::write(&targets, "\"compare.warm_p50_ratio\" = \">= 2\"\n").unwrap();
    let (code, err) = compare(&[
        "--function",
        "vanta-vuln-sync",
        "--function",
        "perfharness-reference",
        "--local",
        "--local-records",
        "200",
        "--cold",
        "4",
        "--warm",
        "12",
        "--targets",
        targets.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--output",
        "json",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let r = report(&out);
    assert_eq!(r.variants.len(), 2);
    assert_eq!(r.variants[0].label, "vanta-vuln-sync");
    assert_eq!(r.variants[1].label, "perfharness-reference");
    for v in &r.variants {
        assert_eq!(v.cold_valid, 4, "{}", v.label);
        assert_eq!(v.warm_valid, 12, "{}", v.label);
    }
    assert_ratios_consistent(&r);
    let warm = r.figures.iter().find(|f| f.figure == "warm_p50").unwrap();
    assert_eq!(warm.fastest, Some(1), "the fixture is the faster one");
    assert_eq!(r.targets.len(), 1);
    assert!(r.targets[0].value.unwrap() >= 2.0);
    // p99 of 12 samples is n/a, never guessed.
    let p99 = r.figures.iter().find(|f| f.figure == "warm_p99").unwrap();
    assert!(p99.cells.iter().all(|c| c.value.is_none()) && p99.ratio.is_none());

    let table = r.to_table();
    for needle in [
        "vanta-vuln-sync",
        "perfharness-reference",
        "fastest",
        " x (",
    ] {
        assert!(table.contains(needle), "{needle} missing:\n{table}");
    }
    assert!(
        r.summary_lines()
            .iter()
            .any(|l| l.starts_with("warm p50: perfharness-reference is ")),
        "{:?}",
        r.summary_lines()
    );

    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    // The overlay: one histogram holding both variants' bars and legend.
    let hist = html
        .split("<svg")
        .find(|s| s.contains("Warm duration: histogram"))
        .expect("warm histogram");
    for v in &r.variants {
        assert!(hist.contains(&format!("{} (n=12)", v.label)), "{hist}");
        assert!(
            hist.contains(&format!("<title>{}: ", v.label)),
            "bars of {}",
            v.label
        );
    }
    // The answer comes before the table.
    let headline = html.find("class=\"headline\"").expect("headline");
    assert!(headline < html.find("<table").unwrap());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| perfharness-reference |"), "{md}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ratio_targets_decide_the_exit_status_and_configurations_come_back() {
    let emu = emulator().await;
    let url = emu.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| dir.path().join(name).display().to_string();
    let base = |out: &str| -> Vec<String> {
        [
            "--function",
            SLOW,
            "--function",
            FAST,
            "--endpoint-url",
            &url,
            "--cold",
            "5",
            "--warm",
            "10",
            "--out",
            out,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // A 40 ms init wait against a ~2 ms init: the ratio is far above 2.
    let mut unmet = base(&run("unmet"));
    unmet.extend(["--max-ratio".into(), "init_p50=2".into()]);
    let (code, err) = compare(&unmet.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(code, 1, "{err}");
    let r = report(&dir.path().join("unmet"));
    assert_ratios_consistent(&r);
    let init = r.figures.iter().find(|f| f.figure == "init_p50").unwrap();
    assert_eq!(init.fastest, Some(1));
    assert!(init.ratio.unwrap() > 5.0, "{init:?}");
    assert_eq!(
        r.targets[0].verdict,
        perfharness::analysis::targets::Verdict::Fail
    );
    assert!(r.restore.len() == 2 && r.restore.iter().all(|x| x.verified));
    for f in [SLOW, FAST] {
        let s = support::session(&url, f).await;
        assert_eq!(support::current_env(&s).await.get("KEEP_ME").unwrap(), "1");
        assert!(!support::current_env(&s)
            .await
            .contains_key("PERFHARNESS_COLD_NONCE"));
    }

    let mut met = base(&run("met"));
    met.extend(["--max-ratio".into(), "init_p50=1000".into()]);
    let (code, err) = compare(&met.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(code, 0, "{err}");

    // One function at two memory sizes: the size comes back afterwards.
    let before = perfharness::aws::control::describe(&support::session(&url, FAST).await)
        .await
        .unwrap()
        .memory_mb;
    let (code, err) = compare(&[
        "--function",
        FAST,
        "--memory",
        "256,512",
        "--endpoint-url",
        &url,
        "--cold",
        "2",
        "--warm",
        "4",
        "--out",
        &run("memory"),
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let r = report(&dir.path().join("memory"));
    let labels: Vec<&str> = r.variants.iter().map(|v| v.label.as_str()).collect();
    assert_eq!(
        labels,
        [format!("{FAST} @ 256 MB"), format!("{FAST} @ 512 MB")]
    );
    assert_eq!(r.variants[1].memory_mb, 512);
    assert_eq!(r.variants[0].warm_valid, 4);
    let after = perfharness::aws::control::describe(&support::session(&url, FAST).await)
        .await
        .unwrap()
        .memory_mb;
    assert_eq!(after, before);

    // Bad arguments: one line, exit 2, nothing measured.
    let bad = run("bad");
    for (args, needle) in [
        (vec!["--function", FAST], "two or more variants"),
        (vec!["--function", FAST, "--function", "nope"], "nope"),
        (
            vec![
                "--function",
                FAST,
                "--function",
                SLOW,
                "--max-ratio",
                "warm_p42=2",
            ],
            "unknown figure",
        ),
    ] {
        let mut a = args.clone();
        a.extend(["--endpoint-url", &url, "--out", &bad]);
        let (code, err) = compare(&a).await;
        assert_eq!(code, 2, "{args:?}");
        // The error is its first line (clap adds a pointer to --help).
        let first = err.lines().next().unwrap_or_default();
        assert!(first.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    assert!(!dir.path().join("bad").exists());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_exits_130_with_every_configuration_restored() {
    let emu = emulator().await;
    let url = emu.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let slow = support::session(&url, SLOW).await;
    let fast = support::session(&url, FAST).await;
    let memory = |s: &perfharness::aws::session::Session| {
        let s = s.function.clone();
        let url = url.clone();
        async move {
            let s = support::session(&url, &s).await;
            perfharness::aws::control::describe(&s)
                .await
                .unwrap()
                .memory_mb
        }
    };
    let before = (memory(&slow).await, memory(&fast).await);
    let env_before = [
        support::current_env(&slow).await,
        support::current_env(&fast).await,
    ];
    for (signal, extra) in [("INT", vec![]), ("TERM", vec!["--memory", "256,512"])] {
        let run_dir = dir.path().join(signal);
        let run_dir = run_dir.to_str().unwrap();
        let mut argv = vec![
            "compare",
            "--function",
            SLOW,
            "--function",
            FAST,
            "--endpoint-url",
            &url,
            "--cold",
            "500",
            "--out",
            run_dir,
        ];
        argv.extend(extra);
        let (code, stderr) = support::signalled(&argv, signal, &fast, |env, _| {
            env.contains_key("PERFHARNESS_COLD_NONCE")
        })
        .await;
        assert_eq!(code, Some(130), "SIG{signal}: {stderr}");
        assert!(stderr.contains("interrupted"), "{stderr}");
        for (s, env) in [&slow, &fast].into_iter().zip(&env_before) {
            assert_eq!(
                &support::current_env(s).await,
                env,
                "SIG{signal} {}",
                s.function
            );
        }
        assert_eq!((memory(&slow).await, memory(&fast).await), before);
        let r = report(Path::new(run_dir));
        assert_eq!(r.outcome.status.to_string(), "interrupted");
        assert!(r.restore.iter().all(|x| x.verified), "{:?}", r.restore);
    }
    emu.shutdown().await;
}
