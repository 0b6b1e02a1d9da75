//! `lambda-fixture`: a small Rust Lambda whose behaviour is set by its
//! environment and its payload, used by the emulator's tests and as the
//! harness's reference no-op function. Built on `lambda_runtime` + tokio like
//! the real function, so its cold start is a fair baseline.
//!
//! Environment:
//! - `FIXTURE_INIT_SLEEP_MS=N`: sleep N ms during init (a known init wait:
//!   it moves Init Duration, not the instruction count).
//! - `FIXTURE_INIT_SPIN_ITERS=N`: run N iterations of a fixed arithmetic
//!   loop during init (known init work: a fixed number of instructions per
//!   iteration, so it moves the instruction count in proportion to N).
//! - `FIXTURE_INIT_FAIL=exit`: exit with status 3 during init;
//!   any other non-empty value: post `/runtime/init/error`, then exit 1.
//!
//! Payload (every field optional, `{}` is a no-op):
//! `{"sleepMs","spinMs","allocMb","logLines","returnBytes","crash","exitCode","hang","error"}`,
//! where `spinMs` burns that much CPU time (the thread's CPU clock, so a
//! throttled process takes longer in wall time), plus two diagnostics: `"echoEnv": ["NAME", …]` returns those variables,
//! `"probe": true` calls its own Runtime API with bad requests and returns
//! the status codes it got. Every answer carries the invocation context
//! (request id, deadline, ARN, trace id, client context) and the pid.
//!
//! At the end of init it prints `FIXTURE_INIT_MS <float>`: its own measured
//! init time, from `main` entry to right before the runtime's first `/next`.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::{json, Value};

fn main() {
    let started = Instant::now();
    let init_sleep_ms = std::env::var("FIXTURE_INIT_SLEEP_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if init_sleep_ms > 0 {
        std::thread::sleep(Duration::from_millis(init_sleep_ms));
    }
    let init_spin_iters = std::env::var("FIXTURE_INIT_SPIN_ITERS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    if init_spin_iters > 0 {
        spin_iters(init_spin_iters);
    }
    match std::env::var("FIXTURE_INIT_FAIL").ok().as_deref() {
        None | Some("") | Some("0") => {}
        Some("exit") => {
            println!("fixture: exiting during init as asked");
            std::process::exit(3);
        }
        Some(other) => {
            println!("fixture: failing init as asked ({other})");
            post_init_error(other);
            std::process::exit(1);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fixture: cannot start tokio: {e}");
            std::process::exit(1);
        }
    };
    let init_us = started.elapsed().as_micros();
    let init_ms = init_us as f64 / 1000.0;
    // Integer formatting: float formatting costs a number of instructions
    // that depends on the value, which would make the init's instruction
    // count vary from run to run.
    println!("FIXTURE_INIT_MS {}.{:03}", init_us / 1000, init_us % 1000);
    let result = runtime.block_on(lambda_runtime::run(service_fn(move |event| {
        handle(event, init_ms)
    })));
    if let Err(e) = result {
        eprintln!("fixture: runtime stopped: {e}");
        std::process::exit(1);
    }
}

/// Posts an init error to the Runtime API with a blocking HTTP/1.1 request,
/// the way a runtime that fails before its event loop would.
fn post_init_error(reason: &str) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let body = json!({
        "errorType": "Fixture.InitError",
        "errorMessage": format!("init failed on purpose: {reason}"),
        "stackTrace": [],
    })
    .to_string();
    let Ok(mut stream) = std::net::TcpStream::connect(&api) else {
        return;
    };
    let request = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\nLambda-Runtime-Function-Error-Type: Fixture.InitError\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
    }
}

