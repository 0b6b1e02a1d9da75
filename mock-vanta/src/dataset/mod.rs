//! The generated dataset.
//!
//! Nothing is stored: record `i` of each kind is a pure function of
//! (seed, counts, now, i). Vulnerabilities are laid out in the order the API
//! serves them, `remediateByDate` ascending: index `i < with_sla` has a
//! deadline that is a monotone function of `i`, and the vulnerabilities
//! without a deadline come last (nulls last), so a page is O(page size) work
//! and the SLA-less tail can be left out by stopping at `with_sla`.

pub(crate) mod draws;
pub(crate) mod ids;
pub(crate) mod records;
pub(crate) mod timestamp;
mod vocabulary;

use crate::{DataConfig, Error};
use draws::{hash3, Draws};
use ids::IdSpace;
use records::{Asset, AssetTag, DeactivateMetadata, Remediation, Scanner, Vulnerability};
use timestamp::{Timestamp, DAY_MS, HOUR_MS};
use vocabulary::*;
pub(crate) use vocabulary::{ASSET_TYPES, INTEGRATIONS, SEVERITIES};

const KIND_VULNERABILITY: u64 = 1;
const KIND_REMEDIATION: u64 = 2;
const KIND_ASSET: u64 = 3;
/// Streams that are not records: deadline jitter and the shared CVE pool.
const STREAM_DEADLINE: u64 = 11;
const STREAM_ADVISORY: u64 = 12;

/// `remediateByDate` schedule over the vulnerabilities with an SLA: the
/// fraction of them (ppm) reached at each breakpoint, and the offset from
/// `now` there. A quarter overdue (up to a year), 8% due within 7 days, 17%
/// more within 30 days, the rest within half a year.
const DEADLINE_SCHEDULE: [(i128, i64); 5] = [
    (0, -365 * DAY_MS),
    (250_000, 0),
    (330_000, 7 * DAY_MS),
    (500_000, 30 * DAY_MS),
    (1_000_000, 180 * DAY_MS),
];

/// One dataset, cheap to copy around; every record is built on demand.
#[derive(Clone, Debug)]
pub(crate) struct Dataset {
    seed: u64,
    pub vulnerabilities: u64,
    pub remediations: u64,
    pub assets: u64,
    pub now: i64,
    /// Vulnerabilities `0..with_sla` have a `remediateByDate`.
    pub with_sla: u64,
    pub vulnerability_ids: IdSpace,
    pub remediation_ids: IdSpace,
    pub asset_ids: IdSpace,
}

/// The part of an asset a vulnerability needs: its type and scanners.
struct AssetProfile {
    type_index: usize,
    integrations: [usize; 2],
    scanners: usize,
}

/// The part of a vulnerability a remediation needs.
struct VulnerabilityHead {
    target: u64,
    integration: &'static str,
    severity: usize,
}

impl Dataset {
    /// Checks the counts and fixes the layout.
    pub(crate) fn new(cfg: &DataConfig) -> Result<Self, Error> {
        if cfg.vulnerabilities > 0 && cfg.assets == 0 {
            return Err(Error::Config(
                "vulnerabilities need at least one asset to be found on: set assets >= 1".into(),
            ));
        }
        if cfg.remediations > 0 && cfg.vulnerabilities == 0 {
            return Err(Error::Config(
                "remediations need at least one vulnerability to remediate: set vulnerabilities >= 1".into(),
            ));
        }
        // Counts beyond 2^48 would overflow the millisecond schedule maths
        // and could never be served anyway.
        let max = 1u64 << 48;
        if cfg.vulnerabilities > max || cfg.remediations > max || cfg.assets > max {
            return Err(Error::Config(format!(
                "record counts must be at most {max}"
            )));
        }
        Ok(Dataset {
            seed: cfg.seed,
            vulnerabilities: cfg.vulnerabilities,
            remediations: cfg.remediations,
            assets: cfg.assets,
            now: cfg.now.timestamp_millis(),
            with_sla: cfg.vulnerabilities - cfg.vulnerabilities / 3,
            vulnerability_ids: IdSpace::new(cfg.seed, KIND_VULNERABILITY),
            remediation_ids: IdSpace::new(cfg.seed, KIND_REMEDIATION),
            asset_ids: IdSpace::new(cfg.seed, KIND_ASSET),
        })
    }

