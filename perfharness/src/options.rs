//! The options of every command as plain types: what the command line
//! parses into and what the libraries below read. Nothing here talks to AWS
//! or starts anything; `cli` parses flags into these types and the commands
//! pass them down.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::error::HarnessError;

/// Name of the mock-vanta function the benchmark stack deploys.
pub const MOCK_FUNCTION: &str = "perfharness-mock-vanta";
/// Name of the mock's credentials secret in the benchmark stack.
pub const MOCK_SECRET: &str = "perfharness-mock-vanta-credentials";
/// Key prefix of benchmark snapshots.
pub const BENCH_PREFIX: &str = "perfharness-bench";
/// Which Vanta the function talks to during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Vanta {
    /// The benchmark stack's mock-vanta (default against AWS).
    Mock,
    /// The function's own configuration: the real tenant and the production
    /// prefix (asks for confirmation after an estimate).
    Real,
}

/// Options choosing the benchmark stack (flattened into `full`, `cold`,
/// `warm`, `gate`, `load` and `power`).
#[derive(Debug, Clone, Default, Args)]
pub struct VantaArgs {
    /// Against AWS: `mock` (default) points the function at the benchmark
    /// stack for the run; `real` syncs against your Vanta tenant and the
    /// production prefix, after an estimate and a confirmation.
    #[arg(long, value_enum, value_name = "mock|real")]
    pub vanta: Option<Vanta>,
    /// Confirm a `--vanta real` run without asking (CI).
    #[arg(long)]
    pub yes: bool,
    /// With --vanta real: records in your tenant (all datasets), for the
    /// request estimate.
    #[arg(long, value_name = "N")]
    pub vanta_records: Option<u64>,
    /// mock-vanta's URL (default: the Function URL of --bench-mock-function).
    #[arg(long, value_name = "URL")]
    pub bench_vanta_url: Option<String>,
    /// The benchmark stack's mock-vanta function, whose Function URL is read.
    #[arg(long, value_name = "NAME", default_value = MOCK_FUNCTION)]
    pub bench_mock_function: String,
    /// Bucket for benchmark snapshots (default perfharness-bench-<account>-<region>).
    #[arg(long, value_name = "BUCKET")]
    pub bench_bucket: Option<String>,
    /// Key prefix for benchmark snapshots.
    #[arg(long, value_name = "PREFIX", default_value = BENCH_PREFIX)]
    pub bench_prefix: String,
    /// Secret holding mock-vanta's test credentials.
    #[arg(long, value_name = "NAME", default_value = MOCK_SECRET)]
    pub bench_secret: String,
}

impl VantaArgs {
    /// The defaults of the command line (mock against AWS, the stack's names).
    pub fn defaults() -> Self {
        VantaArgs {
            bench_mock_function: MOCK_FUNCTION.into(),
            bench_prefix: BENCH_PREFIX.into(),
            bench_secret: MOCK_SECRET.into(),
            ..Default::default()
        }
    }
}

/// Where REPORT lines are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogSource {
    /// `LogType=Tail` on each Invoke.
    Tail,
    /// CloudWatch Logs FilterLogEvents by request id.
    Logs,
    /// Tail first, then CloudWatch Logs for every sample (cross-checked,
    /// and filling in any sample the tail lacked).
    Both,
}

/// Terminal output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Tables and histograms.
    Table,
    /// `report.json` on stdout.
    Json,
    /// `report.md` on stdout.
    Markdown,
}

/// Options every measuring subcommand shares (`full`, `cold`, `warm`,
/// `load`, `power`, `gate`).
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Function name, ARN or partial ARN (with --local: a function of template.yaml).
    #[arg(long, value_name = "NAME|ARN")]
    pub function: String,
    /// Start mock-vanta and the AWS emulator in-process and run against them.
    #[arg(long)]
    pub local: bool,
    /// AWS region (default: the standard AWS configuration chain).
    #[arg(long)]
    pub region: Option<String>,
    /// AWS profile from ~/.aws/config.
    #[arg(long)]
    pub profile: Option<String>,
    /// Custom endpoint for every AWS API (an emulator); loopback endpoints get test credentials.
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Targets file, `none` to check nothing [default: reports/targets.toml
    /// in the working directory, when there is one]. Only full, cold and warm
    /// check targets; load, power and gate accept only `none`.
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// Run directory (default reports/runs/<UTC timestamp>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where REPORT lines come from [default: both; load reads the tail only
    /// and accepts only `tail`].
    #[arg(long, value_enum)]
    pub log_source: Option<LogSource>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
    /// Invoke payload: inline JSON or @file (default `{}`).
    #[arg(long, value_name = "JSON|@FILE")]
    pub payload: Option<String>,
    /// Price table overrides (TOML; see perfharness::analysis::cost).
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// How long to keep polling CloudWatch Logs for missing REPORT lines (e.g. 30s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub logs_timeout: Duration,
    /// With --local: number of vulnerabilities in mock-vanta's dataset
    /// (remediations 40 % and assets 10 % of it).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub local_records: u64,
    /// With --local: CloudWatch Logs delivery delay the emulator simulates, ms.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub local_log_delay_ms: u64,
    /// With --local: give each execution environment CPU proportional to
    /// its memory as Lambda does (1 vCPU at 1769 MB), through cgroups
    /// (needs root and the cgroup cpu controller). `power --local` always does.
    #[arg(long)]
    pub local_cpu_scaling: bool,
    /// With --local: let functions share every CPU with the harness,
    /// mock-vanta and the emulator. By default, on 2 CPUs or more, functions
    /// run on the upper half of them and everything else on the rest, as on
    /// Lambda, where a function's vCPUs are its own.
    #[arg(long)]
    pub local_shared_cpus: bool,
}

