//! `perfharness` against a "deployed" function (the emulator through
//! `--endpoint-url`, so the AWS code path, not `--local`) uses the benchmark
//! stack: the real function, configured for production (a Vanta URL nothing
//! answers, the production bucket and prefix, a production secret), syncs
//! against mock-vanta into the benchmark bucket during the run, writes
//! nothing under the production prefix, and gets its production
//! configuration back afterwards: on success, on SIGINT and on SIGTERM.
//! `--vanta real` on a non-terminal without `--yes` refuses with the
//! estimate and changes nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use clap::Parser;

const FUNCTION: &str = "vanta-vuln-sync";
const PROD_BUCKET: &str = "vanta-vuln-data";
/// The default benchmark bucket for the emulator's account and region.
const BENCH_BUCKET: &str = "perfharness-bench-123456789012-us-east-1";

fn production_env() -> BTreeMap<String, String> {
    BTreeMap::from([
        // Nothing listens here: a sample that reached "production Vanta"
        // would fail.
        ("VANTA_BASE_URL".into(), "http://127.0.0.1:9".into()),
        (
            "VANTA_CREDENTIALS_SECRET".into(),
            "vanta-api-credentials".into(),
        ),
        ("S3_BUCKET".into(), PROD_BUCKET.into()),
        ("S3_PREFIX".into(), "vanta".into()),
        ("VANTA_RATE_LIMIT_PER_MIN".into(), "50".into()),
    ])
}

struct Stack {
    vanta: mock_vanta::ServerHandle,
    emu: emulator::EmulatorHandle,
    lambda: aws_sdk_lambda::Client,
    s3: aws_sdk_s3::Client,
}