    /// The schedule's offset from `now` at position `i` of `0..=with_sla`:
    /// piecewise linear in `i / with_sla`, computed exactly in integers so
    /// that it is monotone and identical on every machine.
    fn schedule_offset(&self, i: u64) -> i64 {
        let n = i128::from(self.with_sla.max(1));
        let pos = i128::from(i) * 1_000_000;
        for w in DEADLINE_SCHEDULE.windows(2) {
            let ((a, oa), (b, ob)) = (w[0], w[1]);
            if pos <= b * n {
                let span = i128::from(ob - oa);
                return oa + (span * (pos - a * n) / ((b - a) * n)) as i64;
            }
        }
        DEADLINE_SCHEDULE[DEADLINE_SCHEDULE.len() - 1].1
    }

    /// The `remediateByDate` of vulnerability `i` in ms, without building
    /// the record. Non-decreasing in `i` over `0..with_sla`.
    pub(crate) fn remediate_by(&self, i: u64) -> Option<i64> {
        if i >= self.with_sla {
            return None;
        }
        let lo = self.schedule_offset(i);
        let hi = self.schedule_offset(i + 1);
        let jitter = if hi > lo {
            (hash3(self.seed, STREAM_DEADLINE, i) % (hi - lo) as u64) as i64
        } else {
            0
        };
        Some(self.now + lo + jitter)
    }

    fn asset_profile(&self, index: u64, d: &mut Draws) -> AssetProfile {
        // The first nine assets take the nine types in turn so that every
        // type is present in any dataset that has nine assets.
        let type_index = if index < ASSET_TYPES.len() as u64 {
            index as usize
        } else {
            d.weighted(&ASSET_TYPE_WEIGHTS)
        };
        let options = SCANNERS_BY_TYPE[type_index];
        let first = d.below(options.len() as u64) as usize;
        let scanners = if options.len() > 1 && d.chance(350) {
            2
        } else {
            1
        };
        let second = (first + 1 + d.below(options.len() as u64 - 1) as usize) % options.len();
        AssetProfile {
            type_index,
            integrations: [options[first], options[second]],
            scanners,
        }
    }

    fn vulnerability_head(&self, d: &mut Draws) -> VulnerabilityHead {
        let target = d.below(self.assets);
        let profile = self.asset_profile(target, &mut Draws::new(self.seed, KIND_ASSET, target));
        let integration =
            INTEGRATIONS[profile.integrations[d.below(profile.scanners as u64) as usize]];
        let severity = d.weighted(&SEVERITY_WEIGHTS);
        VulnerabilityHead {
            target,
            integration,
            severity,
        }
    }

    /// A CVE id from the shared advisory pool (the same CVE shows up on
    /// several assets, as in a real tenant).
    fn cve(&self, advisory: u64) -> String {
        let h = hash3(self.seed, STREAM_ADVISORY, advisory);
        format!("CVE-{}-{}", 2015 + h % 11, 1000 + (h >> 8) % 49_000)
    }

