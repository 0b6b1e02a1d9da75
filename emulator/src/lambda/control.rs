//! The Lambda control plane (restJson1): routing, request validation and
//! AWS-shaped errors (`X-Amzn-ErrorType` + JSON body, so the SDK's typed
//! errors match). The entry point is [`LambdaService::handle`]; the work
//! behind each operation is the service's (`service`, `async_invoke`).

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::config::{function_arn, EnvConfig};
use super::environment::RESERVED_VARIABLES;
use super::invocation::InvokeRequest;
use super::service::{epoch_s, Function, LambdaService};
use super::{EventInvokeConfig, LogFormat};
use crate::awsjson::new_request_id;

/// Largest `Environment.Variables`, measured as AWS does on its JSON form.
const MAX_ENVIRONMENT_BYTES: usize = 4096;
/// Account concurrency limit and the unreserved minimum AWS keeps back.
const ACCOUNT_CONCURRENCY: u32 = 1000;
const MIN_UNRESERVED: u32 = 100;

/// An AWS error answer.
struct AwsError {
    status: StatusCode,
    code: &'static str,
    body: Value,
}

impl AwsError {
    fn user(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            body: json!({"Type": "User", "Message": message.into()}),
        }
    }

    fn not_found(arn: &str) -> Self {
        Self::user(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("Function not found: {arn}"),
        )
    }

    fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::user(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            message,
        )
    }

    fn invalid_content(message: impl Into<String>) -> Self {
        Self::user(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            message,
        )
    }

    /// The generic restJson validation error (lower-case `message`).
    fn validation(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "ValidationException",
            body: json!({"message": message.into()}),
        }
    }

    fn unknown_operation() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "UnknownOperationException",
            body: json!({"Type": "User", "Message": "Unknown operation"}),
        }
    }

    fn into_response(self) -> Response<Bytes> {
        let mut resp = json_response(self.status, &self.body, &new_request_id());
        resp.headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(self.code));
        resp
    }
}

fn json_response(status: StatusCode, body: &Value, request_id: &str) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(body.to_string()));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    resp
}

fn ok_json(body: Value) -> Response<Bytes> {
    json_response(StatusCode::OK, &body, &new_request_id())
}

/// Decodes `%XX` escapes (path labels and query values); an invalid escape
/// stays as it is.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn query_param(req: &Request<Bytes>, name: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

/// A `{FunctionName}` label resolved: name and optional qualifier.
struct Target {
    name: String,
    qualifier: Option<String>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_qualifier(q: &str) -> bool {
    q == "$LATEST"
        || (!q.is_empty()
            && q.len() <= 128
            && q.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// Parses a name, `name:qualifier`, a full ARN or a partial ARN
/// (`ACCOUNT:function:NAME[:QUALIFIER]`).
fn parse_target(raw: &str) -> Result<Target, AwsError> {
    let invalid = || {
        AwsError::validation(format!(
            "1 validation error detected: Value '{raw}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{{2}}(-gov)?-[a-z]+-\\d{{1}}:)?(\\d{{12}}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
        ))
    };
    if raw.is_empty() || raw.len() > 170 {
        return Err(invalid());
    }
    let parts: Vec<&str> = raw.split(':').collect();
    let (name, qualifier, region, account) = match parts.as_slice() {
        [name] => (*name, None, None, None),
        [name, q] => (*name, Some(*q), None, None),
        [account, "function", name] => (*name, None, None, Some(*account)),
        [account, "function", name, q] => (*name, Some(*q), None, Some(*account)),
        ["arn", partition, "lambda", region, account, "function", name]
            if partition.starts_with("aws") =>
        {
            (*name, None, Some(*region), Some(*account))
        }
        ["arn", partition, "lambda", region, account, "function", name, q]
            if partition.starts_with("aws") =>
        {
            (*name, Some(*q), Some(*region), Some(*account))
        }
        _ => return Err(invalid()),
    };
    if !valid_name(name) || qualifier.is_some_and(|q| !valid_qualifier(q)) {
        return Err(invalid());
    }
    if account.is_some_and(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit())) {
        return Err(invalid());
    }
    let foreign = region.is_some_and(|r| r != crate::REGION)
        || account.is_some_and(|a| a != crate::ACCOUNT_ID);
    if foreign {
        // Another region or account holds no function of this emulator.
        let arn = format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            region.unwrap_or(crate::REGION),
            account.unwrap_or(crate::ACCOUNT_ID)
        );
        return Err(AwsError::not_found(&arn));
    }
    Ok(Target {
        name: name.to_string(),
        qualifier: qualifier.map(str::to_string),
    })
}

/// Resolves the function a request names; only `$LATEST` exists.
fn resolve(
    service: &LambdaService,
    raw: &str,
    query_qualifier: Option<String>,
) -> Result<Arc<Function>, AwsError> {
    let target = parse_target(raw)?;
    let qualifier = match (target.qualifier, query_qualifier.filter(|q| !q.is_empty())) {
        (Some(a), Some(b)) if a != b => return Err(AwsError::invalid_parameter(
            "The derived qualifier from the function name does not match the specified qualifier.",
        )),
        (Some(a), _) => Some(a),
        (None, b) => b,
    };
    if let Some(q) = &qualifier {
        if !valid_qualifier(q) {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{q}' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)"
            )));
        }
    }
    let function = service.function(&target.name);
    match (function, qualifier.as_deref()) {
        (Some(f), None | Some("$LATEST")) => Ok(f),
        (_, Some(q)) if q != "$LATEST" => Err(AwsError::not_found(&format!(
            "{}:{q}",
            function_arn(&target.name)
        ))),
        _ => Err(AwsError::not_found(&function_arn(&target.name))),
    }
}