impl Stack {
    async fn start() -> Stack {
        let vanta = mock_vanta::Server::start(mock_vanta::Config {
            data: mock_vanta::DataConfig {
                vulnerabilities: 120,
                remediations: 40,
                assets: 12,
                ..Default::default()
            },
            ..mock_vanta::Config::default()
        })
        .await
        .unwrap();
        let bin = perfharness::local::ensure_binary(perfharness::local::FUNCTION_BINARY)
            .await
            .expect("the vanta-vuln-sync release binary");
        let mut spec = emulator::lambda::FunctionSpec::new(FUNCTION, bin);
        spec.timeout_s = 60;
        spec.memory_mb = 512;
        spec.environment = production_env();
        let emu = emulator::Emulator::start(emulator::EmulatorConfig {
            functions: vec![spec],
            ..emulator::EmulatorConfig::default()
        })
        .await
        .unwrap();
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(emu.endpoint_url())
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        for b in [PROD_BUCKET, BENCH_BUCKET] {
            s3.create_bucket().bucket(b).send().await.unwrap();
        }
        aws_sdk_secretsmanager::Client::new(&sdk)
            .create_secret()
            .name(perfharness::bench::MOCK_SECRET)
            .secret_string(r#"{"client_id":"vci_mock","client_secret":"vcs_mock"}"#)
            .send()
            .await
            .unwrap();
        Stack {
            vanta,
            emu,
            lambda: aws_sdk_lambda::Client::new(&sdk),
            s3,
        }
    }

    async fn env(&self) -> BTreeMap<String, String> {
        let c = self
            .lambda
            .get_function_configuration()
            .function_name(FUNCTION)
            .send()
            .await
            .unwrap();
        c.environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    async fn keys(&self, bucket: &str) -> Vec<String> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    }

    async fn shutdown(self) {
        self.emu.shutdown().await;
        self.vanta.shutdown().await;
    }
}

async fn perfharness_binary() -> PathBuf {
    perfharness::local::ensure_binary(perfharness::local::PERFHARNESS_BINARY)
        .await
        .expect("the perfharness release binary")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_against_aws_uses_the_benchmark_stack_and_restores_production() {
    let stack = Stack::start().await;
    let endpoint = stack.emu.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let cli = perfharness::cli::Cli::try_parse_from([
        "perfharness",
        "full",
        "--function",
        FUNCTION,
        "--endpoint-url",
        &endpoint,
        "--cold",
        "2",
        "--warm",
        "3",
        "--bench-vanta-url",
        &stack.vanta.base_url(),
        "--log-source",
        "tail",
        "--targets",
        "none",
        "--output",
        "json",
        "--out",
        out.to_str().unwrap(),
    ])
    .unwrap();
    let code = perfharness::cli::run(cli).await.expect("the run completes");
    assert_eq!(code, ExitCode::SUCCESS);

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["outcome"]["status"], "completed");
    let samples = report["samples"].as_array().unwrap();
    // 2 cold, 1 warm-up, 3 warm; --concurrency defaults to 1 against AWS.
    assert_eq!(samples.len(), 6, "{samples:?}");
    for s in samples {
        // Production Vanta (port 9) answers nothing: success means the
        // sample synced against the mock.
        assert_eq!(s["status"], "success", "{s}");
    }
    assert_eq!(report["restore"]["verified"], true, "{}", report["restore"]);
    assert_eq!(stack.env().await, production_env());

    assert!(
        stack.keys(PROD_BUCKET).await.is_empty(),
        "nothing may be written to the production bucket"
    );
    let bench = stack.keys(BENCH_BUCKET).await;
    assert!(
        bench.contains(&"perfharness-bench/latest.json".to_string()),
        "{bench:?}"
    );
    assert!(
        bench.iter().all(|k| k.starts_with("perfharness-bench/")),
        "{bench:?}"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_and_sigterm_restore_the_production_configuration() {
    let bin = perfharness_binary().await;
    let stack = Stack::start().await;
    let endpoint = stack.emu.endpoint_url();
    let mock_url = stack.vanta.base_url();
    for signal in ["INT", "TERM"] {
        let dir = tempfile::tempdir().unwrap();
        let child = tokio::process::Command::new(&bin)
            .args(["cold", "--function", FUNCTION, "--endpoint-url", &endpoint])
            .args(["--cold", "500", "--bench-vanta-url", &mock_url])
            .args([
                "--log-source",
                "tail",
                "--targets",
                "none",
                "--output",
                "json",
            ])
            .arg("--out")
            .arg(dir.path().join("run"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // Wait until the benchmark configuration is in place (the run is
        // under way), then signal.
        let mut applied = false;
        for _ in 0..600 {
            if stack.env().await.get("VANTA_BASE_URL") == Some(&mock_url) {
                applied = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(applied, "the benchmark configuration was never applied");
        let env = stack.env().await;
        assert_eq!(env.get("S3_BUCKET").map(String::as_str), Some(BENCH_BUCKET));
        assert_eq!(
            env.get("S3_PREFIX").map(String::as_str),
            Some("perfharness-bench")
        );
        let pid = child.id().unwrap().to_string();
        let st = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(st.success());
        let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
            .await
            .expect("perfharness exits after the signal")
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "SIG{signal}: {stderr}");
        assert_eq!(stack.env().await, production_env(), "after SIG{signal}");
        let report: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("run/report.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(report["outcome"]["status"], "interrupted");
        assert_eq!(report["restore"]["verified"], true);
    }
    assert!(stack.keys(PROD_BUCKET).await.is_empty());
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanta_real_without_yes_on_a_non_terminal_refuses_with_the_estimate() {
    let bin = perfharness_binary().await;
    let stack = Stack::start().await;
    let before = stack
        .lambda
        .get_function_configuration()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap()
        .revision_id()
        .map(str::to_string);
    let out = tokio::process::Command::new(&bin)
        .args(["full", "--function", FUNCTION, "--endpoint-url"])
        .arg(stack.emu.endpoint_url())
        .args([
            "--vanta",
            "real",
            "--vanta-records",
            "2000",
            "--targets",
            "none",
        ])
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // The AWS defaults: 5 cold + 1 warm-up + 20 warm.
    assert!(stderr.contains("26 full syncs"), "{stderr}");
    // 24 requests a sync (token, 3 first pages, 20 more) at 50 a minute.
    assert!(stderr.contains("about 624"), "{stderr}");
    assert!(stderr.contains("at least 12 min"), "{stderr}");
    assert!(
        stderr.contains("26 written under the production prefix"),
        "{stderr}"
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("--yes"), "{stderr}");
    let after = stack
        .lambda
        .get_function_configuration()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap()
        .revision_id()
        .map(str::to_string);
    assert_eq!(before, after, "a refused run changes nothing");
    assert_eq!(stack.env().await, production_env());
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_benchmark_stack_the_run_stops_before_changing_anything() {
    let stack = Stack::start().await;
    let cli = perfharness::cli::Cli::try_parse_from([
        "perfharness",
        "full",
        "--function",
        FUNCTION,
        "--endpoint-url",
        &stack.emu.endpoint_url(),
        "--targets",
        "none",
    ])
    .unwrap();
    let err = perfharness::cli::run(cli)
        .await
        .expect_err("no mock-vanta function: a usage error")
        .to_string();
    assert!(
        err.contains("bench/template.yaml") && err.contains("--bench-vanta-url"),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
    assert_eq!(stack.env().await, production_env());
    assert!(stack.keys(PROD_BUCKET).await.is_empty());
    stack.shutdown().await;
}

/// Runs `args` (a subcommand and its options) in-process against the stack's
/// emulator with the mock's URL, writing to `out`; returns report.json.
async fn run_against_the_stack(
    stack: &Stack,
    args: &[&str],
    out: &std::path::Path,
) -> serde_json::Value {
    let endpoint = stack.emu.endpoint_url();
    let mock = stack.vanta.base_url();
    let mut argv = vec!["perfharness"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&[
        "--function",
        FUNCTION,
        "--endpoint-url",
        &endpoint,
        "--bench-vanta-url",
        &mock,
        "--log-source",
        "tail",
        "--targets",
        "none",
        "--output",
        "json",
        "--out",
        out.to_str().unwrap(),
    ]);
    let cli = perfharness::cli::Cli::try_parse_from(&argv).unwrap();
    let code = perfharness::cli::run(cli)
        .await
        .unwrap_or_else(|e| panic!("{args:?}: {e:#}"));
    assert_eq!(code, ExitCode::SUCCESS, "{args:?}");
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

/// After a run: production configuration back, nothing under the
/// production bucket, `latest.json` published under the benchmark prefix
/// and every benchmark object under it.
async fn assert_only_the_benchmark_stack_was_touched(stack: &Stack, what: &str) {
    assert_eq!(stack.env().await, production_env(), "{what}: after the run");
    assert!(
        stack.keys(PROD_BUCKET).await.is_empty(),
        "{what}: nothing may be written to the production bucket"
    );
    let bench = stack.keys(BENCH_BUCKET).await;
    assert!(
        bench.contains(&"perfharness-bench/latest.json".to_string()),
        "{what}: {bench:?}"
    );
    assert!(
        bench.iter().all(|k| k.starts_with("perfharness-bench/")),
        "{what}: {bench:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_uses_the_benchmark_stack_and_restores_production() {
    let stack = Stack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let report = run_against_the_stack(
        &stack,
        &[
            "load",
            "--concurrency",
            "1",
            "--duration",
            "30s",
            "--max-invocations",
            "3",
        ],
        &dir.path().join("load"),
    )
    .await;
    assert_eq!(report["invocations"], 3, "{report}");
    // Production Vanta (port 9) answers nothing: an ok invocation synced
    // against the mock.
    assert_eq!(report["ok"], 3, "{report}");
    assert_only_the_benchmark_stack_was_touched(&stack, "load").await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_uses_the_benchmark_stack_and_restores_production() {
    let stack = Stack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");
    let report = run_against_the_stack(
        &stack,
        &[
            "gate",
            "--tiers",
            "wall",
            "--compare",
            "absolute",
            "--samples",
            "10",
            "--repeat",
            "1",
            "--update-baseline",
            "--baseline",
            baseline.to_str().unwrap(),
        ],
        &dir.path().join("gate"),
    )
    .await;
    let samples = report["function"]["samples"].as_array().unwrap();
    assert!(samples.len() >= 10, "{samples:?}");
    for s in samples {
        assert_eq!(s["status"], "success", "{s}");
    }
    assert_eq!(report["function"]["restore"]["verified"], true, "{report}");
    assert!(baseline.exists());
    assert_only_the_benchmark_stack_was_touched(&stack, "gate").await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_uses_the_benchmark_stack_and_restores_production() {
    let stack = Stack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let report = run_against_the_stack(
        &stack,
        &[
            "power", "--memory", "256,1024", "--cold", "1", "--warm", "2",
        ],
        &dir.path().join("power"),
    )
    .await;
    let samples = report["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 6, "{samples:?}");
    for s in samples {
        assert_eq!(s[1]["status"], "success", "{s}");
    }
    assert_eq!(report["restored"], true);
    assert_only_the_benchmark_stack_was_touched(&stack, "power").await;
    let memory = stack
        .lambda
        .get_function_configuration()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap()
        .memory_size();
    assert_eq!(memory, Some(512));
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_gate_and_power_with_vanta_real_without_yes_refuse_with_the_estimate() {
    let bin = perfharness_binary().await;
    let stack = Stack::start().await;
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");
    // (arguments, syncs, Vanta requests at 24 a sync, minutes at 50 a minute)
    let cases: [(Vec<&str>, &str, &str, &str); 3] = [
        (
            vec!["load", "--rate", "2", "--duration", "10s"],
            "20 full syncs",
            "about 480",
            "at least 10 min",
        ),
        (
            vec![
                "gate",
                "--tiers",
                "wall",
                "--compare",
                "absolute",
                "--samples",
                "10",
                "--repeat",
                "1",
                "--update-baseline",
                "--baseline",
                baseline.to_str().unwrap(),
            ],
            "10 full syncs",
            "about 240",
            "at least 5 min",
        ),
        (
            vec![
                "power", "--memory", "256,1024", "--cold", "1", "--warm", "2",
            ],
            "6 full syncs",
            "about 144",
            "at least 3 min",
        ),
    ];
    for (args, syncs, requests, minutes) in cases {
        let before = stack
            .lambda
            .get_function_configuration()
            .function_name(FUNCTION)
            .send()
            .await
            .unwrap()
            .revision_id()
            .map(str::to_string);
        let out = tokio::process::Command::new(&bin)
            .args(&args)
            .args(["--function", FUNCTION, "--endpoint-url"])
            .arg(stack.emu.endpoint_url())
            .args(["--vanta", "real", "--vanta-records", "2000"])
            .args(["--targets", "none", "--out"])
            .arg(dir.path().join(args[0]))
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = args[0];
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains(&format!("invocations: {syncs}")),
            "{what}: {stderr}"
        );
        assert!(stderr.contains(requests), "{what}: {stderr}");
        assert!(stderr.contains(minutes), "{what}: {stderr}");
        assert!(
            stderr.contains("written under the production prefix"),
            "{what}: {stderr}"
        );
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{what}: {stderr}");
        assert!(errors[0].contains("--yes"), "{what}: {stderr}");
        let after = stack
            .lambda
            .get_function_configuration()
            .function_name(FUNCTION)
            .send()
            .await
            .unwrap()
            .revision_id()
            .map(str::to_string);
        assert_eq!(before, after, "{what}: a refused run changes nothing");
        assert_eq!(stack.env().await, production_env(), "{what}");
    }
    assert!(!baseline.exists(), "a refused gate writes no baseline");
    assert!(stack.keys(PROD_BUCKET).await.is_empty());
    stack.shutdown().await;
}
