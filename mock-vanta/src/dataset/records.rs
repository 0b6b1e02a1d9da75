//! The three record shapes of the spec, serialised with every key present
//! and nullable keys as `null` (serde's `Option` → `null`).

use super::ids::RecordId;
use super::timestamp::Timestamp;
use serde::Serialize;

/// A `Vulnerability` as `GET /v1/vulnerabilities` returns it.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Vulnerability {
    pub id: RecordId,
    pub name: String,
    pub description: String,
    pub integration_id: &'static str,
    pub package_identifier: Option<String>,
    pub vulnerability_type: &'static str,
    pub target_id: RecordId,
    pub first_detected_date: Timestamp,
    pub source_detected_date: Option<Timestamp>,
    pub last_detected_date: Option<Timestamp>,
    pub severity: &'static str,
    pub cvss_severity_score: Option<f64>,
    pub scanner_score: Option<f64>,
    pub is_fixable: bool,
    pub fixed_version: Option<String>,
    pub remediate_by_date: Option<Timestamp>,
    pub related_vulns: Vec<String>,
    pub related_urls: Vec<String>,
    #[serde(rename = "externalURL")]
    pub external_url: String,
    pub scan_source: &'static str,
    pub deactivate_metadata: Option<DeactivateMetadata>,
    /// Index of the asset `target_id` names; not part of the wire shape.
    #[serde(skip)]
    pub target_index: u64,
}

/// Why and until when a vulnerability is deactivated.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeactivateMetadata {
    pub is_vuln_deactivated_indefinitely: bool,
    pub deactivated_until_date: Option<Timestamp>,
    pub deactivation_reason: &'static str,
    pub deactivated_on_date: Timestamp,
    pub deactivated_by: &'static str,
}

/// A `VulnerabilityRemediation`.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Remediation {
    pub id: RecordId,
    pub vulnerability_id: RecordId,
    pub vulnerable_asset_id: RecordId,
    pub severity: &'static str,
    pub detected_date: Option<Timestamp>,
    pub sla_deadline_date: Option<Timestamp>,
    pub remediation_date: Option<Timestamp>,
    /// The integration of the remediated vulnerability (for the
    /// `integrationId` filter); not part of the wire shape.
    #[serde(skip)]
    pub integration_id: &'static str,
}

/// A `VulnerableAsset`.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Asset {
    pub id: RecordId,
    pub name: String,
    pub asset_type: &'static str,
    pub has_been_scanned: bool,
    pub image_scan_tag: Option<&'static str>,
    pub scanners: Vec<Scanner>,
}

/// One scanner's view of an asset.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Scanner {
    pub resource_id: String,
    pub integration_id: &'static str,
    pub image_digest: Option<String>,
    pub image_pushed_at_date: Option<Timestamp>,
    pub image_tags: Option<Vec<String>>,
    pub asset_tags: Option<Vec<AssetTag>>,
    pub parent_account_or_organization: Option<&'static str>,
    pub bios_uuid: Option<String>,
    pub ipv4s: Option<Vec<String>>,
    pub ipv6s: Option<Vec<String>>,
    pub mac_addresses: Option<Vec<String>>,
    pub hostnames: Option<Vec<String>>,
    pub fqdns: Option<Vec<String>>,
    pub operating_systems: Option<Vec<&'static str>>,
    pub target_id: Option<String>,
}

/// A `{key, value}` tag on a cloud resource.
#[derive(Serialize, Debug, Clone)]
pub(crate) struct AssetTag {
    pub key: &'static str,
    pub value: &'static str,
}
