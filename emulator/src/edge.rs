//! The one listener: a hyper HTTP/1.1 server on a loopback port that buffers
//! each request and routes it like AWS's endpoints would: Lambda by path,
//! CloudWatch Logs and Secrets Manager by `X-Amz-Target`, everything else to
//! S3. Also the awsJson1_1 response helpers the JSON services share.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::lambda::LambdaService;
use crate::logs::LogStore;
use crate::s3::S3Frontend;
use crate::secrets::SecretsService;

/// Path prefixes of the Lambda control plane (API versions the SDK uses).
const LAMBDA_PREFIXES: [&str; 5] = [
    "/2015-03-31/functions",
    "/2017-10-31/functions",
    "/2019-09-25/functions",
    "/2019-09-30/functions",
    "/2021-10-31/functions",
];
/// Function URLs (see `lambda::url`).
const LAMBDA_URL_PREFIX: &str = "/lambda-url/";
const LOGS_TARGET: &str = "Logs_20140328.";
const SECRETS_TARGET: &str = "secretsmanager.";

/// Every service behind the edge.
#[derive(Clone)]
pub(crate) struct Router {
    pub(crate) s3: Arc<S3Frontend>,
    pub(crate) secrets: SecretsService,
    pub(crate) logs: LogStore,
    pub(crate) lambda: LambdaService,
    pub(crate) sqs: crate::sqs::Queues,
}

impl Router {
    /// Routes one buffered request to its service.
    pub(crate) async fn route(&self, req: Request<Bytes>) -> Response<Bytes> {
        let path = req.uri().path();
        if LAMBDA_PREFIXES.iter().any(|p| path.starts_with(p)) {
            return self.lambda.handle(req).await;
        }
        if path.starts_with(LAMBDA_URL_PREFIX) {
            return self.lambda.handle_url(req).await;
        }
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        match target {
            Some(t) if t.starts_with(LOGS_TARGET) => {
                self.logs.handle_api(&t[LOGS_TARGET.len()..], req.body())
            }
            Some(t) if t.starts_with(SECRETS_TARGET) => {
                self.secrets.handle(&t[SECRETS_TARGET.len()..], req.body())
            }
            Some(t) if t.starts_with(crate::sqs::TARGET_PREFIX) => {
                self.sqs.handle(&t[crate::sqs::TARGET_PREFIX.len()..], req.body()).await
            }
            Some(t) => aws_json_error(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                &format!("The X-Amz-Target {t} names a service this emulator does not provide (Lambda, CloudWatch Logs, S3, Secrets Manager)."),
            ),
            None => self.s3.handle(req).await,
        }
    }
}

/// The running listener.
pub(crate) struct Edge {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Edge {
    /// Serves `router` on `listener` until [`Edge::stop`].
    pub(crate) fn serve(listener: TcpListener, router: Router) -> Self {
        let router = Arc::new(router);
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                // Reap finished connections so the set does not grow forever.
                while connections.try_join_next().is_some() {}
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = stopped.changed() => break,
                };
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors and similar: back off, keep serving.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                // Small request/response pairs: Nagle would add up to 40 ms.
                let _ = stream.set_nodelay(true);
                let router = Arc::clone(&router);
                connections.spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let router = Arc::clone(&router);
                        async move { Ok::<_, Infallible>(serve_one(&router, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            connections.shutdown().await;
        });
        Self {
            stop,
            task: Some(task),
        }
    }

    /// Stops accepting, closes every connection and waits for the listener task.
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Edge {
    /// A handle dropped without `shutdown()` still closes the port.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn serve_one(router: &Router, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let resp = aws_json_error(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                &format!("could not read the request body: {e}"),
            );
            return resp.map(Full::new);
        }
    };
    router
        .route(Request::from_parts(parts, body))
        .await
        .map(Full::new)
}

/// A new request id in the UUID v4 form AWS uses.
pub(crate) fn new_request_id() -> String {
    let a = fastrand::u128(..);
    let a = (a & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{a:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A 200 awsJson1_1 answer.
pub(crate) fn aws_json_ok(value: &Value) -> Response<Bytes> {
    aws_json(
        StatusCode::OK,
        serde_json::to_vec(value).unwrap_or_default(),
    )
}

/// An awsJson1_1 error: `{"__type": TYPE, "message": …}` plus the
/// `X-Amzn-ErrorType` header, which the SDKs read first.
pub(crate) fn aws_json_error(
    status: StatusCode,
    error_type: &str,
    message: &str,
) -> Response<Bytes> {
    let body = serde_json::json!({ "__type": error_type, "message": message });
    let mut resp = aws_json(status, serde_json::to_vec(&body).unwrap_or_default());
    if let Ok(v) = HeaderValue::from_str(error_type) {
        resp.headers_mut().insert("x-amzn-errortype", v);
    }
    resp
}

fn aws_json(status: StatusCode, body: Vec<u8>) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amzn-requestid", new_request_id())
        .body(Bytes::from(body))
        .expect("static response parts are valid")
}

/// An awsJson1_1 error before it is put on the wire.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    error_type: &'static str,
    message: String,
}

impl ApiError {
    /// A 400 error of AWS type `error_type`.
    pub(crate) fn bad_request(error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error_type,
            message: message.into(),
        }
    }

    /// The wire form.
    pub(crate) fn into_response(self) -> Response<Bytes> {
        aws_json_error(self.status, self.error_type, &self.message)
    }
}

/// Parses an awsJson1_1 request body; an empty body counts as `{}` (the CLI
/// sends none for operations without input). Anything but a JSON object is
/// AWS's `SerializationException`.
pub(crate) fn parse_json_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ApiError::bad_request(
            "SerializationException",
            "Start of structure or map found where not expected.",
        )),
        Err(e) => Err(ApiError::bad_request(
            "SerializationException",
            format!("The request body could not be parsed as JSON: {e}"),
        )),
    }
}
