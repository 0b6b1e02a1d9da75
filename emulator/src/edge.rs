//! The one listener: a hyper HTTP/1.1 server on a loopback port that routes
//! each request like AWS's endpoints would: Lambda by path, CloudWatch Logs
//! and Secrets Manager by `X-Amz-Target`, everything else to S3.
//!
//! Before routing, [`access`](crate::access) admits the request (loopback
//! `Host`, no cross-site browser write). S3 bodies stream through to the
//! object store; every other body is read whole within its API's limit
//! ([`limits`](crate::limits)) and, with `--credentials`, its SigV4
//! signature is checked.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::access::{self, Refusal, Verifier};
use crate::awsjson;
use crate::lambda::LambdaService;
use crate::limits::{self, BodyError};
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
    /// `Some` with `--credentials`: JSON API requests must be signed.
    pub(crate) verifier: Option<Verifier>,
}

/// The protocol family of a request, known from its head alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// Lambda's REST-JSON control plane and function URLs.
    Lambda,
    /// awsJson1_1 services, addressed by `X-Amz-Target`.
    AwsJson,
    /// Everything else.
    S3,
}

fn family(req: &Request<Incoming>) -> Family {
    let path = req.uri().path();
    if LAMBDA_PREFIXES.iter().any(|p| path.starts_with(p)) || path.starts_with(LAMBDA_URL_PREFIX) {
        Family::Lambda
    } else if req.headers().contains_key("x-amz-target") {
        Family::AwsJson
    } else {
        Family::S3
    }
}

impl Router {
    /// Routes one request whose body has been read to its service.
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
            Some(t) => awsjson::error(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                &format!("The X-Amz-Target {t} names a service this emulator does not provide (Lambda, CloudWatch Logs, S3, Secrets Manager)."),
            ),
            None => awsjson::error(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                "The request names no operation (no X-Amz-Target header).",
            ),
        }
    }

    /// Admits, reads and routes one request off the wire.
    async fn serve(&self, req: Request<Incoming>) -> Response<s3s::Body> {
        let family = family(&req);
        if let Err(refusal) = access::admit(req.headers(), req.method()) {
            return refuse(family, &refusal);
        }
        if family == Family::S3 {
            return self.s3.handle(req).await;
        }
        let limit = match family {
            Family::Lambda if is_event_invoke(&req) => limits::LAMBDA_EVENT,
            Family::Lambda => limits::LAMBDA_REQUEST,
            _ => limits::JSON_API_REQUEST,
        };
        let (parts, body) = req.into_parts();
        let body = match limits::read_limited(&parts.headers, body, limit).await {
            Ok(body) => body,
            Err(BodyError::TooLarge { limit }) => return too_large(family, limit),
            Err(BodyError::Read(e)) => {
                return awsjson::error(
                    StatusCode::BAD_REQUEST,
                    "SerializationException",
                    &format!("could not read the request body: {e}"),
                )
                .map(s3s::Body::from)
            }
        };
        let req = Request::from_parts(parts, body);
        // Function URLs are emulated with AuthType NONE: unsigned.
        let signed = !req.uri().path().starts_with(LAMBDA_URL_PREFIX);
        if let (Some(verifier), true) = (&self.verifier, signed) {
            if let Err(refusal) = verifier.verify(&req, std::time::SystemTime::now()) {
                return refuse(family, &refusal);
            }
        }
        self.route(req).await.map(s3s::Body::from)
    }
}

fn is_event_invoke(req: &Request<Incoming>) -> bool {
    req.uri().path().ends_with("/invocations")
        && req
            .headers()
            .get("x-amz-invocation-type")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"Event"))
}

/// A refusal in the protocol of the API that was asked.
fn refuse(family: Family, refusal: &Refusal) -> Response<s3s::Body> {
    match family {
        Family::S3 => crate::s3::error_response(refusal.status, refusal.code, &refusal.message),
        Family::Lambda => {
            lambda_error(refusal.status, refusal.code, &refusal.message).map(s3s::Body::from)
        }
        Family::AwsJson => {
            awsjson::error(refusal.status, refusal.code, &refusal.message).map(s3s::Body::from)
        }
    }
}

/// 413 in the protocol of the API that was asked (S3's own sizes are
/// checked by the S3 front end).
fn too_large(family: Family, limit: u64) -> Response<s3s::Body> {
    let operation = match limit {
        limits::LAMBDA_REQUEST => "the InvokeFunction operation",
        limits::LAMBDA_EVENT => "the InvokeAsync operation",
        _ => "this operation",
    };
    let message = format!("Request must be smaller than {limit} bytes for {operation}");
    match family {
        Family::Lambda => lambda_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            &message,
        ),
        _ => awsjson::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            &message,
        ),
    }
    .map(s3s::Body::from)
}

/// Lambda's REST-JSON error: `X-Amzn-ErrorType` and `{"Type":"User","message":…}`.
fn lambda_error(status: StatusCode, error_type: &str, message: &str) -> Response<Bytes> {
    let body = serde_json::json!({ "Type": "User", "message": message });
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-errortype", error_type)
        .header("x-amzn-requestid", awsjson::new_request_id())
        .body(Bytes::from(body.to_string()))
        .expect("static response parts are valid")
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
                let stream = tokio::select! {
                    stream = crate::net::accept(&listener) => stream,
                    _ = stopped.changed() => break,
                };
                let router = Arc::clone(&router);
                connections.spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let router = Arc::clone(&router);
                        async move { Ok::<_, Infallible>(router.serve(req).await) }
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
