//! Typed Vanta records and the list envelope.
//!
//! Unknown keys are ignored and every key that is not the record's `id` may
//! be missing or null, so a new or dropped field on Vanta's side never breaks
//! a sync. Enum-like fields (`severity`, `assetType`, …) stay strings for the
//! same reason.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// A point in time of a record, in milliseconds since the Unix epoch (UTC):
/// what the Parquet columns store. Kept as that integer from the parse on,
/// so a record's dates are not turned into calendar dates and back (chrono's
/// conversions both ways were 2-3 % of a sync's CPU).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `millis` milliseconds after the Unix epoch.
    pub fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub fn timestamp_millis(self) -> i64 {
        self.0
    }

    /// The same instant as a chrono time (`None` outside chrono's range).
    pub fn to_datetime(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_millis(self.0)
    }
}

/// A string of a record, borrowed from the page's body unless it had to be
/// unescaped. Allocating a `String` for every field of every record was the
/// largest part of a sync's allocations.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Deserialize)]
#[serde(transparent)]
pub struct Text<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Self {
        Text(Cow::Borrowed(s))
    }
}

/// One page of a list endpoint: the records plus where the next page starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The records of this page.
    pub data: Vec<T>,
    /// The cursor to send as `pageCursor` for the next page.
    pub end_cursor: Option<String>,
    /// Whether another page follows.
    pub has_next_page: bool,
}

#[derive(Deserialize)]
pub(crate) struct Envelope<T> {
    pub results: Results<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Results<T> {
    pub page_info: PageInfo,
    #[serde(
        deserialize_with = "page_data",
        bound(deserialize = "T: Deserialize<'de>")
    )]
    pub data: Vec<T>,
}

/// Records a page holds at most (Vanta's largest `pageSize`).
const MAX_PAGE_RECORDS: usize = 100;

/// A page's records into a vector sized for a full page at once: JSON gives
/// no length up front, and growing from empty moved every record of a page
/// five times.
fn page_data<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Records<T>(std::marker::PhantomData<T>);

    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Records<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of records")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(MAX_PAGE_RECORDS));
            while let Some(record) = seq.next_element()? {
                out.push(record);
            }
            Ok(out)
        }
    }

    deserializer.deserialize_seq(Records(std::marker::PhantomData))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageInfo {
    #[serde(default)]
    pub end_cursor: Option<String>,
    pub has_next_page: bool,
}

/// One page as it arrived: the body, undecoded, and where the next page
/// starts, read from `pageInfo` alone. A pager can ask for the next page at
/// once and leave decoding the records ([`RawPage::decode`]) to another task.
#[derive(Debug, Clone)]
pub struct RawPage {
    /// The response body.
    pub body: bytes::Bytes,
    /// The cursor to send as `pageCursor` for the next page.
    pub end_cursor: Option<String>,
    /// Whether another page follows.
    pub has_next_page: bool,
}

impl RawPage {
    /// Reads the cursor of `body`: from a leading `pageInfo` (Vanta's
    /// order) without touching the records; otherwise from a pass over the
    /// whole envelope. `Err` describes a body that is not a page.
    pub(crate) fn new(body: bytes::Bytes) -> Result<Self, String> {
        let info = match leading_page_info(&body) {
            Some(info) => info,
            None => {
                decode_envelope::<serde::de::IgnoredAny>(&body)?
                    .results
                    .page_info
            }
        };
        Ok(Self {
            body,
            end_cursor: info.end_cursor,
            has_next_page: info.has_next_page,
        })
    }

    /// Decodes the records, borrowing their strings from the body (`Err`:
    /// a malformed or truncated body).
    pub fn decode<'a, T: Deserialize<'a>>(&'a self) -> Result<Page<T>, String> {
        decode_envelope::<T>(&self.body).map(Page::from)
    }
}