    /// Vulnerability `i` (which must be `< vulnerabilities`).
    pub(crate) fn vulnerability(&self, i: u64) -> Vulnerability {
        let mut d = Draws::new(self.seed, KIND_VULNERABILITY, i);
        let head = self.vulnerability_head(&mut d);
        let now = self.now;
        let kind = d.weighted(&[800, 120, 80]);
        let advisory = d.below((self.vulnerabilities / 6).max(64));
        let ah = hash3(self.seed, STREAM_ADVISORY, advisory);
        let (ptype, pname, pversion, pfixed) =
            PACKAGES[((ah >> 20) % PACKAGES.len() as u64) as usize];
        let weakness = WEAKNESSES[((ah >> 33) % WEAKNESSES.len() as u64) as usize];
        let purl = || Some(format!("pkg:{ptype}/{pname}@{pversion}"));
        let (
            vulnerability_type,
            name,
            description,
            package_identifier,
            related_vulns,
            related_urls,
        ) = match kind {
            0 => {
                let cve = self.cve(advisory);
                let ghsa = if d.chance(400) {
                    vec![format!("GHSA-{}", advisory_slug(ah))]
                } else {
                    Vec::new()
                };
                let description = format!("{cve}: {weakness} in {pname} {pversion}.");
                let url = format!("https://nvd.nist.gov/vuln/detail/{cve}");
                ("COMMON", cve, description, purl(), ghsa, vec![url])
            }
            1 => {
                let name =
                    MISCONFIGURATIONS[(ah % MISCONFIGURATIONS.len() as u64) as usize].to_string();
                let description = format!(
                    "{name}. Review the resource configuration and apply the recommended setting."
                );
                let url = "https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-standards.html";
                (
                    "CONFIGURATION",
                    name,
                    description,
                    None,
                    Vec::new(),
                    vec![url.to_string()],
                )
            }
            _ => {
                let name = format!("Multiple vulnerabilities in {pname}");
                let related: Vec<String> = (0..2 + d.below(3))
                    .map(|j| self.cve(advisory + 1 + j))
                    .collect();
                let description = format!(
                    "{pname} {pversion} is affected by {} known vulnerabilities.",
                    related.len()
                );
                let url = format!("https://github.com/advisories/GHSA-{}", advisory_slug(ah));
                ("GROUPED", name, description, purl(), related, vec![url])
            }
        };
        let severity = head.severity;
        let cvss_severity_score = if vulnerability_type != "CONFIGURATION" && d.chance(900) {
            let (lo, hi) = [(90, 100), (70, 89), (40, 69), (1, 39)][severity];
            Some((lo + d.below(hi - lo + 1)) as f64 / 10.0)
        } else {
            None
        };
        let scanner_score = d.chance(600).then(|| d.below(101) as f64 / 10.0);
        let is_fixable = d.chance(if vulnerability_type == "CONFIGURATION" {
            850
        } else {
            650
        });
        let fixed_version =
            (is_fixable && package_identifier.is_some()).then(|| pfixed.to_string());
        let remediate_by_date = self.remediate_by(i);
        let first = match remediate_by_date {
            Some(deadline) => {
                let detected =
                    deadline - SLA_DAYS[severity] * DAY_MS - d.below(DAY_MS as u64) as i64;
                if detected > now - HOUR_MS {
                    now - HOUR_MS - d.below(30 * DAY_MS as u64) as i64
                } else {
                    detected
                }
            }
            None => now - HOUR_MS - d.below(365 * DAY_MS as u64) as i64,
        };
        let source_detected_date = d
            .chance(800)
            .then(|| Timestamp(first - d.below(3 * DAY_MS as u64) as i64));
        let last_detected_date = d
            .chance(920)
            .then(|| Timestamp(first + d.below((now - first) as u64) as i64));
        let serial = 1 + d.below(9000);
        let external_url = match head.integration {
            "github" => format!(
                "https://github.com/acme/{}/security/dependabot/{serial}",
                SERVICES[(head.target % SERVICES.len() as u64) as usize]
            ),
            "aws" => format!("https://console.aws.amazon.com/securityhub/home?region=us-east-1#/findings?search=Id%3D{serial}"),
            "qualys" => format!("https://qualysguard.qg2.apps.qualys.com/vm/#/vulnerabilities/{serial}"),
            "snyk" => format!("https://app.snyk.io/org/acme/project/{}", uuid(d.next_u64(), d.next_u64())),
            _ => format!("https://console.aws.amazon.com/inspector/v2/home?region=us-east-1#/findings/{serial}"),
        };
        let scan_source = if d.chance(500) {
            "Not provided"
        } else {
            match head.integration {
                "github" => "Dependabot",
                "aws" => "AWS Security Hub",
                "qualys" => "Qualys VMDR",
                "snyk" => "Snyk Open Source",
                _ => "Amazon Inspector",
            }
        };
        let deactivate_metadata = d.chance(90).then(|| {
            let indefinitely = d.chance(500);
            DeactivateMetadata {
                is_vuln_deactivated_indefinitely: indefinitely,
                deactivated_until_date: (!indefinitely)
                    .then(|| Timestamp(now + d.between(DAY_MS, 90 * DAY_MS))),
                deactivation_reason: d.pick(&DEACTIVATION_REASONS),
                deactivated_on_date: Timestamp(first + d.below((now - first) as u64) as i64),
                deactivated_by: d.pick(&PEOPLE),
            }
        });
        Vulnerability {
            id: self.vulnerability_ids.id(i),
            name,
            description,
            integration_id: head.integration,
            package_identifier,
            vulnerability_type,
            target_id: self.asset_ids.id(head.target),
            first_detected_date: Timestamp(first),
            source_detected_date,
            last_detected_date,
            severity: SEVERITIES[severity],
            cvss_severity_score,
            scanner_score,
            is_fixable,
            fixed_version,
            remediate_by_date: remediate_by_date.map(Timestamp),
            related_vulns,
            related_urls,
            external_url,
            scan_source,
            deactivate_metadata,
            target_index: head.target,
        }
    }

