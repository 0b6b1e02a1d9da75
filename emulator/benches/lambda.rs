//! Lambda benchmarks through the real aws-sdk-lambda client against
//! `Emulator::start`, with the no-op `lambda-fixture`:
//! - warm invoke round trip, p50 / p99 (floor: p50 under 1 ms);
//! - throughput at concurrency 4 (floor: 1,000 invokes/s);
//! - cold invoke overhead beyond the fixture's own process start (floor:
//!   under 3 ms): cold round trip − warm round trip − Init Duration.
//!
//! A plain bench binary (`harness = false`): it prints the figures and says
//! which floors are met. `cargo bench -p emulator --bench lambda`. Run by
//! `cargo test --benches` (no `--bench` argument) it does a short smoke run.

use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_sdk_lambda::config::Credentials;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::LogType;
use base64::Engine as _;
use emulator::lambda::FunctionSpec;
use emulator::{Emulator, EmulatorConfig};

#[path = "../tests/it/lambda_support/fixture_bin.rs"]
mod fixture_bin;

const CONCURRENCY: usize = 4;

/// Sample sizes: full under `cargo bench`, tiny as a smoke test.
#[derive(Clone, Copy)]
struct Sizes {
    warm: usize,
    throughput: usize,
    cold: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn field_ms(report: &str, name: &str) -> Option<f64> {
    report
        .split('\t')
        .find_map(|f| f.trim().strip_prefix(name)?.strip_prefix(": "))
        .and_then(|v| v.strip_suffix(" ms"))
        .and_then(|v| v.parse().ok())
}

async fn invoke(client: &aws_sdk_lambda::Client, name: &str, tail: bool) -> (String, Vec<u8>) {
    let mut call = client
        .invoke()
        .function_name(name)
        .payload(Blob::new(&b"{}"[..]));
    if tail {
        call = call.log_type(LogType::Tail);
    }
    let out = call.send().await.expect("invoke");
    assert!(out.function_error().is_none(), "no-op fixture failed");
    let log = out
        .log_result()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    (
        log,
        out.payload()
            .map(|p| p.as_ref().to_vec())
            .unwrap_or_default(),
    )
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes = if full {
        Sizes {
            warm: 3000,
            throughput: 6000,
            cold: 20,
        }
    } else {
        Sizes {
            warm: 20,
            throughput: 40,
            cold: 2,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    runtime.block_on(run(sizes));
}

async fn run(sizes: Sizes) {
    let Sizes {
        warm: warm_samples,
        throughput: throughput_invokes,
        cold: cold_samples,
    } = sizes;
    let fixture = fixture_bin::fixture_path();
    let mut functions = vec![FunctionSpec::new("noop", fixture)];
    for i in 0..cold_samples {
        functions.push(FunctionSpec::new(format!("cold-{i}"), fixture));
    }
    let emu = Emulator::start(EmulatorConfig {
        functions,
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator starts");
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(emu.endpoint_url())
        .region("us-east-1")
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    let client = aws_sdk_lambda::Client::new(&shared);

    // Warm round trip.
    for _ in 0..200 {
        invoke(&client, "noop", false).await;
    }
    let mut rtt = Vec::with_capacity(warm_samples);
    for _ in 0..warm_samples {
        let t = Instant::now();
        invoke(&client, "noop", false).await;
        rtt.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    rtt.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&rtt, 0.50), percentile(&rtt, 0.99));
    let mean = rtt.iter().sum::<f64>() / rtt.len() as f64;
    println!(
        "warm invoke round trip (SDK, {warm_samples} sequential): p50 {p50:.3} ms, p99 {p99:.3} ms, mean {mean:.3} ms, max {:.3} ms",
        rtt[rtt.len() - 1]
    );

    // Throughput at concurrency 4 (four warm environments first).
    let warmups: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                for _ in 0..50 {
                    invoke(&client, "noop", false).await;
                }
            })
        })
        .collect();
    for w in warmups {
        w.await.expect("warm-up");
    }
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                for _ in 0..throughput_invokes / CONCURRENCY {
                    invoke(&client, "noop", false).await;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    let elapsed = started.elapsed();
    let throughput = throughput_invokes as f64 / elapsed.as_secs_f64();
    println!(
        "throughput at concurrency {CONCURRENCY}: {throughput:.0} invokes/s ({throughput_invokes} invokes in {:.3} s)",
        elapsed.as_secs_f64()
    );

    // Cold invoke overhead: each cold-N function's first invoke is cold.
    let mut overhead = Vec::new();
    let mut over_own = Vec::new();
    let mut inits = Vec::new();
    let mut cold_rtts = Vec::new();
    for i in 0..cold_samples {
        let name = format!("cold-{i}");
        let t = Instant::now();
        let (log, payload) = invoke(&client, &name, true).await;
        let cold = t.elapsed().as_secs_f64() * 1000.0;
        let report = log
            .lines()
            .find(|l| l.starts_with("REPORT"))
            .expect("REPORT");
        let init = field_ms(report, "Init Duration").expect("cold start");
        let own: f64 = serde_json::from_slice::<serde_json::Value>(&payload)
            .ok()
            .and_then(|v| v["initMs"].as_f64())
            .unwrap_or(0.0);
        cold_rtts.push(cold);
        inits.push(init);
        overhead.push(cold - p50 - init);
        over_own.push(cold - p50 - own);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for v in [&mut overhead, &mut over_own, &mut inits, &mut cold_rtts] {
        v.sort_by(f64::total_cmp);
    }
    let cold_overhead = percentile(&overhead, 0.5);
    println!(
        "cold invoke ({cold_samples} samples, medians): round trip {:.3} ms, Init Duration {:.3} ms; overhead beyond the process start (round trip - warm p50 - Init Duration) {cold_overhead:.3} ms (p90 {:.3} ms); beyond the fixture's own measured init {:.3} ms",
        percentile(&cold_rtts, 0.5),
        percentile(&inits, 0.5),
        percentile(&overhead, 0.9),
        percentile(&over_own, 0.5),
    );

    emu.shutdown().await;
    let floors = [
        ("warm p50 < 1 ms", p50 < 1.0),
        ("throughput >= 1000 invokes/s", throughput >= 1000.0),
        ("cold overhead < 3 ms", cold_overhead < 3.0),
    ];
    for (name, met) in floors {
        println!("floor {name}: {}", if met { "met" } else { "MISSED" });
    }
}
