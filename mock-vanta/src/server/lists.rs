//! The list and by-id endpoints.

use super::cursor::{self, List};
use super::params::{Params, Rejection};
use super::response::{error, json_response};
use super::AppState;
use crate::dataset::records::{Asset, Remediation, Vulnerability};
use crate::dataset::{Dataset, ASSET_TYPES, SEVERITIES};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use std::ops::Range;
use std::sync::Arc;

/// Room reserved per record when sizing a page buffer (a typical
/// vulnerability serialises to about 1 KB).
const BYTES_PER_RECORD: usize = 1200;

/// One page request after validation.
struct PageRequest {
    list: List,
    /// The indexes that can match at all.
    range: Range<u64>,
    after: Option<u64>,
    size: usize,
}

/// Serialises one page: pageInfo first, then the records, into one buffer.
/// `fetch` builds record i if it passes the filters. With `filtered` false
/// every index in the range matches, so "is there a next page" needs no
/// look-ahead.
fn write_page<R: Serialize>(
    req: &PageRequest,
    filtered: bool,
    mut fetch: impl FnMut(u64) -> Option<R>,
) -> Vec<u8> {
    let start = req
        .after
        .map_or(0, |c| c.saturating_add(1))
        .max(req.range.start);
    let mut data = Vec::with_capacity(req.size * BYTES_PER_RECORD);
    let (mut first, mut last, mut count) = (None, None, 0usize);
    let mut i = start;
    while i < req.range.end && count < req.size {
        if let Some(record) = fetch(i) {
            if count > 0 {
                data.push(b',');
            }
            // Writing generated records into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut data, &record);
            first.get_or_insert(i);
            last = Some(i);
            count += 1;
        }
        i += 1;
    }
    let has_next = count == req.size
        && if filtered {
            (i..req.range.end).any(|j| fetch(j).is_some())
        } else {
            i < req.range.end
        };
    let mut out = Vec::with_capacity(data.len() + 256);
    out.extend_from_slice(b"{\"results\":{\"pageInfo\":{\"startCursor\":");
    let cursor_json = |out: &mut Vec<u8>, at: Option<u64>| match at {
        Some(i) => {
            out.push(b'"');
            out.extend_from_slice(cursor::encode(req.list, i).as_bytes());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    };
    cursor_json(&mut out, first);
    out.extend_from_slice(b",\"endCursor\":");
    cursor_json(&mut out, last);
    out.extend_from_slice(if has_next {
        b",\"hasNextPage\":true"
    } else {
        b",\"hasNextPage\":false"
    });
    out.extend_from_slice(if req.after.is_some() {
        b",\"hasPreviousPage\":true},\"data\":["
    } else {
        b",\"hasPreviousPage\":false},\"data\":["
    });
    out.extend_from_slice(&data);
    out.extend_from_slice(b"]}}");
    out
}

/// Runs a page build; scans (filtered pages) go to the blocking pool so a
/// long scan never stalls the server's other connections.
async fn respond(filtered: bool, build: impl FnOnce() -> Vec<u8> + Send + 'static) -> Response {
    let body = if filtered {
        match tokio::task::spawn_blocking(build).await {
            Ok(body) => body,
            Err(_) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "page build failed",
                )
            }
        }
    } else {
        build()
    };
    json_response(StatusCode::OK, body)
}

fn contains_ci(haystack: &str, needle_lower: &str) -> bool {
    haystack.to_ascii_lowercase().contains(needle_lower)
}