    /// Remediation `j` (which must be `< remediations`).
    pub(crate) fn remediation(&self, j: u64) -> Remediation {
        let mut d = Draws::new(self.seed, KIND_REMEDIATION, j);
        let vulnerability = d.below(self.vulnerabilities);
        let head = self.vulnerability_head(&mut Draws::new(
            self.seed,
            KIND_VULNERABILITY,
            vulnerability,
        ));
        let now = self.now;
        let detected = d
            .chance(980)
            .then(|| now - d.between(5 * DAY_MS, 400 * DAY_MS));
        let deadline = detected
            .filter(|_| d.chance(880))
            .map(|t| t + SLA_DAYS[head.severity] * DAY_MS);
        let remediated = if d.chance(920) {
            let at = match (detected, deadline) {
                (Some(detected), Some(deadline)) if d.chance(700) => {
                    detected + d.below((deadline - detected + 1) as u64) as i64
                }
                (Some(_), Some(deadline)) => {
                    deadline + 1 + d.below((2 * SLA_DAYS[head.severity] * DAY_MS) as u64) as i64
                }
                (Some(detected), None) => detected + d.below(60 * DAY_MS as u64) as i64,
                (None, _) => now - d.below(300 * DAY_MS as u64) as i64,
            };
            // A fix dated after `now` has not happened yet.
            (at <= now).then_some(at)
        } else {
            None
        };
        Remediation {
            id: self.remediation_ids.id(j),
            vulnerability_id: self.vulnerability_ids.id(vulnerability),
            vulnerable_asset_id: self.asset_ids.id(head.target),
            severity: SEVERITIES[head.severity],
            detected_date: detected.map(Timestamp),
            sla_deadline_date: deadline.map(Timestamp),
            remediation_date: remediated.map(Timestamp),
            integration_id: head.integration,
        }
    }

