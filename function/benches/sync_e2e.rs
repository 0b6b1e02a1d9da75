//! End-to-end sync throughput and peak memory of the real binary: mock-vanta
//! (no rate limit, no faults, pacer off) and the emulator's S3 on loopback,
//! the function driven through a Runtime API like Lambda drives it. Peak RSS
//! is the process's VmHWM after it answered.
//!
//! Against the same servers and just before the sync, the fetch-only limit:
//! the function's own Vanta client pages the same three endpoints with the
//! same concurrency (one pager per endpoint, pages of 100) and discards every
//! record unread (only the cursor is decoded, from `pageInfo`, and the
//! records counted by their `"id":` keys), so no sync on this machine could
//! be faster. The sync is reported as a fraction of it. Before them, a
//! pass that also decodes every record as the sync does and drops it: what
//! JSON decoding alone costs, before Arrow, Parquet and S3. The CPU time of
//! the function and of this process (mock-vanta, the emulator) shows where
//! the two cores went.
//!
//! The machine's speed drifts between minutes, so each size runs
//! SYNC_BENCH_ROUNDS rounds (default 3) of the limit and the sync back to
//! back, each sync compared with the limit just before it, and reports the
//! median fraction with its range.
//!
//! `cargo bench -p vanta-vuln-sync --bench sync_e2e`
//! (SYNC_BENCH_VULNS="100000,1000000" to change the sizes;
//! SYNC_BENCH_BINARY, another build of the function to measure;
//! SYNC_BENCH_MEMORY_MB, the memory size the function is told it has:
//! 1,769 MB by default, the one vCPU it is given).

#[path = "support/local_stack.rs"]
mod local_stack;
#[path = "support/runtime_api.rs"]
mod runtime_api;

use std::sync::Arc;
use std::time::{Duration, Instant};

use local_stack::{LocalStack, BUCKET};
use runtime_api::{cpu_seconds, lambda_command, vm_hwm_kib, RuntimeApi};
use serde_json::Value;
use vanta_vuln_sync::config::{Credentials, Secret};
use vanta_vuln_sync::vanta::model::{Remediation, Vulnerability, VulnerableAsset};
use vanta_vuln_sync::vanta::{ClientOptions, Endpoint, RawPage, VantaClient};

/// Records in a page body without decoding them: each record has one
/// `"id":` key and nothing in the mock's records but the record itself has
/// one (scanner objects have `resourceId`, tags `key`).
fn count_records(body: &[u8]) -> u64 {
    body.windows(5).filter(|w| w == b"\"id\":").count() as u64
}

/// CPU time of the calling thread, in seconds.
fn thread_cpu() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// Decodes a page's records as the sync does (strings borrowed from the
/// body), discarding them; returns how many there were.
fn decode_records(endpoint: Endpoint, page: &RawPage) -> u64 {
    let n = match endpoint {
        Endpoint::Vulnerabilities => page.decode::<Vulnerability>().map(|p| p.data.len()),
        Endpoint::Remediations => page.decode::<Remediation>().map(|p| p.data.len()),
        Endpoint::VulnerableAssets => page.decode::<VulnerableAsset>().map(|p| p.data.len()),
    };
    n.expect("a page that decodes") as u64
}

/// One pass over the three endpoints, paged concurrently as the sync pages
/// them. `decode`: each page's records are decoded as the sync decodes them
/// (then dropped); otherwise they are only counted. Returns the seconds
/// taken, the records paged and the CPU seconds spent decoding.
async fn fetch_pass(base_url: String, decode: bool) -> (f64, u64, f64) {
    let mut options = ClientOptions::new(
        base_url,
        Credentials {
            client_id: "vci_mock".into(),
            client_secret: Secret::new("vcs_mock"),
        },
    );
    options.rate_limit_per_min = 0;
    let client = Arc::new(VantaClient::new(options).expect("client"));
    let started = Instant::now();
    let pagers: Vec<_> = [
        Endpoint::Vulnerabilities,
        Endpoint::Remediations,
        Endpoint::VulnerableAssets,
    ]
    .into_iter()
    .map(|endpoint| {
        let client = client.clone();
        tokio::spawn(async move {
            let (mut cursor, mut records, mut cpu) = (None::<String>, 0u64, 0.0);
            loop {
                let page = client
                    .fetch_raw_page_by(endpoint, cursor.as_deref(), None)
                    .await
                    .expect("fetch a page");
                if decode {
                    let t0 = thread_cpu();
                    records += decode_records(endpoint, &page);
                    cpu += thread_cpu() - t0;
                } else {
                    records += count_records(&page.body);
                }
                if !page.has_next_page {
                    return (records, cpu);
                }
                cursor = page.end_cursor;
            }
        })
    })
    .collect();
    let (mut records, mut cpu) = (0, 0.0);
    for p in pagers {
        let (r, c) = p.await.expect("pager");
        records += r;
        cpu += c;
    }
    (started.elapsed().as_secs_f64(), records, cpu)
}

