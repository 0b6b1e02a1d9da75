//! S3 through the real aws-sdk-s3 client against the emulator's edge.

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use emulator::{Emulator, EmulatorConfig, EmulatorHandle};

async fn client(emu: &EmulatorHandle) -> aws_sdk_s3::Client {
    client_with_secret(emu, "test").await
}

async fn client_with_secret(emu: &EmulatorHandle, secret: &str) -> aws_sdk_s3::Client {
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(emu.endpoint_url())
        .region("us-east-1")
        .credentials_provider(Credentials::new("test", secret, None, None, "static"))
        .load()
        .await;
    let conf = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

#[tokio::test]
async fn objects_round_trip_through_the_sdk() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let s3 = client(&emu).await;

    s3.create_bucket()
        .bucket("vanta-vuln-data")
        .send()
        .await
        .unwrap();
    let buckets = s3.list_buckets().send().await.unwrap();
    assert_eq!(buckets.buckets()[0].name(), Some("vanta-vuln-data"));

    s3.put_object()
        .bucket("vanta-vuln-data")
        .key("snapshots/dt=2026-01-01/stats.json")
        .content_type("application/json")
        .body(ByteStream::from_static(b"{\"total\":3}"))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("vanta-vuln-data")
        .key("latest.json")
        .body(ByteStream::from_static(b"{}"))
        .send()
        .await
        .unwrap();

    let got = s3
        .get_object()
        .bucket("vanta-vuln-data")
        .key("snapshots/dt=2026-01-01/stats.json")
        .send()
        .await
        .unwrap();
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"{\"total\":3}");

    let head = s3
        .head_object()
        .bucket("vanta-vuln-data")
        .key("latest.json")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(2));
    {
        use aws_sdk_s3::operation::RequestId;
        assert!(head.request_id().is_some(), "x-amz-request-id missing");
    }
    assert!(head.e_tag().is_some());

    let listed = s3
        .list_objects_v2()
        .bucket("vanta-vuln-data")
        .prefix("snapshots/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["snapshots/dt=2026-01-01/stats.json"]);

    s3.delete_object()
        .bucket("vanta-vuln-data")
        .key("latest.json")
        .send()
        .await
        .unwrap();
    let err = s3
        .get_object()
        .bucket("vanta-vuln-data")
        .key("latest.json")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_no_such_key());

    let err = s3
        .get_object()
        .bucket("no-such-bucket")
        .key("k")
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("NoSuchBucket")
    );

    emu.shutdown().await;
}

#[tokio::test]
async fn multipart_upload_assembles_parts_in_order() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let s3 = client(&emu).await;
    s3.create_bucket()
        .bucket("parts-bucket")
        .send()
        .await
        .unwrap();

    let upload_id = start_upload(&s3, "parts-bucket", "part-0.parquet").await;
    // S3's minimum part size is 5 MiB for every part but the last.
    let part1 = vec![b'a'; 5 * 1024 * 1024];
    let part2 = b"tail".to_vec();
    let etags = upload_parts(
        &s3,
        "parts-bucket",
        "part-0.parquet",
        &upload_id,
        [part1.clone(), part2.clone()],
    )
    .await;
    let completed: Vec<_> = etags
        .iter()
        .zip(1..)
        .map(|(etag, n)| CompletedPart::builder().part_number(n).e_tag(etag).build())
        .collect();
    s3.complete_multipart_upload()
        .bucket("parts-bucket")
        .key("part-0.parquet")
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(completed))
                .build(),
        )
        .send()
        .await
        .unwrap();

    let got = s3
        .get_object()
        .bucket("parts-bucket")
        .key("part-0.parquet")
        .send()
        .await
        .unwrap();
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.len(), part1.len() + part2.len());
    assert!(body.ends_with(b"atail"));
    emu.shutdown().await;
}

#[tokio::test]
async fn a_wrong_secret_key_is_refused_like_aws() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let s3 = client_with_secret(&emu, "not-the-local-secret").await;
    let err = s3
        .create_bucket()
        .bucket("parts-bucket")
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("SignatureDoesNotMatch")
    );
    emu.shutdown().await;
}

/// Starts a multipart upload of `bucket`/`key`; its upload id.
async fn start_upload(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    s3.create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string()
}

