//! The binary's contract: parse-logs output keys, exit statuses 0/1/2 and
//! one-line errors. Runs the real `perfharness` binary.

use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_perfharness"));
    c.env("NO_COLOR", "1").env_remove("GITHUB_STEP_SUMMARY");
    c
}

const KEYS: &[&str] = &[
    "kind",
    "request_id",
    "duration_ms",
    "billed_duration_ms",
    "memory_size_mb",
    "max_memory_used_mb",
    "init_duration_ms",
    "restore_duration_ms",
    "billed_restore_duration_ms",
    "status",
    "error_type",
    "phase",
];

#[test]
fn parse_logs_writes_exactly_the_documented_keys() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("log.txt");
    std::fs::write(
        &f,
        "START RequestId: a Version: $LATEST\n\
         REPORT RequestId: a\tDuration: 3.01 ms\tBilled Duration: 114 ms\tMemory Size: 128 MB\tMax Memory Used: 36 MB\tInit Duration: 110.10 ms\t\n\
         INIT_REPORT Init Duration: 3000.00 ms\tPhase: init\tStatus: timeout\n\
         REPORT RequestId: broken Duration: soon\n\
         {\"time\":\"t\",\"type\":\"platform.report\",\"record\":{\"requestId\":\"j\",\"metrics\":{\"durationMs\":1.5,\"billedDurationMs\":2,\"memorySizeMB\":128,\"maxMemoryUsedMB\":30},\"status\":\"error\",\"errorType\":\"Runtime.Unknown\"}}\n",
    )
    .unwrap();
    let out = bin()
        .args(["parse-logs", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for l in &lines {
        let keys: Vec<&str> = l.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = KEYS.to_vec();
        want.sort();
        let mut got = keys.clone();
        got.sort();
        assert_eq!(got, want);
    }
    assert_eq!(lines[0]["kind"], "report");
    assert_eq!(lines[0]["init_duration_ms"], 110.1);
    assert_eq!(lines[0]["status"], "success");
    assert_eq!(lines[1]["kind"], "init_report");
    assert_eq!(lines[1]["phase"], "init");
    assert!(lines[1]["request_id"].is_null());
    assert_eq!(lines[2]["error_type"], "Runtime.Unknown");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("line 4"),
        "malformed line reported: {stderr}"
    );
}