/// The first two CPUs this process may run on, when it has two or more
/// and pinning is not turned off (`SYNC_BENCH_PIN=0`): the servers' and the
/// function's.
fn cpus() -> Option<(usize, usize)> {
    if std::env::var("SYNC_BENCH_PIN").as_deref() == Ok("0") {
        return None;
    }
    // SAFETY: a zeroed cpu_set_t is a valid empty set for the call to fill.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    let ok = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) } == 0;
    // SAFETY: CPU_ISSET reads the set filled above.
    let mut mine =
        (0..libc::CPU_SETSIZE as usize).filter(|&c| ok && unsafe { libc::CPU_ISSET(c, &set) });
    Some((mine.next()?, mine.next()?))
}

/// Pins the calling thread (and the threads it starts afterwards) to `cpu`.
fn pin(cpu: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes into it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A fetch pass run as a client of its own, on the function's CPU when
/// pinned (a thread with a single-threaded runtime), as the sync runs.
fn client_pass(base_url: String, decode: bool, cpu: Option<usize>) -> (f64, u64, f64) {
    std::thread::spawn(move || {
        if let Some(cpu) = cpu {
            pin(cpu).expect("pin the client");
        }
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(fetch_pass(base_url, decode))
    })
    .join()
    .expect("the client pass")
}

/// One round: the fetch-only limit, then the sync, back to back.
struct Round {
    /// The sync's records per second, its seconds and peak RSS (KiB).
    rate: f64,
    secs: f64,
    hwm: u64,
    /// The function's CPU seconds.
    cpu: f64,
    /// CPU seconds of this process (mock-vanta, the emulator, the Runtime
    /// API) while the sync ran.
    servers_cpu: f64,
    /// Fetch-only: records per second and this process's CPU seconds.
    limit: f64,
    limit_cpu: f64,
}

impl Round {
    /// The sync as a fraction of the limit measured just before it.
    fn fraction(&self) -> f64 {
        self.rate / self.limit
    }
}

/// What one size measured.
struct Figures {
    rounds: Vec<Round>,
    /// The last sync's answer.
    result: Value,
    /// Fetch and decode: records per second and the CPU seconds decoding.
    decoded: f64,
    decode_cpu: f64,
}

/// The median of `values` (the lower middle one of an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[(values.len() - 1) / 2]
}

/// A pass that decodes, then `rounds` rounds of the fetch-only limit and
/// the sync, on one stack: the machine's speed drifts by a tenth between
/// minutes, so each sync is compared with a limit measured just before it.
async fn run(
    vulns: u64,
    rems: u64,
    assets: u64,
    function_cpu: Option<usize>,
    rounds: usize,
) -> Figures {
    let stack = LocalStack::start(vulns, rems, assets).await;
    let me = std::process::id();
    let base = stack.vanta.base_url();
    let records = vulns + rems + assets;
    let (decoded_secs, decoded, decode_cpu) =
        tokio::task::block_in_place(|| client_pass(base.clone(), true, function_cpu));
    assert_eq!(decoded, records, "the decoding pass read every record");
    let binary = std::env::var_os("SYNC_BENCH_BINARY")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_vanta-vuln-sync").into());
    let memory_mb = std::env::var("SYNC_BENCH_MEMORY_MB").unwrap_or_else(|_| "1769".into());
    let mut measured = Vec::new();
    let mut result = Value::Null;
    for round in 1..=rounds {
        let cpu0 = cpu_seconds(me).unwrap_or(0.0);
        let (limit_secs, paged, _) =
            tokio::task::block_in_place(|| client_pass(base.clone(), false, function_cpu));
        let limit_cpu = cpu_seconds(me).unwrap_or(0.0) - cpu0;
        assert_eq!(paged, records, "fetch-only paged every record");
        let deadline = chrono::Utc::now().timestamp_millis() as u64 + 900_000;
        let api = RuntimeApi::start("{}".into(), deadline).await;
        let mut cmd = lambda_command(&binary, &api.addr);
        stack.configure(&mut cmd, "bench");
        // The memory that buys the one CPU the function is given (it sizes
        // its runtime and its batching by it); SYNC_BENCH_MEMORY_MB to
        // measure another size's behaviour on the same CPU.
        cmd.env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &memory_mb);
        if let Some(cpu) = function_cpu {
            // SAFETY: the closure only calls sched_setaffinity, which is
            // async-signal-safe, between fork and exec.
            unsafe {
                cmd.pre_exec(move || pin(cpu));
            }
        }
        let cpu1 = cpu_seconds(me).unwrap_or(0.0);
        let mut child = cmd.spawn().expect("spawn function");
        let pid = child.id().unwrap();
        let ok = api
            .wait_for(Duration::from_secs(900), |o| o.answered.is_some())
            .await;
        assert!(ok, "the function did not answer");
        let hwm = vm_hwm_kib(pid).unwrap_or(0);
        let cpu = cpu_seconds(pid).unwrap_or(0.0);
        let servers_cpu = cpu_seconds(me).unwrap_or(0.0) - cpu1;
        let (secs, body, error) = {
            let o = api.observed.lock().unwrap();
            (
                (o.answered.unwrap() - o.first_next.unwrap()).as_secs_f64(),
                o.body.clone().unwrap_or_default(),
                o.error,
            )
        };
        let _ = child.kill().await;
        result = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert!(
            !error && result["status"] == "complete",
            "sync failed: {body}"
        );
        assert_eq!(
            result["counts"]["vulnerabilities"].as_u64().unwrap()
                + result["counts"]["remediations"].as_u64().unwrap()
                + result["counts"]["vulnerableAssets"].as_u64().unwrap(),
            records
        );
        let r = Round {
            rate: records as f64 / secs,
            secs,
            hwm,
            cpu,
            servers_cpu,
            limit: paged as f64 / limit_secs,
            limit_cpu,
        };
        println!(
            "  round {round}: limit {:.0} records/s, sync {:.2} s ({:.0} records/s, {:.1}% of it), function CPU {:.2} s, peak RSS {:.1} MiB",
            r.limit,
            r.secs,
            r.rate,
            r.fraction() * 100.0,
            r.cpu,
            r.hwm as f64 / 1024.0
        );
        measured.push(r);
    }
    // The last sync's part files.
    let snapshot = result["snapshot"].as_str().unwrap_or_default();
    let prefix = snapshot
        .strip_prefix(&format!("s3://{BUCKET}/"))
        .unwrap_or("bench/snapshots");
    let listed = stack
        .s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    let sizes: Vec<i64> = listed
        .contents()
        .iter()
        .filter(|o| o.key().unwrap_or("").ends_with(".parquet"))
        .map(|o| o.size().unwrap_or(0) / 1024)
        .collect();
    println!("  part files of the last sync (KiB): {sizes:?}");
    stack.shutdown().await;
    Figures {
        rounds: measured,
        result,
        decoded: decoded as f64 / decoded_secs,
        decode_cpu,
    }
}