/// Uploads `parts` as parts 1, 2, … of the upload `id`; their ETags.
async fn upload_parts(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    id: &str,
    parts: impl IntoIterator<Item = Vec<u8>>,
) -> Vec<String> {
    let mut etags = Vec::new();
    for (data, n) in parts.into_iter().zip(1..) {
        let out = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(data))
            .send()
            .await
            .unwrap();
        etags.push(out.e_tag().unwrap().to_string());
    }
    etags
}

/// Finds a file named `name` under `dir`.
fn find_file(dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.file_name().and_then(|n| n.to_str()) == Some(name) {
            return Some(path);
        }
        if path.is_dir() {
            if let Some(found) = find_file(&path, name) {
                return Some(found);
            }
        }
    }
    None
}

/// CompleteMultipartUpload checks each part's ETag against the MD5 taken
/// when the part arrived, and hashes a part again only when its bytes are
/// no longer the ones that MD5 describes.
#[tokio::test]
async fn part_etags_are_checked_against_the_bytes_that_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(EmulatorConfig {
        state_dir: Some(dir.path().join("s3")),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let s3 = client(&emu).await;
    s3.create_bucket().bucket("etags").send().await.unwrap();
    let upload_id = start_upload(&s3, "etags", "k").await;
    let etags = upload_parts(
        &s3,
        "etags",
        "k",
        &upload_id,
        [vec![b'a'; 5 * 1024 * 1024], b"tail".to_vec()],
    )
    .await;
    let complete = |second: &str| {
        s3.complete_multipart_upload()
            .bucket("etags")
            .key("k")
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(
                        CompletedPart::builder()
                            .part_number(1)
                            .e_tag(&etags[0])
                            .build(),
                    )
                    .parts(
                        CompletedPart::builder()
                            .part_number(2)
                            .e_tag(second)
                            .build(),
                    )
                    .build(),
            )
            .send()
    };
    let invalid_part = |e: aws_sdk_s3::error::SdkError<_, _>| {
        let e = e.into_service_error();
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e).map(str::to_owned)
    };
    // A wrong ETag for a part whose MD5 was recorded on arrival.
    let wrong = "\"0123456789abcdef0123456789abcdef\"";
    let e = complete(wrong).await.unwrap_err();
    assert_eq!(invalid_part(e).as_deref(), Some("InvalidPart"));
    // The part's bytes changed on disk after the MD5 was recorded: the
    // part is hashed again, and its ETag no longer matches.
    let part =
        find_file(dir.path(), &format!(".upload_id-{upload_id}.part-2")).expect("the part's file");
    std::fs::write(&part, b"tale").unwrap();
    let e = complete(&etags[1]).await.unwrap_err();
    assert_eq!(invalid_part(e).as_deref(), Some("InvalidPart"));
    std::fs::write(&part, b"tail").unwrap();
    complete(&etags[1]).await.unwrap();
    let got = s3
        .get_object()
        .bucket("etags")
        .key("k")
        .send()
        .await
        .unwrap();
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.len(), 5 * 1024 * 1024 + 4);
    assert!(body.ends_with(b"atail"));
    emu.shutdown().await;
}

#[tokio::test]
async fn state_dir_keeps_objects_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EmulatorConfig {
        state_dir: Some(dir.path().join("s3")),
        ..EmulatorConfig::default()
    };
    let emu = Emulator::start(cfg.clone()).await.unwrap();
    let s3 = client(&emu).await;
    s3.create_bucket().bucket("kept").send().await.unwrap();
    s3.put_object()
        .bucket("kept")
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .unwrap();
    emu.shutdown().await;

    let emu = Emulator::start(cfg).await.unwrap();
    let s3 = client(&emu).await;
    let got = s3
        .get_object()
        .bucket("kept")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(&got.body.collect().await.unwrap().into_bytes()[..], b"v");
    emu.shutdown().await;
}

