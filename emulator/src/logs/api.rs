//! The awsJson1_1 API over the store: FilterLogEvents, GetLogEvents,
//! DescribeLogStreams, DescribeLogGroups, CreateLogGroup, CreateLogStream,
//! PutLogEvents, DeleteLogGroup, DeleteLogStream, Put/DeleteRetentionPolicy.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine;
use bytes::Bytes;
use http::Response;
use serde_json::{json, Value};

use super::pattern::FilterPattern;
use super::store::{
    lock, now_ms, read, write, Group, LogEvent, LogStore, Position, Stored, Stream, EVENT_OVERHEAD,
};
use crate::awsjson::{self, not_found, opt_str, required_str, serialization, validation, ApiError};
use crate::{ACCOUNT_ID, REGION};

const MAX_RESPONSE_BYTES: usize = 1_048_576;
const NO_GROUP: &str = "The specified log group does not exist.";
const NO_STREAM: &str = "The specified log stream does not exist.";

impl LogStore {
    /// The group named, or AWS's ResourceNotFoundException.
    fn existing_group(&self, name: &str) -> Result<Arc<Group>, ApiError> {
        self.group(name).ok_or_else(|| not_found(NO_GROUP))
    }

    /// Answers one `Logs_20140328.<operation>` request.
    pub(crate) fn handle_api(&self, operation: &str, body: &Bytes) -> Response<Bytes> {
        let input = match awsjson::parse_body(body) {
            Ok(v) => v,
            Err(e) => return e.into_response(),
        };
        let answer = match operation {
            "FilterLogEvents" => self.filter_log_events(&input),
            "GetLogEvents" => self.get_log_events(&input),
            "DescribeLogStreams" => self.describe_log_streams(&input),
            "DescribeLogGroups" => self.describe_log_groups(&input),
            "CreateLogGroup" => self.create_log_group(&input),
            "CreateLogStream" => self.create_log_stream(&input),
            "PutLogEvents" => self.put_log_events(&input),
            "DeleteLogGroup" => self.delete_log_group(&input),
            "DeleteLogStream" => self.delete_log_stream(&input),
            "PutRetentionPolicy" => self.put_retention_policy(&input),
            "DeleteRetentionPolicy" => self.delete_retention_policy(&input),
            _ => Err(ApiError::bad_request(
                "UnknownOperationException",
                format!("Unknown operation Logs_20140328.{operation}: this emulator serves FilterLogEvents, GetLogEvents, DescribeLogStreams, DescribeLogGroups, CreateLogGroup, CreateLogStream, PutLogEvents, DeleteLogGroup, DeleteLogStream, PutRetentionPolicy and DeleteRetentionPolicy."),
            )),
        };
        match answer {
            Ok(v) => awsjson::ok(&v),
            Err(e) => e.into_response(),
        }
    }

