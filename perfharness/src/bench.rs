//! Where a benchmark of a deployed function sends its Vanta traffic and its
//! snapshots, and the sample counts it uses by default.
//!
//! Against AWS the default is the benchmark stack (`bench/template.yaml`):
//! for the duration of a run the function is pointed at mock-vanta on
//! Lambda (`VANTA_BASE_URL`, the mock's credentials secret, no pacing) and
//! at the benchmark bucket and prefix (`S3_BUCKET`, `S3_PREFIX`), through
//! the same configuration guard that forces cold starts, so the production
//! configuration comes back on every exit path and no sample touches the
//! production data or the customer's Vanta tenant. `--vanta real` keeps the
//! function's own configuration, after an estimate of what the run costs
//! and a confirmation (`--yes` for CI).

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

use crate::aws::session::Session;
use crate::error::HarnessError;
pub use crate::options::{Vanta, VantaArgs, BENCH_PREFIX, MOCK_FUNCTION, MOCK_SECRET};

/// The benchmark bucket is `perfharness-bench-<account>-<region>`.
pub const BUCKET_STEM: &str = "perfharness-bench";

/// Sample counts against AWS when none are given: each sample is a real
/// sync (a real bill, real S3 writes), so a handful is the default.
pub const AWS_DEFAULTS: Counts = Counts {
    cold: 5,
    warm: 20,
    concurrency: 1,
};
/// Sample counts with `--local` (unchanged).
pub const LOCAL_DEFAULTS: Counts = Counts {
    cold: 20,
    warm: 100,
    concurrency: 4,
};

/// Sample counts of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Cold samples.
    pub cold: usize,
    /// Sequential warm samples (and parallel ones when concurrency > 1).
    pub warm: usize,
    /// Parallel invokes.
    pub concurrency: usize,
}

/// The sample counts: those given, else the defaults for where the run goes.
pub fn counts(
    local: bool,
    cold: Option<usize>,
    warm: Option<usize>,
    concurrency: Option<usize>,
) -> Counts {
    let d = if local { LOCAL_DEFAULTS } else { AWS_DEFAULTS };
    Counts {
        cold: cold.unwrap_or(d.cold),
        warm: warm.unwrap_or(d.warm),
        concurrency: concurrency.unwrap_or(d.concurrency),
    }
}

/// Invocations a plan makes (re-forced cold samples come on top, up to
/// `max_reforce` each).
pub fn invocations(cold: usize, warm: usize, concurrency: usize) -> usize {
    let mut n = cold;
    if warm > 0 {
        n += 1 + warm;
        if concurrency > 1 {
            n += concurrency + warm;
        }
    }
    n
}

/// What a `--vanta real` run will cost the tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Invocations, each a full sync.
    pub invocations: usize,
    /// Upper bound on extra invocations from re-forced cold samples.
    pub reforce_bound: usize,
    /// Vanta requests per sync, when the tenant size is known.
    pub requests_per_sync: Option<u64>,
    /// The tenant's rate limit the function keeps to (requests a minute; 0 = none).
    pub rate_per_min: u64,
    /// Page size of the list requests.
    pub page_size: u64,
    /// True when the payload asks for a dry run (no snapshot written).
    pub dry_run: bool,
    /// True when `invocations` is only an upper bound (a closed-model load
    /// runs as many as finish in its duration).
    pub upper_bound: bool,
}

impl Estimate {
    /// The estimate for `invocations` syncs of a function with environment
    /// `env` and payload `payload`.
    pub fn new(
        invocations: usize,
        reforce_bound: usize,
        env: &BTreeMap<String, String>,
        payload: &[u8],
        records: Option<u64>,
    ) -> Self {
        let num = |k: &str, d: u64| env.get(k).and_then(|v| v.trim().parse().ok()).unwrap_or(d);
        let page_size = num("VANTA_PAGE_SIZE", 100).max(1);
        let dry_run = serde_json::from_slice::<serde_json::Value>(payload)
            .ok()
            .and_then(|v| v.get("dryRun").and_then(|d| d.as_bool()))
            .unwrap_or(false);
        Estimate {
            invocations,
            reforce_bound,
            // One token request, then at least one page for each of the
            // three list endpoints, one more for every page_size records.
            requests_per_sync: records.map(|r| 1 + 3 + r / page_size),
            rate_per_min: num("VANTA_RATE_LIMIT_PER_MIN", 50),
            page_size,
            dry_run,
            upper_bound: false,
        }
    }

