//! The `emulator serve` binary: its one stdout line, serving, a clean
//! SIGTERM exit with no function process left, none left after a SIGKILL
//! either, and one-line usage errors.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_lambda::config::Credentials;
use aws_sdk_lambda::primitives::Blob;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::served::{alive, children, fixture_path, Served, EMULATOR};

#[tokio::test]
async fn serves_prints_one_line_and_exits_cleanly_on_sigterm() {
    let state = tempfile::tempdir().unwrap();
    // A relative executable path, as typed in a shell, must work too.
    let fixture = Path::new(fixture_path());
    let mut child = Command::new(EMULATOR)
        .current_dir(fixture.parent().unwrap())
        .args(["serve", "--addr", "localhost:0", "--function"])
        .arg(format!(
            "fixture=./{}",
            fixture.file_name().unwrap().to_str().unwrap()
        ))
        .args(["--env", "fixture:GREETING=hi", "--state-dir"])
        .arg(state.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("no stdout line within 30 s")
        .unwrap()
        .unwrap();
    let url = line
        .strip_prefix("emulator listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let port: u16 = url.parse().unwrap();
    assert_ne!(port, 0);
    let endpoint = format!("http://127.0.0.1:{port}");

    // It serves Lambda: a cold invoke starts a function process.
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region("us-east-1")
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    let lambda = aws_sdk_lambda::Client::new(&shared);
    let config = lambda
        .get_function_configuration()
        .function_name("fixture")
        .send()
        .await
        .unwrap();
    assert_eq!(
        config.environment().unwrap().variables().unwrap()["GREETING"],
        "hi"
    );
    let out = lambda
        .invoke()
        .function_name("fixture")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status_code(), 200);
    assert!(out.function_error().is_none(), "{:?}", out.payload());
    let spawned = children(pid);
    assert!(!spawned.is_empty(), "the invoke left no warm environment");

    // And S3, with state in --state-dir.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket("cli-bucket")
        .send()
        .await
        .unwrap();
    assert!(state.path().join("cli-bucket").is_dir());

    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("no exit within 30 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(
        lines.next_line().await.unwrap(),
        None,
        "more than one stdout line"
    );
    for p in spawned {
        assert!(!alive(p), "function process {p} outlived the emulator");
    }
}

async fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(EMULATOR).args(args).output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn usage_errors_are_one_line_and_exit_2() {
    let bad_name = format!("bad name={}", fixture_path());
    let cases: &[(&[&str], &str)] = &[
        (&["serve", "--bogus"], "--bogus"),
        (&["serve", "--addr", "0.0.0.0:4566"], "loopback"),
        (&["serve", "--function", "no-equals-sign"], "NAME=PATH"),
        (
            &["serve", "--function", "f=/definitely/not/here"],
            "no such file",
        ),
        (&["serve", "--s3-fault-rate", "1.5"], "between 0 and 1"),
        (
            &["serve", "--env", "ghost:K=V"],
            "no --function named ghost",
        ),
        (&["serve", "--concurrency-cap", "0"], "--concurrency-cap"),
        (&["serve", "--function", &bad_name], "letters, digits"),
        (&["serve", "--function-cpus", "1-0"], "such as 1 or 2-3,6"),
        (&["serve", "--function-cpus", "x"], "such as 1 or 2-3,6"),
        (&["serve", "--function-cpus", "4095"], "leave at least one"),
        (&[], "missing command"),
    ];
    for (args, needle) in cases {
        let (code, stderr) = run(args).await;
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn a_broken_template_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template.yaml");
    std::fs::write(&template, "Resources: [unclosed").unwrap();
    let (code, stderr) = run(&[
        "serve",
        "--template",
        template.to_str().unwrap(),
        "--function",
        &format!("f={}", fixture_path()),
    ])
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("template.yaml"), "{stderr}");
    assert!(Path::new(fixture_path()).exists());
}

#[tokio::test]
async fn ctrl_c_exits_cleanly_too() {
    let mut child = Command::new(EMULATOR)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("no stdout line within 30 s")
        .unwrap()
        .unwrap();
    assert!(
        line.starts_with("emulator listening on http://127.0.0.1:"),
        "{line}"
    );
    unsafe {
        libc::kill(child.id().unwrap() as i32, libc::SIGINT);
    }
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("no exit within 30 s of SIGINT")
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn sigkill_of_the_emulator_leaves_no_function_process() {
    let served = Served::start(&["--function", &format!("fixture={}", fixture_path())]).await;
    let lambda = aws_sdk_lambda::Client::new(&served.sdk_config("test", "test").await);
    let out = lambda
        .invoke()
        .function_name("fixture")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert!(out.function_error().is_none(), "{:?}", out.payload());
    let spawned = children(served.pid);
    assert!(!spawned.is_empty(), "the invoke left no warm environment");
    assert!(spawned.iter().all(|p| alive(*p)));

    // No chance to clean up: the kernel must take the functions along.
    unsafe {
        libc::kill(served.pid as i32, libc::SIGKILL);
    }
    let mut child = served.child;
    child.wait().await.unwrap();
    let mut left = spawned.clone();
    for _ in 0..100 {
        left.retain(|p| alive(*p));
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        left.is_empty(),
        "function processes {left:?} outlived a SIGKILLed emulator"
    );
}
