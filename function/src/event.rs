//! The invocation payload: `{}`, `{"dryRun":true}` or `{"resume":"<key>"}`,
//! each optionally with `"asOf":"<RFC3339>"`.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// What an invocation asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncEvent {
    /// Fetch and compute statistics, write nothing.
    pub dry_run: bool,
    /// Continue the checkpointed run stored at this S3 key.
    pub resume: Option<String>,
    /// The statistics' as-of instant (default: the sync's start).
    pub as_of: Option<DateTime<Utc>>,
}

/// A payload that is not one of the accepted shapes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid event: {0}; expected {{}}, {{\"dryRun\": true}} or {{\"resume\": \"<checkpoint key>\"}}, optionally with \"asOf\": \"<RFC3339 time>\"")]
pub struct EventError(pub String);

impl SyncEvent {
    /// Parses a payload. A `null` payload and an EventBridge scheduled event
    /// (which carries `source` and `detail-type`) both mean a full sync.
    pub fn parse(payload: &Value) -> Result<Self, EventError> {
        let obj = match payload {
            Value::Null => return Ok(Self::default()),
            Value::Object(o) => o,
            other => {
                return Err(EventError(format!(
                    "the payload is a JSON {}, not an object",
                    kind(other)
                )))
            }
        };
        if obj.contains_key("detail-type") && obj.contains_key("source") {
            return Ok(Self::default());
        }
        let mut event = Self::default();
        for (key, value) in obj {
            match key.as_str() {
                "dryRun" => {
                    event.dry_run = value.as_bool().ok_or_else(|| {
                        EventError(format!("\"dryRun\" must be true or false, not {value}"))
                    })?
                }
                "resume" => {
                    let key = value
                        .as_str()
                        .filter(|s| !s.trim().is_empty())
                        .ok_or_else(|| {
                            EventError(format!(
                                "\"resume\" must be a non-empty checkpoint key, not {value}"
                            ))
                        })?;
                    event.resume = Some(key.to_owned());
                }
                "asOf" => {
                    let text = value.as_str().ok_or_else(|| {
                        EventError(format!("\"asOf\" must be an RFC3339 string, not {value}"))
                    })?;
                    let at = DateTime::parse_from_rfc3339(text).map_err(|e| {
                        EventError(format!("\"asOf\" {text:?} is not an RFC3339 time ({e})"))
                    })?;
                    event.as_of = Some(at.with_timezone(&Utc));
                }
                other => return Err(EventError(format!("unknown key {other:?}"))),
            }
        }
        if event.dry_run && event.resume.is_some() {
            return Err(EventError(
                "\"dryRun\" and \"resume\" cannot be combined (a dry run writes no checkpoint)"
                    .into(),
            ));
        }
        Ok(event)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepted_shapes() {
        assert_eq!(SyncEvent::parse(&json!({})).unwrap(), SyncEvent::default());
        assert!(SyncEvent::parse(&json!({"dryRun": true})).unwrap().dry_run);
        let e = SyncEvent::parse(&json!({"resume": "p/x.json", "asOf": "2026-11-26T06:00:00Z"}))
            .unwrap();
        assert_eq!(e.resume.as_deref(), Some("p/x.json"));
        assert_eq!(e.as_of.unwrap().to_rfc3339(), "2026-11-26T06:00:00+00:00");
        let scheduled =
            json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
        assert_eq!(SyncEvent::parse(&scheduled).unwrap(), SyncEvent::default());
    }

    #[test]
    fn wrong_shapes_are_explained() {
        for (payload, needle) in [
            (json!([]), "array"),
            (json!({"dryRun": "yes"}), "dryRun"),
            (json!({"resume": 3}), "resume"),
            (json!({"asOf": "yesterday"}), "asOf"),
            (json!({"dryrun": true}), "unknown key"),
            (json!({"dryRun": true, "resume": "k"}), "cannot be combined"),
        ] {
            let msg = SyncEvent::parse(&payload).unwrap_err().to_string();
            assert!(msg.contains(needle), "{msg}");
        }
    }
}