impl LambdaService {
    /// Answers one Lambda control-plane request (paths under
    /// `/2015-03-31/functions`, `/2017-10-31/functions`,
    /// `/2019-09-25/functions`, `/2019-09-30/functions` and
    /// `/2021-10-31/functions`).
    pub async fn handle(&self, req: Request<Bytes>) -> Response<Bytes> {
        match route(self, req).await {
            Ok(resp) => resp,
            Err(e) => e.into_response(),
        }
    }
}

async fn route(service: &LambdaService, req: Request<Bytes>) -> Result<Response<Bytes>, AwsError> {
    let path = req.uri().path().to_string();
    let mut segments = path.trim_start_matches('/').splitn(3, '/');
    let version = segments.next().unwrap_or("");
    if segments.next() != Some("functions") {
        return Err(AwsError::unknown_operation());
    }
    let rest = segments.next().unwrap_or("").trim_end_matches('/');
    let (name, sub) = match rest.split_once('/') {
        Some((name, sub)) => (Some(percent_decode(name)), Some(sub)),
        None if rest.is_empty() => (None, None),
        None => (Some(percent_decode(rest)), None),
    };
    let method = req.method().clone();
    match (version, name, sub, method) {
        ("2015-03-31", None, None, Method::GET) => list_functions(service, &req),
        ("2015-03-31", Some(name), None, Method::GET) => get_function(service, &req, &name),
        ("2015-03-31", Some(name), Some("configuration"), Method::GET) => {
            get_configuration(service, &req, &name)
        }
        ("2015-03-31", Some(name), Some("configuration"), Method::PUT) => {
            update_configuration(service, &req, &name)
        }
        ("2015-03-31", Some(name), Some("invocations"), Method::POST) => {
            invoke(service, req, &name).await
        }
        ("2017-10-31", Some(name), Some("concurrency"), Method::PUT) => {
            put_concurrency(service, &req, &name)
        }
        ("2017-10-31", Some(name), Some("concurrency"), Method::DELETE) => {
            delete_concurrency(service, &name)
        }
        ("2019-09-30" | "2019-09-25", Some(name), Some("concurrency"), Method::GET) => {
            get_concurrency(service, &name)
        }
        ("2019-09-25", Some(name), Some("event-invoke-config"), method) => {
            event_invoke_config(service, &req, &name, method)
        }
        ("2021-10-31", Some(name), Some("url"), Method::POST) => {
            create_url_config(service, &req, &name)
        }
        ("2021-10-31", Some(name), Some("url"), Method::GET) => {
            get_url_config(service, &req, &name)
        }
        _ => Err(AwsError::unknown_operation()),
    }
}