    /// Lines for people.
    pub fn lines(&self) -> Vec<String> {
        let n = self.invocations as u64;
        let mut out = vec![format!(
            "  invocations: {}{} full syncs against your Vanta tenant (up to {} more if cold starts must be re-forced)",
            if self.upper_bound { "up to " } else { "" },
            n,
            self.reforce_bound
        )];
        match self.requests_per_sync {
            Some(r) => {
                let total = r * n;
                out.push(format!(
                    "  Vanta requests: about {total} ({r} per sync at page size {})",
                    self.page_size
                ));
                if self.rate_per_min > 0 {
                    let minutes = total as f64 / self.rate_per_min as f64;
                    out.push(format!(
                        "  expected duration: at least {minutes:.0} min at the tenant's limit of {} requests/min",
                        self.rate_per_min
                    ));
                } else {
                    out.push("  expected duration: not bounded by a rate limit (VANTA_RATE_LIMIT_PER_MIN=0)".into());
                }
            }
            None => {
                out.push(format!(
                    "  Vanta requests: at least {} (4 per sync: a token and one page of each dataset; one more per {} records); pass --vanta-records N for an estimate",
                    4 * n,
                    self.page_size
                ));
                if self.rate_per_min > 0 {
                    out.push(format!(
                        "  expected duration: at least {:.0} min at the tenant's limit of {} requests/min",
                        (4 * n) as f64 / self.rate_per_min as f64,
                        self.rate_per_min
                    ));
                }
            }
        }
        out.push(if self.dry_run {
            "  snapshots: none (dry run), but every sample still pages through Vanta".into()
        } else {
            format!("  snapshots: {n} written under the production prefix, each moving latest.json")
        });
        out
    }
}

/// The benchmark stack as the run uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchStack {
    /// mock-vanta's base URL.
    pub vanta_url: String,
    /// Bucket for benchmark snapshots.
    pub bucket: String,
    /// Key prefix for benchmark snapshots.
    pub prefix: String,
    /// mock-vanta's credentials secret.
    pub secret: String,
}

impl BenchStack {
    /// The environment changes that point the function at the stack
    /// (`None` removes a variable: inline credentials would win over the
    /// secret).
    pub fn overrides(&self) -> BTreeMap<String, Option<String>> {
        BTreeMap::from([
            ("VANTA_BASE_URL".into(), Some(self.vanta_url.clone())),
            ("VANTA_CREDENTIALS_SECRET".into(), Some(self.secret.clone())),
            ("VANTA_CLIENT_ID".into(), None),
            ("VANTA_CLIENT_SECRET".into(), None),
            // The mock has no rate limit; pacing would only stretch the run.
            ("VANTA_RATE_LIMIT_PER_MIN".into(), Some("0".into())),
            ("S3_BUCKET".into(), Some(self.bucket.clone())),
            ("S3_PREFIX".into(), Some(self.prefix.clone())),
        ])
    }
}

/// True when the function is a Vanta sync (any `VANTA_*` variable, or
/// named vanta-vuln-sync): only then does `--vanta` apply. Other functions
/// (the reference no-op, your own) are measured as they are.
pub fn is_vanta_sync(function: &str, env: &BTreeMap<String, String>) -> bool {
    env.keys().any(|k| k.starts_with("VANTA_"))
        || function.rsplit(':').next() == Some("vanta-vuln-sync")
        || function.rsplit(':').nth(1) == Some("vanta-vuln-sync")
}

/// The account and region of a function ARN.
fn account_and_region(arn: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = arn.split(':').collect();
    (parts.len() >= 7 && parts[0] == "arn" && parts[2] == "lambda").then(|| (parts[4], parts[3]))
}