    /// Asset `a` (which must be `< assets`).
    pub(crate) fn asset(&self, a: u64) -> Asset {
        let mut d = Draws::new(self.seed, KIND_ASSET, a);
        let profile = self.asset_profile(a, &mut d);
        let asset_type = ASSET_TYPES[profile.type_index];
        let service = d.pick(&SERVICES);
        let account = d.pick(&AWS_ACCOUNTS);
        let n = d.below(100);
        let (x, y) = (d.below(256), d.below(256));
        let version = format!("v1.{}.{}", d.below(30), d.below(10));
        let name = match asset_type {
            "SERVER" => format!("ip-10-0-{x}-{y}.ec2.internal"),
            "SERVERLESS_FUNCTION" => format!("{service}-handler-{n}"),
            "CONTAINER" => format!("{service}-{:06x}", d.below(1 << 24)),
            "CONTAINER_REPOSITORY" => format!("acme/{service}"),
            "CONTAINER_REPOSITORY_IMAGE" => format!("acme/{service}:{version}"),
            "CODE_REPOSITORY" => format!("acme/{service}-{n}"),
            "MANIFEST_FILE" => format!("acme/{service}-{n}/package-lock.json"),
            "WORKSTATION" => format!(
                "{}-macbook-{n}",
                PEOPLE[(n % PEOPLE.len() as u64) as usize]
                    .split('.')
                    .next()
                    .unwrap_or("host")
            ),
            _ => format!("{service}-appliance-{n}"),
        };
        let has_been_scanned = d.chance(960);
        let is_image = matches!(asset_type, "CONTAINER_REPOSITORY_IMAGE" | "CONTAINER");
        let is_host = matches!(asset_type, "SERVER" | "WORKSTATION");
        let image_scan_tag = (asset_type == "CONTAINER_REPOSITORY_IMAGE")
            .then(|| d.pick(&["latest", "main", "stable"]));
        let instance = format!("i-{:017x}", d.next_u64() >> 4);
        let digest = format!(
            "sha256:{:016x}{:016x}{:016x}{:016x}",
            d.next_u64(),
            d.next_u64(),
            d.next_u64(),
            d.next_u64()
        );
        let pushed = now_minus(self.now, &mut d, 200);
        let bios = uuid(d.next_u64(), d.next_u64());
        let ipv6 = d.chance(200);
        let mac = d.next_u64();
        let os = d.pick(&OPERATING_SYSTEMS);
        let env = d.pick(&TAG_VALUES);
        let scanners = profile.integrations[..profile.scanners]
            .iter()
            .map(|&integration| {
                let integration_id = INTEGRATIONS[integration];
                let aws = matches!(integration_id, "aws" | "inspector");
                let resource_id = match (integration_id, asset_type) {
                    ("github", _) => format!(
                        "github.com/{}",
                        name.split('/').take(2).collect::<Vec<_>>().join("/")
                    ),
                    ("snyk", _) => format!("snyk:{}", uuid(mix_pair(a, 1), mix_pair(a, 2))),
                    ("qualys", _) => format!("qualys:host:{}", 100_000 + a),
                    (_, "SERVER") => format!("arn:aws:ec2:us-east-1:{account}:instance/{instance}"),
                    (_, "SERVERLESS_FUNCTION") => {
                        format!("arn:aws:lambda:us-east-1:{account}:function:{name}")
                    }
                    (_, "CONTAINER") => format!(
                        "arn:aws:ecs:us-east-1:{account}:task/{service}/{mac:016x}{:016x}",
                        mix_pair(a, 3)
                    ),
                    (_, "CONTAINER_REPOSITORY") => {
                        format!("arn:aws:ecr:us-east-1:{account}:repository/{service}")
                    }
                    (_, "CONTAINER_REPOSITORY_IMAGE") => {
                        format!("arn:aws:ecr:us-east-1:{account}:repository/{service}/{digest}")
                    }
                    _ => format!(
                        "arn:aws:ec2:us-east-1:{account}:network-interface/eni-{:017x}",
                        mac >> 4
                    ),
                };
                Scanner {
                    resource_id,
                    integration_id,
                    image_digest: is_image.then(|| digest.clone()),
                    image_pushed_at_date: is_image.then_some(pushed),
                    image_tags: is_image.then(|| vec!["latest".to_string(), version.clone()]),
                    asset_tags: aws.then(|| {
                        vec![
                            AssetTag {
                                key: "env",
                                value: env,
                            },
                            AssetTag {
                                key: "team",
                                value: service,
                            },
                        ]
                    }),
                    parent_account_or_organization: Some(match integration_id {
                        "aws" | "inspector" => account,
                        "github" => "acme",
                        "snyk" => "acme-security",
                        _ => "acme-qualys",
                    }),
                    bios_uuid: is_host.then(|| bios.clone()),
                    ipv4s: is_host.then(|| vec![format!("10.0.{x}.{y}")]),
                    ipv6s: (is_host && ipv6).then(|| vec![format!("fd00::{x:x}:{y:x}")]),
                    mac_addresses: is_host.then(|| {
                        let b = mac.to_be_bytes();
                        vec![format!(
                            "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                            b[0], b[1], b[2], b[3], b[4]
                        )]
                    }),
                    hostnames: is_host
                        .then(|| vec![name.split('.').next().unwrap_or(&name).to_string()]),
                    fqdns: (asset_type == "SERVER").then(|| vec![name.clone()]),
                    operating_systems: is_host.then(|| {
                        vec![if asset_type == "WORKSTATION" {
                            "macOS 14.5"
                        } else {
                            os
                        }]
                    }),
                    target_id: (aws && asset_type == "SERVER").then(|| instance.clone()),
                }
            })
            .collect();
        Asset {
            id: self.asset_ids.id(a),
            name,
            asset_type,
            has_been_scanned,
            image_scan_tag,
            scanners,
        }
    }
}

