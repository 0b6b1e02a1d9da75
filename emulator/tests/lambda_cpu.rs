//! CPU proportional to memory (opt-in `cpu_scaling`): the same CPU-bound
//! handler takes much longer at 128 MB than at 1,769 MB (one full vCPU),
//! every environment's cgroup is gone after shutdown, and with scaling off
//! nothing is throttled.

// Its own test binary: it measures CPU time, durations or child processes
// of the test process, which tests running beside it would disturb.
#[path = "it/lambda_support/mod.rs"]
mod lambda_support;

use emulator::lambda::LambdaSettings;
use lambda_support::{fixture, TestLambda};

/// CPU time each invoke burns, ms.
const SPIN: &str = r#"{"spinMs": 50}"#;

fn functions() -> Vec<emulator::lambda::FunctionSpec> {
    let mut small = fixture("small");
    small.memory_mb = 128;
    small.timeout_s = 30;
    let mut full = fixture("full");
    full.memory_mb = 1769;
    full.timeout_s = 30;
    vec![small, full]
}

/// Warm Duration of a 50 ms CPU burn, best of three (CI noise only ever
/// adds time).
async fn warm_spin_ms(t: &TestLambda, name: &str) -> f64 {
    let cold = t.invoke(name, "{}").await;
    assert_eq!(cold.function_error, None, "{}", cold.log);
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let inv = t.invoke(name, SPIN).await;
        assert_eq!(inv.function_error, None, "{}", inv.log);
        let cpu = inv.json["cpuMs"].as_f64().expect("fixture reports cpuMs");
        assert!(cpu >= 50.0, "spun {cpu} ms of CPU");
        let report = inv.report.expect("REPORT line in the tail");
        assert_eq!(report.ms("Init Duration"), None, "warm: {}", report.raw);
        best = best.min(report.ms("Duration").expect("Duration"));
    }
    best
}

fn settings(cpu_scaling: bool) -> LambdaSettings {
    LambdaSettings {
        cpu_scaling,
        ..LambdaSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_scales_with_memory_and_cgroups_are_removed() {
    let t = match TestLambda::try_start_with(functions(), settings(true)).await {
        Ok(t) => t,
        Err(e @ emulator::Error::CpuScaling(_)) => {
            // A machine without a writable cgroup cpu controller (not
            // root): the emulator must say so on one line, not run
            // unthrottled.
            let message = e.to_string();
            assert!(!message.contains('\n'), "{message}");
            assert!(message.contains("cgroup"), "{message}");
            eprintln!("skipping the throttling check: {message}");
            return;
        }
        Err(e) => panic!("emulator did not start: {e}"),
    };
    let dir = t.service().cpu_cgroup_dir().expect("cgroup dir when on");
    assert!(dir.is_dir(), "{} exists while running", dir.display());

    let small = warm_spin_ms(&t, "small").await;
    let full = warm_spin_ms(&t, "full").await;
    eprintln!("cpu scaling on: 128 MB {small:.1} ms, 1769 MB {full:.1} ms");
    // 128/1769 of a vCPU: ~14x slower in theory; well over 4x even on a
    // loaded machine.
    assert!(
        small >= 4.0 * full,
        "128 MB took {small:.1} ms, 1769 MB {full:.1} ms: not throttled by memory"
    );

    // Each live environment has its own cgroup with the quota for its size.
    let quotas: Vec<String> = std::fs::read_dir(&dir)
        .expect("read the emulator's cgroup")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let p = e.path();
            std::fs::read_to_string(p.join("cpu.cfs_quota_us"))
                .or_else(|_| std::fs::read_to_string(p.join("cpu.max")))
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(quotas.len(), 2, "one cgroup per environment: {quotas:?}");
    assert!(
        quotas.iter().any(|q| q.starts_with("7236")),
        "128 MB gets 7236 us per 100 ms: {quotas:?}"
    );

    t.shutdown().await;
    assert!(!dir.exists(), "{} left behind", dir.display());
    let parent = dir.parent().expect("vanta-emulator parent");
    let ours = format!("{}-", std::process::id());
    let left: Vec<_> = std::fs::read_dir(parent)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&ours))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cpu_scaling_small_functions_are_not_throttled() {
    let t = TestLambda::start_with(functions(), settings(false)).await;
    assert_eq!(t.service().cpu_cgroup_dir(), None);
    let small = warm_spin_ms(&t, "small").await;
    let full = warm_spin_ms(&t, "full").await;
    eprintln!("cpu scaling off: 128 MB {small:.1} ms, 1769 MB {full:.1} ms");
    assert!(
        small < 3.0 * full,
        "128 MB took {small:.1} ms, 1769 MB {full:.1} ms without CPU scaling"
    );
    t.shutdown().await;
}
