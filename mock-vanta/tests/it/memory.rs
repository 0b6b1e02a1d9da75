//! Serving a million vulnerabilities keeps the server process small: the
//! dataset is generated per page, never held.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_mock-vanta");

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_vulnerabilities_are_served_in_well_under_50_mb() {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--vulnerabilities",
            "1000000",
            "--remediations",
            "1000",
            "--assets",
            "5000",
        ])
        .args(["--now", "2026-11-26T06:00:00Z", "--log-level", "warn"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn mock-vanta");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line.trim().rsplit(' ').next().unwrap().to_string();
    let client = reqwest::Client::new();
    let body = serde_json::json!({"client_id": "vci_mock", "client_secret": "vcs_mock",
        "scope": "vanta-api.all:read", "grant_type": "client_credentials"});
    let token: serde_json::Value = client
        .post(format!("{base}/oauth/token"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();

    // Four clients read the tail quarter by quarter, each by its own SLA
    // window, then one client pages across the end of the list.
    let windows = [
        ("2025-01-01", "2026-06-01"),
        ("2026-06-01", "2026-12-01"),
        ("2026-12-01", "2027-02-01"),
        ("2027-02-01", "2028-01-01"),
    ];
    let mut tasks = Vec::new();
    for (after, before) in windows {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut cursor: Option<String> = None;
            let mut records = 0usize;
            loop {
                let mut q = vec![
                    ("pageSize", "100".to_string()),
                    ("slaDeadlineAfterDate", after.to_string()),
                    ("slaDeadlineBeforeDate", before.to_string()),
                ];
                if let Some(c) = &cursor {
                    q.push(("pageCursor", c.clone()));
                }
                let resp = client
                    .get(format!("{base}/v1/vulnerabilities"))
                    .bearer_auth(&token)
                    .query(&q);
                let page: serde_json::Value = resp.send().await.unwrap().json().await.unwrap();
                records += page["results"]["data"].as_array().unwrap().len();
                let info = &page["results"]["pageInfo"];
                if info["hasNextPage"] != true {
                    break records;
                }
                cursor = info["endCursor"].as_str().map(str::to_string);
            }
        }));
    }
    let mut served = 0;
    for t in tasks {
        served += t.await.unwrap();
    }
    // The windows cover every deadline (a year back to half a year ahead).
    assert_eq!(served, 1_000_000 - 1_000_000 / 3);
    let kib = peak_rss_kib(child.id()).expect("/proc is readable");
    let _ = child.kill();
    let _ = child.wait();
    assert!(kib < 50 * 1024, "peak RSS {kib} KiB");
}
