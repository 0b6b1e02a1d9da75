//! The real `vanta-vuln-sync` binary, run by the emulator as a Lambda
//! function against mock-vanta, writes Parquet that pyarrow reads with the
//! expected row counts and column types, and that DuckDB queries (nested
//! columns included) with the counts mock-vanta expects, reading the Glue
//! tables' symlink files as Athena does (so a stray part file in the
//! snapshot's folder is not read).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use serde_json::Value;

const BUCKET: &str = "vanta-vuln-data";

/// `target/release` (this test runs from `target/release/deps`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .to_path_buf()
}

/// The function's release binary, rebuilt by cargo when older than its
/// sources (the harness's own locator, so a stale binary is never tested).
async fn function_binary() -> PathBuf {
    perfharness::local::ensure_binary(perfharness::local::FUNCTION_BINARY)
        .await
        .expect("the vanta-vuln-sync release binary")
}

/// A `PYTHONPATH` under which `import pyarrow` works, installing pyarrow into
/// the target directory when the system Python lacks it.
fn pyarrow_path() -> Option<PathBuf> {
    let works = |path: Option<&Path>| {
        let mut cmd = Command::new("python3");
        cmd.args(["-c", "import pyarrow, duckdb"]);
        if let Some(p) = path {
            cmd.env("PYTHONPATH", p);
        }
        cmd.output().map(|o| o.status.success()).unwrap_or(false)
    };
    if works(None) {
        return None;
    }
    let site = target_dir().join("py-e2e");
    if !works(Some(&site)) {
        let out = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(&site)
            .args(["pyarrow", "duckdb"])
            .output()
            .expect("python3 -m pip");
        assert!(
            out.status.success() && works(Some(&site)),
            "pyarrow/duckdb are missing and `python3 -m pip install pyarrow duckdb` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Some(site)
}

const READER: &str = r#"
import json, sys
import pyarrow.parquet as pq
import pyarrow as pa
out = {}
for dataset, files in json.loads(sys.argv[1]).items():
    table = pa.concat_tables([pq.read_table(f) for f in files])
    out[dataset] = {"rows": table.num_rows,
                    "types": {f.name: str(f.type) for f in table.schema}}
# DuckDB reads the same files on its own (its own Parquet reader), including
# the nested columns Athena users query.
import duckdb
files = json.loads(sys.argv[1])
con = duckdb.connect()
def one(sql, dataset):
    return con.execute(sql.format(src="read_parquet(?)"), [files[dataset]]).fetchone()[0]
out["duckdb"] = {
    "vulnerabilities": one("select count(*) from {src}", "vulnerabilities"),
    "remediations": one("select count(*) from {src}", "remediations"),
    "vulnerable_assets": one("select count(*) from {src}", "vulnerable_assets"),
    "deactivated": one("select count(*) from {src} where deactivateMetadata is not null", "vulnerabilities"),
    "critical": one("select count(*) from {src} where severity = 'CRITICAL'", "vulnerabilities"),
    "scanner_rows": one("select count(*) from (select unnest(scanners) from {src})", "vulnerable_assets"),
    # The columns whose column chunks carry a min and a max (what lets a
    # reader skip row groups), as DuckDB reads them from the footers.
    "with_stats": sorted({r[0] for r in con.execute(
        "select path_in_schema from parquet_metadata(?) where stats_min_value is not null",
        [files["vulnerabilities"]]).fetchall()}),
}
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_reads_what_the_function_wrote() {
    let python_path = pyarrow_path();
    let data = mock_vanta::DataConfig {
        seed: 3,
        vulnerabilities: 1_234,
        remediations: 567,
        assets: 89,
        now: "2026-11-26T06:00:00.000Z".parse().unwrap(),
    };
    let vanta = mock_vanta::Server::start(mock_vanta::Config {
        data: data.clone(),
        ..mock_vanta::Config::default()
    })
    .await
    .unwrap();

    let mut spec = emulator::lambda::FunctionSpec::new("vanta-vuln-sync", function_binary().await);
    spec.timeout_s = 120;
    spec.memory_mb = 256;
    spec.log_format = emulator::lambda::LogFormat::Json;
    spec.environment = BTreeMap::from([
        ("VANTA_CLIENT_ID".to_string(), "vci_mock".to_string()),
        ("VANTA_CLIENT_SECRET".to_string(), "vcs_mock".to_string()),
        ("VANTA_BASE_URL".to_string(), vanta.base_url()),
        ("VANTA_RATE_LIMIT_PER_MIN".to_string(), "0".to_string()),
        ("S3_BUCKET".to_string(), BUCKET.to_string()),
        ("S3_PREFIX".to_string(), "e2e".to_string()),
    ]);
    let emu = emulator::Emulator::start(emulator::EmulatorConfig {
        functions: vec![spec],
        ..emulator::EmulatorConfig::default()
    })
    .await
    .unwrap();
    let endpoint = emu.endpoint_url();
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();

    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let payload = serde_json::json!({"asOf": "2026-11-26T06:00:00.000Z"}).to_string();
    let out = lambda
        .invoke()
        .function_name("vanta-vuln-sync")
        .payload(aws_sdk_lambda::primitives::Blob::new(payload))
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(out.payload().unwrap().as_ref()).unwrap();
    assert!(out.function_error().is_none(), "function failed: {body}");
    assert_eq!(body["status"], "complete", "{body}");
    assert_eq!(body["counts"]["vulnerabilities"], 1_234);

    // A failed attempt's part file left in the snapshot's folder (as a kill
    // or a lost duplicate leaves it): readers must not see it.
    let latest = get_json(&s3, "e2e/latest.json").await;
    let manifest = get_json(&s3, latest["manifest"].as_str().unwrap()).await;
    let run = manifest["runId"].as_str().unwrap().to_owned();
    let first_part = manifest["files"][0]["key"].as_str().unwrap().to_owned();
    let (folder, _) = first_part.rsplit_once('/').unwrap();
    let orphan = format!("{folder}/part-00000-0rphan00.parquet");
    s3.put_object()
        .bucket(BUCKET)
        .key(&orphan)
        .body(get(&s3, &first_part).await.into())
        .send()
        .await
        .unwrap();

    // Read the tables the way Athena does: each table's partition location
    // for the run (`symlinks/dt=…/run=…/<dataset>/`, SymlinkTextInputFormat)
    // holds text files naming the Parquet files to read.
    let dir = tempfile::tempdir().unwrap();
    let mut files: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let listed = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("e2e/symlinks/")
        .send()
        .await
        .unwrap();
    let mut n = 0;
    for dataset in ["vulnerabilities", "remediations", "vulnerable_assets"] {
        let location = format!("/run={run}/{dataset}/");
        let links: Vec<&str> = listed
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .filter(|k| k.contains(&location))
            .collect();
        assert_eq!(links.len(), 1, "{dataset}: one symlink file, {links:?}");
        let text = String::from_utf8(get(&s3, links[0]).await).unwrap();
        for url in text.lines() {
            let key = url
                .strip_prefix(&format!("s3://{BUCKET}/"))
                .unwrap_or_else(|| panic!("{url} is not in the bucket"));
            assert_ne!(key, orphan, "the symlink names a file no manifest lists");
            n += 1;
            let path = dir.path().join(format!("{n}.parquet"));
            std::fs::write(&path, get(&s3, key).await).unwrap();
            files
                .entry(dataset.to_owned())
                .or_default()
                .push(path.to_string_lossy().into_owned());
        }
    }
    assert_eq!(
        n,
        manifest["files"].as_array().unwrap().len(),
        "the tables read exactly the manifest's files"
    );
    let mut cmd = Command::new("python3");
    cmd.args(["-c", READER, &serde_json::to_string(&files).unwrap()]);
    if let Some(p) = &python_path {
        cmd.env("PYTHONPATH", p);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "pyarrow/duckdb reader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();

    assert_eq!(read["vulnerabilities"]["rows"], 1_234);
    assert_eq!(read["remediations"]["rows"], 567);
    assert_eq!(read["vulnerable_assets"]["rows"], 89);
    let stats = mock_vanta::expected_stats(&data);
    let duck = &read["duckdb"];
    assert_eq!(duck["vulnerabilities"], 1_234);
    assert_eq!(duck["remediations"], 567);
    assert_eq!(duck["vulnerable_assets"], 89);
    assert_eq!(duck["deactivated"], stats["vulnerabilities"]["deactivated"]);
    assert_eq!(
        duck["critical"],
        stats["vulnerabilities"]["bySeverity"]["CRITICAL"]
    );
    assert!(duck["scanner_rows"].as_u64().unwrap() > 0, "{duck}");
    let v = &read["vulnerabilities"]["types"];
    assert_eq!(v["id"], "string");
    assert_eq!(v["remediateByDate"], "timestamp[ms, tz=UTC]");
    assert_eq!(v["cvssSeverityScore"], "double");
    assert_eq!(v["isFixable"], "bool");
    assert_eq!(v["relatedVulns"], "list<item: string>");
    assert!(
        v["deactivateMetadata"]
            .as_str()
            .unwrap()
            .starts_with("struct<isVulnDeactivatedIndefinitely: bool"),
        "{v}"
    );
    // Statistics (what lets a reader skip row groups and pages) on the
    // columns a query filters by range, not on ids or free text.
    let with_stats = &duck["with_stats"];
    for column in [
        "firstDetectedDate",
        "remediateByDate",
        "severity",
        "cvssSeverityScore",
    ] {
        assert!(
            with_stats.as_array().unwrap().iter().any(|c| c == column),
            "{column} has no statistics: {with_stats}"
        );
    }
    for column in ["id", "description", "targetId"] {
        assert!(
            !with_stats.as_array().unwrap().iter().any(|c| c == column),
            "{column} has statistics: {with_stats}"
        );
    }
    let r = &read["remediations"]["types"];
    assert_eq!(r["remediationDate"], "timestamp[ms, tz=UTC]");
    let a = &read["vulnerable_assets"]["types"];
    assert_eq!(a["hasBeenScanned"], "bool");
    let scanners = a["scanners"].as_str().unwrap();
    assert!(
        scanners.starts_with("list<item: struct<resourceId: string"),
        "{scanners}"
    );
    assert!(
        scanners.contains("assetTags: list<item: struct<key: string, value: string>>"),
        "{scanners}"
    );

    emu.shutdown().await;
    vanta.shutdown().await;
}

async fn get(s3: &aws_sdk_s3::Client, key: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

async fn get_json(s3: &aws_sdk_s3::Client, key: &str) -> Value {
    serde_json::from_slice(&get(s3, key).await).unwrap()
}
