//! The API over real HTTP: auth, paging, records, filters, errors, by-id,
//! determinism.

use crate::common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

const SEVERITIES: [&str; 4] = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];
const ASSET_TYPES: [&str; 9] = [
    "SERVER",
    "SERVERLESS_FUNCTION",
    "CONTAINER",
    "CONTAINER_REPOSITORY",
    "CONTAINER_REPOSITORY_IMAGE",
    "CODE_REPOSITORY",
    "MANIFEST_FILE",
    "WORKSTATION",
    "OTHER",
];

#[tokio::test]
async fn token_endpoint_issues_tokens_and_rejects_bad_requests() {
    let server = start_data(data(1, 5, 2, 2)).await;
    let base = server.base_url();
    let c = client();
    let resp = token_response(&c, &base, credentials()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert!(body["access_token"].as_str().unwrap().starts_with("vat_"));
    assert_eq!(body["expires_in"], json!(3600));
    assert_eq!(body["token_type"], json!("Bearer"));

    let mut write = credentials();
    write["scope"] = json!("vanta-api.all:write");
    assert_eq!(
        token_response(&c, &base, write).await.status(),
        StatusCode::OK
    );

    let mut wrong_secret = credentials();
    wrong_secret["client_secret"] = json!("vcs_wrong");
    let resp = token_response(&c, &base, wrong_secret).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        json!("invalid_client")
    );

    let mut bad_scope = credentials();
    bad_scope["scope"] = json!("vanta-api.vulnerabilities:read");
    let resp = token_response(&c, &base, bad_scope).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        json!("invalid_scope")
    );

    let mut bad_grant = credentials();
    bad_grant["grant_type"] = json!("password");
    assert_eq!(
        token_response(&c, &base, bad_grant).await.status(),
        StatusCode::BAD_REQUEST
    );

    let resp = c
        .post(format!("{base}/oauth/token"))
        .body("client_id=vci_mock")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // /v1 needs a live bearer token.
    let resp = c.get(format!("{base}{VULNS}")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = get(&c, &base, "vat_forged", VULNS, &[]).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    server.shutdown().await;
}

#[tokio::test]
async fn paging_returns_every_record_exactly_once() {
    let c = client();
    for (v, r, a) in [(0, 0, 0), (1, 1, 1), (2, 0, 1), (250, 120, 31)] {
        let server = start_data(data(3, v, r, a)).await;
        let base = server.base_url();
        let t = token(&c, &base).await;
        for size in [1usize, 7, 100] {
            for (path, query, expected) in [
                (VULNS, &ALL[..], v),
                (VULNS, &[][..], v - v / 3),
                (REMEDIATIONS, &[][..], r),
                (ASSETS, &[][..], a),
            ] {
                let records = page_all(&c, &base, &t, path, query, size).await;
                let ids: HashSet<&str> =
                    records.iter().map(|x| x["id"].as_str().unwrap()).collect();
                assert_eq!(
                    records.len() as u64,
                    expected,
                    "{path} {query:?} size {size} ({v},{r},{a})"
                );
                assert_eq!(
                    ids.len(),
                    records.len(),
                    "duplicate ids in {path} size {size}"
                );
            }
        }
        // The default page size is 10.
        let resp = get(&c, &base, &t, VULNS, &ALL).await;
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body["results"]["data"].as_array().unwrap().len() as u64,
            v.min(10)
        );
        server.shutdown().await;
    }
}

