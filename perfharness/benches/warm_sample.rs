//! The harness's own overhead per warm sample: a bare SDK Invoke with
//! `LogType=Tail` against the emulator's no-op fixture, against the same
//! invoke made through `driver::warm::invoke_sample` (which also decodes
//! the tail, parses the REPORT and builds the sample). The difference is
//! what the harness adds to each measurement.

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::LogType;
use criterion::{criterion_group, criterion_main, Criterion};
use perfharness::aws::session::Session;
use perfharness::measure::warm::{invoke_sample, SampleOptions};
use perfharness::options::{CommonArgs, LogSource};
use perfharness::sample::Phase;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (emu, session) = rt.block_on(async {
        let bin = perfharness::local::ensure_binary(perfharness::local::FIXTURE_BINARY)
            .await
            .unwrap();
        let spec = emulator::lambda::FunctionSpec::new("noop", bin);
        let emu = emulator::Emulator::start(emulator::EmulatorConfig {
            functions: vec![spec],
            ..Default::default()
        })
        .await
        .unwrap();
        let mut args = CommonArgs::for_function("noop");
        args.endpoint_url = Some(emu.endpoint_url());
        let session = Session::connect(&args).await.unwrap();
        (emu, session)
    });
    let opts = SampleOptions {
        payload: b"{}".to_vec(),
        log_source: LogSource::Tail,
        logs_timeout: Duration::from_secs(5),
        log_group: "/aws/lambda/noop".into(),
    };
    // Warm the environment up.
    rt.block_on(invoke_sample(&session, &opts, Phase::Warmup, 0))
        .unwrap();

    let mut g = c.benchmark_group("warm_sample");
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    g.bench_function("sdk_invoke_tail", |b| {
        b.iter(|| {
            rt.block_on(async {
                session
                    .lambda_timed
                    .invoke()
                    .function_name("noop")
                    .payload(Blob::new(b"{}".to_vec()))
                    .log_type(LogType::Tail)
                    .send()
                    .await
                    .unwrap()
            })
        })
    });
    g.bench_function("harness_invoke_sample", |b| {
        b.iter(|| {
            let s = rt
                .block_on(invoke_sample(&session, &opts, Phase::Warm, 0))
                .unwrap();
            assert!(s.sample.duration_ms.is_some());
            s
        })
    });
    g.finish();
    rt.block_on(async {
        emu.shutdown().await;
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
