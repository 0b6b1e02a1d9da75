//! Shared setup of the driver tests: the emulator with its fixture
//! function, sessions pointed at it, and a fault-injecting proxy in front of
//! it for what the emulator does not do on its own (a warm answer after a
//! forced update, a ResourceConflictException, a failure mid-run).

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, Response, StatusCode};
use base64::Engine;
use emulator::lambda::{FunctionSpec, LogFormat};
use perfharness::aws::session::Session;
use perfharness::commands::run::{Mode, Plan};
use perfharness::options::{CommonArgs, LogSource};

/// The fixture binary, built by cargo if needed (once per test binary:
/// tests run in parallel and would otherwise queue on cargo's lock).
pub async fn fixture_bin() -> PathBuf {
    static BIN: tokio::sync::Mutex<Option<PathBuf>> = tokio::sync::Mutex::const_new(None);
    let mut slot = BIN.lock().await;
    if slot.is_none() {
        let built = perfharness::local::ensure_binary(perfharness::local::FIXTURE_BINARY).await;
        // The fixture's behaviour is stable; if a rebuild fails mid-edit
        // of the emulator, the binary already there still serves.
        let existing = perfharness::local::workspace_root()
            .expect("tests run inside the checkout")
            .join("target/release/lambda-fixture");
        *slot = Some(match built {
            Ok(p) => p,
            Err(e) if existing.exists() => {
                eprintln!("warning: {e}; using {}", existing.display());
                existing
            }
            Err(e) => panic!("lambda-fixture: {e}"),
        });
    }
    slot.clone().unwrap()
}

/// Variables every test function starts with; restores must bring them back.
pub fn original_env() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("KEEP_ME".to_string(), "1".to_string()),
        ("ALSO".to_string(), "a=b;c".to_string()),
    ])
}

/// A fixture function definition.
pub async fn fixture_spec(name: &str, format: LogFormat) -> FunctionSpec {
    let mut s = FunctionSpec::new(name, fixture_bin().await);
    s.environment = original_env();
    s.log_format = format;
    s.timeout_s = 10;
    s
}

/// Starts an emulator serving `specs`.
pub async fn emulator(specs: Vec<FunctionSpec>, log_delay_ms: u64) -> emulator::EmulatorHandle {
    emulator::Emulator::start(emulator::EmulatorConfig {
        functions: specs,
        log_delay_ms,
        update_delay_ms: 50,
        ..Default::default()
    })
    .await
    .expect("emulator starts")
}

/// A session on `endpoint` for `function`.
pub async fn session(endpoint: &str, function: &str) -> Session {
    let mut args = CommonArgs::for_function(function);
    args.endpoint_url = Some(endpoint.to_string());
    Session::connect(&args).await.expect("session")
}

/// A plan with small counts.
pub fn plan(
    mode: Mode,
    cold: usize,
    warm: usize,
    concurrency: usize,
    log_source: LogSource,
) -> Plan {
    Plan {
        mode,
        cold,
        warm,
        concurrency,
        max_reforce: 6,
        payload: b"{}".to_vec(),
        log_source,
        logs_timeout: Duration::from_secs(20),
        env_overrides: Default::default(),
    }
}

/// The function's current environment variables.
pub async fn current_env(s: &Session) -> BTreeMap<String, String> {
    let c = perfharness::aws::control::get_configuration(s)
        .await
        .unwrap();
    perfharness::aws::control::environment_of(&c)
}

/// Runs `plan` with no targets and no interrupt.
pub async fn measure(s: &Session, plan: &Plan) -> perfharness::export::RunReport {
    perfharness::commands::run::measure(
        s,
        plan,
        &[],
        None,
        &Default::default(),
        false,
        std::future::pending(),
    )
    .await
    .expect("measure")
}

/// What the proxy does to the traffic.
#[derive(Default)]
pub struct Faults {
    /// Invokes seen (1-based count).
    pub invokes: AtomicUsize,
    /// UpdateFunctionConfiguration calls seen.
    pub updates: AtomicUsize,
    /// Answer this many UpdateFunctionConfiguration calls with 409 first.
    pub conflicts: AtomicUsize,
    /// Invoke numbers whose tail loses its Init Duration (a warm answer).
    pub strip_init: Mutex<HashSet<usize>>,
    /// Invoke numbers whose tail REPORT gets a different Duration than the
    /// one written to CloudWatch Logs.
    pub skew_tail: Mutex<HashSet<usize>>,
    /// Invokes after this number answer 403 AccessDeniedException.
    pub deny_invokes_after: AtomicUsize,
    /// Notified when invoke number `notify_at` passes.
    pub notify_at: AtomicUsize,
    /// The notification.
    pub notify: tokio::sync::Notify,
}