#[tokio::test]
async fn vulnerabilities_are_sorted_by_deadline_with_sla_less_ones_only_on_request() {
    let server = start_data(data(5, 400, 0, 20)).await;
    let base = server.base_url();
    let c = client();
    let t = token(&c, &base).await;
    let all = page_all(&c, &base, &t, VULNS, &ALL, 100).await;
    let deadlines: Vec<Option<i64>> = all.iter().map(|v| opt_ms(&v["remediateByDate"])).collect();
    let mut sorted = deadlines.clone();
    // Ascending, nulls last.
    sorted.sort_by_key(|d| (d.is_none(), *d));
    assert_eq!(deadlines, sorted);
    let without = deadlines.iter().filter(|d| d.is_none()).count();
    assert!(
        (120..=150).contains(&without),
        "about a third without SLA, got {without}"
    );
    let default = page_all(&c, &base, &t, VULNS, &[], 100).await;
    assert!(default.iter().all(|v| !v["remediateByDate"].is_null()));
    assert_eq!(default.len(), all.len() - without);
    // Some overdue, some due within a week, relative to --now.
    let now = now().timestamp_millis();
    assert!(deadlines.iter().flatten().any(|d| *d < now));
    assert!(deadlines
        .iter()
        .flatten()
        .any(|d| *d >= now && *d < now + 7 * 86_400_000));
    server.shutdown().await;
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

fn sorted(mut k: Vec<&'static str>) -> Vec<&'static str> {
    k.sort_unstable();
    k
}

#[tokio::test]
async fn records_carry_every_key_valid_enums_and_existing_references() {
    let server = start_data(data(11, 800, 300, 60)).await;
    let base = server.base_url();
    let c = client();
    let t = token(&c, &base).await;
    let vulns = page_all(&c, &base, &t, VULNS, &ALL, 100).await;
    let rems = page_all(&c, &base, &t, REMEDIATIONS, &[], 100).await;
    let assets = page_all(&c, &base, &t, ASSETS, &[], 100).await;

    let vuln_keys = sorted(vec![
        "id",
        "name",
        "description",
        "integrationId",
        "packageIdentifier",
        "vulnerabilityType",
        "targetId",
        "firstDetectedDate",
        "sourceDetectedDate",
        "lastDetectedDate",
        "severity",
        "cvssSeverityScore",
        "scannerScore",
        "isFixable",
        "fixedVersion",
        "remediateByDate",
        "relatedVulns",
        "relatedUrls",
        "externalURL",
        "scanSource",
        "deactivateMetadata",
    ]);
    let deactivate_keys = sorted(vec![
        "isVulnDeactivatedIndefinitely",
        "deactivatedUntilDate",
        "deactivationReason",
        "deactivatedOnDate",
        "deactivatedBy",
    ]);
    let asset_ids: HashSet<&str> = assets.iter().map(|a| a["id"].as_str().unwrap()).collect();
    let vuln_ids: HashSet<&str> = vulns.iter().map(|v| v["id"].as_str().unwrap()).collect();
    let (mut indefinitely, mut until, mut null_package, mut cve) = (0, 0, 0, 0);
    let mut severities = HashSet::new();
    let mut integrations = HashSet::new();
    let mut types = HashSet::new();
    for v in &vulns {
        assert_eq!(keys(v), vuln_keys);
        let id = v["id"].as_str().unwrap();
        assert!(id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(
            asset_ids.contains(v["targetId"].as_str().unwrap()),
            "dangling targetId"
        );
        assert!(SEVERITIES.contains(&v["severity"].as_str().unwrap()));
        assert!(["CONFIGURATION", "COMMON", "GROUPED"]
            .contains(&v["vulnerabilityType"].as_str().unwrap()));
        ms(&v["firstDetectedDate"]);
        opt_ms(&v["sourceDetectedDate"]);
        opt_ms(&v["lastDetectedDate"]);
        assert!(v["isFixable"].is_boolean());
        assert!(v["relatedVulns"].is_array() && v["relatedUrls"].is_array());
        assert!(v["cvssSeverityScore"].is_null() || v["cvssSeverityScore"].is_f64());
        null_package += usize::from(v["packageIdentifier"].is_null());
        cve += usize::from(v["name"].as_str().unwrap().starts_with("CVE-"));
        severities.insert(v["severity"].as_str().unwrap().to_string());
        integrations.insert(v["integrationId"].as_str().unwrap().to_string());
        types.insert(v["vulnerabilityType"].as_str().unwrap().to_string());
        if let Some(d) = v["deactivateMetadata"].as_object() {
            assert_eq!(keys(&v["deactivateMetadata"]), deactivate_keys);
            ms(&d["deactivatedOnDate"]);
            if d["isVulnDeactivatedIndefinitely"] == json!(true) {
                assert!(d["deactivatedUntilDate"].is_null());
                indefinitely += 1;
            } else {
                ms(&d["deactivatedUntilDate"]);
                until += 1;
            }
        }
    }
    assert!(indefinitely > 0 && until > 0, "deactivated both ways");
    assert!(null_package > 0 && cve > vulns.len() / 2);
    assert_eq!(severities.len(), 4);
    assert!(integrations.len() >= 4, "{integrations:?}");
    assert_eq!(types.len(), 3);

    let rem_keys = sorted(vec![
        "id",
        "vulnerabilityId",
        "vulnerableAssetId",
        "severity",
        "detectedDate",
        "slaDeadlineDate",
        "remediationDate",
    ]);
    let (mut on_time, mut late) = (0, 0);
    for r in &rems {
        assert_eq!(keys(r), rem_keys);
        assert!(
            vuln_ids.contains(r["vulnerabilityId"].as_str().unwrap()),
            "dangling vulnerabilityId"
        );
        assert!(
            asset_ids.contains(r["vulnerableAssetId"].as_str().unwrap()),
            "dangling vulnerableAssetId"
        );
        assert!(SEVERITIES.contains(&r["severity"].as_str().unwrap()));
        opt_ms(&r["detectedDate"]);
        if let (Some(fixed), Some(deadline)) =
            (opt_ms(&r["remediationDate"]), opt_ms(&r["slaDeadlineDate"]))
        {
            if fixed <= deadline {
                on_time += 1;
            } else {
                late += 1;
            }
        }
    }
    assert!(
        on_time > 0 && late > 0,
        "remediations both on time and late"
    );

    let asset_keys = sorted(vec![
        "id",
        "name",
        "assetType",
        "hasBeenScanned",
        "imageScanTag",
        "scanners",
    ]);
    let scanner_keys = sorted(vec![
        "resourceId",
        "integrationId",
        "imageDigest",
        "imagePushedAtDate",
        "imageTags",
        "assetTags",
        "parentAccountOrOrganization",
        "biosUuid",
        "ipv4s",
        "ipv6s",
        "macAddresses",
        "hostnames",
        "fqdns",
        "operatingSystems",
        "targetId",
    ]);
    let mut seen_types = HashSet::new();
    for a in &assets {
        assert_eq!(keys(a), asset_keys);
        seen_types.insert(a["assetType"].as_str().unwrap().to_string());
        let scanners = a["scanners"].as_array().unwrap();
        assert!(!scanners.is_empty());
        for s in scanners {
            assert_eq!(keys(s), scanner_keys);
        }
    }
    assert_eq!(seen_types.len(), ASSET_TYPES.len(), "every asset type");
    assert!(seen_types.iter().all(|t| ASSET_TYPES.contains(&t.as_str())));
    server.shutdown().await;
}

#[allow(clippy::too_many_arguments)]
/// Pages with a filter and checks the result equals the client-side filter
/// of the full list.
async fn check_filter(
    c: &reqwest::Client,
    base: &str,
    t: &str,
    path: &str,
    base_query: &[(&str, &str)],
    all: &[Value],
    filter: (&str, &str),
    keep: impl Fn(&Value) -> bool,
) -> usize {
    let mut q = base_query.to_vec();
    q.push(filter);
    let got: Vec<Value> = page_all(c, base, t, path, &q, 100)
        .await
        .iter()
        .map(|v| v["id"].clone())
        .collect();
    let want: Vec<Value> = all
        .iter()
        .filter(|v| keep(v))
        .map(|v| v["id"].clone())
        .collect();
    if got != want {
        let first_difference = got.iter().zip(&want).position(|(g, w)| g != w);
        panic!(
            "{path} filter {filter:?}: got {} records, want {}; first difference at {first_difference:?}",
            got.len(),
            want.len()
        );
    }
    want.len()
}

#[tokio::test]
async fn every_filter_selects_what_it_says() {
    let server = start_data(data(13, 700, 300, 50)).await;
    let base = server.base_url();
    let c = client();
    let t = token(&c, &base).await;
    let vulns = page_all(&c, &base, &t, VULNS, &ALL, 100).await;
    let rems = page_all(&c, &base, &t, REMEDIATIONS, &[], 100).await;
    let assets = page_all(&c, &base, &t, ASSETS, &[], 100).await;
    let s = |v: &Value, k: &str| v[k].as_str().map(str::to_string);

    // Vulnerabilities (with and without the SLA-less tail).
    let has_sla = |v: &Value| !v["remediateByDate"].is_null();
    let n = check_filter(
        &c,
        &base,
        &t,
        VULNS,
        &[],
        &vulns,
        ("severity", "HIGH"),
        |v| has_sla(v) && v["severity"] == "HIGH",
    )
    .await;
    assert!(n > 0);
    let n = check_filter(
        &c,
        &base,
        &t,
        VULNS,
        &ALL,
        &vulns,
        ("isDeactivated", "true"),
        |v| !v["deactivateMetadata"].is_null(),
    )
    .await;
    assert!(n > 0);
    check_filter(
        &c,
        &base,
        &t,
        VULNS,
        &ALL,
        &vulns,
        ("isDeactivated", "false"),
        |v| v["deactivateMetadata"].is_null(),
    )
    .await;
    check_filter(
        &c,
        &base,
        &t,
        VULNS,
        &ALL,
        &vulns,
        ("isFixAvailable", "true"),
        |v| v["isFixable"] == true,
    )
    .await;
    check_filter(
        &c,
        &base,
        &t,
        VULNS,
        &ALL,
        &vulns,
        ("isFixAvailable", "false"),
        |v| v["isFixable"] == false,
    )
    .await;
    check_filter(
        &c,
        &base,
        &t,
        VULNS,
        &ALL,
        &vulns,
        ("integrationId", "snyk"),
        |v| v["integrationId"] == "snyk",
    )
    .await;
    let cve = vulns
        .iter()
        .find_map(|v| s(v, "name").filter(|n| n.starts_with("CVE-")))
        .unwrap();
    let n = check_filter(
        &c,
        &base,
        &t,
        VULNS,
        &ALL,
        &vulns,
        ("externalVulnerabilityId", &cve),
        |v| {
            s(v, "name").as_deref() == Some(cve.as_str())
                || v["relatedVulns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r == cve.as_str())
        },
    )
    .await;
    assert!(n > 0);
    let package = vulns
        .iter()
        .find_map(|v| s(v, "packageIdentifier"))
        .unwrap();
    check_filter(
        &c,
        &base,
        &t,
        VULNS,
        &ALL,
        &vulns,
        ("packageIdentifier", &package),
        |v| s(v, "packageIdentifier").as_deref() == Some(package.as_str()),
    )
    .await;
    let asset = s(&vulns[3], "targetId").unwrap();
    let n = check_filter(
        &c,
        &base,
        &t,
        VULNS,
        &ALL,
        &vulns,
        ("vulnerableAssetId", &asset),
        |v| s(v, "targetId").as_deref() == Some(asset.as_str()),
    )
    .await;
    assert!(n > 0);
    check_filter(
        &c,
        &base,
        &t,
        VULNS,
        &ALL,
        &vulns,
        ("q", "multiple VULNERABILITIES"),
        |v| {
            s(v, "name")
                .unwrap()
                .to_lowercase()
                .contains("multiple vulnerabilities")
        },
    )
    .await;
    let now = now().timestamp_millis();
    let after = chrono::DateTime::from_timestamp_millis(now)
        .unwrap()
        .to_rfc3339();
    let before = "2027-01-01";
    let cutoff = chrono::DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z")
        .unwrap()
        .timestamp_millis();
    let n = check_filter(
        &c,
        &base,
        &t,
        VULNS,
        &ALL,
        &vulns,
        ("slaDeadlineAfterDate", &after),
        |v| opt_ms(&v["remediateByDate"]).is_some_and(|d| d > now),
    )
    .await;
    assert!(n > 0);
    check_filter(
        &c,
        &base,
        &t,
        VULNS,
        &[("slaDeadlineAfterDate", &after)],
        &vulns,
        ("slaDeadlineBeforeDate", before),
        |v| opt_ms(&v["remediateByDate"]).is_some_and(|d| d > now && d < cutoff),
    )
    .await;
    // Filters combine.
    check_filter(
        &c,
        &base,
        &t,
        VULNS,
        &[("severity", "LOW"), ("isFixAvailable", "true")],
        &vulns,
        ("isDeactivated", "false"),
        |v| {
            has_sla(v)
                && v["severity"] == "LOW"
                && v["isFixable"] == true
                && v["deactivateMetadata"].is_null()
        },
    )
    .await;

    // Remediations.
    let integration_of: HashMap<String, String> = vulns
        .iter()
        .map(|v| (s(v, "id").unwrap(), s(v, "integrationId").unwrap()))
        .collect();
    check_filter(
        &c,
        &base,
        &t,
        REMEDIATIONS,
        &[],
        &rems,
        ("severity", "MEDIUM"),
        |r| r["severity"] == "MEDIUM",
    )
    .await;
    let n = check_filter(
        &c,
        &base,
        &t,
        REMEDIATIONS,
        &[],
        &rems,
        ("integrationId", "aws"),
        |r| integration_of[r["vulnerabilityId"].as_str().unwrap()] == "aws",
    )
    .await;
    assert!(n > 0);
    let timing = |r: &Value| match (opt_ms(&r["remediationDate"]), opt_ms(&r["slaDeadlineDate"])) {
        (Some(f), Some(d)) => Some(f <= d),
        _ => None,
    };
    check_filter(
        &c,
        &base,
        &t,
        REMEDIATIONS,
        &[],
        &rems,
        ("isRemediatedOnTime", "true"),
        |r| timing(r) == Some(true),
    )
    .await;
    check_filter(
        &c,
        &base,
        &t,
        REMEDIATIONS,
        &[],
        &rems,
        ("isRemediatedOnTime", "false"),
        |r| timing(r) == Some(false),
    )
    .await;
    let mid = "2026-06-01T00:00:00.000Z";
    let mid_ms = chrono::DateTime::parse_from_rfc3339(mid)
        .unwrap()
        .timestamp_millis();
    let n = check_filter(
        &c,
        &base,
        &t,
        REMEDIATIONS,
        &[],
        &rems,
        ("remediatedAfterDate", mid),
        |r| opt_ms(&r["remediationDate"]).is_some_and(|f| f > mid_ms),
    )
    .await;
    assert!(n > 0);
    check_filter(
        &c,
        &base,
        &t,
        REMEDIATIONS,
        &[],
        &rems,
        ("remediatedBeforeDate", mid),
        |r| opt_ms(&r["remediationDate"]).is_some_and(|f| f < mid_ms),
    )
    .await;

    // Assets.
    check_filter(
        &c,
        &base,
        &t,
        ASSETS,
        &[],
        &assets,
        ("assetType", "CODE_REPOSITORY"),
        |a| a["assetType"] == "CODE_REPOSITORY",
    )
    .await;
    let scanned_by = |a: &Value, key: &str, want: &str| {
        a["scanners"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s[key] == want)
    };
    let n = check_filter(
        &c,
        &base,
        &t,
        ASSETS,
        &[],
        &assets,
        ("integrationId", "github"),
        |a| scanned_by(a, "integrationId", "github"),
    )
    .await;
    assert!(n > 0);
    let n = check_filter(
        &c,
        &base,
        &t,
        ASSETS,
        &[],
        &assets,
        ("assetExternalAccountId", "123456789012"),
        |a| scanned_by(a, "parentAccountOrOrganization", "123456789012"),
    )
    .await;
    assert!(n > 0);
    check_filter(&c, &base, &t, ASSETS, &[], &assets, ("q", "ACME/"), |a| {
        s(a, "name").unwrap().to_lowercase().contains("acme/")
    })
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn bad_parameters_are_400_and_unknown_ids_404() {
    let server = start_data(data(17, 50, 20, 10)).await;
    let base = server.base_url();
    let c = client();
    let t = token(&c, &base).await;
    let asset_cursor = {
        let body: Value = get(&c, &base, &t, ASSETS, &[("pageSize", "1")])
            .await
            .json()
            .await
            .unwrap();
        body["results"]["pageInfo"]["endCursor"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (VULNS, vec![("pageSize", "0")]),
        (VULNS, vec![("pageSize", "101")]),
        (ASSETS, vec![("pageSize", "ten")]),
        (VULNS, vec![("pageCursor", "%%%not-base64")]),
        (VULNS, vec![("pageCursor", "Zm9vOjE=")]),
        (VULNS, vec![("pageCursor", &asset_cursor)]),
        (VULNS, vec![("severity", "SEVERE")]),
        (REMEDIATIONS, vec![("severity", "high")]),
        (ASSETS, vec![("assetType", "LAPTOP")]),
        (VULNS, vec![("slaDeadlineAfterDate", "yesterday")]),
        (REMEDIATIONS, vec![("remediatedBeforeDate", "2024-13-01")]),
        (VULNS, vec![("isDeactivated", "yes")]),
        (VULNS, vec![("includeVulnerabilitiesWithoutSlas", "1")]),
        (REMEDIATIONS, vec![("isRemediatedOnTime", "TRUE")]),
        (VULNS, vec![("includeVulnerabilitiesWithoutSla", "true")]),
        (ASSETS, vec![("severity", "HIGH")]),
    ];
    for (path, q) in &cases {
        let resp = get(&c, &base, &t, path, q).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{path} {q:?}");
        assert!(resp.json::<Value>().await.unwrap()["message"].is_string());
    }

    // By-id returns the bare record, identical to the listed one.
    let vulns = page_all(&c, &base, &t, VULNS, &ALL, 100).await;
    let assets = page_all(&c, &base, &t, ASSETS, &[], 100).await;
    for v in vulns.iter().step_by(7) {
        let resp = get(
            &c,
            &base,
            &t,
            &format!("{VULNS}/{}", v["id"].as_str().unwrap()),
            &[],
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(&resp.json::<Value>().await.unwrap(), v);
    }
    for a in assets.iter() {
        let resp = get(
            &c,
            &base,
            &t,
            &format!("{ASSETS}/{}", a["id"].as_str().unwrap()),
            &[],
        )
        .await;
        assert_eq!(&resp.json::<Value>().await.unwrap(), a);
    }
    let asset_id = assets[0]["id"].as_str().unwrap();
    for path in [
        format!("{VULNS}/{asset_id}"),
        format!("{VULNS}/000000000000000000000000"),
        format!("{VULNS}/nope"),
        format!("{ASSETS}/{}", vulns[0]["id"].as_str().unwrap()),
        "/v1/nothing-here".to_string(),
    ] {
        assert_eq!(
            get(&c, &base, &t, &path, &[]).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    // An id that decodes to an index past the end is unknown too.
    let small = start_data(data(17, 3, 0, 1)).await;
    let t2 = token(&c, &small.base_url()).await;
    let far = vulns.last().unwrap()["id"].as_str().unwrap();
    let resp = get(&c, &small.base_url(), &t2, &format!("{VULNS}/{far}"), &[]).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    small.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn same_seed_gives_byte_identical_responses_across_servers() {
    let c = client();
    let a = start_data(data(21, 300, 100, 40)).await;
    let b = start_data(data(21, 300, 100, 40)).await;
    let other = start_data(data(22, 300, 100, 40)).await;
    let (ta, tb, to) = (
        token(&c, &a.base_url()).await,
        token(&c, &b.base_url()).await,
        token(&c, &other.base_url()).await,
    );
    for (path, q) in [
        (
            VULNS,
            vec![
                ("pageSize", "100"),
                ("includeVulnerabilitiesWithoutSlas", "true"),
            ],
        ),
        (
            VULNS,
            vec![
                ("pageSize", "37"),
                ("pageCursor", "dnVsbmVyYWJpbGl0aWVzOjQx"),
            ],
        ),
        (REMEDIATIONS, vec![("pageSize", "100")]),
        (ASSETS, vec![("pageSize", "40"), ("assetType", "SERVER")]),
    ] {
        let body_a = get(&c, &a.base_url(), &ta, path, &q)
            .await
            .bytes()
            .await
            .unwrap();
        let body_b = get(&c, &b.base_url(), &tb, path, &q)
            .await
            .bytes()
            .await
            .unwrap();
        let body_o = get(&c, &other.base_url(), &to, path, &q)
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(body_a, body_b, "{path} {q:?}");
        assert_ne!(body_a, body_o, "another seed gives another dataset");
    }
    a.shutdown().await;
    b.shutdown().await;
    other.shutdown().await;
}
