//! The drivers against the emulator and its fixture function: verified cold
//! starts, re-forcing a warm answer, restore after success, failure and
//! interrupt, ResourceConflictException, log delivery delay, JSON logs and
//! throttling at a reserved concurrency.

use crate::support;

use std::sync::atomic::Ordering;

use emulator::lambda::LogFormat;
use perfharness::commands::run::Mode;
use perfharness::export::RunStatus;
use perfharness::options::LogSource;
use perfharness::sample::{Phase, ReportSource};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_samples_are_verified_cold_and_the_configuration_restored() {
    let emu = emulator(vec![fixture_spec("fx", LogFormat::Text).await], 0).await;
    let s = session(&emu.endpoint_url(), "fx").await;
    let r = measure(&s, &plan(Mode::Full, 3, 5, 1, LogSource::Both)).await;
    assert_eq!(
        r.outcome.status,
        RunStatus::Completed,
        "{:?}",
        r.outcome.error
    );
    let cold: Vec<_> = r
        .samples
        .iter()
        .filter(|x| x.phase == Phase::Cold)
        .collect();
    assert_eq!(cold.len(), 3);
    for c in &cold {
        assert!(c.cold, "verified cold: {c:?}");
        assert!(c.init_ms.unwrap() > 0.0);
        assert_eq!(c.force_attempts, 1);
        assert_eq!(c.report_source, Some(ReportSource::Tail));
        assert_eq!(
            c.cold_total_ms.unwrap(),
            c.init_ms.unwrap() + c.duration_ms.unwrap()
        );
    }
    let warm: Vec<_> = r
        .samples
        .iter()
        .filter(|x| x.phase == Phase::Warm)
        .collect();
    assert_eq!(warm.len(), 5);
    assert!(warm.iter().all(|w| !w.cold && w.duration_ms.is_some()));
    assert_eq!(r.metrics.distributions["cold.init_ms"].n, 3);
    assert_eq!(r.metrics.scalars["samples.missing"], 0.0);
    // `both`: every sample with a tail REPORT was also found in CloudWatch Logs.
    assert_eq!(r.logs.cross_checked, 3 + 5 + 1);
    assert_eq!(r.logs.discrepancies, 0);
    let restore = r.restore.unwrap();
    assert!(restore.verified, "{restore:?}");
    assert_eq!(restore.fields_restored, vec!["Environment".to_string()]);
    assert_eq!(current_env(&s).await, original_env());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_answer_after_a_forced_update_is_re_forced() {
    let emu = emulator(vec![fixture_spec("fx", LogFormat::Text).await], 0).await;
    let p = proxy(&emu.endpoint_url()).await;
    // Invokes 1 and 2 (the first sample's first two tries) look warm.
    p.faults.strip_init.lock().unwrap().extend([1, 2]);
    let s = session(&p.url, "fx").await;
    let r = measure(&s, &plan(Mode::Cold, 2, 0, 1, LogSource::Tail)).await;
    assert_eq!(
        r.outcome.status,
        RunStatus::Completed,
        "{:?}",
        r.outcome.error
    );
    assert_eq!(r.samples[0].force_attempts, 3);
    assert!(r.samples[0].cold);
    assert_eq!(r.samples[1].force_attempts, 1);
    assert_eq!(r.metrics.scalars["cold.reforced"], 2.0);
    assert_eq!(r.metrics.scalars["cold.unverified"], 0.0);
    // Three forced updates for sample 0, one for sample 1, one restore.
    assert_eq!(p.faults.updates.load(Ordering::SeqCst), 5);
    assert!(r.restore.unwrap().verified);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_conflicts_are_retried_and_counted() {
    let emu = emulator(vec![fixture_spec("fx", LogFormat::Text).await], 0).await;
    let p = proxy(&emu.endpoint_url()).await;
    p.faults.conflicts.store(3, Ordering::SeqCst);
    let s = session(&p.url, "fx").await;
    let r = measure(&s, &plan(Mode::Cold, 2, 0, 1, LogSource::Tail)).await;
    assert_eq!(
        r.outcome.status,
        RunStatus::Completed,
        "{:?}",
        r.outcome.error
    );
    assert!(r.samples.iter().all(|x| x.cold));
    assert_eq!(r.control_plane.conflicts_retried, 3);
    assert!(r.restore.unwrap().verified);
    assert_eq!(current_env(&s).await, original_env());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_is_verified_after_an_injected_failure() {
    let emu = emulator(vec![fixture_spec("fx", LogFormat::Text).await], 0).await;
    let p = proxy(&emu.endpoint_url()).await;
    p.faults.deny_invokes_after.store(2, Ordering::SeqCst);
    let s = session(&p.url, "fx").await;
    let r = measure(&s, &plan(Mode::Cold, 4, 0, 1, LogSource::Tail)).await;
    assert_eq!(r.outcome.status, RunStatus::Failed);
    assert!(
        r.outcome
            .error
            .as_deref()
            .unwrap()
            .contains("AccessDeniedException"),
        "{:?}",
        r.outcome.error
    );
    assert_eq!(
        r.samples.len(),
        2,
        "the samples taken before the failure are kept"
    );
    let restore = r.restore.unwrap();
    assert!(restore.verified, "{restore:?}");
    assert_eq!(current_env(&s).await, original_env());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_is_verified_after_an_interrupt() {
    let emu = emulator(vec![fixture_spec("fx", LogFormat::Text).await], 0).await;
    let p = proxy(&emu.endpoint_url()).await;
    p.faults.notify_at.store(2, Ordering::SeqCst);
    let s = session(&p.url, "fx").await;
    let faults = p.faults.clone();
    // "Ctrl-C" right after the second invoke went out: the work is dropped
    // mid-sample, possibly with an update in flight.
    let interrupt = async move { faults.notify.notified().await };
    let r = perfharness::commands::run::measure(
        &s,
        &plan(Mode::Cold, 10, 0, 1, LogSource::Tail),
        &[],
        None,
        &Default::default(),
        false,
        interrupt,
    )
    .await
    .unwrap();
    assert_eq!(r.outcome.status, RunStatus::Interrupted);
    assert!(r.samples.len() < 10);
    assert!(r.restore.unwrap().verified);
    assert_eq!(current_env(&s).await, original_env());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_are_found_in_logs_despite_delivery_delay() {
    let emu = emulator(vec![fixture_spec("fx", LogFormat::Text).await], 1500).await;
    let s = session(&emu.endpoint_url(), "fx").await;
    // `logs` only: no tail, so every REPORT must come from CloudWatch Logs,
    // which shows each line 1.5 s late.
    let r = measure(&s, &plan(Mode::Full, 2, 4, 1, LogSource::Logs)).await;
    assert_eq!(
        r.outcome.status,
        RunStatus::Completed,
        "{:?}",
        r.outcome.error
    );
    let counted: Vec<_> = r
        .samples
        .iter()
        .filter(|x| x.phase != Phase::Warmup)
        .collect();
    assert_eq!(counted.len(), 6);
    assert!(
        counted
            .iter()
            .all(|x| x.report_source == Some(ReportSource::Logs)),
        "{counted:?}"
    );
    assert!(counted
        .iter()
        .filter(|x| x.phase == Phase::Cold)
        .all(|x| x.cold));
    assert!(r.logs.missing.is_empty());
    assert_eq!(r.logs.from_tail, 0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_format_is_measured_like_text() {
    let emu = emulator(vec![fixture_spec("fxj", LogFormat::Json).await], 0).await;
    let s = session(&emu.endpoint_url(), "fxj").await;
    let r = measure(&s, &plan(Mode::Full, 2, 4, 1, LogSource::Both)).await;
    assert_eq!(
        r.outcome.status,
        RunStatus::Completed,
        "{:?}",
        r.outcome.error
    );
    assert_eq!(r.function.log_format, "JSON");
    let cold: Vec<_> = r
        .samples
        .iter()
        .filter(|x| x.phase == Phase::Cold)
        .collect();
    assert!(
        cold.iter().all(|x| x.cold && x.init_ms.is_some()),
        "{cold:?}"
    );
    let warm: Vec<_> = r
        .samples
        .iter()
        .filter(|x| x.phase == Phase::Warm)
        .collect();
    assert!(warm
        .iter()
        .all(|x| !x.cold && x.duration_ms.is_some() && x.billed_ms.is_some()));
    assert!(r.logs.malformed.is_empty(), "{:?}", r.logs.malformed);
    assert_eq!(r.logs.cross_checked, 2 + 4 + 1);
    assert!(r.restore.unwrap().verified);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttles_at_reserved_concurrency_are_samples_not_crashes() {
    let emu = emulator(vec![fixture_spec("fx", LogFormat::Text).await], 0).await;
    let s = session(&emu.endpoint_url(), "fx").await;
    s.lambda
        .put_function_concurrency()
        .function_name("fx")
        .reserved_concurrent_executions(1)
        .send()
        .await
        .unwrap();
    let mut p = plan(Mode::Warm, 0, 12, 4, LogSource::Tail);
    p.payload = br#"{"sleepMs":150}"#.to_vec();
    let r = measure(&s, &p).await;
    assert_eq!(
        r.outcome.status,
        RunStatus::Completed,
        "{:?}",
        r.outcome.error
    );
    let conc: Vec<_> = r
        .samples
        .iter()
        .filter(|x| x.phase == Phase::Concurrent)
        .collect();
    assert_eq!(conc.len(), 12);
    let throttled = conc.iter().filter(|x| x.status == "throttled").count();
    assert!(
        throttled > 0,
        "4 parallel invokes at reserved concurrency 1 must be throttled"
    );
    assert!(conc
        .iter()
        .filter(|x| x.status == "throttled")
        .all(|x| x.error_type.as_deref() == Some("TooManyRequestsException")));
    assert_eq!(
        r.metrics.scalars["throttles.count"],
        throttled as f64
            + r.samples
                .iter()
                .filter(|x| x.phase != Phase::Warmup
                    && x.phase != Phase::Concurrent
                    && x.status == "throttled")
                .count() as f64
    );
    assert!(
        r.logs.missing.is_empty(),
        "a throttled invoke has no REPORT and is not 'missing'"
    );
    assert!(r.metrics.scalars["errors.rate"] > 0.0);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_on_the_binary_restores_the_configuration_and_exits_130() {
    let emu = emulator(vec![fixture_spec("fx", LogFormat::Text).await], 0).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_perfharness"))
        .args([
            "cold",
            "--function",
            "fx",
            "--targets",
            "none",
            "--cold",
            "500",
            "--log-source",
            "tail",
        ])
        .args([
            "--endpoint-url",
            &emu.endpoint_url(),
            "--out",
            out.to_str().unwrap(),
        ])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let s = session(&emu.endpoint_url(), "fx").await;
    // Wait until the run is under way (the nonce is set), then press Ctrl-C.
    let started = std::time::Instant::now();
    while !current_env(&s)
        .await
        .contains_key(perfharness::measure::cold::NONCE_VARIABLE)
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the run never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        current_env(&s).await,
        original_env(),
        "restored after Ctrl-C"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["outcome"]["status"], "interrupted");
    assert_eq!(report["restore"]["verified"], true);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sources_are_cross_checked_and_disagreements_counted() {
    let emu = emulator(vec![fixture_spec("fx", LogFormat::Text).await], 0).await;
    let p = proxy(&emu.endpoint_url()).await;
    // Invoke 1 is the warm-up; invoke 3 is the second measured warm sample.
    p.faults.skew_tail.lock().unwrap().insert(3);
    let s = session(&p.url, "fx").await;
    let r = measure(&s, &plan(Mode::Warm, 0, 4, 1, LogSource::Both)).await;
    assert_eq!(
        r.outcome.status,
        RunStatus::Completed,
        "{:?}",
        r.outcome.error
    );
    assert_eq!(r.logs.cross_checked, 5);
    assert_eq!(r.logs.discrepancies, 1);
    assert_eq!(r.logs.from_tail, 5);
    emu.shutdown().await;
}
