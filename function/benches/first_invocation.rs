//! The first invocation's penalty: one process of the real binary, driven
//! through a Runtime API like Lambda drives it, syncs the same tenant
//! (mock-vanta, the emulator's S3) several times in a row. The first
//! invocation of a process makes its clients, token and connections; the
//! warm ones reuse them. Each invocation is timed from the event leaving the
//! Runtime API to the answer arriving (what Lambda reports as Duration).
//! Several processes are run and the penalty is the median, over processes,
//! of the first invocation minus that process's warm median.
//!
//! `cargo bench -p vanta-vuln-sync --bench first_invocation`
//! (FIRST_INVOCATION_PROCESSES, default 10; FIRST_INVOCATION_WARM, default 10;
//! FIRST_INVOCATION_VULNS, default 1000; FIRST_INVOCATION_BINARY, another
//! build of the function to measure, e.g. an earlier commit's).

#[path = "support/local_stack.rs"]
mod local_stack;
#[path = "support/runtime_api.rs"]
mod runtime_api;

use std::path::PathBuf;
use std::time::Duration;

use local_stack::LocalStack;
use runtime_api::{lambda_command, summary, RuntimeApi};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Where the function finds the Vanta credentials.
#[derive(Clone, Copy, PartialEq)]
enum Credentials {
    /// `VANTA_CLIENT_ID` and `VANTA_CLIENT_SECRET`.
    Inline,
    /// The Secrets Manager secret [`SECRET`], as the template deploys it.
    Secret,
}

/// The credentials secret in the emulator's Secrets Manager.
const SECRET: &str = "vanta-api-credentials";

/// One process: the durations of its invocations in order (ms).
async fn process(stack: &LocalStack, events: usize, credentials: Credentials) -> Vec<f64> {
    let deadline = chrono::Utc::now().timestamp_millis() as u64 + 900_000;
    let api = RuntimeApi::start_n("{}".into(), deadline, events).await;
    let binary = std::env::var_os("FIRST_INVOCATION_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_vanta-vuln-sync")));
    let mut cmd = lambda_command(&binary, &api.addr);
    stack.configure(&mut cmd, "first-invocation");
    if credentials == Credentials::Secret {
        cmd.env_remove("VANTA_CLIENT_ID")
            .env_remove("VANTA_CLIENT_SECRET")
            .env("VANTA_CREDENTIALS_SECRET", SECRET);
    }
    let mut child = cmd.spawn().expect("spawn the function");
    let ok = api
        .wait_for(Duration::from_secs(120), |o| {
            o.invocations.len() == events && o.invocations.iter().all(|i| i.1.is_some())
        })
        .await;
    let _ = child.kill().await;
    let o = api.observed.lock().unwrap();
    assert!(
        ok,
        "the function answered {} of {events} events",
        o.invocations.len()
    );
    assert!(!o.error, "an invocation failed: {:?}", o.body);
    let last: serde_json::Value =
        serde_json::from_str(o.body.as_deref().unwrap_or("")).unwrap_or_default();
    assert_eq!(
        last["status"], "complete",
        "the sync did not complete: {last}"
    );
    o.invocations
        .iter()
        .map(|(sent, answered)| (answered.unwrap() - *sent).as_secs_f64() * 1000.0)
        .collect()
}

#[tokio::main]
async fn main() {
    let processes = env_or("FIRST_INVOCATION_PROCESSES", 10);
    let warm = env_or("FIRST_INVOCATION_WARM", 10).max(1);
    let vulns = env_or("FIRST_INVOCATION_VULNS", 1000) as u64;
    let stack = LocalStack::start(vulns, vulns / 2, vulns / 10).await;
    stack.put_credentials_secret(SECRET).await;
    // One unmeasured process warms the page cache and the servers.
    process(&stack, 2, Credentials::Inline).await;
    println!(
        "first invocation vs warm: {vulns} vulnerabilities + {} remediations + {} assets, {processes} processes x (1 + {warm}) invocations (ms)",
        vulns / 2,
        vulns / 10
    );
    for (credentials, what) in [
        (Credentials::Inline, "credentials in the environment"),
        (
            Credentials::Secret,
            "credentials from Secrets Manager (as the template deploys)",
        ),
    ] {
        let (mut firsts, mut warms, mut penalties) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..processes {
            let d = process(&stack, 1 + warm, credentials).await;
            if std::env::var_os("FIRST_INVOCATION_VERBOSE").is_some() {
                println!("  {d:.1?}");
            }
            let mut rest = d[1..].to_vec();
            let (warm_median, ..) = summary(&mut rest);
            firsts.push(d[0]);
            warms.extend_from_slice(&d[1..]);
            penalties.push(d[0] - warm_median);
        }
        let (fm, f90, fmin, _) = summary(&mut firsts);
        let (wm, w90, wmin, _) = summary(&mut warms);
        let (pm, p90, pmin, _) = summary(&mut penalties);
        println!("{what}:");
        println!("  first: median {fm:.2}  p90 {f90:.2}  min {fmin:.2}");
        println!("  warm:  median {wm:.2}  p90 {w90:.2}  min {wmin:.2}");
        println!("  penalty (first - its process's warm median): median {pm:.2}  p90 {p90:.2}  min {pmin:.2} (goal: within 5 ms)");
    }
    stack.shutdown().await;
}
