//! Failures fail loudly and leave nothing behind: a part upload that cannot
//! complete is aborted (no multipart upload left open), and a stream waiting
//! for its first page gives up before the invocation's deadline.

use crate::support;

use std::time::Duration;

use support::*;
use tokio::time::Instant;
use vanta_vuln_sync::engine::{Continuer, SyncError, SyncOptions};
use vanta_vuln_sync::event::SyncEvent;
use vanta_vuln_sync::sink::s3::{Bucket, MIN_PART_BYTES};

/// Whether the multipart upload `id` of `key` is still open (its parts can
/// be listed).
async fn is_open(w: &World, key: &str, id: &str) -> bool {
    w.s3.list_parts()
        .bucket(BUCKET)
        .key(key)
        .upload_id(id)
        .send()
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_whose_completion_fails_is_aborted_and_overwrites_nothing() {
    let w = World::with_data(data(1, 1, 1)).await;
    let bucket = Bucket::new(w.s3.clone(), BUCKET);
    let key = format!("{PREFIX}/snapshots/x/part-00000-aaaaaaaa.parquet");
    bucket
        .put(
            &key,
            b"committed".to_vec(),
            "application/vnd.apache.parquet",
        )
        .await
        .unwrap();
    let mut upload = bucket.upload(key.clone(), MIN_PART_BYTES);
    upload.write(vec![7u8; MIN_PART_BYTES + 10]).await.unwrap();
    let id = upload
        .upload_id()
        .expect("a full part started a multipart upload")
        .to_owned();
    assert!(is_open(&w, &key, &id).await);
    upload.write(vec![8u8; 100]).await.unwrap();
    // The key exists: CompleteMultipartUpload (If-None-Match: *) fails.
    let e = upload.finish().await.unwrap_err();
    assert_eq!(e.operation, "CompleteMultipartUpload", "{e}");
    assert!(e.message.contains("already exists"), "{e}");
    assert!(
        !is_open(&w, &key, &id).await,
        "the failed upload was aborted"
    );
    assert_eq!(&w.get(&key).await.unwrap()[..], b"committed");

    // A small object (one PutObject) is not written over either.
    let mut upload = bucket.upload(key.clone(), MIN_PART_BYTES);
    upload.write(b"other".to_vec()).await.unwrap();
    let e = upload.finish().await.unwrap_err();
    assert_eq!(e.operation, "PutObject", "{e}");
    assert_eq!(&w.get(&key).await.unwrap()[..], b"committed");
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

/// Parts are sent in the background; a part that fails is not lost: its
/// error comes back from the next write or from `finish`, and nothing is
/// left behind (no object, no open upload).
#[tokio::test]
async fn a_part_that_fails_in_the_background_fails_the_upload() {
    let w = World::with_data(data(1, 1, 1)).await;
    let bucket = Bucket::new(w.s3.clone(), BUCKET);
    let key = format!("{PREFIX}/snapshots/x/part-00000-bbbbbbbb.parquet");
    let mut upload = bucket.upload(key.clone(), MIN_PART_BYTES);
    upload.write(vec![1u8; MIN_PART_BYTES + 1]).await.unwrap();
    let id = upload.upload_id().expect("a multipart upload").to_owned();
    // The upload disappears under the writer (as after a lifecycle rule's
    // abort): the part in flight or the next one is answered NoSuchUpload.
    w.s3.abort_multipart_upload()
        .bucket(BUCKET)
        .key(&key)
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let e = match upload.write(vec![2u8; MIN_PART_BYTES + 1]).await {
        Err(e) => e,
        Ok(()) => upload.finish().await.unwrap_err(),
    };
    assert_eq!(e.operation, "UploadPart", "{e}");
    assert!(e.message.contains("NoSuchUpload"), "{e}");
    assert!(w.get(&key).await.is_none(), "no object was created");
    assert!(!is_open(&w, &key, &id).await, "no upload left open");
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_first_page_before_the_deadline_fails_without_a_checkpoint() {
    let mut config = mock_vanta::Config {
        data: data(300, 100, 20),
        ..mock_vanta::Config::default()
    };
    // Every answer (the token's too) takes longer than the invocation has.
    config.faults.latency_ms = 10_000;
    let w = World::start(config).await;
    let engine = w.engine(
        "vcs_mock",
        SyncOptions {
            checkpoint_margin: Duration::ZERO,
            ..SyncOptions::default()
        },
    );
    let (continuer, queue) = Continuer::collector();
    let event = SyncEvent {
        as_of: Some(w.data.now),
        ..SyncEvent::default()
    };
    // The first page may be awaited until 5 s before the deadline.
    let deadline = Instant::now() + Duration::from_secs(6);
    let e = engine
        .run(&event, Some(deadline), &continuer)
        .await
        .unwrap_err();
    assert!(matches!(e, SyncError::Stalled { .. }), "{e}");
    assert!(queue.lock().unwrap().is_empty(), "no continuation");
    assert!(w.keys().await.is_empty(), "nothing written");
    w.vanta.shutdown().await;
    w.emulator.shutdown().await;
}
