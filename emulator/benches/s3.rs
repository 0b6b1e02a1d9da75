//! S3 object throughput through the real SDK against the `emulator serve`
//! binary, and the emulator's peak memory while it moves the objects:
//! PutObject and GetObject of a 64 MiB object (criterion, bytes/s), then
//! the emulator's VmHWM. Bodies stream, so the peak stays far below the
//! object size. `cargo bench -p emulator --bench s3`.

use std::process::Stdio;

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::primitives::ByteStream;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::io::{AsyncBufReadExt, BufReader};

const OBJECT: usize = 64 * 1024 * 1024;

struct Served {
    child: tokio::process::Child,
    endpoint: String,
}

async fn serve() -> Served {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_emulator"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("emulator binary");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = lines.next_line().await.expect("stdout").expect("a line");
    let endpoint = line
        .strip_prefix("emulator listening on ")
        .expect("listening line")
        .to_string();
    Served { child, endpoint }
}

fn peak_rss_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

fn s3_objects(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let served = rt.block_on(serve());
    let s3 = rt.block_on(async {
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&served.endpoint)
            .region("us-east-1")
            .credentials_provider(Credentials::new("test", "test", None, None, "static"))
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&shared)
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket()
            .bucket("bench")
            .send()
            .await
            .expect("bucket");
        s3
    });
    let body = bytes::Bytes::from(vec![7u8; OBJECT]);

    let mut group = c.benchmark_group("s3");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(OBJECT as u64));
    group.bench_function("PutObject 64 MiB", |b| {
        b.iter(|| {
            rt.block_on(async {
                s3.put_object()
                    .bucket("bench")
                    .key("obj")
                    .body(ByteStream::from(body.clone()))
                    .send()
                    .await
                    .expect("put");
            });
        });
    });
    group.bench_function("GetObject 64 MiB", |b| {
        b.iter(|| {
            rt.block_on(async {
                let got = s3
                    .get_object()
                    .bucket("bench")
                    .key("obj")
                    .send()
                    .await
                    .expect("get");
                let mut body = got.body;
                let mut n = 0;
                while let Some(chunk) = body.try_next().await.expect("body") {
                    n += chunk.len();
                }
                assert_eq!(n, OBJECT);
            });
        });
    });
    group.finish();
    let pid = served.child.id().unwrap_or(0);
    println!(
        "s3: emulator peak RSS after the runs above: {} MB (object {} MB)",
        peak_rss_mb(pid),
        OBJECT >> 20
    );
    drop(served);
}

criterion_group!(benches, s3_objects);
criterion_main!(benches);
