//! What the Lambda side writes to CloudWatch Logs, read back through the
//! real aws-sdk-cloudwatchlogs client from `Emulator::start`: INIT_START,
//! the function's lines, START/END/REPORT, INIT_REPORT, platform.* records,
//! stream names.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_lambda::config::Credentials;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LogFormat as SdkLogFormat, LoggingConfig};
use emulator::lambda::{billed_duration_ms, FunctionSpec, LogFormat};
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};

struct Clients {
    lambda: aws_sdk_lambda::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
}

async fn clients(emu: &EmulatorHandle) -> Clients {
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(emu.endpoint_url())
        .region("us-east-1")
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    Clients {
        lambda: aws_sdk_lambda::Client::new(&shared),
        logs: aws_sdk_cloudwatchlogs::Client::new(&shared),
    }
}

fn fixture(name: &str) -> FunctionSpec {
    FunctionSpec::new(name, crate::lambda_support::fixture_path())
}

/// Every event of a group, in order: (stream, message).
async fn events(c: &Clients, group: &str, pattern: Option<&str>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .logs
            .filter_log_events()
            .log_group_name(group)
            .set_filter_pattern(pattern.map(str::to_string))
            .set_next_token(token)
            .send()
            .await
            .expect("FilterLogEvents");
        for e in page.events() {
            out.push((
                e.log_stream_name().unwrap_or_default().to_string(),
                e.message().unwrap_or_default().to_string(),
            ));
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return out;
        }
    }
}

