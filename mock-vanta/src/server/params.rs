//! Query-string validation. Every malformed value is a 400 naming the
//! parameter; unknown parameters are rejected too, so that a client's typo
//! (say `includeVulnerabilitiesWithoutSla`) fails loudly instead of
//! silently changing what is exported.

use super::cursor::{self, List};
use super::response::error;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate};

/// The query parameters of one request.
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

/// A rejected request: the 400's message.
pub(crate) struct Rejection(String);

impl Rejection {
    /// The 400 answer.
    pub(crate) fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, "bad_request", self.0)
    }
}

fn bad(message: String) -> Rejection {
    Rejection(message)
}

impl Params {
    /// Checks that every name is allowed (`pageSize` and `pageCursor` always
    /// are) and given at most once.
    pub(crate) fn new(pairs: Vec<(String, String)>, allowed: &[&str]) -> Result<Self, Rejection> {
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !allowed.contains(&name.as_str()) && name != "pageSize" && name != "pageCursor" {
                return Err(bad(format!(
                    "unknown query parameter {name:?}; this endpoint accepts pageSize, pageCursor, {}",
                    allowed.join(", ")
                )));
            }
            if pairs[..i].iter().any(|(n, _)| n == name) {
                return Err(bad(format!(
                    "query parameter {name:?} is given more than once"
                )));
            }
        }
        Ok(Params { pairs })
    }

    /// The raw value of a parameter.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `pageSize`: 1..=100, default 10.
    pub(crate) fn page_size(&self) -> Result<usize, Rejection> {
        match self.get("pageSize") {
            None => Ok(10),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => Ok(n),
                _ => Err(bad(format!(
                    "pageSize must be an integer from 1 to 100, got {v:?}"
                ))),
            },
        }
    }

    /// `pageCursor`: the index of the last record of the previous page.
    pub(crate) fn cursor(&self, list: List) -> Result<Option<u64>, Rejection> {
        match self.get("pageCursor") {
            None => Ok(None),
            Some(c) => cursor::decode(list, c)
                .map(Some)
                .ok_or_else(|| bad(format!("pageCursor {c:?} is not a cursor of this endpoint"))),
        }
    }

    /// A `true`/`false` parameter.
    pub(crate) fn boolean(&self, name: &str) -> Result<Option<bool>, Rejection> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => Err(bad(format!("{name} must be true or false, got {v:?}"))),
        }
    }

    /// A date parameter (RFC 3339, or `YYYY-MM-DD` meaning midnight UTC),
    /// in ms since the epoch.
    pub(crate) fn date(&self, name: &str) -> Result<Option<i64>, Rejection> {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        if let Ok(t) = DateTime::parse_from_rfc3339(v) {
            return Ok(Some(t.timestamp_millis()));
        }
        if let Some(midnight) = NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
        {
            return Ok(Some(midnight.and_utc().timestamp_millis()));
        }
        Err(bad(format!(
            "{name} must be a date like 2024-01-17T15:26:43.534Z or 2024-01-17, got {v:?}"
        )))
    }

    /// One of a fixed set of values.
    pub(crate) fn one_of(
        &self,
        name: &str,
        values: &[&'static str],
    ) -> Result<Option<&'static str>, Rejection> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => values
                .iter()
                .find(|x| **x == v)
                .map(|x| Some(*x))
                .ok_or_else(|| {
                    bad(format!(
                        "{name} must be one of {}, got {v:?}",
                        values.join(", ")
                    ))
                }),
        }
    }
}
