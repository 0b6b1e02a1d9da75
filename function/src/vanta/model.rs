//! Typed Vanta records and the list envelope.
//!
//! Unknown keys are ignored and every key that is not the record's `id` may
//! be missing or null, so a new or dropped field on Vanta's side never breaks
//! a sync. Enum-like fields (`severity`, `assetType`, …) stay strings for the
//! same reason.

use chrono::{DateTime, Utc};
use serde::Deserialize;

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
    pub data: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageInfo {
    #[serde(default)]
    pub end_cursor: Option<String>,
    pub has_next_page: bool,
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
pub struct Vulnerability {
    /// Vanta's id (24 hex).
    pub id: String,
    /// Often a CVE id.
    #[serde(default)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// The scanner integration (`github`, `aws`, `snyk`, …).
    #[serde(default)]
    pub integration_id: Option<String>,
    /// Affected package, when the scanner knows it.
    #[serde(default)]
    pub package_identifier: Option<String>,
    /// `CONFIGURATION`, `COMMON` or `GROUPED`.
    #[serde(default)]
    pub vulnerability_type: Option<String>,
    /// The vulnerable asset's id.
    #[serde(default)]
    pub target_id: Option<String>,
    /// First detection by Vanta.
    #[serde(default)]
    pub first_detected_date: Option<DateTime<Utc>>,
    /// First detection by the source scanner.
    #[serde(default)]
    pub source_detected_date: Option<DateTime<Utc>>,
    /// Most recent detection.
    #[serde(default)]
    pub last_detected_date: Option<DateTime<Utc>>,
    /// `CRITICAL`, `HIGH`, `MEDIUM` or `LOW`.
    #[serde(default)]
    pub severity: Option<String>,
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
    #[serde(default)]
    pub fixed_version: Option<String>,
    /// The SLA deadline; null for vulnerabilities without an SLA.
    #[serde(default)]
    pub remediate_by_date: Option<DateTime<Utc>>,
    /// Related vulnerability ids.
    #[serde(default)]
    pub related_vulns: Option<Vec<String>>,
    /// Related URLs.
    #[serde(default)]
    pub related_urls: Option<Vec<String>>,
    /// Link to the finding (the API spells it `externalURL`).
    #[serde(default, rename = "externalURL")]
    pub external_url: Option<String>,
    /// Where the scan came from (often `"Not provided"`).
    #[serde(default)]
    pub scan_source: Option<String>,
    /// Set when the finding is deactivated (not open).
    #[serde(default)]
    pub deactivate_metadata: Option<DeactivateMetadata>,
}

/// Why and until when a vulnerability is deactivated.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeactivateMetadata {
    /// Deactivated with no end date.
    #[serde(default)]
    pub is_vuln_deactivated_indefinitely: Option<bool>,
    /// End of the deactivation, when it has one.
    #[serde(default)]
    pub deactivated_until_date: Option<DateTime<Utc>>,
    /// Free text.
    #[serde(default)]
    pub deactivation_reason: Option<String>,
    /// When it was deactivated.
    #[serde(default)]
    pub deactivated_on_date: Option<DateTime<Utc>>,
    /// Who deactivated it.
    #[serde(default)]
    pub deactivated_by: Option<String>,
}

/// A remediation record (`GET /v1/vulnerability-remediations`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Remediation {
    /// Vanta's id.
    pub id: String,
    /// The remediated vulnerability.
    #[serde(default)]
    pub vulnerability_id: Option<String>,
    /// The asset it was on.
    #[serde(default)]
    pub vulnerable_asset_id: Option<String>,
    /// Upper-case severity.
    #[serde(default)]
    pub severity: Option<String>,
    /// When it was detected.
    #[serde(default)]
    pub detected_date: Option<DateTime<Utc>>,
    /// The SLA deadline.
    #[serde(default)]
    pub sla_deadline_date: Option<DateTime<Utc>>,
    /// When it was remediated.
    #[serde(default)]
    pub remediation_date: Option<DateTime<Utc>>,
}

/// An asset with vulnerabilities (`GET /v1/vulnerable-assets`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VulnerableAsset {
    /// Vanta's id.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// `SERVER`, `CONTAINER`, `CODE_REPOSITORY`, …
    #[serde(default)]
    pub asset_type: Option<String>,
    /// Whether a scanner has looked at it.
    #[serde(default)]
    pub has_been_scanned: Option<bool>,
    /// Image tag that was scanned.
    #[serde(default)]
    pub image_scan_tag: Option<String>,
    /// What each scanner knows about the asset.
    #[serde(default)]
    pub scanners: Option<Vec<Scanner>>,
}

/// One scanner's view of an asset.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scanner {
    /// The scanner's resource id.
    #[serde(default)]
    pub resource_id: Option<String>,
    /// The scanner integration.
    #[serde(default)]
    pub integration_id: Option<String>,
    /// Container image digest.
    #[serde(default)]
    pub image_digest: Option<String>,
    /// When the image was pushed.
    #[serde(default)]
    pub image_pushed_at_date: Option<DateTime<Utc>>,
    /// Image tags.
    #[serde(default)]
    pub image_tags: Option<Vec<String>>,
    /// Key/value tags on the asset.
    #[serde(default)]
    pub asset_tags: Option<Vec<AssetTag>>,
    /// Owning account or organization.
    #[serde(default)]
    pub parent_account_or_organization: Option<String>,
    /// Host BIOS UUID.
    #[serde(default)]
    pub bios_uuid: Option<String>,
    /// IPv4 addresses.
    #[serde(default)]
    pub ipv4s: Option<Vec<String>>,
    /// IPv6 addresses.
    #[serde(default)]
    pub ipv6s: Option<Vec<String>>,
    /// MAC addresses.
    #[serde(default)]
    pub mac_addresses: Option<Vec<String>>,
    /// Host names.
    #[serde(default)]
    pub hostnames: Option<Vec<String>>,
    /// Fully-qualified domain names.
    #[serde(default)]
    pub fqdns: Option<Vec<String>>,
    /// Operating systems.
    #[serde(default)]
    pub operating_systems: Option<Vec<String>>,
    /// The scanner's target id.
    #[serde(default)]
    pub target_id: Option<String>,
}

/// A key/value tag of an asset.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AssetTag {
    /// Tag key.
    #[serde(default)]
    pub key: Option<String>,
    /// Tag value.
    #[serde(default)]
    pub value: Option<String>,
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
        assert_eq!(s.ipv4s.as_deref(), Some(&["10.0.0.1".to_string()][..]));
    }
}