#[tokio::test]
async fn fault_rate_one_answers_every_request_with_internal_error_or_slow_down() {
    let cfg = EmulatorConfig {
        s3_fault_rate: 1.0,
        ..EmulatorConfig::default()
    };
    let emu = Emulator::start(cfg).await.unwrap();
    // Retries off so each answer is seen as sent.
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(emu.endpoint_url())
        .region("us-east-1")
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .build(),
    );
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let err = s3
            .create_bucket()
            .bucket("parts-bucket")
            .send()
            .await
            .unwrap_err();
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&err.into_service_error())
            .map(str::to_string);
        match (status, code.as_deref()) {
            (Some(500), Some("InternalError")) | (Some(503), Some("SlowDown")) => {}
            other => panic!("unexpected fault answer {other:?}"),
        }
        seen.insert(status);
    }
    assert_eq!(seen.len(), 2, "both fault kinds appear over 40 requests");
    emu.shutdown().await;
}

#[tokio::test]
async fn temporary_state_is_removed_at_shutdown() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let s3 = client(&emu).await;
    s3.create_bucket().bucket("gone").send().await.unwrap();
    let before: Vec<_> = temp_dirs();
    assert!(!before.is_empty());
    emu.shutdown().await;
    // Only this test creates a bucket named "gone", so these dirs are ours.
    for dir in before {
        assert!(!dir.exists(), "{} survived shutdown", dir.display());
    }
}

/// Stores with a bucket "gone" in either place a temporary store may be
/// (`/dev/shm` when it is a roomy tmpfs, else the temporary directory).
fn temp_dirs() -> Vec<std::path::PathBuf> {
    [std::env::temp_dir(), "/dev/shm".into()]
        .into_iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("emulator-s3-"))
                && p.join("gone").exists()
        })
        .collect()
}

#[tokio::test]
async fn writing_into_a_missing_bucket_is_no_such_bucket() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let s3 = client(&emu).await;
    let err = s3
        .put_object()
        .bucket("never-created")
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("NoSuchBucket")
    );
    let err = s3
        .head_bucket()
        .bucket("never-created")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_not_found());
    emu.shutdown().await;
}

#[tokio::test]
async fn listing_pages_delimits_and_reads_ranges() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let s3 = client(&emu).await;
    s3.create_bucket()
        .bucket("list-bucket")
        .send()
        .await
        .unwrap();
    for key in [
        "snapshots/dt=2026-01-01/a.parquet",
        "snapshots/dt=2026-01-01/b.parquet",
        "snapshots/dt=2026-01-02/a.parquet",
        "latest.json",
        "z.txt",
    ] {
        s3.put_object()
            .bucket("list-bucket")
            .key(key)
            .body(ByteStream::from_static(b"0123456789"))
            .send()
            .await
            .unwrap();
    }

    let mut token = None;
    let mut keys = Vec::new();
    loop {
        let page = s3
            .list_objects_v2()
            .bucket("list-bucket")
            .max_keys(2)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        assert!(page.contents().len() <= 2);
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key())
                .map(str::to_string),
        );
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            assert_eq!(page.is_truncated(), Some(false));
            break;
        }
    }
    assert_eq!(keys.len(), 5);
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");

    let delimited = s3
        .list_objects_v2()
        .bucket("list-bucket")
        .prefix("snapshots/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = delimited
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(
        prefixes,
        ["snapshots/dt=2026-01-01/", "snapshots/dt=2026-01-02/"]
    );

    let ranged = s3
        .get_object()
        .bucket("list-bucket")
        .key("z.txt")
        .range("bytes=2-4")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &ranged.body.collect().await.unwrap().into_bytes()[..],
        b"234"
    );

    let err = s3
        .head_object()
        .bucket("list-bucket")
        .key("missing")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_not_found());

    s3.copy_object()
        .bucket("list-bucket")
        .key("copy.txt")
        .copy_source("list-bucket/z.txt")
        .send()
        .await
        .unwrap();
    let copied = s3
        .get_object()
        .bucket("list-bucket")
        .key("copy.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &copied.body.collect().await.unwrap().into_bytes()[..],
        b"0123456789"
    );
    let v1 = s3
        .list_objects()
        .bucket("list-bucket")
        .prefix("copy")
        .send()
        .await
        .unwrap();
    assert_eq!(v1.contents().len(), 1);

    // Deleting a missing key succeeds, as on AWS.
    s3.delete_object()
        .bucket("list-bucket")
        .key("missing")
        .send()
        .await
        .unwrap();
    emu.shutdown().await;
}