/// One raw HTTP/1.1 request to the Runtime API; returns the status code.
fn runtime_call(method: &str, path: &str, body: &str) -> u16 {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return 0;
    };
    let Ok(mut stream) = std::net::TcpStream::connect(&api) else {
        return 0;
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return 0;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// Calls the Runtime API the wrong way on purpose and reports the answers.
async fn probe_runtime_api(request_id: &str) -> Value {
    let request_id = request_id.to_string();
    tokio::task::spawn_blocking(move || {
        json!({
            "unknownRequestId": runtime_call("POST", "/2018-06-01/runtime/invocation/00000000-0000-0000-0000-000000000000/response", "{}"),
            "initErrorAfterInit": runtime_call("POST", "/2018-06-01/runtime/init/error", r#"{"errorType":"X","errorMessage":"late"}"#),
            "unknownPath": runtime_call("GET", "/2018-06-01/runtime/nothing", ""),
            "currentRequestId": request_id,
        })
    })
    .await
    .unwrap_or(Value::Null)
}

/// `iters` iterations of a fixed loop body: the same instructions every
/// iteration (no branch depends on the data), so the work is exactly
/// proportional to `iters`.
fn spin_iters(iters: u64) {
    let mut x = 1u64;
    for i in 0..iters {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    std::hint::black_box(x);
}

/// CPU time this thread has used, ms.
fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
    }
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}

/// Busy-loops until this thread has used `ms` of CPU time; returns the CPU
/// time used.
fn spin(ms: u64) -> f64 {
    let start = thread_cpu_ms();
    let mut x = 0u64;
    loop {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
        let used = thread_cpu_ms() - start;
        if used >= ms as f64 {
            std::hint::black_box(x);
            return used;
        }
    }
}

fn field_u64(payload: &Value, name: &str) -> u64 {
    payload.get(name).and_then(Value::as_u64).unwrap_or(0)
}

async fn handle(event: LambdaEvent<Value>, init_ms: f64) -> Result<Value, Diagnostic> {
    let payload = event.payload;
    let sleep_ms = field_u64(&payload, "sleepMs");
    if sleep_ms > 0 {
        tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
    }
    let spin_ms = field_u64(&payload, "spinMs");
    // No await while spinning: the CPU clock read is this thread's.
    let spun_ms = (spin_ms > 0).then(|| spin(spin_ms));
    let alloc_mb = field_u64(&payload, "allocMb");
    let mut touched = 0u64;
    if alloc_mb > 0 {
        // Touch every page so the allocation is resident, not just reserved.
        let mut block = vec![0u8; (alloc_mb as usize) << 20];
        for page in block.chunks_mut(4096) {
            page[0] = 1;
        }
        touched = block.iter().step_by(4096).map(|b| u64::from(*b)).sum();
        drop(std::hint::black_box(block));
    }
    let log_lines = field_u64(&payload, "logLines");
    if log_lines > 0 {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for i in 0..log_lines {
            let _ = writeln!(out, "fixture log line {i}");
        }
        let _ = out.flush();
    }
    if payload.get("hang").and_then(Value::as_bool) == Some(true) {
        println!("fixture: hanging as asked");
        std::future::pending::<()>().await;
    }
    let exit_code = payload.get("exitCode").and_then(Value::as_i64);
    if payload.get("crash").and_then(Value::as_bool) == Some(true) || exit_code.is_some() {
        let code = exit_code.unwrap_or(1) as i32;
        println!("fixture: exiting with status {code} as asked");
        std::process::exit(code);
    }
    if let Some(message) = payload.get("error") {
        let message = match message {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        return Err(Diagnostic {
            error_type: "Fixture.Error".to_string(),
            error_message: message,
        });
    }
    let return_bytes = field_u64(&payload, "returnBytes") as usize;
    let context = &event.context;
    let mut answer = json!({
        "ok": true,
        "requestId": context.request_id,
        "deadlineMs": context.deadline,
        "functionArn": context.invoked_function_arn,
        "traceId": context.xray_trace_id,
        "clientContext": context.client_context.as_ref().map(|c| json!({"custom": c.custom, "env": c.environment})),
        "pid": std::process::id(),
        "initMs": init_ms,
    });
    if let Some(names) = payload.get("echoEnv").and_then(Value::as_array) {
        let vars: serde_json::Map<String, Value> = names
            .iter()
            .filter_map(Value::as_str)
            .map(|n| {
                (
                    n.to_string(),
                    std::env::var(n).map_or(Value::Null, Value::String),
                )
            })
            .collect();
        answer["env"] = Value::Object(vars);
    }
    if payload.get("probe").and_then(Value::as_bool) == Some(true) {
        answer["probe"] = probe_runtime_api(&context.request_id).await;
    }
    if let Some(spun) = spun_ms {
        answer["cpuMs"] = json!(spun);
    }
    if alloc_mb > 0 {
        answer["allocatedMb"] = json!(alloc_mb);
        answer["pagesTouched"] = json!(touched);
    }
    if return_bytes > 0 {
        answer["data"] = Value::String("x".repeat(return_bytes));
    }
    Ok(answer)
}
