//! The configuration guard against the emulator through the real SDK: a
//! panic and every signal restore the configuration (SIGINT on the real
//! binary for every command, SIGTERM and SIGHUP too for `full` and `power`,
//! exit 130), a concurrent
//! UpdateFunctionConfiguration is reported and kept, a nonce left by a
//! killed run is removed, and flags a command does not use are refused.

use std::collections::BTreeMap;

use clap::Parser;
use emulator::lambda::LogFormat;
use perfharness::aws::control::{get_configuration, update_environment, wait_until_updated};
use perfharness::aws::guard::{run_guarded, ConfigGuard, NONCE_VARIABLE};
use perfharness::commands::run::Mode;
use perfharness::measure::cold::force_cold_start;
use perfharness::options::LogSource;
use perfharness::HarnessError;

use crate::support::*;

/// Someone else's deploy: a variable added through another client, settled.
async fn deploy_elsewhere(endpoint: &str, function: &str, extra: (&str, &str)) {
    let other = session(endpoint, function).await;
    let c = get_configuration(&other).await.unwrap();
    let mut vars = perfharness::aws::control::environment_of(&c);
    vars.insert(extra.0.to_string(), extra.1.to_string());
    let before = c.revision_id().map(str::to_string);
    update_environment(&other, &vars, before.as_deref())
        .await
        .unwrap();
    wait_until_updated(&other, before.as_deref()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_during_the_work_restores_the_configuration() {
    let emu = emulator(vec![fixture_spec("gp", LogFormat::Text).await], 0).await;
    let s = session(&emu.endpoint_url(), "gp").await;
    let guard = ConfigGuard::snapshot(&s).await.unwrap();
    let overrides = BTreeMap::from([("BENCH".to_string(), Some("1".to_string()))]);
    let guarded = run_guarded(
        &s,
        &guard,
        async {
            guard.apply_environment(&s, &overrides).await?;
            force_cold_start(&s).await?;
            assert!(current_env(&s).await.contains_key(NONCE_VARIABLE));
            if current_env(&s).await.contains_key("BENCH") {
                panic!("a bug in the middle of a run");
            }
            Ok::<(), HarnessError>(())
        },
        std::future::pending::<()>(),
    )
    .await;
    match guarded.result {
        Err(HarnessError::Panicked(m)) => assert!(m.contains("a bug"), "{m}"),
        other => panic!("expected the panic as an error, got {other:?}"),
    }
    let restore = guarded.restore.unwrap();
    assert!(restore.verified, "{}", restore.message);
    assert_eq!(current_env(&s).await, original_env());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_update_is_reported_and_kept() {
    let emu = emulator(vec![fixture_spec("gc", LogFormat::Text).await], 0).await;
    let url = emu.endpoint_url();
    let s = session(&url, "gc").await;
    let guard = ConfigGuard::snapshot(&s).await.unwrap();
    let guarded = run_guarded(
        &s,
        &guard,
        async {
            force_cold_start(&s).await?;
            deploy_elsewhere(&url, "gc", ("DEPLOYED", "yes")).await;
            // The next forced cold start must see the change and stop.
            force_cold_start(&s).await?;
            Ok::<(), HarnessError>(())
        },
        std::future::pending::<()>(),
    )
    .await;
    assert!(
        matches!(guarded.result, Err(HarnessError::ConcurrentChange(_))),
        "{:?}",
        guarded.result
    );
    let restore = guarded.restore.unwrap();
    assert!(
        restore.concurrent_change && !restore.verified,
        "{restore:?}"
    );
    let m = &restore.message;
    assert!(m.contains("changed by someone else"), "{m}");
    assert!(m.contains("aws lambda update-function-configuration --function-name gc --memory-size 128 --timeout 10"), "{m}");
    assert!(m.contains("ALSO") && m.contains("KEEP_ME"), "{m}");
    assert!(!m.contains("a=b;c"), "variable values never appear: {m}");
    // Their change is kept, not reverted.
    assert_eq!(
        current_env(&s).await.get("DEPLOYED").map(String::as_str),
        Some("yes")
    );
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_left_by_a_killed_run_is_removed() {
    let emu = emulator(vec![fixture_spec("gn", LogFormat::Text).await], 0).await;
    let url = emu.endpoint_url();
    deploy_elsewhere(&url, "gn", (NONCE_VARIABLE, "left-by-a-killed-run")).await;
    let s = session(&url, "gn").await;
    let r = measure(&s, &plan(Mode::Warm, 0, 3, 1, LogSource::Tail)).await;
    let restore = r.restore.unwrap();
    assert!(
        restore.verified && restore.leftover_nonce_removed,
        "{restore:?}"
    );
    assert!(
        restore.message.contains(NONCE_VARIABLE),
        "{}",
        restore.message
    );
    assert_eq!(current_env(&s).await, original_env());
    emu.shutdown().await;
}

/// How a case tells that its run is under way (its signal handler is then
/// installed): the cold-start nonce is on the function, or the function
/// has logged since the case began (an invocation).
#[derive(Clone, Copy)]
enum Started {
    Nonce,
    Invoked,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_exits_130_after_a_signal_with_the_configuration_restored() {
    let emu = emulator(vec![fixture_spec("gs", LogFormat::Text).await], 0).await;
    let url = emu.endpoint_url();
    let s = session(&url, "gs").await;
    let dir = tempfile::tempdir().unwrap();
    let out = |n: &str| dir.path().join(n).display().to_string();
    let baseline = out("baseline.json");
    let long = |cmd: &str| -> Vec<&str> {
        match cmd {
            "full" | "cold" => vec!["--cold", "500", "--log-source", "tail"],
            "warm" => vec!["--warm", "100000", "--log-source", "tail"],
            "power" => vec![
                "--memory",
                "128,256",
                "--cold",
                "200",
                "--log-source",
                "tail",
            ],
            "load" => vec!["--rate", "5", "--duration", "60s"],
            "gate" => vec![
                "--tiers",
                "wall",
                "--compare",
                "absolute",
                "--samples",
                "1000",
                "--update-baseline",
                "--baseline",
                &baseline,
                "--log-source",
                "tail",
            ],
            _ => unreachable!(),
        }
    };
    let cases = [
        ("full", "INT", Started::Nonce),
        ("full", "TERM", Started::Nonce),
        ("full", "HUP", Started::Nonce),
        ("cold", "INT", Started::Nonce),
        ("warm", "INT", Started::Invoked),
        ("power", "INT", Started::Nonce),
        ("power", "TERM", Started::Nonce),
        ("gate", "INT", Started::Nonce),
        ("load", "INT", Started::Invoked),
    ];
    let logs = emu.logs();
    for (cmd, signal, started) in cases {
        let run_dir = out(&format!("{cmd}-{signal}"));
        let mut argv = vec![
            cmd,
            "--function",
            "gs",
            "--endpoint-url",
            &url,
            "--targets",
            "none",
            "--out",
            &run_dir,
        ];
        argv.extend(long(cmd));
        let logged = logs.stored_bytes("/aws/lambda/gs");
        let (code, stderr) = signalled(&argv, signal, &s, |env, _| match started {
            Started::Nonce => env.contains_key(NONCE_VARIABLE),
            Started::Invoked => logs.stored_bytes("/aws/lambda/gs") > logged,
        })
        .await;
        assert_eq!(code, Some(130), "{cmd} SIG{signal}: {stderr}");
        assert_eq!(current_env(&s).await, original_env(), "{cmd} SIG{signal}");
        let c = get_configuration(&s).await.unwrap();
        assert_eq!(c.memory_size(), Some(128), "{cmd} SIG{signal}");
        if cmd != "gate" {
            assert!(
                std::path::Path::new(&run_dir).join("report.json").exists(),
                "{cmd} SIG{signal} writes what ran: {stderr}"
            );
        }
    }
    assert!(
        !dir.path().join("baseline.json").exists(),
        "an interrupted gate writes no baseline"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn load_and_power_refuse_a_targets_file_and_load_a_log_source() {
    for (argv, expected) in [
        (
            vec![
                "load",
                "--rate",
                "1",
                "--duration",
                "1s",
                "--targets",
                "reports/targets.toml",
            ],
            "`load` checks no targets",
        ),
        (
            vec![
                "power",
                "--memory",
                "128",
                "--targets",
                "reports/targets.toml",
            ],
            "`power` checks no targets",
        ),
        (
            vec![
                "load",
                "--rate",
                "1",
                "--duration",
                "1s",
                "--log-source",
                "logs",
            ],
            "drop --log-source logs",
        ),
    ] {
        let cli = perfharness::cli::Cli::try_parse_from(
            ["perfharness"]
                .into_iter()
                .chain(argv.iter().copied())
                .chain(["--function", "f", "--endpoint-url", "http://127.0.0.1:9"]),
        )
        .unwrap();
        let err = perfharness::cli::run(cli).await.unwrap_err();
        assert!(err.to_string().contains(expected), "{argv:?}: {err}");
    }
}