fn list_functions(
    service: &LambdaService,
    req: &Request<Bytes>,
) -> Result<Response<Bytes>, AwsError> {
    let max_items = match query_param(req, "MaxItems") {
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=10_000).contains(&n) => n,
            _ => {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{v}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000"
                )))
            }
        },
        None => 50,
    };
    let marker = query_param(req, "Marker").filter(|m| !m.is_empty());
    let names: Vec<&String> = service.inner.functions.keys().collect();
    let start = match &marker {
        Some(m) => names
            .iter()
            .position(|n| *n == m)
            .ok_or_else(|| AwsError::invalid_parameter("Invalid marker"))?,
        None => 0,
    };
    let page: Vec<Value> = names
        .iter()
        .skip(start)
        .take(max_items)
        .filter_map(|n| service.function(n))
        .map(|f| f.lock().desc.to_json())
        .collect();
    let mut body = json!({ "Functions": page });
    if let Some(next) = names.get(start + max_items) {
        body["NextMarker"] = json!(next);
    }
    Ok(ok_json(body))
}

fn get_function(
    service: &LambdaService,
    req: &Request<Bytes>,
    name: &str,
) -> Result<Response<Bytes>, AwsError> {
    let function = resolve(service, name, query_param(req, "Qualifier"))?;
    let state = function.lock();
    let mut body = json!({
        "Configuration": state.desc.to_json(),
        "Code": {
            "RepositoryType": "S3",
            "Location": format!(
                "https://awslambda-{region}-tasks.s3.{region}.amazonaws.com/snapshots/{account}/{name}-{rev}",
                region = crate::REGION,
                account = crate::ACCOUNT_ID,
                name = function.name,
                rev = state.desc.revision_id,
            ),
        },
    });
    if let Some(n) = state.reserved {
        body["Concurrency"] = json!({ "ReservedConcurrentExecutions": n });
    }
    Ok(ok_json(body))
}

fn get_configuration(
    service: &LambdaService,
    req: &Request<Bytes>,
    name: &str,
) -> Result<Response<Bytes>, AwsError> {
    let function = resolve(service, name, query_param(req, "Qualifier"))?;
    let body = function.lock().desc.to_json();
    Ok(ok_json(body))
}

fn parse_body(req: &Request<Bytes>) -> Result<Value, AwsError> {
    if req.body().is_empty() {
        return Ok(json!({}));
    }
    let value: Value = serde_json::from_slice(req.body()).map_err(|e| {
        AwsError::invalid_content(format!("Could not parse request body into json: {e}"))
    })?;
    if !value.is_object() {
        return Err(AwsError::invalid_content(
            "Could not parse request body into json: expected a JSON object",
        ));
    }
    Ok(value)
}

fn int_field(
    body: &Value,
    field: &str,
    camel: &str,
    min: i64,
    max: i64,
) -> Result<Option<u32>, AwsError> {
    let Some(v) = body.get(field).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let Some(n) = v.as_i64() else {
        return Err(AwsError::invalid_content(format!(
            "Could not parse request body into json: {field} must be an integer"
        )));
    };
    if n < min || n > max {
        let bound = if n < min {
            format!("greater than or equal to {min}")
        } else {
            format!("less than or equal to {max}")
        };
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value '{n}' at '{camel}' failed to satisfy constraint: Member must have value {bound}"
        )));
    }
    Ok(Some(n as u32))
}

