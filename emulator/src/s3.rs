//! S3 through the `s3s` crate: `s3s` speaks the wire protocol (routing, XML,
//! SigV4, aws-chunked bodies), [`store`] keeps objects with S3's consistency
//! promises (atomic writes, checksums that match the bytes served,
//! read-after-write, atomic conditional writes) and `s3s-fs` stores buckets,
//! parts and listings as files under the state directory. This module adds
//! what AWS's endpoint does around that: authentication with the local
//! credentials (or those of `--credentials`), S3's size limits, and the
//! injected 500 InternalError / 503 SlowDown answers of `--s3-fault-rate`.
//!
//! Bodies stream both ways: a PutObject or UploadPart goes from the socket
//! to a file and a GetObject from the file to the socket, so an object of
//! any size passes through in constant memory. Only the XML body of a
//! CompleteMultipartUpload is read whole (within `s3s`'s own 20 MB limit),
//! because its part list is checked before `s3s-fs` sees it.
//!
//! Path-style addressing (`http://127.0.0.1:PORT/bucket/key`) is what the
//! SDKs use against a custom endpoint with `force_path_style`; clients that
//! insist on virtual-hosted style can use `http://bucket.localhost:PORT/key`.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use s3s::auth::{S3Auth, SecretKey};
use s3s::host::{S3Host, VirtualHost};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{Body, S3Result};

use crate::access::Credentials;
use crate::awsjson::new_request_id;
use crate::limits::{self, BodyError};
use crate::Error;

mod store;

/// The secret key every local access key signs with (`AWS_SECRET_ACCESS_KEY=test`).
pub const LOCAL_SECRET_KEY: &str = "test";

/// Accepts any access key whose requests are signed with the secret
/// [`LOCAL_SECRET_KEY`]: like LocalStack, the key id is not checked, so
/// `AWS_ACCESS_KEY_ID` may be anything; a wrong secret gets AWS's
/// `SignatureDoesNotMatch`.
struct LocalAuth;

#[async_trait::async_trait]
impl S3Auth for LocalAuth {
    async fn get_secret_key(&self, _access_key: &str) -> S3Result<SecretKey> {
        Ok(SecretKey::from(LOCAL_SECRET_KEY))
    }
}

/// The one key pair of `--credentials`. Another key id is 403
/// `InvalidAccessKeyId`, as on S3 (`s3s`'s `SimpleAuth` answers
/// `NotSignedUp`); a wrong secret `SignatureDoesNotMatch`.
struct CheckedAuth(Credentials);

#[async_trait::async_trait]
impl S3Auth for CheckedAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == self.0.access_key_id {
            Ok(SecretKey::from(self.0.secret_access_key.clone()))
        } else {
            Err(s3s::s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            ))
        }
    }
}

/// Virtual-hosted style under `localhost` (`bucket.localhost:PORT`, which
/// resolves to loopback); every other host is path-style.
struct LocalHost;

impl S3Host for LocalHost {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(match virtual_host_bucket(host) {
            Some(bucket) => VirtualHost::new("localhost").with_bucket(bucket),
            None => VirtualHost::new(host),
        })
    }
}

/// `bucket` of a `bucket.localhost[:port]` Host header.
fn virtual_host_bucket(host: &str) -> Option<&str> {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    name.strip_suffix(".localhost").filter(|b| !b.is_empty())
}

/// The S3 service behind the edge.
pub(crate) struct S3Frontend {
    service: S3Service,
    fault_rate: f64,
    root: PathBuf,
}