/// `pageInfo` when it is the first key of `results`, the envelope's first
/// key, as Vanta sends it; `None` for any other layout.
fn leading_page_info(body: &[u8]) -> Option<PageInfo> {
    let mut rest = body;
    for token in [&b"{"[..], b"\"results\"", b":", b"{", b"\"pageInfo\"", b":"] {
        rest = rest.trim_ascii_start().strip_prefix(token)?;
    }
    PageInfo::deserialize(&mut serde_json::Deserializer::from_slice(rest)).ok()
}

/// Decodes a list envelope. The body's UTF-8 is checked once, as a whole,
/// instead of string by string (`from_slice` checks each string it reads:
/// a tenth of the sync's CPU on short strings), with SIMD (simdutf8: a
/// third less time than the standard library's check on Vanta's bodies);
/// a body that is not UTF-8 is checked again by the standard library for
/// the position to report.
pub(crate) fn decode_envelope<'a, T: Deserialize<'a>>(
    body: &'a [u8],
) -> Result<Envelope<T>, String> {
    let text = match simdutf8::basic::from_utf8(body) {
        Ok(text) => text,
        Err(_) => std::str::from_utf8(body)
            .map_err(|e| format!("malformed body ({} bytes): {e}", body.len()))?,
    };
    serde_json::from_str(text)
        .map_err(|e| format!("malformed or truncated body ({} bytes): {e}", body.len()))
}

impl<T> From<Envelope<T>> for Page<T> {
    fn from(e: Envelope<T>) -> Self {
        Page {
            data: e.results.data,
            end_cursor: e.results.page_info.end_cursor,
            has_next_page: e.results.page_info.has_next_page,
        }
    }
}

/// A vulnerability finding on one asset (`GET /v1/vulnerabilities`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vulnerability<'a> {
    /// Vanta's id (24 hex).
    #[serde(borrow)]
    pub id: Text<'a>,
    /// Often a CVE id.
    #[serde(borrow, default)]
    pub name: Option<Text<'a>>,
    /// Free text.
    #[serde(borrow, default)]
    pub description: Option<Text<'a>>,
    /// The scanner integration (`github`, `aws`, `snyk`, …).
    #[serde(borrow, default)]
    pub integration_id: Option<Text<'a>>,
    /// Affected package, when the scanner knows it.
    #[serde(borrow, default)]
    pub package_identifier: Option<Text<'a>>,
    /// `CONFIGURATION`, `COMMON` or `GROUPED`.
    #[serde(borrow, default)]
    pub vulnerability_type: Option<Text<'a>>,
    /// The vulnerable asset's id.
    #[serde(borrow, default)]
    pub target_id: Option<Text<'a>>,
    /// First detection by Vanta.
    #[serde(default, deserialize_with = "timestamp::option")]
    pub first_detected_date: Option<Timestamp>,
    /// First detection by the source scanner.
    #[serde(default, deserialize_with = "timestamp::option")]
    pub source_detected_date: Option<Timestamp>,
    /// Most recent detection.
    #[serde(default, deserialize_with = "timestamp::option")]
    pub last_detected_date: Option<Timestamp>,
    /// `CRITICAL`, `HIGH`, `MEDIUM` or `LOW`.
    #[serde(borrow, default)]
    pub severity: Option<Text<'a>>,
    /// CVSS score.
    #[serde(default)]
    pub cvss_severity_score: Option<f64>,
    /// The scanner's own score.
    #[serde(default)]
    pub scanner_score: Option<f64>,
    /// Whether a fix exists.
    #[serde(default)]
    pub is_fixable: Option<bool>,
    /// The version that fixes it (newer field).
    #[serde(borrow, default)]
    pub fixed_version: Option<Text<'a>>,
    /// The SLA deadline; null for vulnerabilities without an SLA.
    #[serde(default, deserialize_with = "timestamp::option")]
    pub remediate_by_date: Option<Timestamp>,
    /// Related vulnerability ids.
    #[serde(borrow, default)]
    pub related_vulns: Option<Vec<Text<'a>>>,
    /// Related URLs.
    #[serde(borrow, default)]
    pub related_urls: Option<Vec<Text<'a>>>,
    /// Link to the finding (the API spells it `externalURL`).
    #[serde(borrow, default, rename = "externalURL")]
    pub external_url: Option<Text<'a>>,
    /// Where the scan came from (often `"Not provided"`).
    #[serde(borrow, default)]
    pub scan_source: Option<Text<'a>>,
    /// Set when the finding is deactivated (not open).
    #[serde(borrow, default)]
    pub deactivate_metadata: Option<DeactivateMetadata<'a>>,
}