fn update_configuration(
    service: &LambdaService,
    req: &Request<Bytes>,
    name: &str,
) -> Result<Response<Bytes>, AwsError> {
    let function = resolve(service, name, None)?;
    let body = parse_body(req)?;
    let memory = int_field(&body, "MemorySize", "memorySize", 128, 10_240)?;
    let timeout = int_field(&body, "Timeout", "timeout", 1, 900)?;
    let description = match body.get("Description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= 256 => Some(s.clone()),
        Some(Value::String(_)) => {
            return Err(AwsError::validation(
                "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 256",
            ))
        }
        Some(_) => {
            return Err(AwsError::invalid_content(
                "Could not parse request body into json: Description must be a string",
            ))
        }
    };
    let variables = match body.get("Environment") {
        None | Some(Value::Null) => None,
        Some(env) => {
            let vars = match env.get("Variables") {
                None | Some(Value::Null) => serde_json::Map::new(),
                Some(Value::Object(map)) => map.clone(),
                Some(_) => return Err(AwsError::invalid_content(
                    "Could not parse request body into json: Environment.Variables must be a map",
                )),
            };
            let mut out = std::collections::BTreeMap::new();
            for (k, v) in &vars {
                let Some(v) = v.as_str() else {
                    return Err(AwsError::invalid_content(format!(
                        "Could not parse request body into json: the value of {k} must be a string"
                    )));
                };
                out.insert(k.clone(), v.to_string());
            }
            let measured = serde_json::to_string(&vars).unwrap_or_default();
            if measured.len() > MAX_ENVIRONMENT_BYTES {
                return Err(AwsError::invalid_parameter(format!(
                    "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {measured}"
                )));
            }
            let reserved: Vec<&str> = out
                .keys()
                .map(String::as_str)
                .filter(|k| RESERVED_VARIABLES.contains(k))
                .collect();
            if !reserved.is_empty() {
                return Err(AwsError::invalid_parameter(format!(
                    "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
                    reserved.join(",")
                )));
            }
            if let Some(bad) = out.keys().find(|k| {
                !k.starts_with(|c: char| c.is_ascii_alphabetic())
                    || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            }) {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+] (key: {bad})"
                )));
            }
            Some(out)
        }
    };
    let logging = match body.get("LoggingConfig") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map.clone()),
        Some(_) => {
            return Err(AwsError::invalid_content(
                "Could not parse request body into json: LoggingConfig must be an object",
            ))
        }
    };
    let dead_letter = match body.get("DeadLetterConfig") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => match map.get("TargetArn") {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(arn)) if arn.is_empty() => Some(None),
            Some(Value::String(arn)) => Some(Some(destination_arn(arn, "deadLetterConfig.targetArn")?)),
            Some(_) => {
                return Err(AwsError::invalid_content(
                    "Could not parse request body into json: DeadLetterConfig.TargetArn must be a string",
                ))
            }
        },
        Some(_) => {
            return Err(AwsError::invalid_content(
                "Could not parse request body into json: DeadLetterConfig must be an object",
            ))
        }
    };
    let revision = body.get("RevisionId").and_then(Value::as_str);

    let mut state = function.lock();
    let arn = function_arn(&function.name);
    if state.desc.update_status == super::config::UpdateStatus::InProgress {
        return Err(AwsError::user(
            StatusCode::CONFLICT,
            "ResourceConflictException",
            format!("The operation cannot be performed at this time. An update is in progress for resource: {arn}"),
        ));
    }
    if revision.is_some_and(|r| r != state.desc.revision_id) {
        return Err(AwsError::user(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        ));
    }
    let mut config: EnvConfig = (*state.desc.config).clone();
    if let Some(m) = memory {
        config.spec.memory_mb = m;
    }
    if let Some(t) = timeout {
        config.spec.timeout_s = t;
    }
    if let Some(d) = description {
        config.spec.description = d;
    }
    if let Some(vars) = variables {
        config.spec.environment = vars;
    }
    if let Some(logging) = logging {
        apply_logging(&mut config, &logging)?;
    }
    if let Some(target) = dead_letter {
        config.spec.dead_letter_arn = target;
    }
    service.begin_update(&function, &mut state, config);
    Ok(ok_json(state.desc.to_json()))
}

fn apply_logging(
    config: &mut EnvConfig,
    logging: &serde_json::Map<String, Value>,
) -> Result<(), AwsError> {
    let text_field = |name: &str| -> Result<Option<String>, AwsError> {
        match logging.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(AwsError::invalid_content(format!(
                "Could not parse request body into json: LoggingConfig.{name} must be a string"
            ))),
        }
    };
    if let Some(format) = text_field("LogFormat")? {
        config.spec.log_format = match format.as_str() {
            "JSON" => LogFormat::Json,
            "Text" => LogFormat::Text,
            other => {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{other}' at 'loggingConfig.logFormat' failed to satisfy constraint: Member must satisfy enum value set: [JSON, Text]"
                )))
            }
        };
    }
    let levels = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    let app = text_field("ApplicationLogLevel")?;
    let sys = text_field("SystemLogLevel")?;
    for (field, value) in [("applicationLogLevel", &app), ("systemLogLevel", &sys)] {
        if let Some(v) = value {
            if !levels.contains(&v.as_str()) {
                return Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{v}' at 'loggingConfig.{field}' failed to satisfy constraint: Member must satisfy enum value set: [TRACE, DEBUG, INFO, WARN, ERROR, FATAL]"
                )));
            }
        }
    }
    if config.spec.log_format == LogFormat::Json {
        config.application_log_level = Some(
            app.or(config.application_log_level.take())
                .unwrap_or_else(|| "INFO".into()),
        );
        config.system_log_level = Some(
            sys.or(config.system_log_level.take())
                .unwrap_or_else(|| "INFO".into()),
        );
    } else {
        if app.is_some() || sys.is_some() {
            return Err(AwsError::invalid_parameter(
                "Log level configuration is only supported when LogFormat is JSON.",
            ));
        }
        config.application_log_level = None;
        config.system_log_level = None;
    }
    if let Some(group) = text_field("LogGroup")? {
        let ok = !group.is_empty()
            && group.len() <= 512
            && group
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-/.#".contains(&b));
        if !ok {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{group}' at 'loggingConfig.logGroup' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
            )));
        }
        config.log_group = group;
    }
    Ok(())
}