#[test]
fn parse_logs_reads_stdin_and_filter_log_events_json() {
    use std::io::Write;
    let mut child = bin()
        .args(["parse-logs", "-", "--format", "table"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"events":[{"message":"REPORT RequestId: zz\tDuration: 2.00 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 30 MB\t\n"}]}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("zz") && s.contains("report"), "{s}");
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("targets.toml");
    std::fs::write(&bad, "\"cold.init_ms.p42\" = \"<= 1\"\n").unwrap();
    let out = bin()
        .args([
            "full",
            "--function",
            "f",
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--targets",
        ])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("unknown statistic"), "{err}");

    let out = bin()
        .args([
            "full",
            "--function",
            "f",
            "--targets",
            "none",
            "--payload",
            "{not json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--payload is not valid JSON"));

    let out = bin().args(["full", "--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    let out = bin()
        .args(["report", dir.path().join("nope").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is it a run directory")
            || String::from_utf8_lossy(&out.stderr).contains("run directory")
    );
}

/// Run from a directory outside any checkout: no targets file is used (and
/// the run says so), and `--local` names the problem in one line, exit 2,
/// instead of a path baked in when the binary was built.
#[test]
fn local_outside_the_repository_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["full", "load", "gate"] {
        let mut args = vec![cmd, "--function", "vanta-vuln-sync", "--local"];
        match cmd {
            "gate" => args.extend(["--tiers", "wall"]),
            "load" => args.extend(["--rate", "1"]),
            _ => {}
        }
        let out = bin().args(&args).current_dir(dir.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = String::from_utf8(out.stderr).unwrap();
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(errors.len(), 1, "{cmd}: {err}");
        assert!(
            errors[0].contains("needs a vanta-vuln-sync checkout")
                && errors[0].contains(&*dir.path().display().to_string()),
            "{cmd}: {err}"
        );
        assert!(!err.contains("starting mock-vanta"), "{cmd}: {err}");
        if cmd == "full" {
            assert!(err.contains("no targets checked"), "{err}");
        }
    }
}

#[test]
fn unreachable_endpoint_is_an_infrastructure_error() {
    let dir = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback: nothing listens, the connection is refused.
    let out = bin()
        .args([
            "cold",
            "--function",
            "f",
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--targets",
            "none",
            "--cold",
            "1",
        ])
        .arg("--out")
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn report_rerenders_and_exit_status_follows_the_targets() {
    let dir = tempfile::tempdir().unwrap();
    // A minimal saved run: report.json as `full` writes it.
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let report = serde_json::json!({
        "schema": "perfharness.run/1", "command": "full",
        "started_at": "2026-11-26T17:00:00Z", "finished_at": "2026-11-26T17:01:00Z",
        "function": {"name": "f", "arn": "arn", "memory_mb": 128, "timeout_s": 3, "architecture": "x86_64",
                     "runtime": null, "log_format": "Text", "log_group": "/aws/lambda/f", "revision_id": null},
        "context": {"region": "us-east-1", "endpoint_url": null, "local": false, "harness_version": "0"},
        "settings": {"cold_samples": 0, "warm_samples": 0, "concurrency": 1, "max_reforce": 6, "log_source": "both",
                     "logs_timeout_s": 60.0, "payload_bytes": 2},
        "samples": [],
        "metrics": {"distributions": {"cold.init_ms": {"n": 2, "min": 10.0, "p50": 10.0, "p90": null, "p95": null,
                     "p99": null, "max": 12.0, "mean": 11.0, "stddev": 1.41}}, "scalars": {"errors.rate": 0.0}},
        "targets_file": null, "targets": [],
        "logs": {"from_tail": 0, "from_logs": 0, "cross_checked": 0, "discrepancies": 0, "missing": [], "malformed": [], "error": null},
        "control_plane": {"conflicts_retried": 0, "throttles_retried": 0, "other_retried": 0},
        "restore": {"fields_restored": [], "verified": true, "message": "configuration unchanged (verified)"},
        "outcome": {"status": "completed", "error": null, "targets_met": true}
    });
    std::fs::write(
        run.join("report.json"),
        serde_json::to_string(&report).unwrap(),
    )
    .unwrap();
    let out = bin()
        .args(["report", run.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(run.join("report.html").exists() && run.join("report.md").exists());

    let pass = dir.path().join("pass.toml");
    std::fs::write(
        &pass,
        "\"cold.init_ms.p50\" = \"<= 11\"\n\"errors.rate\" = 0\n",
    )
    .unwrap();
    let out = bin()
        .args([
            "report",
            run.to_str().unwrap(),
            "--targets",
            pass.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("PASS"));

    let fail = dir.path().join("fail.toml");
    std::fs::write(&fail, "\"cold.init_ms.max\" = \"<= 11\"\n").unwrap();
    let out = bin()
        .args([
            "report",
            run.to_str().unwrap(),
            "--targets",
            fail.to_str().unwrap(),
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["targets"][0]["verdict"], "fail");

    let nodata = dir.path().join("nodata.toml");
    std::fs::write(&nodata, "\"cold.init_ms.p99\" = \"<= 100\"\n").unwrap();
    let out = bin()
        .args([
            "report",
            run.to_str().unwrap(),
            "--targets",
            nodata.to_str().unwrap(),
            "--output",
            "markdown",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a target that cannot be checked is not met"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("NO DATA"));
}

/// The binary owns its process, so `--local` puts functions on the upper
/// half of the CPUs it may use and itself on the rest, says so on stderr and
/// in the report; with `--local-shared-cpus` it does neither.
#[test]
fn local_gives_functions_cpus_of_their_own() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let allowed = emulator::affinity::allowed().unwrap().cpus();
    let expected = emulator::affinity::split(&allowed).map(|(_, functions)| functions);
    for shared in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = bin();
        cmd.args([
            "cold",
            "--function",
            "vanta-vuln-sync",
            "--local",
            "--cold",
            "1",
            "--local-records",
            "100",
            "--targets",
            "none",
            "--output",
            "json",
        ])
        .arg("--out")
        .arg(dir.path().join("run"))
        .current_dir(root);
        if shared {
            cmd.arg("--local-shared-cpus");
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("run/report.json")).unwrap(),
        )
        .unwrap();
        let cpus = &report["context"]["function_cpus"];
        match (&expected, shared) {
            (Some(functions), false) => {
                assert_eq!(cpus, &serde_json::json!(functions), "{}", report["context"]);
                assert!(err.contains("--local: functions run on CPU"), "{err}");
            }
            _ => {
                assert!(cpus.is_null(), "{}", report["context"]);
                assert!(!err.contains("functions run on CPU"), "{err}");
            }
        }
    }
}
