//! Round trips through the edge for the non-Lambda services, with the real
//! SDK clients against `Emulator::start`: Secrets Manager GetSecretValue,
//! S3 PutObject and GetObject of 4 KiB, and CloudWatch Logs FilterLogEvents
//! for one REPORT line among 20,000 events (what the harness polls).
//!
//! A plain bench binary (`harness = false`) printing p50 / p99 per call.
//! `cargo bench -p emulator --bench edge`.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::primitives::ByteStream;
use emulator::logs::LogEvent;
use emulator::{Emulator, EmulatorConfig};

const SAMPLES: usize = 2000;
const LOG_SAMPLES: usize = 300;

async fn measure<F, Fut>(name: &str, samples: usize, mut call: F)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    for i in 0..samples / 10 {
        call(i).await;
    }
    let mut ms: Vec<f64> = Vec::with_capacity(samples);
    for i in 0..samples {
        let t = Instant::now();
        call(i).await;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{name:<46} p50 {:>7.3} ms   p99 {:>7.3} ms   ({samples} samples)",
        at(0.50),
        at(0.99)
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let emu = Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator");
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(emu.endpoint_url())
        .region("us-east-1")
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(10))
                .build(),
        )
        .load()
        .await;

    let sm = aws_sdk_secretsmanager::Client::new(&shared);
    sm.create_secret()
        .name("bench")
        .secret_string(r#"{"client_id":"a","client_secret":"b"}"#)
        .send()
        .await
        .expect("create secret");
    measure("secretsmanager GetSecretValue", SAMPLES, |_| {
        let sm = sm.clone();
        async move {
            sm.get_secret_value()
                .secret_id("bench")
                .send()
                .await
                .expect("get");
        }
    })
    .await;

    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket("bench-bucket")
        .send()
        .await
        .expect("bucket");
    let body = vec![7u8; 4096];
    measure("s3 PutObject 4 KiB", SAMPLES, |i| {
        let (s3, body) = (s3.clone(), body.clone());
        async move {
            s3.put_object()
                .bucket("bench-bucket")
                .key(format!("k/{}", i % 100))
                .body(ByteStream::from(body))
                .send()
                .await
                .expect("put");
        }
    })
    .await;
    measure("s3 GetObject 4 KiB", SAMPLES, |i| {
        let s3 = s3.clone();
        async move {
            let out = s3
                .get_object()
                .bucket("bench-bucket")
                .key(format!("k/{}", i % 100))
                .send()
                .await
                .expect("get");
            out.body.collect().await.expect("body");
        }
    })
    .await;

    // 2,000 invocations' worth of lines over 20 streams.
    let group = "/aws/lambda/bench";
    for s in 0..20 {
        let stream = format!("2026/11/26/[$LATEST]{s:032x}");
        let events = (0..1000)
            .map(|i| {
                let t = 1_764_000_000_000 + (s * 1000 + i) as i64;
                let message = if i % 10 == 9 {
                    format!("REPORT RequestId: req-{s:02}-{i:04}\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\t\n")
                } else {
                    format!("line {i} of the function's output")
                };
                LogEvent {
                    timestamp: t,
                    message,
                }
            })
            .collect();
        emu.logs().append(group, &stream, events);
    }
    let logs = aws_sdk_cloudwatchlogs::Client::new(&shared);
    measure(
        "logs FilterLogEvents one REPORT of 20,000",
        LOG_SAMPLES,
        |i| {
            let logs = logs.clone();
            async move {
                let (s, n) = (i % 20, (i % 100) * 10 + 9);
                let out = logs
                    .filter_log_events()
                    .log_group_name(group)
                    .filter_pattern(format!("\"REPORT RequestId: req-{s:02}-{n:04}\""))
                    .send()
                    .await
                    .expect("filter");
                assert_eq!(out.events().len(), 1);
            }
        },
    )
    .await;
    emu.shutdown().await;
}
