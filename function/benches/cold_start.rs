//! Cold start of the function against an empty `lambda_runtime` binary built
//! the same way: process start to its first `GET /runtime/invocation/next`,
//! the part of INIT the binary controls. Samples alternate between the two
//! binaries so machine noise hits both alike.
//!
//! `cargo bench -p vanta-vuln-sync --bench cold_start` (COLD_START_SAMPLES, default 60).

#[path = "support/runtime_api.rs"]
mod runtime_api;

use std::path::Path;
use std::time::{Duration, Instant};

use runtime_api::{cargo_build, lambda_command, summary, target_dir, RuntimeApi};

async fn sample(binary: &Path) -> f64 {
    let api = RuntimeApi::start("{}".into(), u64::MAX / 2).await;
    let started = Instant::now();
    let mut child = lambda_command(binary, &api.addr).spawn().expect("spawn");
    let ok = api
        .wait_for(Duration::from_secs(10), |o| o.first_next.is_some())
        .await;
    let first = api.observed.lock().unwrap().first_next;
    let _ = child.kill().await;
    assert!(ok, "{} never called /next", binary.display());
    (first.unwrap() - started).as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let function = Path::new(env!("CARGO_BIN_EXE_vanta-vuln-sync")).to_path_buf();
    let empty = target_dir().join("examples").join("empty_lambda");
    if !empty.exists() {
        cargo_build(&["--example", "empty_lambda"]);
    }
    let n: usize = std::env::var("COLD_START_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    // Warm the page cache for both binaries first.
    for _ in 0..3 {
        sample(&function).await;
        sample(&empty).await;
    }
    let (mut f, mut e) = (Vec::new(), Vec::new());
    for _ in 0..n {
        f.push(sample(&function).await);
        e.push(sample(&empty).await);
    }
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    let (fm, f90, fmin, fmean) = summary(&mut f);
    let (em, e90, emin, emean) = summary(&mut e);
    println!("cold start: process start -> first GET /next, {n} samples each (ms)");
    println!("  vanta-vuln-sync ({:.1} MB): median {fm:.3}  p90 {f90:.3}  min {fmin:.3}  mean {fmean:.3}", size(&function));
    println!("  empty_lambda    ({:.1} MB): median {em:.3}  p90 {e90:.3}  min {emin:.3}  mean {emean:.3}", size(&empty));
    println!(
        "  difference of medians: {:.3} ms (floor: within 2 ms)",
        fm - em
    );
}