#[tokio::test]
async fn start_refuses_bad_addresses_functions_and_state_dirs() {
    let err = Emulator::start(EmulatorConfig {
        addr: "0.0.0.0:0".parse().unwrap(),
        ..EmulatorConfig::default()
    })
    .await
    .expect_err("a non-loopback address must be refused");
    assert!(matches!(err, emulator::Error::NotLoopback(_)), "{err}");

    for (spec, needle) in [
        (
            emulator::lambda::FunctionSpec::new("has space", "/bin/true"),
            "letters",
        ),
        (
            {
                let mut f = emulator::lambda::FunctionSpec::new("tiny", "/bin/true");
                f.memory_mb = 64;
                f
            },
            "MemorySize",
        ),
    ] {
        let err = Emulator::start(EmulatorConfig {
            functions: vec![spec],
            ..EmulatorConfig::default()
        })
        .await
        .expect_err("an invalid function must be refused");
        assert!(err.to_string().contains(needle), "{err}");
    }
    let twice = vec![
        emulator::lambda::FunctionSpec::new("f", "/bin/true"),
        emulator::lambda::FunctionSpec::new("f", "/bin/false"),
    ];
    let err = Emulator::start(EmulatorConfig {
        functions: twice,
        ..EmulatorConfig::default()
    })
    .await
    .expect_err("a name defined twice must be refused");
    assert!(err.to_string().contains("twice"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = Emulator::start(EmulatorConfig {
        state_dir: Some(file),
        ..EmulatorConfig::default()
    })
    .await
    .expect_err("a file is not a state directory");
    assert!(matches!(err, emulator::Error::StateDir { .. }), "{err}");
    assert!(err.to_string().contains("a-file"), "{err}");
}

#[tokio::test]
async fn virtual_hosted_style_works_under_localhost() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let s3 = client(&emu).await;
    s3.create_bucket()
        .bucket("vhost-bucket")
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("vhost-bucket")
        .key("dir/k.txt")
        .body(ByteStream::from_static(b"via path style"))
        .send()
        .await
        .unwrap();
    // The SDK signs for the host it talks to; a virtual-hosted request with
    // a raw socket and no signature is anonymous, so S3 answers AccessDenied
    // for it: the point is that the bucket comes from the Host header (a
    // missing bucket would be NoSuchBucket, a wrong parse InvalidBucketName).
    let addr = emu.endpoint_url().trim_start_matches("http://").to_string();
    let port = addr.rsplit(':').next().unwrap().to_string();
    let ask = |host: String| {
        let addr = addr.clone();
        async move {
            let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let req =
                format!("GET /dir/k.txt HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            stream.write_all(req.as_bytes()).await.unwrap();
            let mut out = String::new();
            stream.read_to_string(&mut out).await.unwrap();
            out
        }
    };
    let found = ask(format!("vhost-bucket.localhost:{port}")).await;
    assert!(found.contains("AccessDenied"), "{found}");
    let missing = ask(format!("no-such-bucket.localhost:{port}")).await;
    assert!(missing.contains("NoSuchBucket"), "{missing}");
    emu.shutdown().await;
}

#[tokio::test]
async fn an_aborted_multipart_upload_cannot_complete() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let s3 = client(&emu).await;
    s3.create_bucket()
        .bucket("abort-bucket")
        .send()
        .await
        .unwrap();
    let upload = s3
        .create_multipart_upload()
        .bucket("abort-bucket")
        .key("k")
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap().to_string();
    let part = s3
        .upload_part()
        .bucket("abort-bucket")
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"only part"))
        .send()
        .await
        .unwrap();
    s3.abort_multipart_upload()
        .bucket("abort-bucket")
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let err = s3
        .complete_multipart_upload()
        .bucket("abort-bucket")
        .key("k")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("NoSuchUpload")
    );
    let err = s3
        .head_object()
        .bucket("abort-bucket")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_not_found());
    emu.shutdown().await;
}

