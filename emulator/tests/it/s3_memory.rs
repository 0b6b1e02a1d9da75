//! Bounded memory: a 1 GiB object goes in and out through the real S3 SDK
//! while the emulator's peak resident memory stays far below the object's
//! size, because bodies stream instead of being buffered.

use aws_sdk_s3::primitives::ByteStream;

use crate::served::Served;

const GIB: u64 = 1 << 30;
/// The bound the emulator must stay under while moving 1 GiB.
const PEAK_LIMIT: u64 = 100 * 1024 * 1024;

#[tokio::test]
async fn a_1_gib_put_and_get_stay_under_100_mb_of_emulator_memory() {
    let served = Served::start(&[]).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&served.sdk_config("test", "test").await)
            .force_path_style(true)
            .build(),
    );
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("big");
    // Sparse: 1 GiB of zeros costs the test no disk or memory.
    std::fs::File::create(&source)
        .unwrap()
        .set_len(GIB)
        .unwrap();

    s3.create_bucket().bucket("big").send().await.unwrap();
    s3.put_object()
        .bucket("big")
        .key("gib")
        .body(ByteStream::from_path(&source).await.unwrap())
        .send()
        .await
        .unwrap();
    let after_put = served.peak_rss();

    let got = s3
        .get_object()
        .bucket("big")
        .key("gib")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_length(), Some(GIB as i64));
    let mut body = got.body;
    let mut received = 0u64;
    let mut nonzero = false;
    while let Some(chunk) = body.try_next().await.unwrap() {
        received += chunk.len() as u64;
        nonzero |= chunk.iter().any(|b| *b != 0);
    }
    assert_eq!(received, GIB);
    assert!(!nonzero, "the object came back with different bytes");
    let peak = served.peak_rss();
    eprintln!(
        "emulator peak RSS: {} MB after the PUT, {} MB after the GET",
        after_put >> 20,
        peak >> 20
    );
    assert!(
        peak < PEAK_LIMIT,
        "peak RSS {} MB moving a 1 GiB object (limit {} MB)",
        peak >> 20,
        PEAK_LIMIT >> 20
    );
}