async fn invoke(c: &Clients, name: &str, payload: &str) -> serde_json::Value {
    let out = c
        .lambda
        .invoke()
        .function_name(name)
        .payload(Blob::new(payload.as_bytes().to_vec()))
        .send()
        .await
        .unwrap();
    serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap()
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.trim_end().split('\t').find_map(|f| {
        f.strip_prefix("REPORT ")
            .unwrap_or(f)
            .strip_prefix(name)?
            .strip_prefix(": ")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_are_written_like_aws() {
    let mut spec = fixture("fx");
    spec.environment
        .insert("FIXTURE_INIT_SLEEP_MS".into(), "30".into());
    let mut failing = fixture("broken");
    failing
        .environment
        .insert("FIXTURE_INIT_FAIL".into(), "1".into());
    let emu = Emulator::start(EmulatorConfig {
        functions: vec![spec, failing],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let c = clients(&emu).await;
    invoke(&c, "fx", "{}").await;
    invoke(&c, "fx", r#"{"logLines": 2}"#).await;

    let all = events(&c, "/aws/lambda/fx", None).await;
    let streams: std::collections::BTreeSet<_> = all.iter().map(|(s, _)| s.clone()).collect();
    assert_eq!(streams.len(), 1, "one environment, one stream");
    let stream = streams.iter().next().unwrap();
    let today = chrono::Utc::now().format("%Y/%m/%d/[$LATEST]").to_string();
    assert!(stream.starts_with(&today), "{stream}");
    assert_eq!(stream.len(), today.len() + 32);

    let messages: Vec<&str> = all.iter().map(|(_, m)| m.as_str()).collect();
    let kinds: Vec<&str> = messages
        .iter()
        .map(|m| m.split([' ', '\t']).next().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "INIT_START",
            "FIXTURE_INIT_MS",
            "START",
            "END",
            "REPORT",
            "START",
            "fixture",
            "fixture",
            "END",
            "REPORT"
        ],
        "{messages:#?}"
    );
    assert!(messages[0].starts_with("INIT_START Runtime Version: provided:al2023.v"));
    assert!(messages[0].contains("\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:"));
    assert!(
        messages.iter().all(|m| m.ends_with('\n')),
        "one event per line, newline-terminated"
    );
    let own: f64 = messages[1]
        .trim()
        .strip_prefix("FIXTURE_INIT_MS ")
        .unwrap()
        .parse()
        .unwrap();
    let cold = messages[4];
    assert!(cold.ends_with("\t\n"), "{cold:?}");
    let init: f64 = field(cold, "Init Duration")
        .unwrap()
        .strip_suffix(" ms")
        .unwrap()
        .parse()
        .unwrap();
    assert!(init >= own && init - own <= 10.0, "{init} vs {own}");
    let warm = messages[9];
    assert!(field(warm, "Init Duration").is_none());
    let d: f64 = field(warm, "Duration")
        .unwrap()
        .strip_suffix(" ms")
        .unwrap()
        .parse()
        .unwrap();
    let billed: u64 = field(warm, "Billed Duration")
        .unwrap()
        .strip_suffix(" ms")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(billed, billed_duration_ms(d, None));
    assert_eq!(messages[6], "fixture log line 0\n");

    // The filter pattern the harness uses finds exactly the REPORT lines.
    let reports = events(&c, "/aws/lambda/fx", Some("\"REPORT RequestId\"")).await;
    assert_eq!(reports.len(), 2);

    // A failing init: INIT_REPORT for the init phase, then for the invoke.
    invoke(&c, "broken", "{}").await;
    let broken = events(&c, "/aws/lambda/broken", None).await;
    let lines: Vec<&str> = broken.iter().map(|(_, m)| m.as_str()).collect();
    let reports: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("INIT_REPORT"))
        .collect();
    assert_eq!(reports.len(), 2, "{lines:#?}");
    assert!(
        reports[0].contains("\tPhase: init\tStatus: error\tError Type: Fixture.InitError"),
        "{}",
        reports[0]
    );
    assert!(
        reports[1].contains("\tPhase: invoke\tStatus: error\tError Type: Fixture.InitError"),
        "{}",
        reports[1]
    );
    let report = lines.iter().find(|l| l.starts_with("REPORT")).unwrap();
    assert!(
        report.ends_with("Status: error\tError Type: Fixture.InitError\t\n"),
        "{report}"
    );

    // Event invokes land in the log too.
    let before = events(&c, "/aws/lambda/fx", Some("\"REPORT RequestId\""))
        .await
        .len();
    c.lambda
        .invoke()
        .function_name("fx")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    let mut landed = false;
    for _ in 0..100 {
        if events(&c, "/aws/lambda/fx", Some("\"REPORT RequestId\""))
            .await
            .len()
            == before + 1
        {
            landed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(landed, "the Event invoke's REPORT line lands");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_and_custom_log_group() {
    let mut spec = fixture("jx");
    spec.log_format = LogFormat::Json;
    let emu = Emulator::start(EmulatorConfig {
        functions: vec![spec],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let c = clients(&emu).await;
    invoke(&c, "jx", "{}").await;
    let all = events(&c, "/aws/lambda/jx", None).await;
    let records: Vec<serde_json::Value> = all
        .iter()
        .filter_map(|(_, m)| serde_json::from_str(m).ok())
        .collect();
    let types: Vec<&str> = records.iter().filter_map(|r| r["type"].as_str()).collect();
    assert_eq!(
        types,
        ["platform.initStart", "platform.start", "platform.report"],
        "{all:#?}"
    );
    let init = &records[0]["record"];
    assert_eq!(init["initializationType"], "on-demand");
    assert_eq!(init["phase"], "init");
    assert_eq!(init["functionName"], "jx");
    assert_eq!(init["functionVersion"], "$LATEST");
    assert!(init["runtimeVersion"]
        .as_str()
        .unwrap()
        .starts_with("provided:al2023"));
    assert_eq!(init["instanceId"].as_str().unwrap().len(), 32);
    let start = &records[1]["record"];
    assert_eq!(
        start["functionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:jx"
    );
    let report = &records[2]["record"];
    assert_eq!(report["status"], "success");
    assert!(report["metrics"]["initDurationMs"].as_f64().unwrap() > 0.0);
    assert!(records[2]["time"].as_str().unwrap().ends_with('Z'));

    // A custom log group from LoggingConfig.
    c.lambda
        .update_function_configuration()
        .function_name("jx")
        .logging_config(
            LoggingConfig::builder()
                .log_format(SdkLogFormat::Text)
                .log_group("/custom/group")
                .build(),
        )
        .send()
        .await
        .unwrap();
    use aws_sdk_lambda::client::Waiters as _;
    c.lambda
        .wait_until_function_updated_v2()
        .function_name("jx")
        .wait(Duration::from_secs(10))
        .await
        .unwrap();
    let env = invoke(&c, "jx", r#"{"echoEnv": ["AWS_LAMBDA_LOG_GROUP_NAME"]}"#).await;
    assert_eq!(env["env"]["AWS_LAMBDA_LOG_GROUP_NAME"], "/custom/group");
    let custom = events(&c, "/custom/group", Some("\"REPORT RequestId\"")).await;
    assert_eq!(custom.len(), 1);
    emu.shutdown().await;
}