impl S3Frontend {
    /// Serves buckets stored under `root` (created when missing); a fraction
    /// `fault_rate` (0..=1) of requests fails with 500 or 503. With
    /// `credentials`, requests must be signed with that key pair; without,
    /// with any key id and the secret [`LOCAL_SECRET_KEY`].
    pub(crate) fn new(
        root: &Path,
        fault_rate: f64,
        credentials: Option<&Credentials>,
    ) -> Result<Self, Error> {
        let state_err = |message: String| Error::StateDir {
            path: root.to_path_buf(),
            message,
        };
        std::fs::create_dir_all(root).map_err(|e| state_err(e.to_string()))?;
        let store = store::Store::new(root).map_err(state_err)?;
        let mut builder = S3ServiceBuilder::new(store);
        match credentials {
            Some(c) => builder.set_auth(CheckedAuth(c.clone())),
            None => builder.set_auth(LocalAuth),
        }
        builder.set_host(LocalHost);
        Ok(Self {
            service: builder.build(),
            fault_rate: fault_rate.clamp(0.0, 1.0),
            root: root.to_path_buf(),
        })
    }

    /// Answers one S3 request, streaming its body.
    pub(crate) async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let head = req.method() == http::Method::HEAD;
        if self.fault_rate > 0.0 && fastrand::f64() < self.fault_rate {
            return if fastrand::bool() {
                s3_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                    head,
                )
            } else {
                s3_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SlowDown",
                    "Please reduce your request rate.",
                    head,
                )
            };
        }
        if let Some(bucket) = self.missing_bucket(&req) {
            return no_such_bucket(&bucket, head);
        }
        let target = Target::of(&req);
        if self.unknown_upload(&req) {
            return s3_error_naming(
                StatusCode::NOT_FOUND,
                "NoSuchUpload",
                "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
                &target.element("NoSuchUpload"),
                head,
            );
        }
        if limits::declared_length(req.headers()).is_some_and(|n| n > limits::S3_OBJECT) {
            return s3_error(
                StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size (5 GB in a single PUT; use a multipart upload).",
                head,
            );
        }
        let req = match completion_upload_id(&req).map(str::to_string) {
            Some(id) => {
                let (parts, body) = req.into_parts();
                let body = match limits::read_limited(&parts.headers, body, limits::S3_XML).await {
                    Ok(body) => body,
                    Err(BodyError::TooLarge { .. }) => {
                        return s3_error(
                            StatusCode::BAD_REQUEST,
                            "MaxMessageLengthExceeded",
                            "Your request was too big.",
                            false,
                        )
                    }
                    Err(BodyError::Read(e)) => {
                        return s3_error(
                            StatusCode::BAD_REQUEST,
                            "IncompleteBody",
                            &format!("The request body could not be read: {e}"),
                            false,
                        )
                    }
                };
                if let Some(resp) = self.check_completion(&id, &body) {
                    return resp;
                }
                Request::from_parts(parts, Body::from(body))
            }
            // A body longer than it may be fails as it streams.
            None => req.map(|b| {
                Body::http_body_unsync(http_body_util::Limited::new(b, limits::S3_OBJECT as usize))
            }),
        };
        match self.service.call(req).await {
            Ok(resp)
                if (resp.status().is_client_error() || resp.status().is_server_error())
                    && !head =>
            {
                reshape_error(resp, &target).await
            }
            Ok(mut resp) => {
                with_request_id(&mut resp);
                resp
            }
            Err(e) => s3_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                &format!("We encountered an internal error. Please try again. ({e:?})"),
                head,
            ),
        }
    }
}

/// The bucket, key and upload id a request names, for the error bodies
/// that name them.
struct Target {
    bucket: String,
    key: String,
    upload_id: Option<String>,
}

impl Target {
    fn of<B>(req: &Request<B>) -> Self {
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let path = req.uri().path().trim_start_matches('/');
        let (bucket, key) = match virtual_host_bucket(host) {
            Some(bucket) => (bucket, path),
            None => path.split_once('/').unwrap_or((path, "")),
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        Self {
            bucket: decode(bucket),
            key: decode(key),
            upload_id: req
                .uri()
                .query()
                .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("uploadId=")))
                .map(decode),
        }
    }

    /// The element S3 adds to the error `code` (escaped XML), if any.
    fn element(&self, code: &str) -> String {
        match code {
            "NoSuchKey" => format!("<Key>{}</Key>", xml_escape(&self.key)),
            "NoSuchBucket" => format!("<BucketName>{}</BucketName>", xml_escape(&self.bucket)),
            "NoSuchUpload" => self
                .upload_id
                .as_deref()
                .map(|id| format!("<UploadId>{}</UploadId>", xml_escape(id)))
                .unwrap_or_default(),
            _ => String::new(),
        }
    }
}