fn put_concurrency(
    service: &LambdaService,
    req: &Request<Bytes>,
    name: &str,
) -> Result<Response<Bytes>, AwsError> {
    let function = resolve(service, name, None)?;
    let body = parse_body(req)?;
    let Some(n) = int_field(
        &body,
        "ReservedConcurrentExecutions",
        "reservedConcurrentExecutions",
        0,
        i64::from(u32::MAX),
    )?
    else {
        return Err(AwsError::validation(
            "1 validation error detected: Value null at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must not be null",
        ));
    };
    if n > ACCOUNT_CONCURRENCY - MIN_UNRESERVED {
        return Err(AwsError::invalid_parameter(format!(
            "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}]."
        )));
    }
    function.lock().reserved = Some(n);
    Ok(ok_json(json!({ "ReservedConcurrentExecutions": n })))
}

fn delete_concurrency(service: &LambdaService, name: &str) -> Result<Response<Bytes>, AwsError> {
    let function = resolve(service, name, None)?;
    function.lock().reserved = None;
    let mut resp = Response::new(Bytes::new());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    if let Ok(id) = HeaderValue::from_str(&new_request_id()) {
        resp.headers_mut().insert("x-amzn-requestid", id);
    }
    Ok(resp)
}

fn get_concurrency(service: &LambdaService, name: &str) -> Result<Response<Bytes>, AwsError> {
    let function = resolve(service, name, None)?;
    let reserved = function.lock().reserved;
    Ok(ok_json(match reserved {
        Some(n) => json!({ "ReservedConcurrentExecutions": n }),
        None => json!({}),
    }))
}

/// CreateFunctionUrlConfig: `AuthType` NONE or AWS_IAM; one URL per
/// function (409 when it has one); 201 with the configuration.
fn create_url_config(
    service: &LambdaService,
    req: &Request<Bytes>,
    name: &str,
) -> Result<Response<Bytes>, AwsError> {
    let function = resolve(service, name, query_param(req, "Qualifier"))?;
    let fname = function.name.clone();
    let body = parse_body(req)?;
    let auth = body.get("AuthType").and_then(Value::as_str).unwrap_or("");
    if auth != "NONE" && auth != "AWS_IAM" {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value '{auth}' at 'authType' failed to satisfy constraint: Member must satisfy enum value set: [AWS_IAM, NONE]"
        )));
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let config = json!({
        "FunctionUrl": service.url_of(&fname),
        "FunctionArn": function_arn(&fname),
        "AuthType": auth,
        "Cors": body.get("Cors").cloned().unwrap_or(json!({})),
        "CreationTime": now,
        "LastModifiedTime": now,
        "InvokeMode": body.get("InvokeMode").cloned().unwrap_or(json!("BUFFERED")),
    });
    let mut state = function.lock();
    if state.url.is_some() {
        return Err(AwsError::user(
            StatusCode::CONFLICT,
            "ResourceConflictException",
            format!("Failed to create function url config for [functionArn = {}]. Error message:  FunctionUrlConfig exists for this Lambda function", function_arn(&fname)),
        ));
    }
    state.url = Some(config.clone());
    let mut resp = ok_json(config);
    *resp.status_mut() = StatusCode::CREATED;
    Ok(resp)
}

/// GetFunctionUrlConfig: the stored configuration, or 404.
fn get_url_config(
    service: &LambdaService,
    req: &Request<Bytes>,
    name: &str,
) -> Result<Response<Bytes>, AwsError> {
    let function = resolve(service, name, query_param(req, "Qualifier"))?;
    let url = function.lock().url.clone();
    match url {
        Some(c) => Ok(ok_json(c)),
        None => Err(AwsError::user(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "The resource you requested does not exist.",
        )),
    }
}