    fn filter_log_events(&self, input: &Value) -> Result<Value, ApiError> {
        let group_name = group_name(input)?;
        let names = opt_str_list(input, "logStreamNames")?;
        let prefix = opt_str(input, "logStreamNamePrefix")?;
        if names.is_some() && prefix.is_some() {
            return Err(invalid(
                "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.",
            ));
        }
        let start = opt_i64(input, "startTime")?;
        let end = opt_i64(input, "endTime")?;
        let limit = limit(input, 10_000)?;
        let pattern = FilterPattern::parse(opt_str(input, "filterPattern")?.unwrap_or(""))
            .map_err(|e| invalid(&format!("Invalid filter pattern: {e}")))?;
        let after = match opt_str(input, "nextToken")? {
            Some(t) => decode_filter_token(t)?,
            None => Position::HEAD,
        };

        let now = now_ms();
        let group = self.existing_group(group_name)?;
        let mut searched = Vec::new();
        // Owned copies: each stream is locked only while it is scanned.
        let mut hits: Vec<(String, Stored)> = Vec::new();
        for (name, stream) in group.streams() {
            let selected = match (&names, prefix) {
                (Some(names), _) => names.iter().any(|n| *n == name),
                (None, Some(p)) => name.starts_with(p),
                (None, None) => true,
            };
            if !selected {
                continue;
            }
            searched.push(json!({"logStreamName": name, "searchedCompletely": true}));
            // FilterLogEvents' endTime is inclusive.
            let end_exclusive = end.map(|t| t.saturating_add(1));
            let stream = lock(&stream);
            // The first limit + 1 of each stream are enough to fill the page
            // and to know whether more remain.
            hits.extend(
                stream
                    .window(start, end_exclusive, after)
                    .iter()
                    .filter(|e| self.visible(e.ingestion, now))
                    .filter(|e| pattern.matches(&e.message))
                    .take(limit + 1)
                    .map(|e| (name.clone(), e.clone())),
            );
        }
        hits.sort_by_key(|(_, e)| e.key());
        let mut events = Vec::new();
        let mut bytes = 0;
        let mut last = None;
        for (stream, e) in &hits {
            bytes += e.message.len() + EVENT_OVERHEAD;
            if events.len() == limit || (bytes > MAX_RESPONSE_BYTES && !events.is_empty()) {
                break;
            }
            events.push(json!({
                "logStreamName": stream,
                "timestamp": e.timestamp,
                "message": e.message,
                "ingestionTime": e.ingestion,
                "eventId": e.key().digits(),
            }));
            last = Some(e.key());
        }
        let mut out = json!({"events": events, "searchedLogStreams": searched});
        if events_left(hits.len(), out["events"].as_array().map_or(0, Vec::len)) {
            if let Some(last) = last {
                out["nextToken"] = json!(encode_filter_token(last));
            }
        }
        Ok(out)
    }

    fn get_log_events(&self, input: &Value) -> Result<Value, ApiError> {
        let group_name = group_name(input)?;
        let stream_name = required_str(input, "logStreamName")?;
        let start = opt_i64(input, "startTime")?;
        let end = opt_i64(input, "endTime")?;
        let limit = limit(input, 10_000)?;
        let from_head = input
            .get("startFromHead")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let (forward, from) = match opt_str(input, "nextToken")? {
            Some(token) => decode_stream_token(token)?,
            None if from_head => (true, Position::HEAD),
            None => (false, Position::TAIL),
        };

        let now = now_ms();
        let stream = self
            .existing_group(group_name)?
            .stream(stream_name)
            .ok_or_else(|| not_found(NO_STREAM))?;
        let stream = lock(&stream);
        // GetLogEvents' endTime is exclusive (FilterLogEvents' is not).
        let page: Vec<&Stored> = if forward {
            let mut bytes = 0;
            stream
                .window(start, end, from)
                .iter()
                .filter(|e| self.visible(e.ingestion, now))
                .take_while(|e| {
                    bytes += e.message.len() + EVENT_OVERHEAD;
                    bytes <= MAX_RESPONSE_BYTES
                })
                .take(limit)
                .collect()
        } else {
            let window = stream.window(start, end, Position::HEAD);
            let before = &window[..window.partition_point(|e| e.key() < from)];
            let mut bytes = 0;
            let mut page: Vec<&Stored> = before
                .iter()
                .rev()
                .filter(|e| self.visible(e.ingestion, now))
                .take_while(|e| {
                    bytes += e.message.len() + EVENT_OVERHEAD;
                    bytes <= MAX_RESPONSE_BYTES
                })
                .take(limit)
                .collect();
            page.reverse();
            page
        };
        let (next_forward, next_backward) = match (page.first(), page.last()) {
            (Some(first), Some(last)) => (last.key(), first.key()),
            // Nothing (more) in this direction: hand the same place back, so
            // a reader polling with the forward token sees it unchanged at
            // the end of the stream. From the tail of an empty stream, start
            // at the head so that later events are still found.
            _ if !forward && from == Position::TAIL => (Position::HEAD, Position::HEAD),
            _ => (from, from),
        };
        let events: Vec<Value> = page
            .iter()
            .map(|e| {
                json!({
                    "timestamp": e.timestamp,
                    "message": e.message,
                    "ingestionTime": e.ingestion,
                })
            })
            .collect();
        Ok(json!({
            "events": events,
            "nextForwardToken": format!("f/{}", next_forward.digits()),
            "nextBackwardToken": format!("b/{}", next_backward.digits()),
        }))
    }