/// The first index in `0..n` where `pred` turns true (`pred` monotone).
fn partition_point(n: u64, pred: impl Fn(u64) -> bool) -> u64 {
    let (mut lo, mut hi) = (0u64, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Filters of `GET /v1/vulnerabilities` other than the SLA window, which
/// narrows the index range instead (the list is sorted by deadline).
struct VulnerabilityFilter {
    q: Option<String>,
    is_deactivated: Option<bool>,
    external_id: Option<String>,
    is_fixable: Option<bool>,
    package: Option<String>,
    severity: Option<&'static str>,
    integration: Option<String>,
    asset: Option<u64>,
}

impl VulnerabilityFilter {
    fn is_empty(&self) -> bool {
        self.q.is_none()
            && self.is_deactivated.is_none()
            && self.external_id.is_none()
            && self.is_fixable.is_none()
            && self.package.is_none()
            && self.severity.is_none()
            && self.integration.is_none()
            && self.asset.is_none()
    }

    fn matches(&self, v: &Vulnerability) -> bool {
        self.asset.is_none_or(|a| v.target_index == a)
            && self.severity.is_none_or(|s| v.severity == s)
            && self
                .integration
                .as_deref()
                .is_none_or(|s| v.integration_id == s)
            && self.is_fixable.is_none_or(|b| v.is_fixable == b)
            && self
                .is_deactivated
                .is_none_or(|b| v.deactivate_metadata.is_some() == b)
            && self
                .package
                .as_deref()
                .is_none_or(|p| v.package_identifier.as_deref() == Some(p))
            && self
                .external_id
                .as_deref()
                .is_none_or(|e| v.name == e || v.related_vulns.iter().any(|r| r == e))
            && self.q.as_deref().is_none_or(|q| contains_ci(&v.name, q))
    }
}

fn vulnerability_request(
    data: &Dataset,
    params: &Params,
) -> Result<(PageRequest, VulnerabilityFilter), Rejection> {
    let include_without = params
        .boolean("includeVulnerabilitiesWithoutSlas")?
        .unwrap_or(false);
    let after = params.date("slaDeadlineAfterDate")?;
    let before = params.date("slaDeadlineBeforeDate")?;
    let mut filter = VulnerabilityFilter {
        q: params.get("q").map(str::to_ascii_lowercase),
        is_deactivated: params.boolean("isDeactivated")?,
        external_id: params.get("externalVulnerabilityId").map(str::to_string),
        is_fixable: params.boolean("isFixAvailable")?,
        package: params.get("packageIdentifier").map(str::to_string),
        severity: params.one_of("severity", &SEVERITIES)?,
        integration: params.get("integrationId").map(str::to_string),
        asset: None,
    };
    let mut range = 0..if include_without {
        data.vulnerabilities
    } else {
        data.with_sla
    };
    if let Some(asset_id) = params.get("vulnerableAssetId") {
        match data
            .asset_ids
            .index_of(asset_id)
            .filter(|a| *a < data.assets)
        {
            Some(a) => filter.asset = Some(a),
            None => range = 0..0,
        }
    }
    // Deadlines are non-decreasing over 0..with_sla, so an SLA window is a
    // contiguous index range found by binary search.
    if after.is_some() || before.is_some() {
        let deadline = |i| data.remediate_by(i).unwrap_or(i64::MAX);
        let lo = after.map_or(0, |t| partition_point(data.with_sla, |i| deadline(i) > t));
        let hi = before.map_or(data.with_sla, |t| {
            partition_point(data.with_sla, |i| deadline(i) >= t)
        });
        range = range.start.max(lo)..range.end.min(hi).max(range.start.max(lo));
    }
    let page = PageRequest {
        list: List::Vulnerabilities,
        range,
        after: params.cursor(List::Vulnerabilities)?,
        size: params.page_size()?,
    };
    Ok((page, filter))
}

const VULNERABILITY_PARAMS: [&str; 11] = [
    "q",
    "isDeactivated",
    "externalVulnerabilityId",
    "isFixAvailable",
    "packageIdentifier",
    "slaDeadlineAfterDate",
    "slaDeadlineBeforeDate",
    "severity",
    "integrationId",
    "includeVulnerabilitiesWithoutSlas",
    "vulnerableAssetId",
];

/// `GET /v1/vulnerabilities`.
pub(crate) async fn vulnerabilities(
    State(app): State<Arc<AppState>>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let parsed = Params::new(pairs, &VULNERABILITY_PARAMS)
        .and_then(|p| vulnerability_request(&app.data, &p));
    let (page, filter) = match parsed {
        Ok(x) => x,
        Err(rejection) => return rejection.into_response(),
    };
    let filtered = !filter.is_empty();
    respond(filtered, move || {
        write_page(&page, filtered, |i| {
            let v = app.data.vulnerability(i);
            filter.matches(&v).then_some(v)
        })
    })
    .await
}

struct RemediationFilter {
    integration: Option<String>,
    severity: Option<&'static str>,
    on_time: Option<bool>,
    after: Option<i64>,
    before: Option<i64>,
}

impl RemediationFilter {
    fn is_empty(&self) -> bool {
        self.integration.is_none()
            && self.severity.is_none()
            && self.on_time.is_none()
            && self.after.is_none()
            && self.before.is_none()
    }

    fn matches(&self, r: &Remediation) -> bool {
        let fixed = r.remediation_date.map(|t| t.0);
        self.integration
            .as_deref()
            .is_none_or(|s| r.integration_id == s)
            && self.severity.is_none_or(|s| r.severity == s)
            && self
                .on_time
                .is_none_or(|want| match (fixed, r.sla_deadline_date) {
                    (Some(fixed), Some(deadline)) => (fixed <= deadline.0) == want,
                    _ => false,
                })
            && self.after.is_none_or(|t| fixed.is_some_and(|f| f > t))
            && self.before.is_none_or(|t| fixed.is_some_and(|f| f < t))
    }
}

const REMEDIATION_PARAMS: [&str; 5] = [
    "integrationId",
    "severity",
    "isRemediatedOnTime",
    "remediatedAfterDate",
    "remediatedBeforeDate",
];

/// `GET /v1/vulnerability-remediations`.
pub(crate) async fn remediations(
    State(app): State<Arc<AppState>>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let parsed = Params::new(pairs, &REMEDIATION_PARAMS).and_then(|p| {
        let filter = RemediationFilter {
            integration: p.get("integrationId").map(str::to_string),
            severity: p.one_of("severity", &SEVERITIES)?,
            on_time: p.boolean("isRemediatedOnTime")?,
            after: p.date("remediatedAfterDate")?,
            before: p.date("remediatedBeforeDate")?,
        };
        let page = PageRequest {
            list: List::Remediations,
            range: 0..app.data.remediations,
            after: p.cursor(List::Remediations)?,
            size: p.page_size()?,
        };
        Ok((page, filter))
    });
    let (page, filter) = match parsed {
        Ok(x) => x,
        Err(rejection) => return rejection.into_response(),
    };
    let filtered = !filter.is_empty();
    respond(filtered, move || {
        write_page(&page, filtered, |j| {
            let r = app.data.remediation(j);
            filter.matches(&r).then_some(r)
        })
    })
    .await
}

struct AssetFilter {
    q: Option<String>,
    integration: Option<String>,
    asset_type: Option<&'static str>,
    account: Option<String>,
}

impl AssetFilter {
    fn is_empty(&self) -> bool {
        self.q.is_none()
            && self.integration.is_none()
            && self.asset_type.is_none()
            && self.account.is_none()
    }

    fn matches(&self, a: &Asset) -> bool {
        self.asset_type.is_none_or(|t| a.asset_type == t)
            && self
                .integration
                .as_deref()
                .is_none_or(|i| a.scanners.iter().any(|s| s.integration_id == i))
            && self.account.as_deref().is_none_or(|acct| {
                a.scanners
                    .iter()
                    .any(|s| s.parent_account_or_organization == Some(acct))
            })
            && self.q.as_deref().is_none_or(|q| contains_ci(&a.name, q))
    }
}

const ASSET_PARAMS: [&str; 4] = ["q", "integrationId", "assetType", "assetExternalAccountId"];

/// `GET /v1/vulnerable-assets`.
pub(crate) async fn assets(
    State(app): State<Arc<AppState>>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let parsed = Params::new(pairs, &ASSET_PARAMS).and_then(|p| {
        let filter = AssetFilter {
            q: p.get("q").map(str::to_ascii_lowercase),
            integration: p.get("integrationId").map(str::to_string),
            asset_type: p.one_of("assetType", &ASSET_TYPES)?,
            account: p.get("assetExternalAccountId").map(str::to_string),
        };
        let page = PageRequest {
            list: List::Assets,
            range: 0..app.data.assets,
            after: p.cursor(List::Assets)?,
            size: p.page_size()?,
        };
        Ok((page, filter))
    });
    let (page, filter) = match parsed {
        Ok(x) => x,
        Err(rejection) => return rejection.into_response(),
    };
    let filtered = !filter.is_empty();
    respond(filtered, move || {
        write_page(&page, filtered, |a| {
            let asset = app.data.asset(a);
            filter.matches(&asset).then_some(asset)
        })
    })
    .await
}

fn by_id<R: Serialize>(
    index: Option<u64>,
    count: u64,
    what: &str,
    id: &str,
    build: impl FnOnce(u64) -> R,
) -> Response {
    match index.filter(|i| *i < count) {
        Some(i) => json_response(
            StatusCode::OK,
            serde_json::to_vec(&build(i)).unwrap_or_default(),
        ),
        None => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what} with id {id:?}"),
        ),
    }
}

/// `GET /v1/vulnerabilities/{id}`: the bare record.
pub(crate) async fn vulnerability_by_id(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    let data = &app.data;
    by_id(
        data.vulnerability_ids.index_of(&id),
        data.vulnerabilities,
        "vulnerability",
        &id,
        |i| data.vulnerability(i),
    )
}

/// `GET /v1/vulnerable-assets/{id}`: the bare record.
pub(crate) async fn asset_by_id(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    let data = &app.data;
    by_id(
        data.asset_ids.index_of(&id),
        data.assets,
        "vulnerable asset",
        &id,
        |a| data.asset(a),
    )
}