/// An error `s3s` wrote (`<Error><Code>…<Message>…<RequestId>…`) in the
/// shape S3 writes it: with the resource it names (`Key`, `BucketName`,
/// `UploadId`), a `Message` always, and `RequestId` and `HostId` equal to
/// the `x-amz-request-id` and `x-amz-id-2` headers.
async fn reshape_error(resp: Response<Body>, target: &Target) -> Response<Body> {
    use http_body_util::BodyExt;
    let (parts, body) = resp.into_parts();
    let bytes = match http_body_util::Limited::new(body, 64 * 1024)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let text = String::from_utf8_lossy(&bytes);
    let between = |open: &str, close: &str| {
        let start = text.find(open)? + open.len();
        let len = text[start..].find(close)?;
        Some(text[start..start + len].to_string())
    };
    let Some(code) = between("<Code>", "</Code>") else {
        let mut resp = Response::from_parts(parts, Body::from(bytes));
        with_request_id(&mut resp);
        return resp;
    };
    // Already escaped, as s3s wrote it.
    let message =
        between("<Message>", "</Message>").unwrap_or_else(|| xml_escape(&default_message(&code)));
    let request_id = new_request_id();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>{}<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>",
        target.element(&code)
    );
    let mut resp = Response::from_parts(parts, Body::from(Bytes::from(body)));
    let headers = resp.headers_mut();
    headers.remove(http::header::CONTENT_LENGTH);
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&request_id) {
        headers.insert("x-amz-id-2", v.clone());
        headers.insert("x-amz-request-id", v);
    }
    resp
}

/// S3's message for an error `s3s` raised without one.
fn default_message(code: &str) -> String {
    match code {
        "NoSuchKey" => "The specified key does not exist.",
        "NoSuchBucket" => "The specified bucket does not exist",
        "NoSuchUpload" => "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        "BucketAlreadyOwnedByYou" => "Your previous request to create the named bucket succeeded and you already own it.",
        "BucketNotEmpty" => "The bucket you tried to delete is not empty",
        "PreconditionFailed" => "At least one of the pre-conditions you specified did not hold",
        "InvalidRange" => "The requested range is not satisfiable",
        "AccessDenied" => "Access Denied",
        _ => code,
    }
    .to_string()
}

/// The `uploadId` of a CompleteMultipartUpload (POST with an upload id).
fn completion_upload_id<B>(req: &Request<B>) -> Option<&str> {
    if req.method() != http::Method::POST {
        return None;
    }
    req.uri()
        .query()?
        .split('&')
        .find_map(|p| p.strip_prefix("uploadId="))
}

impl S3Frontend {
    /// The bucket a request names when that bucket does not exist.
    /// `s3s-fs` would create a missing bucket's directory on PutObject and
    /// answers NoSuchKey for GetObject there; AWS answers NoSuchBucket.
    fn missing_bucket<B>(&self, req: &Request<B>) -> Option<String> {
        let path = req.uri().path().trim_start_matches('/');
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let (bucket, key) = match virtual_host_bucket(host) {
            Some(bucket) => (bucket, path),
            None => path.split_once('/').unwrap_or((path, "")),
        };
        let plausible = bucket.len() >= 3
            && bucket.len() <= 63
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && !bucket.starts_with('.');
        if !plausible {
            return None;
        }
        let creates_bucket = req.method() == http::Method::PUT
            && key.is_empty()
            && req.uri().query().is_none_or(str::is_empty);
        if creates_bucket || self.root.join(bucket).is_dir() {
            return None;
        }
        Some(bucket.to_string())
    }
}