    fn describe_log_streams(&self, input: &Value) -> Result<Value, ApiError> {
        let group_name = group_name(input)?;
        let prefix = opt_str(input, "logStreamNamePrefix")?;
        let order = opt_str(input, "orderBy")?.unwrap_or("LogStreamName");
        let by_last_event = match order {
            "LogStreamName" => false,
            "LastEventTime" => true,
            other => {
                return Err(validation(&format!(
                    "1 validation error detected: Value '{other}' at 'orderBy' failed to satisfy constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]"
                )))
            }
        };
        if by_last_event && prefix.is_some() {
            return Err(invalid(
                "Cannot order by LastEventTime with a logStreamNamePrefix.",
            ));
        }
        let descending = input
            .get("descending")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let limit = limit(input, 50)?;
        let offset = match opt_str(input, "nextToken")? {
            Some(t) => decode_offset_token(t)?,
            None => 0,
        };

        let now = now_ms();
        let group = self.existing_group(group_name)?;
        let mut streams: Vec<(Value, i64)> = group
            .streams()
            .into_iter()
            .filter(|(name, _)| prefix.is_none_or(|p| name.starts_with(p)))
            .map(|(name, stream)| {
                let stream = lock(&stream);
                let visible: Vec<&Stored> = stream
                    .events
                    .iter()
                    .filter(|e| self.visible(e.ingestion, now))
                    .collect();
                let mut v = json!({
                    "logStreamName": name,
                    "creationTime": stream.created,
                    "arn": format!("arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{group_name}:log-stream:{name}"),
                    "storedBytes": 0,
                });
                let mut last_event = 0;
                if let (Some(first), Some(last)) = (visible.first(), visible.last()) {
                    last_event = last.timestamp;
                    v["firstEventTimestamp"] = json!(first.timestamp);
                    v["lastEventTimestamp"] = json!(last.timestamp);
                    v["lastIngestionTime"] =
                        json!(visible.iter().map(|e| e.ingestion).max().unwrap_or(0));
                    v["uploadSequenceToken"] = json!(last.key().digits());
                }
                (v, last_event)
            })
            .collect();
        if by_last_event {
            streams.sort_by_key(|(_, last)| *last);
        }
        if descending {
            streams.reverse();
        }
        let total = streams.len();
        let page: Vec<Value> = streams
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(v, _)| v)
            .collect();
        let mut out = json!({ "logStreams": page });
        if offset + limit < total {
            out["nextToken"] = json!(encode_offset_token(offset + limit));
        }
        Ok(out)
    }

    fn describe_log_groups(&self, input: &Value) -> Result<Value, ApiError> {
        let prefix = opt_str(input, "logGroupNamePrefix")?;
        let pattern = opt_str(input, "logGroupNamePattern")?;
        if prefix.is_some() && pattern.is_some() {
            return Err(invalid(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
            ));
        }
        let limit = limit(input, 50)?;
        let offset = match opt_str(input, "nextToken")? {
            Some(t) => decode_offset_token(t)?,
            None => 0,
        };
        let pattern = pattern.map(str::to_lowercase);
        let groups = read(&self.inner.groups);
        let matching: Vec<(&String, &Arc<Group>)> = groups
            .iter()
            .filter(|(name, _)| prefix.is_none_or(|p| name.starts_with(p)))
            .filter(|(name, _)| {
                pattern
                    .as_deref()
                    .is_none_or(|p| name.to_lowercase().contains(p))
            })
            .collect();
        let total = matching.len();
        let page: Vec<Value> = matching
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(name, group)| {
                let arn = format!("arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}");
                let retention = group.retention_days();
                let mut v = json!({
                    "logGroupName": name,
                    "creationTime": group.created,
                    "metricFilterCount": 0,
                    "arn": format!("{arn}:*"),
                    "logGroupArn": arn,
                    "storedBytes": group.bytes.load(Ordering::Relaxed),
                    "logGroupClass": "STANDARD",
                });
                if let Some(days) = retention {
                    v["retentionInDays"] = json!(days);
                }
                v
            })
            .collect();
        let mut out = json!({ "logGroups": page });
        if offset + limit < total {
            out["nextToken"] = json!(encode_offset_token(offset + limit));
        }
        Ok(out)
    }

    fn create_log_group(&self, input: &Value) -> Result<Value, ApiError> {
        let name = required_str(input, "logGroupName")?;
        validate_group_name(name)?;
        let mut groups = write(&self.inner.groups);
        if groups.contains_key(name) {
            return Err(ApiError::bad_request(
                "ResourceAlreadyExistsException",
                "The specified log group already exists",
            ));
        }
        groups.insert(name.to_string(), Arc::new(Group::new(now_ms())));
        Ok(json!({}))
    }

    fn create_log_stream(&self, input: &Value) -> Result<Value, ApiError> {
        let group_name = required_str(input, "logGroupName")?;
        let name = required_str(input, "logStreamName")?;
        if name.is_empty() || name.len() > 512 || name.contains(':') || name.contains('*') {
            return Err(invalid(
                "Log stream names must be 1-512 characters and contain neither ':' nor '*'.",
            ));
        }
        let group = self.existing_group(group_name)?;
        let mut streams = write(&group.streams);
        if streams.contains_key(name) {
            return Err(ApiError::bad_request(
                "ResourceAlreadyExistsException",
                "The specified log stream already exists",
            ));
        }
        streams.insert(
            name.to_string(),
            Arc::new(Mutex::new(Stream {
                created: now_ms(),
                events: Vec::new(),
            })),
        );
        Ok(json!({}))
    }

    fn put_log_events(&self, input: &Value) -> Result<Value, ApiError> {
        let group_name = group_name(input)?;
        let stream_name = required_str(input, "logStreamName")?;
        let Some(raw) = input.get("logEvents").and_then(Value::as_array) else {
            return Err(validation(
                "1 validation error detected: Value null at 'logEvents' failed to satisfy constraint: Member must not be null",
            ));
        };
        let mut events = Vec::with_capacity(raw.len());
        for e in raw {
            let (Some(timestamp), Some(message)) = (
                e.get("timestamp").and_then(Value::as_i64),
                e.get("message").and_then(Value::as_str),
            ) else {
                return Err(invalid("Each log event needs a timestamp and a message."));
            };
            events.push(LogEvent {
                timestamp,
                message: message.to_string(),
            });
        }
        if events.windows(2).any(|w| w[0].timestamp > w[1].timestamp) {
            return Err(invalid(
                "Log events in a single PutLogEvents request must be in chronological order.",
            ));
        }
        if self
            .existing_group(group_name)?
            .stream(stream_name)
            .is_none()
        {
            return Err(not_found(NO_STREAM));
        }
        self.append(group_name, stream_name, events);
        let seq = self.inner.next_seq.load(Ordering::Relaxed);
        Ok(json!({ "nextSequenceToken": format!("{seq:056}") }))
    }

    fn put_retention_policy(&self, input: &Value) -> Result<Value, ApiError> {
        const ALLOWED: [i64; 22] = [
            1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
            2922, 3288, 3653,
        ];
        let name = required_str(input, "logGroupName")?;
        let days = opt_i64(input, "retentionInDays")?.ok_or_else(|| {
            validation("1 validation error detected: Value null at 'retentionInDays' failed to satisfy constraint: Member must not be null")
        })?;
        if !ALLOWED.contains(&days) {
            return Err(invalid(&format!(
                "1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: {ALLOWED:?}"
            )));
        }
        let group = self.existing_group(name)?;
        *group
            .retention_days
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(days);
        group.apply_retention(now_ms(), true);
        Ok(json!({}))
    }

    fn delete_retention_policy(&self, input: &Value) -> Result<Value, ApiError> {
        let group = self.existing_group(required_str(input, "logGroupName")?)?;
        *group
            .retention_days
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        Ok(json!({}))
    }

    fn delete_log_group(&self, input: &Value) -> Result<Value, ApiError> {
        let name = required_str(input, "logGroupName")?;
        match write(&self.inner.groups).remove(name) {
            Some(_) => Ok(json!({})),
            None => Err(not_found(NO_GROUP)),
        }
    }

    fn delete_log_stream(&self, input: &Value) -> Result<Value, ApiError> {
        let group_name = required_str(input, "logGroupName")?;
        let name = required_str(input, "logStreamName")?;
        let group = self.existing_group(group_name)?;
        let removed = write(&group.streams).remove(name);
        match removed {
            Some(stream) => {
                let freed: usize = lock(&stream).events.iter().map(Stored::size).sum();
                group.bytes.fetch_sub(freed, Ordering::Relaxed);
                Ok(json!({}))
            }
            None => Err(not_found(NO_STREAM)),
        }
    }
}

