//! The Runtime API (2018-06-01) one execution environment's process talks
//! to: a loopback HTTP/1.1 listener with a long-polling `/next`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Largest response body a runtime may post (6 MB + 100 bytes of framing,
/// as AWS enforces it).
pub(crate) const MAX_RESPONSE_BYTES: usize = 6_291_556;

/// An event handed to the runtime by `/next`.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub request_id: Arc<str>,
    pub payload: Bytes,
    /// Timeout in ms, counted from delivery unless `deadline_epoch_ms` is set.
    pub timeout_ms: u64,
    /// Absolute deadline when init ran inside this invoke.
    pub deadline_epoch_ms: Option<i64>,
    pub function_arn: Arc<str>,
    pub trace_id: String,
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
}

/// What the runtime (or its process) did, in order.
#[derive(Debug)]
pub(crate) enum RuntimeEvent {
    /// First `/next`: init is over.
    InitDone(Instant),
    /// `/runtime/init/error`.
    InitError { body: Bytes, error_type: String },
    /// `/next` answered with this request's event.
    Delivered { request_id: Arc<str>, at: Instant },
    /// `/invocation/{id}/response`.
    Response {
        request_id: Arc<str>,
        body: Bytes,
        at: Instant,
    },
    /// `/invocation/{id}/error`.
    FunctionError {
        request_id: Arc<str>,
        body: Bytes,
        error_type: String,
        at: Instant,
    },
    /// A response over [`MAX_RESPONSE_BYTES`].
    ResponseTooLarge { request_id: Arc<str>, at: Instant },
    /// The process exited (`exit status N`, `signal: killed`).
    Exited(String),
    /// The process tree went over the memory size and was killed.
    OutOfMemory,
}

#[derive(Debug, Default)]
struct RuntimeState {
    initialized: bool,
    current: Option<Arc<str>>,
    finished: VecDeque<Arc<str>>,
}

/// State shared by the listener's connections.
#[derive(Debug)]
pub(crate) struct RuntimeShared {
    events: mpsc::UnboundedSender<RuntimeEvent>,
    deliveries: tokio::sync::Mutex<mpsc::Receiver<Delivery>>,
    state: Mutex<RuntimeState>,
}

