//! Part files' bodies are signed over plain HTTP and sent as
//! `UNSIGNED-PAYLOAD` over TLS, with a CRC32 checksum either way: the
//! requests the real SDK puts on the wire, recorded by an HTTP client that
//! answers as S3 would.

use std::sync::{Arc, Mutex};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use vanta_vuln_sync::sink::s3::{Bucket, MIN_PART_BYTES};

/// One request as sent: method, URI, `x-amz-content-sha256`, and whether it
/// carried a CRC32 checksum (as a header or announced as a trailer).
#[derive(Debug, Clone)]
struct Sent {
    method: String,
    uri: String,
    content_sha256: Option<String>,
    crc32: bool,
}

/// Records every request and answers it as S3 does.
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Sent>>>);

impl HttpConnector for Recorder {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let h = request.headers();
        let sent = Sent {
            method: request.method().to_string(),
            uri: request.uri().to_string(),
            content_sha256: h.get("x-amz-content-sha256").map(str::to_owned),
            crc32: h.get("x-amz-checksum-crc32").is_some()
                || h.get("x-amz-trailer")
                    .is_some_and(|t| t.eq_ignore_ascii_case("x-amz-checksum-crc32")),
        };
        let body = if sent.uri.ends_with("?uploads") {
            "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u-1</UploadId></InitiateMultipartUploadResult>"
        } else if sent.method == "POST" {
            "<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>\"e-2\"</ETag></CompleteMultipartUploadResult>"
        } else {
            ""
        };
        self.0.lock().unwrap().push(sent);
        let mut response = HttpResponse::new(200.try_into().unwrap(), SdkBody::from(body));
        response.headers_mut().insert("ETag", "\"e-1\"");
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl HttpClient for Recorder {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// A multipart part file and a small one, written through `Bucket` as the
/// sync writes them; the requests that carried a body.
async fn write_parts(endpoint: &str, unsigned: bool) -> Vec<Sent> {
    let recorder = Recorder::default();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .http_client(recorder.clone())
        .build();
    let mut bucket = Bucket::new(aws_sdk_s3::Client::from_conf(config), "b");
    if unsigned {
        bucket = bucket.unsigned_payloads();
    }
    let mut upload = bucket.upload("big.parquet", MIN_PART_BYTES);
    upload.write(vec![1; MIN_PART_BYTES + 1]).await.unwrap();
    upload.write(vec![2; 10]).await.unwrap();
    upload.finish().await.unwrap();
    let mut small = bucket.upload("small.parquet", MIN_PART_BYTES);
    small.write(vec![3; 10]).await.unwrap();
    small.finish().await.unwrap();
    let sent = recorder.0.lock().unwrap().clone();
    sent.into_iter().filter(|s| s.method == "PUT").collect()
}

#[tokio::test]
async fn bodies_are_unsigned_over_tls_and_signed_over_plain_http() {
    let tls = write_parts("https://s3.us-east-1.amazonaws.com", true).await;
    // Two UploadParts and one PutObject.
    assert_eq!(tls.len(), 3, "{tls:?}");
    for s in &tls {
        let sha = s.content_sha256.as_deref().unwrap_or_default();
        assert!(sha.contains("UNSIGNED-PAYLOAD"), "{s:?}");
        assert!(s.crc32, "integrity still checked by S3: {s:?}");
    }
    let plain = write_parts("http://127.0.0.1:9", false).await;
    assert_eq!(plain.len(), 3, "{plain:?}");
    for s in &plain {
        let sha = s.content_sha256.as_deref().unwrap_or_default();
        assert!(
            sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
            "a signed body's SHA-256: {s:?}"
        );
        assert!(s.crc32, "{s:?}");
    }
}
