//! Serving throughput and memory of the mock-vanta binary over loopback.
//!
//! - `serve/pages_of_100_vulnerabilities_4_clients`: four concurrent clients
//!   page through `/v1/vulnerabilities?pageSize=100` of a 100,000-record
//!   dataset; criterion reports pages per second (floor: 2,000/s on the
//!   2-core CI machine, so the mock never limits the sync's benchmark).
//! - Peak RSS (`VmHWM`) of a server while four clients page through all of a
//!   1,000,000-vulnerability dataset, printed before the criterion run
//!   (target: about 50 MB or less).
//!
//! The server runs as its own process, as the harness runs it, so the
//! client's work and memory are not counted against it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use criterion::{criterion_group, Criterion, Throughput};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mock-vanta");
const CLIENTS: u64 = 4;

struct Served {
    child: Child,
    base: String,
}

impl Served {
    fn start(vulnerabilities: u64) -> Served {
        let count = vulnerabilities.to_string();
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--vulnerabilities",
                &count,
                "--remediations",
                "1000",
                "--assets",
                "5000",
            ])
            .args(["--now", "2026-11-26T06:00:00Z", "--log-level", "warn"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn mock-vanta");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("listening line");
        let base = line.trim().rsplit(' ').next().expect("url").to_string();
        Served { child, base }
    }

    /// Peak resident set size in KiB, from /proc (Linux).
    fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn token(client: &reqwest::Client, base: &str) -> String {
    let body = serde_json::json!({"client_id": "vci_mock", "client_secret": "vcs_mock",
        "scope": "vanta-api.all:read", "grant_type": "client_credentials"});
    let resp: serde_json::Value = client
        .post(format!("{base}/oauth/token"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    resp["access_token"].as_str().unwrap().to_string()
}

/// Fetches `pages` pages starting after record `after` (wrapping at the
/// end); only pageInfo is looked at, so the client costs little. Returns the
/// bytes received.
async fn page(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    after: Option<u64>,
    pages: u64,
) -> u64 {
    // The bench knows the cursor format to start clients at different
    // places; real clients treat cursors as opaque.
    let mut cursor = after.map(|i| STANDARD.encode(format!("vulnerabilities:{i}")));
    let mut bytes = 0u64;
    for _ in 0..pages {
        let mut req = client
            .get(format!("{base}/v1/vulnerabilities"))
            .bearer_auth(token)
            .query(&[
                ("pageSize", "100"),
                ("includeVulnerabilitiesWithoutSlas", "true"),
            ]);
        if let Some(c) = &cursor {
            req = req.query(&[("pageCursor", c)]);
        }
        let body = req.send().await.unwrap().bytes().await.unwrap();
        assert!(body.starts_with(b"{\"results\""), "unexpected answer");
        bytes += body.len() as u64;
        let head = std::str::from_utf8(&body[..body.len().min(300)]).unwrap_or("");
        let next = head.contains("\"hasNextPage\":true");
        cursor = next
            .then(|| {
                head.split("\"endCursor\":\"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                    .map(str::to_string)
            })
            .flatten();
    }
    bytes
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn throughput(c: &mut Criterion) {
    let served = Served::start(100_000);
    let rt = runtime();
    let client = reqwest::Client::new();
    let token = rt.block_on(token(&client, &served.base));
    let mut group = c.benchmark_group("serve");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(1));
    group.bench_function("pages_of_100_vulnerabilities_4_clients", |b| {
        b.iter_custom(|iters| {
            let per_client = iters.div_ceil(CLIENTS);
            rt.block_on(async {
                let started = Instant::now();
                let tasks: Vec<_> = (0..CLIENTS)
                    .map(|k| {
                        let (client, base, token) =
                            (client.clone(), served.base.clone(), token.clone());
                        tokio::spawn(async move {
                            page(&client, &base, &token, Some(k * 25_000), per_client).await
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                // Report the time per requested page count.
                started
                    .elapsed()
                    .mul_f64(iters as f64 / (per_client * CLIENTS) as f64)
            })
        })
    });
    group.finish();
}

/// Pages through all of a 1,000,000-vulnerability dataset with four
/// clients (a quarter each) and prints the server's peak RSS.
fn peak_rss() {
    let served = Served::start(1_000_000);
    let rt = runtime();
    let client = reqwest::Client::new();
    let started = Instant::now();
    let (baseline, bytes) = rt.block_on(async {
        let token = token(&client, &served.base).await;
        let baseline = served.peak_rss_kib();
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|k| {
                let (client, base, token) = (client.clone(), served.base.clone(), token.clone());
                // Client k starts after record k*250,000 - 1 and reads 2,500 pages.
                let after = (k > 0).then(|| k * 250_000 - 1);
                tokio::spawn(async move { page(&client, &base, &token, after, 2_500).await })
            })
            .collect();
        let mut bytes = 0;
        for t in tasks {
            bytes += t.await.unwrap();
        }
        (baseline, bytes)
    });
    let elapsed = started.elapsed();
    match served.peak_rss_kib() {
        Some(kib) => println!(
            "mock-vanta peak RSS serving 1,000,000 vulnerabilities (10,000 pages of 100, 4 clients): \
             {:.1} MB (VmHWM {kib} KiB; {:.1} MB after start); {:.0} pages/s, {:.0} MB received",
            kib as f64 / 1024.0,
            baseline.unwrap_or(0) as f64 / 1024.0,
            10_000.0 / elapsed.as_secs_f64(),
            bytes as f64 / 1e6,
        ),
        None => println!("peak RSS: /proc/PID/status is not readable on this system"),
    }
}

criterion_group!(benches, throughput);

fn main() {
    // `cargo bench -- <filter>` runs only matching criterion benches; the
    // RSS measurement runs unless it is filtered out by name.
    let args: Vec<String> = std::env::args().collect();
    let filtered_out = args
        .iter()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"peak_rss".contains(a.as_str()));
    if !args.iter().any(|a| a == "--list") && !filtered_out {
        peak_rss();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