/// Why and until when a vulnerability is deactivated.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeactivateMetadata<'a> {
    /// Deactivated with no end date.
    #[serde(default)]
    pub is_vuln_deactivated_indefinitely: Option<bool>,
    /// End of the deactivation, when it has one.
    #[serde(default, deserialize_with = "timestamp::option")]
    pub deactivated_until_date: Option<Timestamp>,
    /// Free text.
    #[serde(borrow, default)]
    pub deactivation_reason: Option<Text<'a>>,
    /// When it was deactivated.
    #[serde(default, deserialize_with = "timestamp::option")]
    pub deactivated_on_date: Option<Timestamp>,
    /// Who deactivated it.
    #[serde(borrow, default)]
    pub deactivated_by: Option<Text<'a>>,
}

/// A remediation record (`GET /v1/vulnerability-remediations`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Remediation<'a> {
    /// Vanta's id.
    #[serde(borrow)]
    pub id: Text<'a>,
    /// The remediated vulnerability.
    #[serde(borrow, default)]
    pub vulnerability_id: Option<Text<'a>>,
    /// The asset it was on.
    #[serde(borrow, default)]
    pub vulnerable_asset_id: Option<Text<'a>>,
    /// Upper-case severity.
    #[serde(borrow, default)]
    pub severity: Option<Text<'a>>,
    /// When it was detected.
    #[serde(default, deserialize_with = "timestamp::option")]
    pub detected_date: Option<Timestamp>,
    /// The SLA deadline.
    #[serde(default, deserialize_with = "timestamp::option")]
    pub sla_deadline_date: Option<Timestamp>,
    /// When it was remediated.
    #[serde(default, deserialize_with = "timestamp::option")]
    pub remediation_date: Option<Timestamp>,
}

/// An asset with vulnerabilities (`GET /v1/vulnerable-assets`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VulnerableAsset<'a> {
    /// Vanta's id.
    #[serde(borrow)]
    pub id: Text<'a>,
    /// Display name.
    #[serde(borrow, default)]
    pub name: Option<Text<'a>>,
    /// `SERVER`, `CONTAINER`, `CODE_REPOSITORY`, …
    #[serde(borrow, default)]
    pub asset_type: Option<Text<'a>>,
    /// Whether a scanner has looked at it.
    #[serde(default)]
    pub has_been_scanned: Option<bool>,
    /// Image tag that was scanned.
    #[serde(borrow, default)]
    pub image_scan_tag: Option<Text<'a>>,
    /// What each scanner knows about the asset.
    #[serde(borrow, default)]
    pub scanners: Option<Vec<Scanner<'a>>>,
}