impl S3Frontend {
    /// Whether the request names an `uploadId` that is not (or no longer)
    /// in progress. `s3s-fs` answers those with 403 AccessDenied; AWS with
    /// 404 NoSuchUpload, which is what clients retry or give up on.
    fn unknown_upload<B>(&self, req: &Request<B>) -> bool {
        let Some(id) = req
            .uri()
            .query()
            .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("uploadId=")))
        else {
            return false;
        };
        let plausible = !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        // s3s-fs keeps one `.upload-<id>.json` per upload in progress.
        !plausible || !self.root.join(format!(".upload-{id}.json")).is_file()
    }
}

impl S3Frontend {
    /// Validates a CompleteMultipartUpload's part list the way S3 does before
    /// anything is assembled. `s3s-fs` checks part sizes only while
    /// assembling, after it has already discarded the upload, so a client
    /// could no longer abort it; S3 keeps the upload on these errors.
    fn check_completion(&self, id: &str, body: &Bytes) -> Option<Response<Body>> {
        let body = std::str::from_utf8(body).ok()?;
        let numbers: Vec<u32> = body
            .split("<PartNumber>")
            .skip(1)
            .filter_map(|rest| rest.split('<').next()?.trim().parse().ok())
            .collect();
        if numbers.is_empty() {
            return None;
        }
        if numbers.windows(2).any(|w| w[0] >= w[1]) {
            return Some(s3_error(
                StatusCode::BAD_REQUEST,
                "InvalidPartOrder",
                "The list of parts was not in ascending order. Parts must be ordered by part number.",
                false,
            ));
        }
        let last = numbers.len() - 1;
        for (i, n) in numbers.iter().enumerate() {
            let part = self.root.join(format!(".upload_id-{id}.part-{n}"));
            let Ok(meta) = std::fs::metadata(&part) else {
                return Some(s3_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidPart",
                    "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
                    false,
                ));
            };
            if i != last && meta.len() < 5 * 1024 * 1024 {
                return Some(s3_error(
                    StatusCode::BAD_REQUEST,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed object size.",
                    false,
                ));
            }
        }
        None
    }
}

fn no_such_bucket(bucket: &str, head: bool) -> Response<Body> {
    let request_id = new_request_id();
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><BucketName>{bucket}</BucketName><RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
        ))
    };
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .header("content-type", "application/xml")
        .header("x-amz-request-id", &request_id)
        .header("x-amz-id-2", &request_id)
        .body(Body::from(body))
        .expect("static response parts are valid")
}

/// S3 answers every request with `x-amz-request-id` and `x-amz-id-2` (the
/// SDK exposes them as `request_id()` / `extended_request_id()`).
fn with_request_id(resp: &mut Response<Body>) {
    if resp.headers().contains_key("x-amz-request-id") {
        return;
    }
    let id = new_request_id();
    if let Ok(v) = http::HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-amz-id-2", v.clone());
        resp.headers_mut().insert("x-amz-request-id", v);
    }
}

/// An S3 error answer, for refusals made before S3 is reached.
pub(crate) fn error_response(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    s3_error(status, code, message, false)
}

/// An error in S3's XML shape (`<Error><Code>…`), with the request id headers
/// S3 always sends. HEAD answers carry no body, as on AWS.
fn s3_error(status: StatusCode, code: &str, message: &str, head: bool) -> Response<Body> {
    s3_error_naming(status, code, message, "", head)
}

/// [`s3_error`] with `extra` (escaped XML: the resource the error names)
/// after the message, as S3 writes it.
fn s3_error_naming(
    status: StatusCode,
    code: &str,
    message: &str,
    extra: &str,
    head: bool,
) -> Response<Body> {
    let request_id = new_request_id();
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message>{extra}<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>",
            xml_escape(message)
        ))
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .header("x-amz-request-id", &request_id)
        .header("x-amz-id-2", &request_id)
        .body(Body::from(body))
        .expect("static response parts are valid")
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