/// Reads the benchmark stack: the mock's URL (from the flag or the mock
/// function's Function URL), the bucket (from the flag or the account and
/// region of `function_arn`), the prefix and the secret.
pub async fn resolve(
    session: &Session,
    args: &VantaArgs,
    function_arn: &str,
) -> Result<BenchStack, HarnessError> {
    let vanta_url = match &args.bench_vanta_url {
        Some(u) => u.clone(),
        None => {
            let out = session
                .lambda
                .get_function_url_config()
                .function_name(&args.bench_mock_function)
                .send()
                .await
                .map_err(|e| {
                    let e = crate::error::from_sdk("GetFunctionUrlConfig", e);
                    HarnessError::Usage(format!(
                        "cannot find the benchmark stack's mock-vanta ({e}); deploy bench/template.yaml (see the README), pass --bench-vanta-url URL, or --vanta real"
                    ))
                })?;
            out.function_url().to_string()
        }
    };
    if !(vanta_url.starts_with("https://") || vanta_url.starts_with("http://")) {
        return Err(HarnessError::Usage(format!(
            "--bench-vanta-url {vanta_url:?} is not an http(s) URL"
        )));
    }
    let bucket = match &args.bench_bucket {
        Some(b) => b.clone(),
        None => {
            let (account, region) = account_and_region(function_arn).ok_or_else(|| {
                HarnessError::Usage(format!(
                    "cannot tell the account of {function_arn:?}; pass --bench-bucket"
                ))
            })?;
            format!("{BUCKET_STEM}-{account}-{region}")
        }
    };
    let prefix = args.bench_prefix.trim().trim_matches('/').to_string();
    if prefix.is_empty() {
        return Err(HarnessError::Usage(
            "--bench-prefix must not be empty".into(),
        ));
    }
    Ok(BenchStack {
        vanta_url: vanta_url.trim_end_matches('/').to_string(),
        bucket,
        prefix,
        secret: args.bench_secret.clone(),
    })
}

/// Asks for confirmation of a `--vanta real` run: prints the estimate, then
/// with `yes` goes ahead, on a terminal asks, and otherwise refuses.
pub fn confirm_real(
    estimate: &Estimate,
    yes: bool,
    function: &str,
    interactive: bool,
) -> Result<(), HarnessError> {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "--vanta real: {function} runs against your Vanta tenant and the production prefix:"
    );
    for l in estimate.lines() {
        let _ = writeln!(err, "{l}");
    }
    if yes {
        return Ok(());
    }
    if !interactive {
        return Err(HarnessError::Usage(
            "--vanta real needs confirmation: pass --yes (not a terminal), or drop --vanta real to use the benchmark stack".into(),
        ));
    }
    let _ = write!(err, "Proceed? [y/N] ");
    let _ = err.flush();
    drop(err);
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(HarnessError::Usage(
            "not confirmed; nothing was changed".into(),
        )),
    }
}

/// The invocations a run makes, for the estimate of a `--vanta real` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// Invocations of the function (each a full sync).
    pub invocations: usize,
    /// Upper bound on extra invocations from re-forced cold samples.
    pub reforce_bound: usize,
    /// True when `invocations` is only an upper bound.
    pub upper_bound: bool,
}

/// Environment changes applied under the configuration guard for a run
/// (`None` removes a variable; empty: the function runs as configured).
pub type Overrides = BTreeMap<String, Option<String>>;

/// Before anything starts: `--vanta real` has no meaning with `--local`
/// (the in-process mock-vanta is the only Vanta there).
pub fn check_local(local: bool, args: &VantaArgs) -> Result<(), HarnessError> {
    if local && args.vanta == Some(Vanta::Real) {
        return Err(HarnessError::Usage(
            "--local runs against the in-process mock-vanta; --vanta real is for a deployed function".into(),
        ));
    }
    Ok(())
}

/// What a run of the session's function does about Vanta. `--local`, and a
/// function that is not a Vanta sync, run as they are (no overrides).
/// Against AWS: `--vanta mock` (the default) returns the overrides pointing
/// the function at the benchmark stack; `--vanta real` prints what the run
/// costs and asks for confirmation (refusing on a non-terminal without
/// `--yes`), then returns no overrides.
pub async fn choose(
    session: &Session,
    args: &VantaArgs,
    work: Workload,
    payload: &[u8],
) -> Result<Overrides, HarnessError> {
    check_local(session.is_local(), args)?;
    if session.is_local() {
        return Ok(Overrides::new());
    }
    let c = crate::aws::control::get_configuration(session).await?;
    let env = crate::aws::control::environment_of(&c);
    if !is_vanta_sync(&session.function, &env) {
        tracing::info!(
            "{} has no VANTA_* configuration: measured as it is",
            session.function
        );
        return Ok(Overrides::new());
    }
    match args.vanta.unwrap_or(Vanta::Mock) {
        Vanta::Mock => {
            let arn = c.function_arn().unwrap_or_default();
            let stack = resolve(session, args, arn).await?;
            eprintln!(
                "benchmark stack: {}{} invocations against mock-vanta at {}, snapshots to s3://{}/{}/ (production configuration restored afterwards; --vanta real for your tenant)",
                if work.upper_bound { "up to " } else { "" },
                work.invocations,
                stack.vanta_url,
                stack.bucket,
                stack.prefix
            );
            Ok(stack.overrides())
        }
        Vanta::Real => {
            let mut estimate = Estimate::new(
                work.invocations,
                work.reforce_bound,
                &env,
                payload,
                args.vanta_records,
            );
            estimate.upper_bound = work.upper_bound;
            confirm_real(&estimate, args.yes, &session.function, interactive())?;
            Ok(Overrides::new())
        }
    }
}