impl CommonArgs {
    /// Arguments for `function` with every default (for tests and callers
    /// that build runs programmatically).
    pub fn for_function(function: impl Into<String>) -> Self {
        CommonArgs {
            function: function.into(),
            local: false,
            region: None,
            profile: None,
            endpoint_url: None,
            targets: Some(PathBuf::from("none")),
            out: None,
            log_source: None,
            output: OutputFormat::Table,
            payload: None,
            prices: None,
            logs_timeout: Duration::from_secs(60),
            local_records: 1000,
            local_log_delay_ms: 0,
            local_cpu_scaling: false,
            local_shared_cpus: false,
        }
    }

    /// Where REPORT lines come from (`--log-source`, default both).
    pub fn log_source(&self) -> LogSource {
        self.log_source.unwrap_or(LogSource::Both)
    }

    /// Refuses a `--targets` file for a command that checks no targets
    /// (`--targets none` is accepted: it says the same).
    pub fn refuse_targets(&self, command: &str) -> Result<(), HarnessError> {
        match &self.targets {
            Some(t) if t.as_os_str() != "none" => Err(HarnessError::Usage(format!(
                "`{command}` checks no targets (targets apply to full, cold and warm): drop --targets {}",
                t.display()
            ))),
            _ => Ok(()),
        }
    }

    /// The run directory: `--out` or `reports/runs/<UTC timestamp>`.
    pub fn out_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            PathBuf::from("reports/runs")
                .join(chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string())
        })
    }

    /// The invoke payload bytes (`{}` by default); must be JSON.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, HarnessError> {
        let raw = match self.payload.as_deref() {
            None => return Ok(b"{}".to_vec()),
            Some(p) if p.starts_with('@') => std::fs::read(&p[1..]).map_err(|e| {
                HarnessError::Usage(format!("--payload {p}: cannot read the file: {e}"))
            })?,
            Some(p) => p.as_bytes().to_vec(),
        };
        serde_json::from_slice::<serde_json::Value>(&raw).map_err(|e| {
            HarnessError::Usage(format!(
                "--payload is not valid JSON ({e}); pass JSON or @file"
            ))
        })?;
        Ok(raw)
    }
}

/// Parses `500ms`, `30s`, `2m`, `1h` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult_ms) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000.0)
    } else {
        (s, 1000.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration; use e.g. 500ms, 30s, 2m"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("{s:?} is not a duration; use e.g. 500ms, 30s, 2m"));
    }
    Ok(Duration::from_secs_f64(v * mult_ms / 1000.0))
}

/// Options of `full`, `cold` and `warm`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Cold samples (each a forced new execution environment) [default: 20 with --local, 5 on AWS].
    #[arg(long = "cold", value_name = "N")]
    pub cold_samples: Option<usize>,
    /// Sequential warm samples; the same number again runs in parallel when --concurrency > 1 [default: 100 with --local, 20 on AWS].
    #[arg(long = "warm", value_name = "N")]
    pub warm_samples: Option<usize>,
    /// Parallel invokes in the concurrent warm phase (1 skips it) [default: 4 with --local, 1 on AWS].
    #[arg(long, value_name = "C")]
    pub concurrency: Option<usize>,
    /// Times a cold sample is re-forced when the invoke after a forced update was warm.
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub max_reforce: u32,
    /// The benchmark stack (AWS) or the real tenant.
    #[command(flatten)]
    pub vanta: VantaArgs,
}

/// Options of `report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// A run directory holding report.json.
    pub run_dir: PathBuf,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
    /// Re-evaluate against this targets file instead of the saved results.
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
}