fn main() {
    // Vanta and S3 are other machines for the deployed function: with two
    // CPUs or more, the servers (mock-vanta, the emulator) get one and the
    // function (and the fetch passes' client) another, so neither's CPU
    // time slows the other down.
    let cpus = cpus();
    if let Some((servers, _)) = cpus {
        pin(servers).expect("pin the servers");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(bench(cpus));
}

async fn bench(cpus: Option<(usize, usize)>) {
    match cpus {
        Some((servers, function)) => println!(
            "servers (mock-vanta, the emulator) on CPU {servers}; the function and the fetch passes' client on CPU {function} (SYNC_BENCH_PIN=0 to share)"
        ),
        None => println!("not pinned: the servers, the function and the client share every CPU"),
    }
    let sizes: Vec<u64> = std::env::var("SYNC_BENCH_VULNS")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let rounds: usize = std::env::var("SYNC_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(3)
        .max(1);
    let mut base_rss = None;
    for vulns in sizes {
        println!(
            "sync {vulns} vulns + 50000 remediations + 10000 assets, {rounds} rounds (each the fetch-only limit, then the sync):"
        );
        let f = run(vulns, 50_000, 10_000, cpus.map(|c| c.1), rounds).await;
        let of = |get: fn(&Round) -> f64| median(f.rounds.iter().map(get).collect());
        let range = |get: fn(&Round) -> f64| {
            let v: Vec<f64> = f.rounds.iter().map(get).collect();
            (
                v.iter().copied().fold(f64::INFINITY, f64::min),
                v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            )
        };
        let mib = of(|r| r.hwm as f64) / 1024.0;
        let (lo, hi) = range(|r| r.fraction() * 100.0);
        println!(
            "  median: {:.2} s, {:.0} records/s, peak RSS {mib:.1} MiB, pages {}, retries {}",
            of(|r| r.secs),
            of(|r| r.rate),
            f.result["pages"],
            f.result["retries"]
        );
        println!(
            "  fetch-only limit {:.0} records/s (median); the sync runs at {:.1}% of it (median of the rounds' fractions; {lo:.1}-{hi:.1}%) (goal: 70%)",
            of(|r| r.limit),
            of(|r| r.fraction()) * 100.0
        );
        println!(
            "  fetch and decode (no Arrow, Parquet or S3): {:.0} records/s, {:.1}% of the median limit; decoding took {:.2} s of CPU",
            f.decoded,
            f.decoded / of(|r| r.limit) * 100.0,
            f.decode_cpu
        );
        println!(
            "  CPU (medians): the function {:.2} s; mock-vanta, the emulator and the Runtime API {:.2} s during the sync, mock-vanta and the client {:.2} s during the fetch-only pass",
            of(|r| r.cpu),
            of(|r| r.servers_cpu),
            of(|r| r.limit_cpu)
        );
        match base_rss {
            None => base_rss = Some(mib),
            Some(b) => println!(
                "  peak RSS vs the first size: {:+.1}%",
                (mib / b - 1.0) * 100.0
            ),
        }
    }
}
