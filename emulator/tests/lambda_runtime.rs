//! Execution environments end to end with the fixture: measurements against
//! the fixture's own figures, every failure AWS ends an invoke with, warm
//! reuse, retirement on update, concurrency and idle reclaim.

// Its own test binary: it measures CPU time, durations or child processes
// of the test process, which tests running beside it would disturb.
#[path = "it/lambda_support/mod.rs"]
mod lambda_support;

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{LogFormat, LoggingConfig};
use emulator::lambda::{billed_duration_ms, LambdaSettings};
use lambda_support::{alive, fixture, Report, TestLambda};

fn check_billed(r: &Report) {
    let d = r.ms("Duration").unwrap();
    let init = r.ms("Init Duration");
    let billed = r.ms("Billed Duration").unwrap() as u64;
    assert_eq!(billed, billed_duration_ms(d, init), "{}", r.raw);
    let expected = ((d + init.unwrap_or(0.0)) * 100.0).round() as u64;
    assert_eq!(billed, expected.div_ceil(100), "{}", r.raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_and_duration_match_the_fixtures_own_figures() {
    let mut spec = fixture("fx");
    spec.environment
        .insert("FIXTURE_INIT_SLEEP_MS".into(), "100".into());
    let t = TestLambda::start(vec![spec]).await;

    let cold = t.invoke("fx", "{}").await;
    let r = cold.report.clone().expect("REPORT in the tail");
    let init = r.ms("Init Duration").expect("cold start has Init Duration");
    let own = cold.json["initMs"].as_f64().unwrap();
    assert!(own >= 100.0, "fixture slept 100 ms: {own}");
    assert!(init >= own, "Init Duration {init} < fixture's own {own}");
    assert!(
        init - own <= 10.0,
        "Init Duration {init} vs fixture's {own}"
    );
    assert_eq!(r.get("Memory Size"), Some("128 MB"));
    assert!(r.mb("Max Memory Used").unwrap() >= 1);
    assert!(
        !cold.log.contains("INIT_START"),
        "the tail never has INIT_START"
    );
    check_billed(&r);
    // Field order as AWS prints it.
    let keys: Vec<_> = r
        .raw
        .split('\t')
        .filter_map(|f| f.split_once(':').map(|(k, _)| k))
        .collect();
    assert_eq!(
        keys,
        [
            "REPORT RequestId",
            "Duration",
            "Billed Duration",
            "Memory Size",
            "Max Memory Used",
            "Init Duration"
        ]
    );

    let warm = t.invoke("fx", r#"{"sleepMs": 100}"#).await;
    let r = warm.report.clone().unwrap();
    assert_eq!(r.ms("Init Duration"), None, "warm: {}", r.raw);
    assert_eq!(
        warm.json["pid"], cold.json["pid"],
        "same process while warm"
    );
    let d = r.ms("Duration").unwrap();
    assert!(
        (100.0..=110.0).contains(&d),
        "Duration {d} for a 100 ms handler"
    );
    check_billed(&r);

    // The deadline header is absolute epoch ms, timeout (3 s) from delivery.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let deadline = warm.json["deadlineMs"].as_i64().unwrap();
    assert!(
        deadline > now + 2_000 && deadline < now + 3_500,
        "{deadline} vs {now}"
    );
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocation_shows_in_max_memory_used_and_over_limit_is_oom() {
    let mut spec = fixture("fx");
    spec.memory_mb = 512;
    let t = TestLambda::start(vec![spec]).await;
    let inv = t.invoke("fx", r#"{"allocMb": 200}"#).await;
    assert_eq!(inv.function_error, None, "{:?}", inv.json);
    let used = inv.report.unwrap().mb("Max Memory Used").unwrap();
    assert!(
        (200..=220).contains(&used),
        "Max Memory Used {used} MB for 200 MB"
    );

    t.client
        .update_function_configuration()
        .function_name("fx")
        .memory_size(128)
        .send()
        .await
        .unwrap();
    t.wait_updated("fx").await;
    let oom = t.invoke("fx", r#"{"allocMb": 200}"#).await;
    assert_eq!(oom.status, 200);
    assert_eq!(oom.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(
        oom.json["errorType"], "Runtime.OutOfMemory",
        "{:?}",
        oom.json
    );
    let r = oom.report.unwrap();
    assert_eq!(r.get("Status"), Some("error"));
    assert_eq!(r.get("Error Type"), Some("Runtime.OutOfMemory"));
    assert_eq!(r.get("Max Memory Used"), Some("128 MB"));
    // Next invoke re-inits inside the invoke.
    let next = t.invoke("fx", "{}").await;
    assert_eq!(next.function_error, None);
    let r = next.report.unwrap();
    assert_eq!(r.ms("Init Duration"), None, "suppressed init: {}", r.raw);
    assert_ne!(next.json["pid"], serde_json::Value::Null);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_and_next_invoke_runs_a_suppressed_init() {
    let mut spec = fixture("fx");
    spec.timeout_s = 1;
    spec.environment
        .insert("FIXTURE_INIT_SLEEP_MS".into(), "60".into());
    let t = TestLambda::start(vec![spec]).await;
    let first = t.invoke("fx", "{}").await;
    let pid = first.json["pid"].as_u64().unwrap() as u32;

    let hung = t.invoke("fx", r#"{"hang": true}"#).await;
    assert_eq!(hung.status, 200);
    assert_eq!(hung.function_error.as_deref(), Some("Unhandled"));
    let id = hung.request_id.clone().unwrap();
    assert_eq!(
        hung.json,
        serde_json::json!({
            "errorType": "Sandbox.Timedout",
            "errorMessage": format!("RequestId: {id} Error: Task timed out after 1.00 seconds"),
        })
    );
    let r = hung.report.clone().unwrap();
    assert_eq!(r.get("Status"), Some("timeout"));
    assert_eq!(r.get("Duration"), Some("1000.00 ms"));
    assert_eq!(r.get("Billed Duration"), Some("1000 ms"));
    assert!(
        hung.log.contains("Task timed out after 1.00 seconds"),
        "{}",
        hung.log
    );
    assert!(
        hung.log.contains("fixture: hanging as asked"),
        "output lands before END: {}",
        hung.log
    );
    assert!(!alive(pid), "the timed-out process is killed");

    let next = t.invoke("fx", "{}").await;
    assert_eq!(next.function_error, None);
    let r = next.report.unwrap();
    assert_eq!(r.ms("Init Duration"), None, "suppressed init: {}", r.raw);
    let own = next.json["initMs"].as_f64().unwrap();
    assert!(
        r.ms("Duration").unwrap() >= own,
        "init inside Duration: {} vs {own}",
        r.raw
    );
    assert_ne!(next.json["pid"].as_u64().unwrap() as u32, pid);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_function_error_and_oversized_response() {
    let t = TestLambda::start(vec![fixture("fx")]).await;
    let crash = t.invoke("fx", r#"{"exitCode": 7}"#).await;
    assert_eq!(crash.status, 200);
    assert_eq!(crash.function_error.as_deref(), Some("Unhandled"));
    let id = crash.request_id.clone().unwrap();
    assert_eq!(crash.json["errorType"], "Runtime.ExitError");
    assert_eq!(
        crash.json["errorMessage"],
        format!("RequestId: {id} Error: Runtime exited with error: exit status 7")
    );
    let r = crash.report.clone().unwrap();
    assert_eq!(r.get("Status"), Some("error"));
    assert_eq!(r.get("Error Type"), Some("Runtime.ExitError"));
    assert!(
        crash.log.contains("fixture: exiting with status 7"),
        "{}",
        crash.log
    );
    let next = t.invoke("fx", "{}").await;
    assert_eq!(next.function_error, None);
    assert_eq!(next.report.unwrap().ms("Init Duration"), None);

    // A function error: the runtime's body verbatim, the environment stays warm.
    let pid = next.json["pid"].clone();
    let failed = t.invoke("fx", r#"{"error": "boom"}"#).await;
    assert_eq!(failed.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(failed.json["errorType"], "Fixture.Error");
    assert_eq!(failed.json["errorMessage"], "boom");
    assert_eq!(failed.report.unwrap().get("Status"), None);
    let again = t.invoke("fx", "{}").await;
    assert_eq!(again.json["pid"], pid, "still the same warm process");

    // A response over 6 MB.
    let big = t.invoke("fx", r#"{"returnBytes": 6400000}"#).await;
    assert_eq!(big.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(
        big.json["errorType"], "Function.ResponseSizeTooLarge",
        "{:?}",
        big.json
    );
    let r = big.report.unwrap();
    assert_eq!(r.get("Error Type"), Some("Function.ResponseSizeTooLarge"));
    // A chatty invocation: the tail keeps its last 4 KB, REPORT at the end.
    let chatty = t.invoke("fx", r#"{"logLines": 20000}"#).await;
    assert!(chatty.log.len() <= 4096, "{}", chatty.log.len());
    assert!(chatty.log.ends_with("\t\n") && chatty.log.contains("fixture log line 19999\n"));
    assert!(!chatty.log.contains("START RequestId"));
    assert!(chatty.report.is_some());
    let after = t.invoke("fx", r#"{"logLines": 3}"#).await;
    assert_eq!(after.function_error, None);
    for i in 0..3 {
        assert!(
            after.log.contains(&format!("fixture log line {i}\n")),
            "{}",
            after.log
        );
    }
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_errors_report_and_return_the_error() {
    let mut posted = fixture("posts");
    posted
        .environment
        .insert("FIXTURE_INIT_FAIL".into(), "1".into());
    let mut exits = fixture("exits");
    exits
        .environment
        .insert("FIXTURE_INIT_FAIL".into(), "exit".into());
    let missing = emulator::lambda::FunctionSpec::new("missing", "/nonexistent/bootstrap");
    let t = TestLambda::start(vec![posted, exits, missing]).await;

    for _ in 0..2 {
        let inv = t.invoke("posts", "{}").await;
        assert_eq!(inv.status, 200);
        assert_eq!(inv.function_error.as_deref(), Some("Unhandled"));
        assert_eq!(inv.json["errorType"], "Fixture.InitError", "{:?}", inv.json);
        let r = inv.report.unwrap();
        assert_eq!(r.get("Status"), Some("error"));
        assert_eq!(r.get("Error Type"), Some("Fixture.InitError"));
        assert_eq!(r.ms("Init Duration"), None);
    }
    let inv = t.invoke("exits", "{}").await;
    assert_eq!(inv.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(inv.json["errorType"], "Runtime.ExitError");
    assert!(inv.json["errorMessage"]
        .as_str()
        .unwrap()
        .ends_with("exit status 3"));
    assert_eq!(
        inv.report.unwrap().get("Error Type"),
        Some("Runtime.ExitError")
    );
    assert_eq!(
        t.service().environment_count("exits"),
        0,
        "a failed init leaves no environment"
    );
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_api_answers_its_error_codes_and_env_is_complete() {
    let mut spec = fixture("fx");
    spec.environment.insert("MY_SETTING".into(), "on".into());
    let t = TestLambda::start(vec![spec]).await;
    let inv = t
        .invoke(
            "fx",
            r#"{"probe": true, "echoEnv": ["AWS_LAMBDA_FUNCTION_NAME","AWS_LAMBDA_FUNCTION_MEMORY_SIZE","AWS_LAMBDA_FUNCTION_VERSION","AWS_LAMBDA_LOG_GROUP_NAME","AWS_LAMBDA_LOG_STREAM_NAME","AWS_LAMBDA_INITIALIZATION_TYPE","AWS_REGION","AWS_DEFAULT_REGION","AWS_ACCESS_KEY_ID","AWS_SECRET_ACCESS_KEY","AWS_ENDPOINT_URL","TZ","_HANDLER","MY_SETTING","AWS_LAMBDA_LOG_FORMAT"]}"#,
        )
        .await;
    assert_eq!(inv.function_error, None, "{:?}", inv.json);
    let probe = &inv.json["probe"];
    assert_eq!(probe["unknownRequestId"], 400);
    assert_eq!(probe["initErrorAfterInit"], 403);
    assert_eq!(probe["unknownPath"], 404);
    let env = &inv.json["env"];
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "fx");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "128");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/fx");
    let stream = env["AWS_LAMBDA_LOG_STREAM_NAME"].as_str().unwrap();
    let (date, rest) = stream.split_at(11);
    assert_eq!(date.len(), 11);
    assert!(date.chars().filter(|c| *c == '/').count() == 3, "{stream}");
    let hex = rest.strip_prefix("[$LATEST]").unwrap();
    assert!(
        hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        "{stream}"
    );
    assert_eq!(env["AWS_LAMBDA_INITIALIZATION_TYPE"], "on-demand");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_DEFAULT_REGION"], "us-east-1");
    assert_eq!(env["AWS_ACCESS_KEY_ID"], "test");
    assert_eq!(env["AWS_SECRET_ACCESS_KEY"], "test");
    assert_eq!(env["AWS_ENDPOINT_URL"], t.endpoint.as_str());
    assert_eq!(env["TZ"], ":UTC");
    assert_eq!(env["_HANDLER"], "bootstrap");
    assert_eq!(env["MY_SETTING"], "on");
    assert_eq!(env["AWS_LAMBDA_LOG_FORMAT"], serde_json::Value::Null);

    // JSON log format: platform records, and the runtime is told.
    t.client
        .update_function_configuration()
        .function_name("fx")
        .logging_config(LoggingConfig::builder().log_format(LogFormat::Json).build())
        .send()
        .await
        .unwrap();
    t.wait_updated("fx").await;
    let inv = t
        .invoke(
            "fx",
            r#"{"echoEnv": ["AWS_LAMBDA_LOG_FORMAT","AWS_LAMBDA_LOG_LEVEL"]}"#,
        )
        .await;
    assert_eq!(inv.json["env"]["AWS_LAMBDA_LOG_FORMAT"], "JSON");
    assert_eq!(inv.json["env"]["AWS_LAMBDA_LOG_LEVEL"], "INFO");
    let records: Vec<serde_json::Value> = inv
        .log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| {
            v["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("platform."))
        })
        .collect();
    let types: Vec<_> = records
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["platform.start", "platform.report"], "{}", inv.log);
    let id = inv.request_id.unwrap();
    assert_eq!(records[0]["record"]["requestId"], id.as_str());
    assert_eq!(records[0]["record"]["version"], "$LATEST");
    let report = &records[1]["record"];
    assert_eq!(report["status"], "success");
    let m = &report["metrics"];
    assert_eq!(m["memorySizeMB"], 128);
    let init = m["initDurationMs"].as_f64().expect("cold after update");
    let d = m["durationMs"].as_f64().unwrap();
    assert_eq!(
        m["billedDurationMs"].as_u64().unwrap(),
        billed_duration_ms(d, Some(init))
    );
    assert!(records[1]["time"].as_str().unwrap().ends_with('Z'));
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_invokes_get_their_own_environments_up_to_the_cap() {
    let settings = LambdaSettings {
        default_concurrency_cap: 3,
        ..LambdaSettings::default()
    };
    let t = TestLambda::start_with(vec![fixture("fx")], settings).await;
    let calls = (0..3).map(|_| t.invoke("fx", r#"{"sleepMs": 400}"#));
    let slow = futures_util::future::join_all(calls);
    let probe = async {
        // While three are busy, a fourth is throttled with its Reason.
        tokio::time::sleep(Duration::from_millis(200)).await;
        t.client_no_retry
            .invoke()
            .function_name("fx")
            .payload(Blob::new("{}"))
            .send()
            .await
            .unwrap_err()
            .into_service_error()
    };
    let (results, throttled) = tokio::join!(slow, probe);
    assert!(throttled.is_too_many_requests_exception(), "{throttled:?}");
    if let aws_sdk_lambda::operation::invoke::InvokeError::TooManyRequestsException(e) = &throttled
    {
        assert_eq!(
            e.reason().map(|r| r.as_str()),
            Some("ConcurrentInvocationLimitExceeded")
        );
    }
    let mut pids: Vec<_> = results
        .iter()
        .map(|r| r.json["pid"].as_u64().unwrap())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 3, "three environments, three processes");
    assert!(results
        .iter()
        .all(|r| r.report.as_ref().unwrap().ms("Init Duration").is_some()));
    assert_eq!(t.service().environment_count("fx"), 3);
    t.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_retires_environments_and_idle_ones_are_reclaimed() {
    let settings = LambdaSettings {
        idle_timeout: Duration::from_millis(300),
        update_delay_ms: 50,
        ..LambdaSettings::default()
    };
    let t = TestLambda::start_with(vec![fixture("fx")], settings).await;
    let cold = t.invoke("fx", "{}").await;
    assert!(cold.report.unwrap().ms("Init Duration").is_some());
    let warm = t.invoke("fx", "{}").await;
    assert!(warm.report.unwrap().ms("Init Duration").is_none());
    let old_pid = warm.json["pid"].as_u64().unwrap() as u32;

    t.set_env("fx", &[("NEW_VAR", "yes")]).await;
    assert!(!alive(old_pid), "the retired environment's process is gone");
    let after = t.invoke("fx", r#"{"echoEnv": ["NEW_VAR"]}"#).await;
    assert!(
        after.report.unwrap().ms("Init Duration").is_some(),
        "cold after an update"
    );
    assert_eq!(after.json["env"]["NEW_VAR"], "yes");
    let pid = after.json["pid"].as_u64().unwrap() as u32;

    // Event invokes run in the background in a (warm) environment.
    let event = t
        .client
        .invoke()
        .function_name("fx")
        .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(event.status_code(), 202);

    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        t.service().environment_count("fx"),
        0,
        "idle environment reclaimed"
    );
    assert!(!alive(pid));
    let again = t.invoke("fx", "{}").await;
    assert!(
        again.report.unwrap().ms("Init Duration").is_some(),
        "cold after reclaim"
    );
    t.shutdown().await;
}

/// The CPUs /proc says `pid` may run on (`Cpus_allowed_list`).
fn cpus_allowed(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_processes_run_only_on_their_cpus() {
    let mine = emulator::affinity::allowed().unwrap().cpus();
    let last = *mine.last().unwrap();
    let settings = LambdaSettings {
        function_cpus: Some(emulator::affinity::CpuSet::of(&[last])),
        ..LambdaSettings::default()
    };
    let t = TestLambda::start_with(vec![fixture("fx")], settings).await;
    let answer = t.invoke("fx", "{}").await;
    let pid = answer.json["pid"].as_u64().unwrap() as u32;
    assert!(alive(pid), "the warm environment is kept");
    assert_eq!(cpus_allowed(pid), last.to_string(), "the function process");
    assert_eq!(
        emulator::affinity::allowed().unwrap().cpus(),
        mine,
        "the emulator's own threads are not moved"
    );

    // Without the setting, an environment may run wherever the emulator may.
    let free = TestLambda::start(vec![fixture("fx")]).await;
    let pid = free.invoke("fx", "{}").await.json["pid"].as_u64().unwrap() as u32;
    assert_eq!(cpus_allowed(pid), cpus_allowed(std::process::id()));
}