/// One scanner's view of an asset.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scanner<'a> {
    /// The scanner's resource id.
    #[serde(borrow, default)]
    pub resource_id: Option<Text<'a>>,
    /// The scanner integration.
    #[serde(borrow, default)]
    pub integration_id: Option<Text<'a>>,
    /// Container image digest.
    #[serde(borrow, default)]
    pub image_digest: Option<Text<'a>>,
    /// When the image was pushed.
    #[serde(default, deserialize_with = "timestamp::option")]
    pub image_pushed_at_date: Option<Timestamp>,
    /// Image tags.
    #[serde(borrow, default)]
    pub image_tags: Option<Vec<Text<'a>>>,
    /// Key/value tags on the asset.
    #[serde(borrow, default)]
    pub asset_tags: Option<Vec<AssetTag<'a>>>,
    /// Owning account or organization.
    #[serde(borrow, default)]
    pub parent_account_or_organization: Option<Text<'a>>,
    /// Host BIOS UUID.
    #[serde(borrow, default)]
    pub bios_uuid: Option<Text<'a>>,
    /// IPv4 addresses.
    #[serde(borrow, default)]
    pub ipv4s: Option<Vec<Text<'a>>>,
    /// IPv6 addresses.
    #[serde(borrow, default)]
    pub ipv6s: Option<Vec<Text<'a>>>,
    /// MAC addresses.
    #[serde(borrow, default)]
    pub mac_addresses: Option<Vec<Text<'a>>>,
    /// Host names.
    #[serde(borrow, default)]
    pub hostnames: Option<Vec<Text<'a>>>,
    /// Fully-qualified domain names.
    #[serde(borrow, default)]
    pub fqdns: Option<Vec<Text<'a>>>,
    /// Operating systems.
    #[serde(borrow, default)]
    pub operating_systems: Option<Vec<Text<'a>>>,
    /// The scanner's target id.
    #[serde(borrow, default)]
    pub target_id: Option<Text<'a>>,
}

/// A key/value tag of an asset.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AssetTag<'a> {
    /// Tag key.
    #[serde(borrow, default)]
    pub key: Option<Text<'a>>,
    /// Tag value.
    #[serde(borrow, default)]
    pub value: Option<Text<'a>>,
}

/// Timestamps as Vanta writes them (`2024-01-17T15:26:43.534Z`), parsed
/// without chrono's general RFC 3339 parser, which was most of the cost of
/// a record's dates. Anything else (offsets, other precisions, leap
/// seconds, invalid dates) goes to chrono's parser, so what is accepted and
/// its value are exactly chrono's.
pub(crate) mod timestamp {
    use std::fmt;

    use chrono::{DateTime, Utc};
    use serde::de::{self, Deserializer, Visitor};

    use super::Timestamp;

    /// `YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DDTHH:MM:SS.sssZ` in epoch
    /// milliseconds; `None` for any other shape or an invalid field.
    pub(crate) fn fast_millis(s: &[u8]) -> Option<i64> {
        let millis = match s.len() {
            20 if s[19] == b'Z' => 0,
            24 if s[19] == b'.' && s[23] == b'Z' => digits(&s[20..23])?,
            _ => return None,
        };
        if s[4] != b'-' || s[7] != b'-' || s[10] != b'T' || s[13] != b':' || s[16] != b':' {
            return None;
        }
        let year = digits(&s[0..4])?;
        let month = digits(&s[5..7])?;
        let day = digits(&s[8..10])?;
        let (hour, minute, second) = (
            digits(&s[11..13])?,
            digits(&s[14..16])?,
            digits(&s[17..19])?,
        );
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        let days = days_from_civil(year, month, day);
        Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
    }