/// A proxy in front of the emulator.
pub struct Proxy {
    /// Its URL (give it to the session).
    pub url: String,
    /// Its faults.
    pub faults: Arc<Faults>,
}

struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    faults: Arc<Faults>,
}

fn aws_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("x-amzn-errortype", code)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", "00000000-0000-0000-0000-000000000000")
        .body(Body::from(
            serde_json::json!({"Type": "User", "message": message}).to_string(),
        ))
        .unwrap()
}

async fn forward(State(st): State<Arc<ProxyState>>, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let is_invoke = parts.method == "POST" && parts.uri.path().ends_with("/invocations");
    let is_update = parts.method == "PUT" && parts.uri.path().ends_with("/configuration");
    let f = &st.faults;
    if is_update {
        f.updates.fetch_add(1, Ordering::SeqCst);
        if f.conflicts.load(Ordering::SeqCst) > 0 {
            f.conflicts.fetch_sub(1, Ordering::SeqCst);
            return aws_error(
                StatusCode::CONFLICT,
                "ResourceConflictException",
                "The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:us-east-1:123456789012:function:f",
            );
        }
    }
    let mut n = 0;
    if is_invoke {
        n = f.invokes.fetch_add(1, Ordering::SeqCst) + 1;
        if n == f.notify_at.load(Ordering::SeqCst) {
            f.notify.notify_one();
        }
        let deny = f.deny_invokes_after.load(Ordering::SeqCst);
        if deny > 0 && n > deny {
            return aws_error(
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                "injected: not authorized to invoke",
            );
        }
    }
    let mut up = st
        .client
        .request(parts.method.clone(), format!("{}{}", st.upstream, path));
    for (k, v) in parts.headers.iter() {
        if k != "host" && k != "content-length" {
            up = up.header(k, v);
        }
    }
    let resp = match up.body(body).send().await {
        Ok(r) => r,
        Err(e) => return aws_error(StatusCode::BAD_GATEWAY, "ServiceException", &e.to_string()),
    };
    let mut out = Response::builder().status(resp.status());
    let strip = is_invoke && f.strip_init.lock().unwrap().contains(&n);
    let skew = is_invoke && f.skew_tail.lock().unwrap().contains(&n);
    for (k, v) in resp.headers().iter() {
        if k == "content-length" || k == "transfer-encoding" {
            continue;
        }
        if (strip || skew) && k == "x-amz-log-result" {
            // Turn the cold REPORT into a warm-looking one, or change its Duration.
            let text = base64::engine::general_purpose::STANDARD
                .decode(v.as_bytes())
                .unwrap();
            let text = String::from_utf8(text).unwrap();
            let warm: String = text
                .split('\t')
                .filter(|f| !(strip && f.trim_start().starts_with("Init Duration:")))
                .map(|f| {
                    if skew && f.starts_with("Duration:") {
                        "Duration: 999.00 ms"
                    } else {
                        f
                    }
                })
                .collect::<Vec<_>>()
                .join("\t");
            let enc = base64::engine::general_purpose::STANDARD.encode(warm);
            out = out.header(k, HeaderValue::from_str(&enc).unwrap());
            continue;
        }
        out = out.header(k, v);
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    out.body(Body::from(bytes)).unwrap()
}

/// Starts a proxy to `upstream`.
pub async fn proxy(upstream: &str) -> Proxy {
    let faults = Arc::new(Faults::default());
    let st = Arc::new(ProxyState {
        upstream: upstream.to_string(),
        client: reqwest::Client::new(),
        faults: faults.clone(),
    });
    let app = axum::Router::new().fallback(forward).with_state(st);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Proxy { url, faults }
}

/// Runs the real binary with `args`, sends `signal` once `started` holds,
/// and returns its exit code and stderr.
pub async fn signalled(
    args: &[&str],
    signal: &str,
    s: &Session,
    started: impl Fn(&BTreeMap<String, String>, i32) -> bool,
) -> (Option<i32>, String) {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_perfharness"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    loop {
        let c = perfharness::aws::control::get_configuration(s)
            .await
            .unwrap();
        let env = perfharness::aws::control::environment_of(&c);
        if started(&env, c.memory_size().unwrap_or(0)) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "the run never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let kill = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