/// An SQS queue ARN of this emulator's region and account (the only
/// destination type it delivers to).
fn destination_arn(arn: &str, member: &str) -> Result<String, AwsError> {
    if crate::sqs::Queues::name_of_arn(arn).is_some() {
        Ok(arn.to_string())
    } else {
        Err(AwsError::invalid_parameter(format!(
            "The {member} {arn} is not an SQS queue ARN of this emulator (arn:aws:sqs:{}:{}:NAME); it delivers failed events to SQS only.",
            crate::REGION,
            crate::ACCOUNT_ID
        )))
    }
}

/// Put/Update/Get/DeleteFunctionEventInvokeConfig. Put replaces the whole
/// configuration (unset members take Lambda's defaults); Update (POST)
/// changes only the members it names.
fn event_invoke_config(
    service: &LambdaService,
    req: &Request<Bytes>,
    name: &str,
    method: Method,
) -> Result<Response<Bytes>, AwsError> {
    let function = resolve(service, name, query_param(req, "Qualifier"))?;
    let missing = || {
        AwsError::user(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!(
                "The function {}:$LATEST doesn't have an EventInvokeConfig",
                function_arn(&function.name)
            ),
        )
    };
    let mut state = function.lock();
    match method {
        Method::GET => {
            let (config, modified) = state.event_invoke.clone().ok_or_else(missing)?;
            Ok(ok_json(event_invoke_json(
                &function.name,
                &config,
                modified,
            )))
        }
        Method::DELETE => {
            state.event_invoke.take().ok_or_else(missing)?;
            let mut resp = Response::new(Bytes::new());
            *resp.status_mut() = StatusCode::NO_CONTENT;
            Ok(resp)
        }
        Method::PUT | Method::POST => {
            let body = parse_body(req)?;
            let base = match (&method, &state.event_invoke) {
                (&Method::POST, Some((c, _))) => c.clone(),
                _ => EventInvokeConfig::default(),
            };
            let config = parse_event_invoke(&body, base)?;
            let modified = epoch_s();
            state.event_invoke = Some((config.clone(), modified));
            Ok(ok_json(event_invoke_json(
                &function.name,
                &config,
                modified,
            )))
        }
        _ => Err(AwsError::unknown_operation()),
    }
}

fn parse_event_invoke(
    body: &Value,
    mut config: EventInvokeConfig,
) -> Result<EventInvokeConfig, AwsError> {
    if let Some(n) = int_field(body, "MaximumRetryAttempts", "maximumRetryAttempts", 0, 2)? {
        config.maximum_retry_attempts = n;
    }
    if let Some(n) = int_field(
        body,
        "MaximumEventAgeInSeconds",
        "maximumEventAgeInSeconds",
        60,
        21_600,
    )? {
        config.maximum_event_age_s = n;
    }
    if let Some(on_failure) = body.pointer("/DestinationConfig/OnFailure") {
        config.on_failure = match on_failure.get("Destination") {
            None | Some(Value::Null) => None,
            Some(Value::String(arn)) => Some(destination_arn(arn, "destination")?),
            Some(_) => {
                return Err(AwsError::invalid_content(
                    "Could not parse request body into json: DestinationConfig.OnFailure.Destination must be a string",
                ))
            }
        };
    }
    Ok(config)
}

/// The `FunctionEventInvokeConfig` JSON object.
fn event_invoke_json(name: &str, config: &EventInvokeConfig, modified: f64) -> Value {
    let mut destinations = json!({ "OnSuccess": {}, "OnFailure": {} });
    if let Some(arn) = &config.on_failure {
        destinations["OnFailure"] = json!({ "Destination": arn });
    }
    json!({
        "LastModified": modified,
        "FunctionArn": format!("{}:$LATEST", function_arn(name)),
        "MaximumRetryAttempts": config.maximum_retry_attempts,
        "MaximumEventAgeInSeconds": config.maximum_event_age_s,
        "DestinationConfig": destinations,
    })
}