/// True when stdin and stderr are terminals (a person can answer).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_depend_on_where_the_run_goes() {
        assert_eq!(counts(true, None, None, None), LOCAL_DEFAULTS);
        assert_eq!(counts(false, None, None, None), AWS_DEFAULTS);
        assert_eq!(
            counts(false, Some(7), None, Some(3)),
            Counts {
                cold: 7,
                warm: 20,
                concurrency: 3
            }
        );
        const {
            assert!(
                AWS_DEFAULTS.cold < LOCAL_DEFAULTS.cold && AWS_DEFAULTS.warm < LOCAL_DEFAULTS.warm
            )
        };
    }

    #[test]
    fn invocations_count_every_phase() {
        assert_eq!(invocations(5, 20, 1), 5 + 1 + 20);
        assert_eq!(invocations(20, 100, 4), 20 + 1 + 100 + 4 + 100);
        assert_eq!(invocations(3, 0, 4), 3);
    }

    #[test]
    fn estimate_from_tenant_size_and_rate() {
        let env = BTreeMap::from([("VANTA_RATE_LIMIT_PER_MIN".to_string(), "50".to_string())]);
        let e = Estimate::new(26, 30, &env, br#"{"dryRun":true}"#, Some(2000));
        assert_eq!(e.requests_per_sync, Some(24));
        assert!(e.dry_run);
        let text = e.lines().join("\n");
        assert!(text.contains("26 full syncs"), "{text}");
        assert!(text.contains("about 624"), "{text}");
        // 624 requests at 50 a minute.
        assert!(text.contains("at least 12 min"), "{text}");
        assert!(text.contains("none (dry run)"), "{text}");
        let e = Estimate::new(26, 30, &BTreeMap::new(), b"{}", None);
        let text = e.lines().join("\n");
        assert!(
            text.contains("at least 104") && text.contains("--vanta-records"),
            "{text}"
        );
        assert!(
            text.contains("26 written under the production prefix"),
            "{text}"
        );
    }

    #[test]
    fn refusal_without_a_terminal_or_yes() {
        let e = Estimate::new(1, 0, &BTreeMap::new(), b"{}", None);
        let err = confirm_real(&e, false, "f", false).unwrap_err().to_string();
        assert!(err.contains("--yes"), "{err}");
        assert!(confirm_real(&e, true, "f", false).is_ok());
    }

    #[test]
    fn overrides_point_everything_at_the_stack() {
        let s = BenchStack {
            vanta_url: "https://x.lambda-url.us-east-1.on.aws".into(),
            bucket: "b".into(),
            prefix: "p".into(),
            secret: "s".into(),
        };
        let o = s.overrides();
        assert_eq!(o["S3_PREFIX"].as_deref(), Some("p"));
        assert_eq!(o["S3_BUCKET"].as_deref(), Some("b"));
        assert_eq!(o["VANTA_CLIENT_ID"], None);
        assert_eq!(
            account_and_region("arn:aws:lambda:eu-west-1:123456789012:function:f"),
            Some(("123456789012", "eu-west-1"))
        );
        assert_eq!(account_and_region("f"), None);
        let vanta = BTreeMap::from([("VANTA_BASE_URL".to_string(), "u".to_string())]);
        assert!(is_vanta_sync("mine", &vanta));
        assert!(is_vanta_sync("vanta-vuln-sync", &BTreeMap::new()));
        assert!(is_vanta_sync(
            "arn:aws:lambda:us-east-1:1:function:vanta-vuln-sync:live",
            &BTreeMap::new()
        ));
        assert!(!is_vanta_sync("perfharness-reference", &BTreeMap::new()));
    }
}
