//! A minimal Lambda Runtime API (2018-06-01) for benchmarks: it hands out a
//! given number of events (one by default), records when the first `/next`
//! arrived, when each event went out and when (and what) the function
//! answered, and never answers the `/next` after the last event (the function
//! then idles, as it would between invocations).

#![allow(dead_code)]

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// What the runtime saw.
#[derive(Default)]
pub struct Observed {
    /// When the first `GET /next` arrived.
    pub first_next: Option<Instant>,
    /// When the response (or error) was posted.
    pub answered: Option<Instant>,
    /// The posted body.
    pub body: Option<String>,
    /// Whether it was posted to `/error`.
    pub error: bool,
    /// Every event handed out: when it was sent and when it was answered.
    pub invocations: Vec<(Instant, Option<Instant>)>,
}

/// A running runtime API serving one event.
pub struct RuntimeApi {
    pub addr: String,
    pub observed: Arc<Mutex<Observed>>,
    pub notify: Arc<Notify>,
}

impl RuntimeApi {
    /// Serves one event.
    pub async fn start(event: String, deadline_ms: u64) -> RuntimeApi {
        Self::start_n(event, deadline_ms, 1).await
    }

    /// Serves the same event `events` times, one after the other.
    pub async fn start_n(event: String, deadline_ms: u64, events: usize) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let observed = Arc::new(Mutex::new(Observed::default()));
        let notify = Arc::new(Notify::new());
        let (obs, note) = (observed.clone(), notify.clone());
        let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (obs, note, event, served) =
                    (obs.clone(), note.clone(), event.clone(), served.clone());
                tokio::spawn(async move {
                    let _ = sock.set_nodelay(true);
                    let (read, mut write) = sock.into_split();
                    let mut reader = BufReader::new(read);
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let now = Instant::now();
                        let mut content_length = 0usize;
                        let mut chunked = false;
                        loop {
                            let mut h = String::new();
                            if reader.read_line(&mut h).await.unwrap_or(0) == 0 {
                                return;
                            }
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            let lower = h.to_ascii_lowercase();
                            if let Some(v) = lower.strip_prefix("content-length:") {
                                content_length = v.trim().parse().unwrap_or(0);
                            }
                            if lower.starts_with("transfer-encoding:") && lower.contains("chunked")
                            {
                                chunked = true;
                            }
                        }
                        let mut body = Vec::new();
                        if chunked {
                            loop {
                                let mut size = String::new();
                                reader.read_line(&mut size).await.unwrap();
                                let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                                let mut chunk = vec![0u8; n + 2];
                                reader.read_exact(&mut chunk).await.unwrap();
                                if n == 0 {
                                    break;
                                }
                                body.extend_from_slice(&chunk[..n]);
                            }
                        } else if content_length > 0 {
                            body.resize(content_length, 0);
                            reader.read_exact(&mut body).await.unwrap();
                        }
                        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                        if path.ends_with("/runtime/invocation/next") {
                            {
                                let mut o = obs.lock().unwrap();
                                o.first_next.get_or_insert(now);
                            }
                            note.notify_waiters();
                            let n = served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            if n >= events {
                                // No more events: hold the request open.
                                std::future::pending::<()>().await;
                            }
                            let head = format!(
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-runtime-aws-request-id: bench-{}\r\nlambda-runtime-deadline-ms: {deadline_ms}\r\nlambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:vanta-vuln-sync\r\nlambda-runtime-trace-id: Root=1-00000000-000000000000000000000000;Sampled=0\r\ncontent-length: {}\r\n\r\n",
                                n + 1,
                                event.len()
                            );
                            obs.lock().unwrap().invocations.push((Instant::now(), None));
                            // One write: headers and body in separate segments
                            // would meet Nagle and the function's delayed ACK
                            // on a reused connection (a 40 ms stall per event).
                            let _ = write.write_all(format!("{head}{event}").as_bytes()).await;
                        } else {
                            {
                                let mut o = obs.lock().unwrap();
                                o.answered = Some(now);
                                o.body = Some(String::from_utf8_lossy(&body).into_owned());
                                o.error = path.ends_with("/error");
                                if let Some(last) = o.invocations.last_mut() {
                                    last.1.get_or_insert(now);
                                }
                            }
                            note.notify_waiters();
                            let ok = "{\"status\":\"OK\"}";
                            let resp = format!(
                                "HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{ok}",
                                ok.len()
                            );
                            let _ = write.write_all(resp.as_bytes()).await;
                        }
                    }
                });
            }
        });
        RuntimeApi {
            addr,
            observed,
            notify,
        }
    }

    /// Waits until `done` holds for what was observed (or `limit` passes).
    pub async fn wait_for(&self, limit: Duration, done: impl Fn(&Observed) -> bool) -> bool {
        let until = Instant::now() + limit;
        loop {
            let notified = self.notify.notified();
            if done(&self.observed.lock().unwrap()) {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(50)), notified).await;
        }
    }
}

/// The environment Lambda gives a custom runtime's process: the function's
/// name, memory size and version and the Runtime API's address (the Rust
/// runtime refuses to start without these four), the log group and stream,
/// the region and `TZ=:UTC`.
pub fn lambda_command(binary: &std::path::Path, runtime_api: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(binary);
    cmd.env_clear()
        .env("AWS_LAMBDA_FUNCTION_NAME", "vanta-vuln-sync")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/vanta-vuln-sync")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/26/[$LATEST]0")
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("TZ", ":UTC")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Peak resident set size (VmHWM) of a live process, in KiB.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU time (user + system) a live process has used so far, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th of the line, in clock ticks (100 a second on Linux).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Builds `what` (e.g. `["--example", "empty_lambda"]`) in release mode.
pub fn cargo_build(what: &[&str]) {
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "vanta-vuln-sync"])
        .args(what)
        .status()
        .expect("cargo build");
    assert!(status.success(), "cargo build {what:?} failed");
}

/// `target/release` (benches run from `target/release/deps`).
pub fn target_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// Sorted-sample summary: (median, p90, min, mean) in milliseconds.
pub fn summary(samples: &mut [f64]) -> (f64, f64, f64, f64) {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = samples.len();
    let pct = |p: f64| samples[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
    let mean = samples.iter().sum::<f64>() / n as f64;
    (pct(0.5), pct(0.9), samples[0], mean)
}