#[tokio::test]
async fn parts_below_5_mib_except_the_last_are_entity_too_small() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let s3 = client(&emu).await;
    s3.create_bucket()
        .bucket("small-parts")
        .send()
        .await
        .unwrap();
    let id = start_upload(&s3, "small-parts", "k").await;
    let mut parts = Vec::new();
    for n in 1..=2 {
        let out = s3
            .upload_part()
            .bucket("small-parts")
            .key("k")
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from_static(b"too small"))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .build(),
        );
    }
    let err = s3
        .complete_multipart_upload()
        .bucket("small-parts")
        .key("k")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err),
        Some("EntityTooSmall")
    );
    // As on AWS the upload survives the refusal, so it can still be aborted.
    s3.abort_multipart_upload()
        .bucket("small-parts")
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    emu.shutdown().await;
}

/// The members botocore's S3 model gives a listing entry (`Object`) that S3
/// always writes, and those of the listing itself; `Owner` (`ID`,
/// `DisplayName`) only when asked for in V2, always in V1.
#[tokio::test]
async fn listings_carry_every_member_s3_writes() {
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let s3 = client(&emu).await;
    s3.create_bucket().bucket("shapes").send().await.unwrap();
    let put = s3
        .put_object()
        .bucket("shapes")
        .key("a.txt")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap().to_string();

    let check = |o: &aws_sdk_s3::types::Object| {
        assert_eq!(o.key(), Some("a.txt"));
        assert!(o.last_modified().is_some(), "LastModified");
        assert_eq!(o.e_tag(), Some(etag.as_str()), "ETag");
        assert_eq!(o.size(), Some(5), "Size");
        assert_eq!(
            o.storage_class(),
            Some(&aws_sdk_s3::types::ObjectStorageClass::Standard),
            "StorageClass"
        );
    };
    let v2 = s3.list_objects_v2().bucket("shapes").send().await.unwrap();
    assert_eq!(v2.name(), Some("shapes"));
    assert_eq!(v2.key_count(), Some(1));
    assert_eq!(v2.max_keys(), Some(1000));
    assert_eq!(v2.is_truncated(), Some(false));
    check(&v2.contents()[0]);
    assert!(
        v2.contents()[0].owner().is_none(),
        "Owner only with fetch-owner"
    );

    let owned = s3
        .list_objects_v2()
        .bucket("shapes")
        .fetch_owner(true)
        .send()
        .await
        .unwrap();
    let owner = owned.contents()[0].owner().expect("Owner with fetch-owner");
    assert_eq!(owner.id().map(str::len), Some(64), "canonical user id");
    assert!(owner.display_name().is_some());

    let v1 = s3
        .list_objects()
        .bucket("shapes")
        .marker("0")
        .send()
        .await
        .unwrap();
    assert_eq!(v1.name(), Some("shapes"));
    assert_eq!(v1.marker(), Some("0"));
    assert_eq!(v1.is_truncated(), Some(false));
    check(&v1.contents()[0]);
    assert!(
        v1.contents()[0].owner().is_some(),
        "V1 always names the Owner"
    );
    emu.shutdown().await;
}

/// A part is hashed with the checksum its request names, whether in a
/// header or as a trailer announced by `x-amz-trailer` (the SDK's
/// aws-chunked body without a payload signature), and answered with it; a
/// part with neither gets no checksum in its answer.
#[tokio::test]
async fn a_part_is_answered_with_the_checksum_its_request_names() {
    use aws_sdk_s3::types::ChecksumAlgorithm;
    let emu = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let s3 = client(&emu).await;
    s3.create_bucket().bucket("sums").send().await.unwrap();
    let upload = s3
        .create_multipart_upload()
        .bucket("sums")
        .key("k")
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let body = b"the part's bytes".repeat(1000);
    let crc32c = {
        let mut h = s3s::crypto::Crc32c::default();
        s3s::crypto::Checksum::update(&mut h, &body);
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            s3s::crypto::Checksum::finalize(h),
        )
    };
    for (number, unsigned) in [(1, false), (2, true)] {
        let req = s3
            .upload_part()
            .bucket("sums")
            .key("k")
            .upload_id(id)
            .part_number(number)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .body(ByteStream::from(body.clone()));
        let out = if unsigned {
            req.customize().disable_payload_signing().send().await
        } else {
            req.send().await
        }
        .unwrap();
        assert_eq!(
            out.checksum_crc32_c(),
            Some(crc32c.as_str()),
            "part {number}"
        );
        assert_eq!(out.checksum_crc64_nvme(), None, "part {number}");
    }
    emu.shutdown().await;
}