fn now_minus(now: i64, d: &mut Draws, max_days: u64) -> Timestamp {
    Timestamp(now - d.below(max_days * DAY_MS as u64) as i64)
}

fn mix_pair(a: u64, b: u64) -> u64 {
    hash3(a, b, 0x5e)
}

/// A GitHub-advisory-style slug (`xxxx-xxxx-xxxx`).
fn advisory_slug(h: u64) -> String {
    // GitHub's advisory ids use this 20-letter alphabet.
    const ALPHABET: &[u8; 20] = b"23456789cfghjmpqrvwx";
    let mut out = String::with_capacity(14);
    let mut rest = h;
    for i in 0..12 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(ALPHABET[(rest % 20) as usize] as char);
        rest /= 20;
    }
    out
}

fn uuid(a: u64, b: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn dataset(v: u64, r: u64, a: u64) -> Dataset {
        Dataset::new(&DataConfig {
            seed: 7,
            vulnerabilities: v,
            remediations: r,
            assets: a,
            now: Utc.with_ymd_and_hms(2026, 11, 26, 6, 0, 0).unwrap(),
        })
        .unwrap()
    }

    #[test]
    fn deadlines_ascend_with_the_sla_less_third_last() {
        for n in [1u64, 2, 3, 10, 997, 5000] {
            let ds = dataset(n, 0, 5);
            assert_eq!(ds.with_sla, n - n / 3);
            let mut previous = i64::MIN;
            for i in 0..n {
                let v = ds.vulnerability(i);
                assert_eq!(v.remediate_by_date.map(|t| t.0), ds.remediate_by(i));
                match ds.remediate_by(i) {
                    Some(t) => {
                        assert!(i < ds.with_sla);
                        assert!(t >= previous, "deadline of {i} goes backwards");
                        previous = t;
                    }
                    None => assert!(i >= ds.with_sla),
                }
                assert!(v.first_detected_date.0 < ds.now);
            }
        }
    }

    #[test]
    fn references_point_at_existing_records() {
        let ds = dataset(300, 200, 20);
        for i in 0..ds.vulnerabilities {
            let v = ds.vulnerability(i);
            let a = ds.asset_ids.index_of(&v.target_id.to_string()).unwrap();
            assert!(a < ds.assets);
            // The finding's integration is one of the asset's scanners.
            assert!(ds
                .asset(a)
                .scanners
                .iter()
                .any(|s| s.integration_id == v.integration_id));
        }
        for j in 0..ds.remediations {
            let r = ds.remediation(j);
            let v = ds
                .vulnerability_ids
                .index_of(&r.vulnerability_id.to_string())
                .unwrap();
            assert!(v < ds.vulnerabilities);
            let vuln = ds.vulnerability(v);
            assert_eq!(r.vulnerable_asset_id, vuln.target_id);
            assert_eq!(r.severity, vuln.severity);
        }
    }

    #[test]
    fn every_asset_type_appears_and_counts_are_checked() {
        let ds = dataset(0, 0, 9);
        let types: Vec<_> = (0..9).map(|a| ds.asset(a).asset_type).collect();
        assert_eq!(types, ASSET_TYPES);
        let bad = |v, r, a| {
            Dataset::new(&DataConfig {
                vulnerabilities: v,
                remediations: r,
                assets: a,
                ..DataConfig::default()
            })
            .is_err()
        };
        assert!(bad(1, 0, 0));
        assert!(bad(0, 1, 1));
        assert!(!bad(0, 0, 0));
    }
}
