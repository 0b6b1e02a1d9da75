//! Structured logs in the format `AWS_LAMBDA_LOG_FORMAT` asks for.
//!
//! JSON lines carry Lambda's application-log keys (`timestamp`, `level`,
//! `requestId`, `message`) plus the event's fields; Text lines are
//! tab-separated like Lambda's managed runtimes print them. Nothing secret is
//! ever passed to a log macro: credentials and tokens live in
//! [`crate::config::Secret`], whose formatting is redacted.

use std::fmt;
use std::sync::Mutex;

use chrono::SecondsFormat;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

static REQUEST_ID: Mutex<String> = Mutex::new(String::new());

/// Sets the request id stamped on every following line.
pub fn set_request_id(id: &str) {
    if let Ok(mut r) = REQUEST_ID.lock() {
        id.clone_into(&mut r);
    }
}

/// The two formats Lambda offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Plain tab-separated lines (Lambda's default).
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// `AWS_LAMBDA_LOG_FORMAT` (`JSON` or `Text`, case-insensitive; default Text).
    pub fn from_env() -> Self {
        match std::env::var("AWS_LAMBDA_LOG_FORMAT") {
            Ok(v) if v.eq_ignore_ascii_case("json") => LogFormat::Json,
            _ => LogFormat::Text,
        }
    }
}

/// `AWS_LAMBDA_LOG_LEVEL` (TRACE, DEBUG, INFO, WARN, ERROR, FATAL; default INFO).
pub fn level_from_env() -> Level {
    match std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .unwrap_or_default()
        .to_ascii_uppercase()
        .as_str()
    {
        "TRACE" => Level::TRACE,
        "DEBUG" => Level::DEBUG,
        "WARN" => Level::WARN,
        "ERROR" | "FATAL" => Level::ERROR,
        _ => Level::INFO,
    }
}

/// The line formatter.
pub struct LambdaFormat(pub LogFormat);

#[derive(Default)]
struct Fields(Map<String, Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
}

impl<S, N> FormatEvent<S, N> for LambdaFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = match fields.0.remove("message") {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let timestamp = chrono::Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let level = event.metadata().level().as_str();
        let request_id = REQUEST_ID.lock().map(|r| r.clone()).unwrap_or_default();
        match self.0 {
            LogFormat::Json => {
                let mut line = Map::new();
                line.insert("timestamp".into(), timestamp.into());
                line.insert("level".into(), level.into());
                if !request_id.is_empty() {
                    line.insert("requestId".into(), request_id.into());
                }
                line.insert("message".into(), message.into());
                for (k, v) in fields.0 {
                    line.entry(k).or_insert(v);
                }
                writeln!(writer, "{}", Value::Object(line))
            }
            LogFormat::Text => {
                write!(writer, "{timestamp}\t{level}\t{request_id}\t{message}")?;
                for (k, v) in fields.0 {
                    match v {
                        Value::String(s) => write!(writer, " {k}={s}")?,
                        other => write!(writer, " {k}={other}")?,
                    }
                }
                writeln!(writer)
            }
        }
    }
}

/// A subscriber writing `format` lines at `level` and above to `writer`.
pub fn subscriber<W>(format: LogFormat, level: Level, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(writer)
        .event_format(LambdaFormat(format))
        .finish()
}

/// Installs the process-wide subscriber from the Lambda environment (stdout).
pub fn init_from_env() {
    let sub = subscriber(LogFormat::from_env(), level_from_env(), std::io::stdout);
    let _ = tracing::subscriber::set_global_default(sub);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Capture {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_lambda_keys() {
        let cap = Capture::default();
        let c2 = cap.clone();
        let sub = subscriber(LogFormat::Json, Level::INFO, move || c2.clone());
        set_request_id("req-1");
        tracing::subscriber::with_default(sub, || {
            tracing::info!(pages = 3u64, "hello");
            tracing::debug!("filtered out");
        });
        let text = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let v: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["message"], "hello");
        assert_eq!(v["requestId"], "req-1");
        assert_eq!(v["pages"], 3);
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn text_lines_are_tab_separated() {
        let cap = Capture::default();
        let c2 = cap.clone();
        let sub = subscriber(LogFormat::Text, Level::INFO, move || c2.clone());
        tracing::subscriber::with_default(sub, || tracing::warn!(key = "v", "careful"));
        let text = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
        let cols: Vec<&str> = text.trim_end().split('\t').collect();
        assert_eq!(cols[1], "WARN");
        assert_eq!(cols[3], "careful key=v");
    }
}