    fn digits(s: &[u8]) -> Option<i64> {
        s.iter().try_fold(0i64, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
        })
    }

    fn days_in_month(year: i64, month: i64) -> i64 {
        match month {
            2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
    /// `days_from_civil`).
    fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// Parses one timestamp string.
    pub(crate) fn parse(s: &str) -> Result<Timestamp, chrono::ParseError> {
        match fast_millis(s.as_bytes()) {
            Some(ms) => Ok(Timestamp(ms)),
            None => s
                .parse::<DateTime<Utc>>()
                .map(|t| Timestamp(t.timestamp_millis())),
        }
    }

    struct Ts;

    impl<'de> Visitor<'de> for Ts {
        type Value = Option<Timestamp>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an RFC 3339 timestamp or null")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(self)
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            parse(s).map(Some).map_err(E::custom)
        }
    }

    /// `deserialize_with` for an optional timestamp (missing or null: `None`).
    pub(crate) fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        d.deserialize_option(Ts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerates_unknown_and_missing_keys() {
        let v: Vulnerability = serde_json::from_str(
            r#"{"id":"abc","severity":"HIGH","brandNewField":{"x":1},
                "remediateByDate":"2024-01-17T15:26:43.534Z","externalURL":"https://x",
                "deactivateMetadata":null,"cvssSeverityScore":7}"#,
        )
        .unwrap();
        assert_eq!(v.id, "abc");
        assert_eq!(v.external_url.as_deref(), Some("https://x"));
        // Strings without escapes borrow from the body; escaped ones are
        // decoded into their own.
        assert!(matches!(v.id.0, Cow::Borrowed(_)));
        assert!(matches!(v.external_url.unwrap().0, Cow::Borrowed(_)));
        let e: Vulnerability =
            serde_json::from_str(r#"{"id":"a\"b","name":"caf\u00e9","severity":"LOW"}"#).unwrap();
        assert_eq!((&*e.id, e.name.as_deref()), ("a\"b", Some("café")));
        assert!(matches!(e.id.0, Cow::Owned(_)));
        assert!(matches!(e.severity.unwrap().0, Cow::Borrowed("LOW")));
        assert_eq!(v.cvss_severity_score, Some(7.0));
        assert_eq!(
            v.remediate_by_date.unwrap().timestamp_millis(),
            1_705_505_203_534
        );
        assert!(v.fixed_version.is_none() && v.deactivate_metadata.is_none());
    }

    #[test]
    fn envelope_to_page() {
        let e: Envelope<Remediation> = serde_json::from_str(
            r#"{"results":{"pageInfo":{"startCursor":null,"endCursor":"Yw==","hasNextPage":true,"hasPreviousPage":false},
                "data":[{"id":"r1","severity":"LOW","detectedDate":null,"slaDeadlineDate":null,"remediationDate":null}]}}"#,
        )
        .unwrap();
        let p: Page<Remediation> = e.into();
        assert_eq!(p.data.len(), 1);
        assert_eq!(p.end_cursor.as_deref(), Some("Yw=="));
        assert!(p.has_next_page);
    }

    #[test]
    fn asset_with_nested_scanners() {
        let a: VulnerableAsset = serde_json::from_str(
            r#"{"id":"a1","assetType":"SERVER","hasBeenScanned":true,"imageScanTag":null,
                "scanners":[{"resourceId":"r","integrationId":"aws","assetTags":[{"key":"env","value":"prod"}],
                "ipv4s":["10.0.0.1"],"imageDigest":null}]}"#,
        )
        .unwrap();
        let s = &a.scanners.unwrap()[0];
        assert_eq!(
            s.asset_tags.as_ref().unwrap()[0].value.as_deref(),
            Some("prod")
        );
        assert_eq!(s.ipv4s.as_deref(), Some(&[Text::from("10.0.0.1")][..]));
    }

    #[test]
    fn fast_timestamps_agree_with_chrono() {
        let chrono_ms = |s: &str| {
            s.parse::<DateTime<Utc>>()
                .ok()
                .map(|t| t.timestamp_millis())
        };
        let fast_ms = |s: &str| timestamp::parse(s).ok().map(|t| t.timestamp_millis());
        for s in [
            "2024-01-17T15:26:43.534Z",
            "2024-01-17T15:26:43Z",
            "1970-01-01T00:00:00.000Z",
            "1969-12-31T23:59:59.999Z",
            "2000-02-29T12:00:00.001Z",
            "2100-03-01T00:00:00.000Z",
            "0001-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
            "2024-01-17T15:26:43.5Z",
            "2024-01-17T15:26:43.534+02:00",
            "2024-01-17T15:26:60.000Z",
            "2023-02-29T00:00:00.000Z",
            "2024-13-01T00:00:00.000Z",
            "2024-00-10T00:00:00.000Z",
            "2024-04-31T00:00:00.000Z",
            "2024-01-17T24:00:00.000Z",
            "2024-01-17 15:26:43.534Z",
            "2024-01-17T15:26:43.53aZ",
            "+024-01-17T15:26:43.534Z",
            "not a date",
            "",
        ] {
            assert_eq!(fast_ms(s), chrono_ms(s), "{s:?}");
        }
        // Every day of four years, at a few times of day.
        let mut t = DateTime::parse_from_rfc3339("1999-12-30T00:00:00Z")
            .unwrap()
            .to_utc();
        for _ in 0..(4 * 366 * 3) {
            let s = t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            assert_eq!(
                timestamp::fast_millis(s.as_bytes()),
                Some(t.timestamp_millis()),
                "{s}"
            );
            t += chrono::Duration::milliseconds(8 * 3_600_000 + 59_123);
        }
    }

    #[test]
    fn timestamps_null_missing_and_bad() {
        let r: Remediation = serde_json::from_str(
            r#"{"id":"r","detectedDate":null,"remediationDate":"2024-01-17T15:26:43Z"}"#,
        )
        .unwrap();
        assert!(r.detected_date.is_none() && r.sla_deadline_date.is_none());
        assert_eq!(
            r.remediation_date.unwrap().timestamp_millis(),
            1_705_505_203_000
        );
        let e = serde_json::from_str::<Remediation>(
            r#"{"id":"r","detectedDate":"2024-02-30T00:00:00Z"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("detectedDate") || e.is_data(), "{e}");
        assert!(serde_json::from_str::<Remediation>(r#"{"id":"r","detectedDate":5}"#).is_err());
    }

    #[test]
    fn raw_pages_read_the_cursor_and_decode_later() {
        let body = r#"{"results":{"pageInfo":{"startCursor":"YQ==","endCursor":"Yw==","hasNextPage":true,"hasPreviousPage":false},"data":[{"id":"r1"},{"id":"r2"}]}}"#;
        let raw = RawPage::new(bytes::Bytes::from(body)).unwrap();
        assert_eq!(raw.end_cursor.as_deref(), Some("Yw=="));
        assert!(raw.has_next_page);
        let page: Page<Remediation> = raw.decode().unwrap();
        assert_eq!(page.data.len(), 2);
        assert_eq!(page.end_cursor.as_deref(), Some("Yw=="));
        // Whitespace, and pageInfo after the data: the same answer.
        for body in [
            " { \"results\" :\n{ \"pageInfo\" : {\"endCursor\":null,\"hasNextPage\":false}, \"data\":[]} }",
            r#"{"results":{"data":[{"id":"x","pageInfo":{"endCursor":"no","hasNextPage":true}}],"pageInfo":{"endCursor":null,"hasNextPage":false}}}"#,
        ] {
            let raw = RawPage::new(bytes::Bytes::from(body)).unwrap();
            assert!(raw.end_cursor.is_none() && !raw.has_next_page, "{body}");
        }
        // Not a page: refused at once. Records that do not decode: refused
        // when decoded, whatever the cursor said.
        for bad in ["<html>gateway</html>", r#"{"results": {"pageInfo""#] {
            assert!(RawPage::new(bytes::Bytes::from(bad)).is_err(), "{bad}");
        }
        let cut = r#"{"results":{"pageInfo":{"endCursor":"Yw==","hasNextPage":true},"data":[{"id":"r1"},{"i"#;
        let raw = RawPage::new(bytes::Bytes::from(cut)).unwrap();
        assert!(raw.decode::<Remediation>().is_err());
        let latin1 = b"{\"results\":{\"pageInfo\":{\"endCursor\":null,\"hasNextPage\":false},\"data\":[{\"id\":\"\xe9\"}]}}";
        let raw = RawPage::new(bytes::Bytes::from_static(latin1)).unwrap();
        assert!(raw
            .decode::<Remediation>()
            .unwrap_err()
            .contains("malformed"));
    }
}
