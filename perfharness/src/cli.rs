//! Command line: argument definitions and dispatch. The binary's `main`
//! only calls [`main`].

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::HarnessError;

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
    /// Targets file (`none` to check nothing).
    #[arg(long, value_name = "FILE", default_value = "reports/targets.toml")]
    pub targets: PathBuf,
    /// Run directory (default reports/runs/<UTC timestamp>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Where REPORT lines come from.
    #[arg(long, value_enum, default_value = "both")]
    pub log_source: LogSource,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
    /// Invoke payload: inline JSON or @file (default `{}`).
    #[arg(long, value_name = "JSON|@FILE")]
    pub payload: Option<String>,
    /// Price table overrides (TOML; see perfharness::cost).
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
            targets: PathBuf::from("none"),
            out: None,
            log_source: LogSource::Both,
            output: OutputFormat::Table,
            payload: None,
            prices: None,
            logs_timeout: Duration::from_secs(60),
            local_records: 1000,
            local_log_delay_ms: 0,
            local_cpu_scaling: false,
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

    /// The price table: defaults plus `--prices` overrides.
    pub fn price_table(&self) -> Result<crate::cost::PriceTable, HarnessError> {
        match &self.prices {
            Some(p) => crate::cost::PriceTable::load(p),
            None => Ok(crate::cost::PriceTable::default()),
        }
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
    pub vanta: crate::bench::VantaArgs,
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

/// Output format of `parse-logs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ParseFormat {
    /// One JSON object per record.
    Jsonl,
    /// A table.
    Table,
}

/// Options of `parse-logs`.
#[derive(Debug, Clone, Args)]
pub struct ParseLogsArgs {
    /// Input file, or `-` for stdin.
    #[arg(default_value = "-")]
    pub file: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: ParseFormat,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Cold, warm and parallel warm samples; statistics, targets, reports.
    Full(BenchArgs),
    /// Cold samples only.
    Cold(BenchArgs),
    /// Warm samples only (sequential, then parallel).
    Warm(BenchArgs),
    /// Re-render a saved run directory.
    Report(ReportArgs),
    /// Parse REPORT / INIT_REPORT / RESTORE_REPORT lines, one JSON object per record.
    ParseLogs(ParseLogsArgs),
    /// Load test: closed (--concurrency) or open (--rate) model.
    Load(crate::load::LoadArgs),
    /// Memory sweep with cost per invocation and the best size.
    Power(crate::power::PowerArgs),
    /// CI regression gate on init duration.
    Gate(crate::gate::GateArgs),
}

/// perfharness: cold/warm/load benchmarks of AWS Lambda functions from their REPORT lines.
#[derive(Debug, Parser)]
#[command(name = "perfharness", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Entry point of the binary: parses arguments, runs, and maps the outcome
/// to the exit status (0 all targets met, 1 a target missed, 2 usage or
/// infrastructure error).
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_tracing();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

fn init_tracing() {
    let level = match std::env::var("PERFHARNESS_LOG").ok().as_deref() {
        Some("debug") => tracing::Level::DEBUG,
        Some("info") => tracing::Level::INFO,
        Some("trace") => tracing::Level::TRACE,
        _ => tracing::Level::WARN,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(crate::report::terminal::colour_enabled_stderr())
        .try_init();
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Full(a) => crate::run::bench(&a, crate::run::Mode::Full).await,
        Command::Cold(a) => crate::run::bench(&a, crate::run::Mode::Cold).await,
        Command::Warm(a) => crate::run::bench(&a, crate::run::Mode::Warm).await,
        Command::Report(a) => crate::run::rerender(&a),
        Command::ParseLogs(a) => parse_logs(&a),
        Command::Load(a) => crate::load::run(a).await,
        Command::Power(a) => crate::power::run(a).await,
        Command::Gate(a) => crate::gate::run(a).await,
    }
}

fn parse_logs(args: &ParseLogsArgs) -> anyhow::Result<ExitCode> {
    let mut input = String::new();
    if args.file == "-" {
        std::io::stdin()
            .read_to_string(&mut input)
            .map_err(|e| HarnessError::Usage(format!("cannot read stdin: {e}")))?;
    } else {
        let bytes = std::fs::read(&args.file)
            .map_err(|e| HarnessError::Usage(format!("cannot read {}: {e}", args.file)))?;
        input = String::from_utf8_lossy(&bytes).into_owned();
    }
    let parsed = crate::report::line::parse_any(&input);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    use std::io::Write;
    match args.format {
        ParseFormat::Jsonl => {
            for r in &parsed.records {
                serde_json::to_writer(&mut out, r)?;
                writeln!(out)?;
            }
        }
        ParseFormat::Table => {
            writeln!(
                out,
                "{}",
                crate::report::terminal::records_table(&parsed.records)
            )?;
        }
    }
    out.flush()?;
    for m in &parsed.malformed {
        eprintln!("warning: line {}: {}: {}", m.line_no, m.reason, m.line);
    }
    if !parsed.malformed.is_empty() && std::io::stderr().is_terminal() {
        eprintln!("{} line(s) could not be parsed", parsed.malformed.len());
    }
    Ok(ExitCode::SUCCESS)
}
