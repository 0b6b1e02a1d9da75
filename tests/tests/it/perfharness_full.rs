//! `perfharness full --local` end to end with the real function: mock-vanta
//! and the emulator in-process, the function built and defined from
//! template.yaml, cold and warm samples through the AWS SDK, targets, the
//! three report files, and the restored configuration.

use std::process::ExitCode;

use clap::Parser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_local_measures_the_real_function_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let targets = dir.path().join("targets.toml");
    // Two targets the function meets and one it cannot (exit status 1).
    std::fs::write(
        &targets,
        "\"errors.rate\" = \"<= 0\"\n\"cold.init_ms.n\" = \">= 3\"\n\"warm.duration_ms.max\" = \"<= 0.001\"\n\"cold.penalty_ms\" = \"<= 100000\"\n",
    )
    .unwrap();
    let cli = perfharness::cli::Cli::try_parse_from([
        "perfharness",
        "full",
        "--function",
        "vanta-vuln-sync",
        "--local",
        "--cold",
        "3",
        "--warm",
        "10",
        "--concurrency",
        "2",
        "--local-records",
        "300",
        "--output",
        "json",
        "--targets",
        targets.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .unwrap();
    let cpus_before = std::fs::read_to_string("/proc/self/status").unwrap();
    let allowed = |status: &str| {
        status
            .lines()
            .find(|l| l.starts_with("Cpus_allowed_list:"))
            .map(str::to_string)
    };
    let code = perfharness::cli::run(cli).await.expect("the run completes");
    assert_eq!(code, ExitCode::from(1), "one target is deliberately missed");
    // Run in-process, the library leaves this process's threads where they
    // were (only the perfharness binary moves its own), and says so.
    assert_eq!(
        allowed(&std::fs::read_to_string("/proc/self/status").unwrap()),
        allowed(&cpus_before)
    );

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["schema"], "perfharness.run/1");
    assert_eq!(report["function"]["name"], "vanta-vuln-sync");
    assert_eq!(report["context"]["local"], true);
    assert!(
        report["context"].get("function_cpus").is_none(),
        "the CPUs were shared: {}",
        report["context"]
    );
    assert_eq!(report["outcome"]["status"], "completed");
    // The template's configuration, as the emulator serves it.
    assert_eq!(report["function"]["memory_mb"], 512);
    assert_eq!(report["function"]["log_format"], "JSON");

    let samples = report["samples"].as_array().unwrap();
    let phase = |p: &'static str| samples.iter().filter(move |s| s["phase"] == p);
    assert_eq!(phase("cold").count(), 3);
    for s in phase("cold") {
        assert_eq!(s["cold"], true, "{s}");
        assert!(s["init_ms"].as_f64().unwrap() > 0.0);
        assert!(
            s["billed_ms"].as_u64().unwrap() >= s["duration_ms"].as_f64().unwrap().ceil() as u64
        );
    }
    assert_eq!(phase("warm").count(), 10);
    assert_eq!(phase("concurrent").count(), 10);
    for s in phase("warm").chain(phase("concurrent")) {
        assert_eq!(s["status"], "success", "the sync succeeded: {s}");
        assert!(s["max_memory_used_mb"].as_u64().unwrap() > 0);
        assert_eq!(s["memory_size_mb"], 512);
    }
    let d = &report["metrics"]["distributions"];
    assert_eq!(d["cold.init_ms"]["n"], 3);
    assert_eq!(d["warm.duration_ms"]["n"], 10);
    assert!(d["warm.duration_ms"]["p50"].as_f64().unwrap() > 0.0);
    assert!(
        d["warm.duration_ms"]["p99"].is_null(),
        "p99 needs 100 samples"
    );
    let sc = &report["metrics"]["scalars"];
    assert_eq!(sc["errors.rate"], 0.0);
    assert_eq!(sc["samples.missing"], 0.0);
    assert!(sc["cost.warm_per_1000_usd"].as_f64().unwrap() > 0.0);
    // The cold penalty: median cold Init + Duration minus the median warm
    // Duration, inside its interval, and as a multiple of a warm call.
    let (p, lo, hi) = (
        sc["cold.penalty_ms"].as_f64().unwrap(),
        sc["cold.penalty_low_ms"].as_f64().unwrap(),
        sc["cold.penalty_high_ms"].as_f64().unwrap(),
    );
    assert!(lo <= p && p <= hi, "{p} in [{lo}, {hi}]");
    let x = sc["cold.penalty_x"].as_f64().unwrap();
    assert!(x > 0.0);
    assert!(
        (p - (d["cold.total_ms"]["p50"].as_f64().unwrap()
            - d["warm.duration_ms"]["p50"].as_f64().unwrap()))
        .abs()
            < 1e-9
    );

    let verdicts: Vec<(&str, &str)> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["key"].as_str().unwrap(), t["verdict"].as_str().unwrap()))
        .collect();
    assert!(verdicts.contains(&("errors.rate", "pass")));
    assert!(verdicts.contains(&("cold.init_ms.n", "pass")));
    assert!(verdicts.contains(&("warm.duration_ms.max", "fail")));
    assert!(verdicts.contains(&("cold.penalty_ms", "pass")));

    let restore = &report["restore"];
    assert_eq!(restore["verified"], true, "{restore}");
    assert_eq!(restore["fields_restored"][0], "Environment");

    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("vanta-vuln-sync")
            && md.contains("FAIL")
            && md.contains("restored and verified")
            && md.contains("**cold penalty**")
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(html.contains("<svg") && !html.contains("<script"));
    // The page opens with the answer: the headline precedes the tables.
    let head = html.find("class=\"headline\"").expect("a headline");
    assert!(head < html.find("<table").unwrap() && html.contains("cold penalty"));
}