impl RuntimeShared {
    pub fn new(
        events: mpsc::UnboundedSender<RuntimeEvent>,
        deliveries: mpsc::Receiver<Delivery>,
    ) -> Arc<Self> {
        Arc::new(Self {
            events,
            deliveries: tokio::sync::Mutex::new(deliveries),
            state: Mutex::new(RuntimeState::default()),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, RuntimeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Accepts runtime connections until aborted; aborting also drops every
/// connection (and any `/next` still parked), so a killed process leaves no
/// poller behind that could steal the next event.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<RuntimeShared>) {
    let mut connections = JoinSet::new();
    loop {
        let stream = crate::net::accept(&listener).await;
        let shared = shared.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(route(&shared, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

fn json_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn accepted() -> Response<Full<Bytes>> {
    json_response(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.to_string())
}

fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    json_response(
        status,
        serde_json::json!({"errorMessage": message, "errorType": error_type}).to_string(),
    )
}

fn invalid_state(from: &str, to: &str) -> Response<Full<Bytes>> {
    runtime_error(
        StatusCode::FORBIDDEN,
        "InvalidStateTransition",
        &format!("State transition from {from} to {to} failed for runtime. Error: State transition is not allowed"),
    )
}

async fn route(shared: &RuntimeShared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    // As at the edge: a browser page reaching this port through DNS
    // rebinding still names its own host.
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !crate::access::is_loopback_host(host) {
        return runtime_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "the Runtime API answers only requests addressed to a loopback host",
        );
    }
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
        return runtime_error(StatusCode::NOT_FOUND, "NotFound", "Not Found");
    };
    match (req.method(), rest) {
        (&Method::GET, "invocation/next") => next(shared).await,
        (&Method::POST, "init/error") => {
            let error_type = error_type_header(&req);
            let body = read_body(req).await;
            let mut state = shared.state();
            if state.initialized {
                return invalid_state("Ready", "InitError");
            }
            state.initialized = true;
            let error_type = error_type.unwrap_or_else(|| body_error_type(&body));
            let _ = shared
                .events
                .send(RuntimeEvent::InitError { body, error_type });
            accepted()
        }
        (&Method::POST, tail) => {
            let Some((id, action)) = tail
                .strip_prefix("invocation/")
                .and_then(|t| t.rsplit_once('/'))
            else {
                return runtime_error(StatusCode::NOT_FOUND, "NotFound", "Not Found");
            };
            if action != "response" && action != "error" {
                return runtime_error(StatusCode::NOT_FOUND, "NotFound", "Not Found");
            }
            let error_type = error_type_header(&req);
            let body = read_body(req).await;
            let at = Instant::now();
            let mut state = shared.state();
            let request_id = match &state.current {
                Some(current) if **current == *id => current.clone(),
                _ => {
                    return if state.finished.iter().any(|f| **f == *id) {
                        invalid_state(
                            "InvocationResponse",
                            if action == "response" {
                                "InvocationResponse"
                            } else {
                                "InvocationErrorResponse"
                            },
                        )
                    } else {
                        runtime_error(
                            StatusCode::BAD_REQUEST,
                            "InvalidRequestID",
                            "Invalid request ID",
                        )
                    };
                }
            };
            state.current = None;
            if state.finished.len() >= 16 {
                state.finished.pop_front();
            }
            state.finished.push_back(request_id.clone());
            drop(state);
            if action == "response" {
                if body.len() > MAX_RESPONSE_BYTES {
                    let _ = shared
                        .events
                        .send(RuntimeEvent::ResponseTooLarge { request_id, at });
                    return runtime_error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "RequestEntityTooLarge",
                        &format!(
                            "Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
                        ),
                    );
                }
                let _ = shared.events.send(RuntimeEvent::Response {
                    request_id,
                    body,
                    at,
                });
            } else {
                let error_type = error_type.unwrap_or_else(|| body_error_type(&body));
                let _ = shared.events.send(RuntimeEvent::FunctionError {
                    request_id,
                    body,
                    error_type,
                    at,
                });
            }
            accepted()
        }
        (_, "invocation/next" | "init/error") => runtime_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "Method Not Allowed",
        ),
        _ => runtime_error(StatusCode::NOT_FOUND, "NotFound", "Not Found"),
    }
}

fn error_type_header(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// `errorType` of a posted error body, `Runtime.Unknown` when there is none.
fn body_error_type(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("errorType")
                .and_then(|t| t.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "Runtime.Unknown".to_string())
}

/// The posted body, read up to one byte past [`MAX_RESPONSE_BYTES`]: a
/// longer one is refused by its length, so a runtime posting gigabytes
/// costs the emulator no more than that.
async fn read_body(req: Request<Incoming>) -> Bytes {
    let mut body = req.into_body();
    let mut out = bytes::BytesMut::new();
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            let room = MAX_RESPONSE_BYTES + 1 - out.len();
            out.extend_from_slice(&data[..data.len().min(room)]);
            if out.len() > MAX_RESPONSE_BYTES {
                break;
            }
        }
    }
    out.freeze()
}

fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn next(shared: &RuntimeShared) -> Response<Full<Bytes>> {
    {
        let mut state = shared.state();
        if !state.initialized {
            state.initialized = true;
            let _ = shared.events.send(RuntimeEvent::InitDone(Instant::now()));
        }
    }
    let delivery = {
        let mut deliveries = shared.deliveries.lock().await;
        deliveries.recv().await
    };
    let Some(delivery) = delivery else {
        // The environment is being torn down; the process is about to die.
        return std::future::pending().await;
    };
    let deadline = delivery
        .deadline_epoch_ms
        .unwrap_or_else(|| epoch_ms() + delivery.timeout_ms as i64);
    let mut resp = Response::new(Full::new(delivery.payload));
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let pairs: [(&str, Option<&str>); 5] = [
        ("lambda-runtime-aws-request-id", Some(&delivery.request_id)),
        (
            "lambda-runtime-invoked-function-arn",
            Some(&delivery.function_arn),
        ),
        ("lambda-runtime-trace-id", Some(&delivery.trace_id)),
        (
            "lambda-runtime-client-context",
            delivery.client_context.as_deref(),
        ),
        (
            "lambda-runtime-cognito-identity",
            delivery.cognito_identity.as_deref(),
        ),
    ];
    for (name, value) in pairs {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(name, value);
        }
    }
    headers.insert("lambda-runtime-deadline-ms", HeaderValue::from(deadline));
    shared.state().current = Some(delivery.request_id.clone());
    let _ = shared.events.send(RuntimeEvent::Delivered {
        request_id: delivery.request_id,
        at: Instant::now(),
    });
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One HTTP/1.1 exchange on a fresh connection: (status, headers+body).
    async fn call(
        addr: std::net::SocketAddr,
        method: &str,
        path: &str,
        body: &[u8],
        extra: &str,
    ) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, text)
    }

    async fn start() -> (
        std::net::SocketAddr,
        mpsc::Sender<Delivery>,
        mpsc::UnboundedReceiver<RuntimeEvent>,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (events_tx, events) = mpsc::unbounded_channel();
        let (deliveries, rx) = mpsc::channel(1);
        let server = tokio::spawn(serve(listener, RuntimeShared::new(events_tx, rx)));
        (addr, deliveries, events, server)
    }

    fn delivery(id: &str) -> Delivery {
        Delivery {
            request_id: id.into(),
            payload: Bytes::from_static(b"{\"k\":1}"),
            timeout_ms: 3000,
            deadline_epoch_ms: None,
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
            trace_id: "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0"
                .into(),
            client_context: None,
            cognito_identity: None,
        }
    }

    #[tokio::test]
    async fn answers_every_call_and_its_error_codes() {
        let (addr, deliveries, mut events, server) = start().await;
        deliveries.send(delivery("id-1")).await.unwrap();
        let (status, text) =
            call(addr, "GET", "/2018-06-01/runtime/invocation/next", b"", "").await;
        assert_eq!(status, 200);
        let lower = text.to_ascii_lowercase();
        assert!(lower.contains("lambda-runtime-aws-request-id: id-1"));
        assert!(lower.contains(
            "lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:f"
        ));
        assert!(lower.contains("lambda-runtime-trace-id: root=1-"));
        assert!(!lower.contains("lambda-runtime-client-context"));
        let deadline: i64 = lower
            .lines()
            .find_map(|l| l.strip_prefix("lambda-runtime-deadline-ms: "))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!(
            (now + 2500..=now + 3000).contains(&deadline),
            "{deadline} vs {now}"
        );
        assert!(text.ends_with("{\"k\":1}"));
        assert!(matches!(
            events.recv().await,
            Some(RuntimeEvent::InitDone(_))
        ));
        assert!(matches!(
            events.recv().await,
            Some(RuntimeEvent::Delivered { .. })
        ));

        let path = "/2018-06-01/runtime/invocation/id-1/response";
        let (status, text) = call(addr, "POST", path, b"\"done\"", "").await;
        assert_eq!(status, 202);
        assert!(text.ends_with(r#"{"status":"OK"}"#));
        match events.recv().await {
            Some(RuntimeEvent::Response {
                request_id, body, ..
            }) => {
                assert_eq!(&*request_id, "id-1");
                assert_eq!(&body[..], b"\"done\"");
            }
            other => panic!("{other:?}"),
        }
        let (status, text) = call(addr, "POST", path, b"{}", "").await;
        assert_eq!(status, 403, "a second response: {text}");
        assert!(text.contains("InvalidStateTransition"));
        let (status, text) = call(
            addr,
            "POST",
            "/2018-06-01/runtime/invocation/nope/response",
            b"{}",
            "",
        )
        .await;
        assert_eq!(status, 400);
        assert!(text.contains("InvalidRequestID"));
        let (status, _) = call(addr, "POST", "/2018-06-01/runtime/init/error", b"{}", "").await;
        assert_eq!(status, 403, "init/error after init");

        // Oversized response: 413 and the invoke learns of it.
        deliveries.send(delivery("id-2")).await.unwrap();
        call(addr, "GET", "/2018-06-01/runtime/invocation/next", b"", "").await;
        let big = vec![b'x'; MAX_RESPONSE_BYTES + 1];
        let (status, text) = call(
            addr,
            "POST",
            "/2018-06-01/runtime/invocation/id-2/response",
            &big,
            "",
        )
        .await;
        assert_eq!(status, 413);
        assert!(text.contains("RequestEntityTooLarge"));
        assert!(matches!(
            events.recv().await,
            Some(RuntimeEvent::Delivered { .. })
        ));
        assert!(matches!(
            events.recv().await,
            Some(RuntimeEvent::ResponseTooLarge { .. })
        ));

        // A posted function error keeps its type header.
        deliveries.send(delivery("id-3")).await.unwrap();
        call(addr, "GET", "/2018-06-01/runtime/invocation/next", b"", "").await;
        let (status, _) = call(
            addr,
            "POST",
            "/2018-06-01/runtime/invocation/id-3/error",
            br#"{"errorType":"Body.Type","errorMessage":"m"}"#,
            "Lambda-Runtime-Function-Error-Type: Header.Type\r\n",
        )
        .await;
        assert_eq!(status, 202);
        let _ = events.recv().await;
        match events.recv().await {
            Some(RuntimeEvent::FunctionError { error_type, .. }) => {
                assert_eq!(error_type, "Header.Type")
            }
            other => panic!("{other:?}"),
        }
        server.abort();
    }

    #[tokio::test]
    async fn init_error_before_first_next() {
        let (addr, _deliveries, mut events, server) = start().await;
        let (status, _) = call(
            addr,
            "POST",
            "/2018-06-01/runtime/init/error",
            br#"{"errorType":"My.Init","errorMessage":"no"}"#,
            "",
        )
        .await;
        assert_eq!(status, 202);
        match events.recv().await {
            Some(RuntimeEvent::InitError { error_type, body }) => {
                assert_eq!(error_type, "My.Init");
                assert!(body.starts_with(b"{\"errorType\""));
            }
            other => panic!("{other:?}"),
        }
        let (status, _) = call(addr, "POST", "/2018-06-01/runtime/init/error", b"{}", "").await;
        assert_eq!(status, 403, "only once");
        server.abort();
    }
}
