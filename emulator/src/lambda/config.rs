//! A function's configuration as the control plane shows it
//! (`FunctionConfiguration`), its revisions and update status.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::{FunctionSpec, LogFormat};

/// `arn:aws:lambda:us-east-1:123456789012:function:NAME`.
pub(crate) fn function_arn(name: &str) -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{name}",
        crate::REGION,
        crate::ACCOUNT_ID
    )
}

/// `2024-12-28T19:04:46.553+0000`, AWS's LastModified format.
pub(crate) fn last_modified_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string()
}

/// The configuration a generation of execution environments runs with.
#[derive(Debug, Clone)]
pub(crate) struct EnvConfig {
    pub spec: FunctionSpec,
    pub arn: Arc<str>,
    pub handler: String,
    pub log_group: String,
    /// `Some` exactly when the log format is JSON.
    pub application_log_level: Option<String>,
    pub system_log_level: Option<String>,
}

impl EnvConfig {
    pub fn from_spec(spec: FunctionSpec) -> Self {
        let (app, sys) = match spec.log_format {
            LogFormat::Json => (Some("INFO".to_string()), Some("INFO".to_string())),
            LogFormat::Text => (None, None),
        };
        Self {
            arn: function_arn(&spec.name).into(),
            handler: "bootstrap".to_string(),
            log_group: format!("/aws/lambda/{}", spec.name),
            application_log_level: app,
            system_log_level: sys,
            spec,
        }
    }

    pub fn is_json(&self) -> bool {
        self.spec.log_format == LogFormat::Json
    }
}

/// `LastUpdateStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateStatus {
    InProgress,
    Successful,
}

/// What the control plane reports about a function.
#[derive(Debug, Clone)]
pub(crate) struct Description {
    pub config: Arc<EnvConfig>,
    pub revision_id: String,
    pub last_modified: String,
    pub update_status: UpdateStatus,
    pub code_size: u64,
    pub code_sha256: String,
}

/// A stable, SHA-256-shaped (44 base64 characters) digest of the code: the
/// emulator runs a binary, not a zip, so AWS's zip hash has no equivalent.
pub(crate) fn code_digest(spec: &FunctionSpec) -> (u64, String) {
    use base64::Engine as _;
    let meta = std::fs::metadata(&spec.executable).ok();
    let size = meta.as_ref().map_or(0, |m| m.len());
    let mtime = meta
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    let mut state = 0xcbf2_9ce4_8422_2325u64;
    let mut bytes = Vec::with_capacity(32);
    for round in 0..4u64 {
        for part in [size, mtime, round] {
            for b in part.to_le_bytes() {
                state ^= u64::from(b);
                state = state.wrapping_mul(0x0100_0000_01b3);
            }
        }
        for b in spec.executable.to_string_lossy().bytes() {
            state ^= u64::from(b);
            state = state.wrapping_mul(0x0100_0000_01b3);
        }
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    (
        size,
        base64::engine::general_purpose::STANDARD.encode(bytes),
    )
}

impl Description {
    /// The `FunctionConfiguration` JSON object.
    pub fn to_json(&self) -> Value {
        let c = &self.config;
        let spec = &c.spec;
        let mut out = Map::new();
        out.insert("FunctionName".into(), json!(spec.name));
        out.insert("FunctionArn".into(), json!(&*c.arn));
        out.insert("Runtime".into(), json!("provided.al2023"));
        out.insert(
            "Role".into(),
            json!(format!(
                "arn:aws:iam::{}:role/{}-role",
                crate::ACCOUNT_ID,
                spec.name
            )),
        );
        out.insert("Handler".into(), json!(c.handler));
        out.insert("CodeSize".into(), json!(self.code_size));
        out.insert("Description".into(), json!(spec.description));
        out.insert("Timeout".into(), json!(spec.timeout_s));
        out.insert("MemorySize".into(), json!(spec.memory_mb));
        out.insert("LastModified".into(), json!(self.last_modified));
        out.insert("CodeSha256".into(), json!(self.code_sha256));
        out.insert("Version".into(), json!("$LATEST"));
        out.insert(
            "Environment".into(),
            json!({ "Variables": spec.environment }),
        );
        if let Some(arn) = &spec.dead_letter_arn {
            out.insert("DeadLetterConfig".into(), json!({ "TargetArn": arn }));
        }
        out.insert("TracingConfig".into(), json!({"Mode": "PassThrough"}));
        out.insert("RevisionId".into(), json!(self.revision_id));
        out.insert("State".into(), json!("Active"));
        match self.update_status {
            UpdateStatus::InProgress => {
                out.insert("LastUpdateStatus".into(), json!("InProgress"));
            }
            UpdateStatus::Successful => {
                out.insert("LastUpdateStatus".into(), json!("Successful"));
            }
        }
        out.insert("PackageType".into(), json!("Zip"));
        out.insert("Architectures".into(), json!([spec.architecture]));
        out.insert("EphemeralStorage".into(), json!({"Size": 512}));
        out.insert(
            "SnapStart".into(),
            json!({"ApplyOn": "None", "OptimizationStatus": "Off"}),
        );
        out.insert(
            "RuntimeVersionConfig".into(),
            json!({"RuntimeVersionArn": super::platform_log::runtime_version_arn()}),
        );
        let mut logging = Map::new();
        logging.insert(
            "LogFormat".into(),
            json!(if c.is_json() { "JSON" } else { "Text" }),
        );
        if let Some(level) = &c.application_log_level {
            logging.insert("ApplicationLogLevel".into(), json!(level));
        }
        if let Some(level) = &c.system_log_level {
            logging.insert("SystemLogLevel".into(), json!(level));
        }
        logging.insert("LogGroup".into(), json!(c.log_group));
        out.insert("LoggingConfig".into(), Value::Object(logging));
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_modified_shape() {
        let s = last_modified_now();
        assert_eq!(s.len(), "2024-12-28T19:04:46.553+0000".len());
        assert!(s.ends_with("+0000"));
    }
}