async fn invoke(
    service: &LambdaService,
    req: Request<Bytes>,
    name: &str,
) -> Result<Response<Bytes>, AwsError> {
    let function = resolve(service, name, query_param(&req, "Qualifier"))?;
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let invocation_type =
        header("x-amz-invocation-type").unwrap_or_else(|| "RequestResponse".into());
    let limit = match invocation_type.as_str() {
        // The edge refuses longer bodies already; this holds for callers
        // of `LambdaService::handle` too.
        "RequestResponse" | "DryRun" => crate::limits::LAMBDA_REQUEST as usize,
        "Event" => crate::limits::LAMBDA_EVENT as usize,
        other => {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{other}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
            )))
        }
    };
    let tail = match header("x-amz-log-type").as_deref() {
        None | Some("None") => false,
        Some("Tail") => true,
        Some(other) => {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{other}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]"
            )))
        }
    };
    let body = req.body();
    if body.len() > limit {
        let operation = if invocation_type == "Event" {
            "InvokeAsync"
        } else {
            "InvokeFunction"
        };
        return Err(AwsError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "RequestTooLargeException",
            body: json!({
                "Type": "User",
                "message": format!("Request must be smaller than {limit} bytes for the {operation} operation"),
            }),
        });
    }
    let payload = if body.is_empty() {
        Bytes::from_static(b"{}")
    } else {
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            return Err(AwsError::invalid_content(format!(
                "Could not parse request body into json: Could not parse payload into json: {e}"
            )));
        }
        body.clone()
    };
    let client_context = match header("x-amz-client-context") {
        None => None,
        Some(encoded) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .filter(|s| serde_json::from_str::<Value>(s).is_ok_and(|v| v.is_object()));
            match decoded {
                Some(text) => Some(text),
                None => {
                    return Err(AwsError::invalid_content(
                        "Client context must be a valid Base64-encoded JSON object.",
                    ))
                }
            }
        }
    };
    let request_id: Arc<str> = new_request_id().into();
    let invoke_request = InvokeRequest {
        request_id: request_id.clone(),
        payload,
        client_context,
        tail: tail && invocation_type == "RequestResponse",
    };
    let base = |status: StatusCode, body: Bytes| {
        let mut resp = Response::new(body);
        *resp.status_mut() = status;
        if let Ok(id) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-amzn-requestid", id);
        }
        resp
    };
    match invocation_type.as_str() {
        "DryRun" => Ok(base(StatusCode::NO_CONTENT, Bytes::new())),
        "Event" => {
            service.invoke_event(function, invoke_request);
            Ok(base(StatusCode::ACCEPTED, Bytes::new()))
        }
        _ => {
            let outcome = service
                .invoke(&function, invoke_request)
                .await
                .map_err(|throttled| AwsError {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    code: "TooManyRequestsException",
                    body: json!({"Type": "User", "message": "Rate Exceeded.", "Reason": throttled.0}),
                })?;
            let mut resp = base(StatusCode::OK, outcome.payload);
            let headers = resp.headers_mut();
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert(
                "x-amz-executed-version",
                HeaderValue::from_static("$LATEST"),
            );
            if outcome.function_error {
                headers.insert(
                    "x-amz-function-error",
                    HeaderValue::from_static("Unhandled"),
                );
            }
            if let Some(log) = outcome.log_tail {
                let encoded = base64::engine::general_purpose::STANDARD.encode(log.as_bytes());
                if let Ok(v) = HeaderValue::from_str(&encoded) {
                    headers.insert("x-amz-log-result", v);
                }
            }
            Ok(resp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_name_form() {
        let t = parse_target("f").ok().unwrap();
        assert_eq!((t.name.as_str(), t.qualifier), ("f", None));
        let t = parse_target("f:$LATEST").ok().unwrap();
        assert_eq!(t.qualifier.as_deref(), Some("$LATEST"));
        let t = parse_target("123456789012:function:f").ok().unwrap();
        assert_eq!(t.name, "f");
        let t = parse_target("arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST")
            .ok()
            .unwrap();
        assert_eq!(
            (t.name.as_str(), t.qualifier.as_deref()),
            ("f", Some("$LATEST"))
        );
        assert_eq!(
            parse_target("bad name").err().unwrap().code,
            "ValidationException"
        );
        assert_eq!(
            parse_target("arn:aws:lambda:eu-west-1:123456789012:function:f")
                .err()
                .unwrap()
                .code,
            "ResourceNotFoundException"
        );
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("f%3A%24LATEST"), "f:$LATEST");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%"), "%");
    }
}
