//! The largest request body each API accepts, as AWS sets them, and reading
//! a body within such a bound. Only S3 object bodies are unbounded in
//! memory, because they are streamed to disk instead of read here.

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::BodyExt;

/// A synchronous Invoke's payload (6 MB), and any other Lambda request.
pub(crate) const LAMBDA_REQUEST: u64 = 6 * 1024 * 1024;
/// An asynchronous (`Event`) Invoke's payload: 1 MB (1,048,576 bytes)
/// since October 2025, when Lambda raised it from 256 KB.
pub(crate) const LAMBDA_EVENT: u64 = 1024 * 1024;
/// A CloudWatch Logs or Secrets Manager request. PutLogEvents batches are
/// at most 1 MB of events and a secret value 64 KB; this leaves room for
/// the JSON around them.
pub(crate) const JSON_API_REQUEST: u64 = 4 * 1024 * 1024;
/// A single PutObject or UploadPart (5 GB).
pub(crate) const S3_OBJECT: u64 = 5 * 1024 * 1024 * 1024;
/// An S3 request with an XML body (CompleteMultipartUpload, DeleteObjects):
/// what `s3s` itself accepts.
pub(crate) const S3_XML: u64 = 20 * 1024 * 1024;

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Longer than the limit (by its `Content-Length` or as it arrived).
    TooLarge { limit: u64 },
    /// The connection failed while the body arrived.
    Read(String),
}

/// The declared length of a body: `Content-Length`, or for aws-chunked
/// uploads `x-amz-decoded-content-length`, whichever is larger.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    ["content-length", "x-amz-decoded-content-length"]
        .iter()
        .filter_map(|h| headers.get(*h)?.to_str().ok()?.trim().parse::<u64>().ok())
        .max()
}

/// How much of an over-limit body is read and discarded before the error
/// is sent, so that a client still sending gets to read the answer instead
/// of a reset connection. Beyond it the connection is simply closed.
const DRAIN_MAX: u64 = 64 * 1024 * 1024;

/// Reads a whole body of at most `limit` bytes; a longer one is refused
/// as soon as its length is known, and never held in memory.
pub(crate) async fn read_limited<B>(
    headers: &HeaderMap,
    mut body: B,
    limit: u64,
) -> Result<Bytes, BodyError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let declared = declared_length(headers);
    if declared.is_some_and(|n| n > limit) {
        if declared.is_some_and(|n| n <= DRAIN_MAX) {
            discard(&mut body, DRAIN_MAX).await;
        }
        return Err(BodyError::TooLarge { limit });
    }
    let mut out = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if (out.len() + data.len()) as u64 > limit {
                discard(&mut body, DRAIN_MAX).await;
                return Err(BodyError::TooLarge { limit });
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out.freeze())
}

/// Reads and drops up to `max` bytes of what is left of `body`.
async fn discard<B>(body: &mut B, max: u64)
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    let mut seen = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            seen += data.len() as u64;
            if seen > max {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused() {
        let headers = HeaderMap::new();
        let ok = read_limited(&headers, Full::new(Bytes::from_static(b"12345")), 5).await;
        assert_eq!(ok.unwrap(), Bytes::from_static(b"12345"));
        // Without a declared length, counted as it arrives.
        let chunks =
            futures_util::stream::iter(["123", "456"].map(|c| {
                Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(Bytes::from(c)))
            }));
        let err = read_limited(&headers, StreamBody::new(chunks), 5).await;
        assert!(matches!(err, Err(BodyError::TooLarge { limit: 5 })));
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_unread() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-decoded-content-length", "6".parse().unwrap());
        let err = read_limited(&headers, Full::new(Bytes::new()), 5).await;
        assert!(matches!(err, Err(BodyError::TooLarge { limit: 5 })));
    }
}
