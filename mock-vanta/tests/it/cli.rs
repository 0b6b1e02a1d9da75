//! The `mock-vanta` binary: the one stdout line, usage errors, expected-stats.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_mock-vanta");
const NOW: &str = "2026-11-26T06:00:00Z";

#[test]
fn serve_prints_exactly_one_line_and_serves_until_terminated() {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--seed",
            "42",
            "--vulnerabilities",
            "100",
            "--remediations",
            "40",
            "--assets",
            "5",
            "--now",
            NOW,
            "--realistic",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mock-vanta");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim_end()
        .strip_prefix("mock-vanta listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let port: u16 = url.parse().expect("a port");
    assert!(port > 0);
    // It answers HTTP.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        reqwest::get(format!("http://127.0.0.1:{port}/_admin/stats"))
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    // SIGTERM stops it cleanly and nothing more reaches stdout.
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "", "only one line on stdout");
}

#[test]
fn bad_options_exit_2_with_one_line() {
    for args in [
        vec!["serve", "--no-such-option"],
        vec!["serve", "--faults", "500,teapot"],
        vec!["serve", "--fault-rate", "2"],
        vec!["serve", "--vulnerabilities", "10", "--assets", "0"],
        vec!["serve", "--now", "yesterday"],
        vec!["serve", "--rate-model", "leaky-bucket"],
        vec!["serve", "--rate-scope", "planet"],
        vec!["serve", "--rate-model", "fixed-window", "--burst", "5"],
        vec!["serve", "--rate-model", "token-bucket", "--burst", "0"],
        vec!["serve", "--rate-window-ms", "0"],
        vec!["expected-stats", "--seed", "minus-one"],
        vec!["frobnicate"],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("mock-vanta: "), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn help_documents_every_option() {
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for option in [
        "--addr",
        "--seed",
        "--vulnerabilities",
        "--remediations",
        "--assets",
        "--now",
        "--client-id",
        "--client-secret",
        "--realistic",
        "--rate-limit",
        "--rate-model",
        "fixed-window",
        "sliding-window",
        "token-bucket",
        "--burst",
        "--rate-scope",
        "--rate-window-ms",
        "--token-rate-limit",
        "--single-token",
        "--token-ttl-s",
        "--retry-after",
        "--fault-rate",
        "--faults",
        "--fault-seed",
        "--latency-ms",
        "--slow-ms",
    ] {
        assert!(help.contains(option), "--help lacks {option}");
    }
}

#[test]
fn expected_stats_prints_the_library_document() {
    let out = Command::new(BIN)
        .args([
            "expected-stats",
            "--seed",
            "9",
            "--vulnerabilities",
            "500",
            "--remediations",
            "200",
            "--assets",
            "30",
            "--now",
            NOW,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected = mock_vanta::expected_stats(&mock_vanta::DataConfig {
        seed: 9,
        vulnerabilities: 500,
        remediations: 200,
        assets: 30,
        now: NOW.parse().unwrap(),
    });
    assert_eq!(printed, expected);
    assert_eq!(printed["vulnerabilities"]["total"], 500);
}

#[test]
fn an_address_in_use_is_one_line_and_a_failure() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(BIN)
        .args(["serve", "--addr", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("mock-vanta: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains(&addr), "{stderr}");
    assert!(out.stdout.is_empty());
}