fn events_left(matching: usize, returned: usize) -> bool {
    matching > returned
}

/// `logGroupName`, or `logGroupIdentifier` (a name or an ARN, with or
/// without the trailing `:*`).
fn group_name(input: &Value) -> Result<&str, ApiError> {
    let name = opt_str(input, "logGroupName")?;
    let identifier = opt_str(input, "logGroupIdentifier")?;
    match (name, identifier) {
        (Some(_), Some(_)) => Err(invalid(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
        )),
        (Some(n), None) => Ok(n),
        (None, Some(id)) => {
            let id = id.strip_suffix(":*").unwrap_or(id);
            Ok(match id.split_once(":log-group:") {
                Some((arn_prefix, name)) if arn_prefix.starts_with("arn:") => name,
                _ => id,
            })
        }
        (None, None) => Err(invalid(
            "Either logGroupName or logGroupIdentifier must be specified.",
        )),
    }
}

fn validate_group_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-/.#".contains(c));
    if ok {
        Ok(())
    } else {
        Err(validation(&format!(
            "1 validation error detected: Value '{name}' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
        )))
    }
}

fn limit(input: &Value, max: i64) -> Result<usize, ApiError> {
    match input.get("limit") {
        None | Some(Value::Null) => Ok(max as usize),
        Some(v) => match v.as_i64() {
            Some(n) if (1..=max).contains(&n) => Ok(n as usize),
            Some(n) if n < 1 => Err(validation(&format!(
                "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
            ))),
            Some(n) => Err(validation(&format!(
                "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to {max}"
            ))),
            None => Err(serialization("limit")),
        },
    }
}

fn opt_i64(input: &Value, field: &str) -> Result<Option<i64>, ApiError> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| serialization(field)),
    }
}

fn opt_str_list<'a>(input: &'a Value, field: &str) -> Result<Option<Vec<&'a str>>, ApiError> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().ok_or_else(|| serialization(field)))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(serialization(field)),
    }
}

fn encode_filter_token(last: Position) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("filter:{}", last.digits()))
}

fn decode_filter_token(token: &str) -> Result<Position, ApiError> {
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|s| s.strip_prefix("filter:").and_then(Position::from_digits))
        .ok_or_else(|| invalid("The specified nextToken is invalid."))
}

fn decode_stream_token(token: &str) -> Result<(bool, Position), ApiError> {
    let parsed = match token.split_once('/') {
        Some(("f", digits)) => Position::from_digits(digits).map(|p| (true, p)),
        Some(("b", digits)) => Position::from_digits(digits).map(|p| (false, p)),
        _ => None,
    };
    parsed.ok_or_else(|| invalid("The specified nextToken is invalid."))
}

fn encode_offset_token(offset: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("offset:{offset}"))
}

fn decode_offset_token(token: &str) -> Result<usize, ApiError> {
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| invalid("The specified nextToken is invalid."))
}

fn invalid(message: &str) -> ApiError {
    ApiError::bad_request("InvalidParameterException", message)
}

#[cfg(test)]
mod tests {
    use super::super::store::DAY_MS;
    use super::*;

    #[test]
    fn retention_removes_expired_events() {
        let store = LogStore::new(0);
        let now = now_ms();
        let ev = |t: i64| LogEvent {
            timestamp: t,
            message: "m".to_string(),
        };
        store.append(
            "g",
            "s",
            vec![ev(now - 3 * DAY_MS), ev(now - 2 * DAY_MS), ev(now)],
        );
        let input = json!({"logGroupName": "g", "retentionInDays": 1});
        store.put_retention_policy(&input).unwrap();
        let stream = store.group("g").unwrap().stream("s").unwrap();
        assert_eq!(lock(&stream).events.len(), 1);
        assert_eq!(store.stored_bytes("g"), 1 + EVENT_OVERHEAD);
    }
}
