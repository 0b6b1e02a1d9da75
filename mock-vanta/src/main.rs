//! `mock-vanta`: serve the Vanta API double, or print the statistics a
//! complete sync of its dataset must compute.

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use mock_vanta::{Config, DataConfig, FaultKind, Faults, LimitScope, Limits, RateModel, Server};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "mock-vanta",
    version,
    about = "A faithful, deterministic double of the Vanta API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log lines on stderr: -v info, -vv debug, -vvv trace (from
    /// RUST_LOG's level, warn by default).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Fewer log lines: -q errors only, -qq none.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    quiet: u8,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API. Prints one line, `mock-vanta listening on http://HOST:PORT`,
    /// on stdout; logs go to stderr. Stops on Ctrl-C or SIGTERM.
    Serve(Box<ServeArgs>),
    /// Print, as JSON, the statistics a complete sync of the dataset must
    /// compute (docs/statistics.md).
    ExpectedStats(DataArgs),
}

#[derive(Args)]
struct DataArgs {
    /// Seed of the generated dataset.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number of vulnerabilities (a third of them without an SLA date).
    #[arg(long, default_value_t = 1000)]
    vulnerabilities: u64,
    /// Number of vulnerability remediations.
    #[arg(long, default_value_t = 400)]
    remediations: u64,
    /// Number of vulnerable assets (at least 1 when there are vulnerabilities).
    #[arg(long, default_value_t = 100)]
    assets: u64,
    /// Reference instant for overdue / due-soon dates and the statistics'
    /// asOf, RFC 3339 (e.g. 2026-11-26T06:00:00Z). Default: the current time.
    #[arg(long, value_parser = parse_now)]
    now: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Switch {
    On,
    Off,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModelArg {
    /// N per window, the count starting over at each window boundary
    /// (boundaries every window from the server's start).
    FixedWindow,
    /// N in any window-long interval.
    SlidingWindow,
    /// A bucket of --burst tokens refilled at N per window.
    TokenBucket,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScopeArg {
    /// One limit per client for all of /v1/*.
    Client,
    /// One limit per client and route.
    Endpoint,
    /// One limit per client and endpoint group: vulnerabilities and
    /// remediations, and vulnerable assets.
    Group,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    #[command(flatten)]
    data: DataArgs,
    /// The OAuth client id the server accepts.
    #[arg(long, default_value = "vci_mock")]
    client_id: String,
    /// The OAuth client secret the server accepts.
    #[arg(long, default_value = "vcs_mock")]
    client_secret: String,
    /// Vanta's real limits: 50 requests/min per client on /v1/*, 5/min on
    /// /oauth/token, one live token per client. The options below override
    /// single parts.
    #[arg(long)]
    realistic: bool,
    /// Requests per window on /v1/* (per --rate-scope; 0 = unlimited).
    #[arg(long)]
    rate_limit: Option<u32>,
    /// How /v1/* requests are counted against --rate-limit.
    #[arg(long, value_enum, default_value = "sliding-window")]
    rate_model: ModelArg,
    /// Token bucket size (requests that may go at once) for
    /// --rate-model token-bucket; default: the rate limit.
    #[arg(long)]
    burst: Option<u32>,
    /// What one /v1/* limit covers.
    #[arg(long, value_enum, default_value = "client")]
    rate_scope: ScopeArg,
    /// Requests per window per client on /oauth/token (0 = unlimited; always
    /// a sliding window).
    #[arg(long)]
    token_rate_limit: Option<u32>,
    /// The rate-limit window in milliseconds: Vanta's is a minute; a shorter
    /// one runs a scaled-down minute (e.g. --rate-limit 50
    /// --rate-window-ms 3000) under the same model.
    #[arg(long, default_value_t = 60_000)]
    rate_window_ms: u64,
    /// Whether a new token revokes the client's previous one.
    #[arg(long, value_enum)]
    single_token: Option<Switch>,
    /// Token lifetime in seconds (expires_in).
    #[arg(long, default_value_t = 3600)]
    token_ttl_s: u64,
    /// Whether 429 answers carry Retry-After.
    #[arg(long, value_enum, default_value = "on")]
    retry_after: Switch,
    /// Probability (0..1) that a request to /v1/* or /oauth/token gets a fault.
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Fault kinds to choose from, comma-separated:
    /// 500,502,503,504,429,reset,slow,truncated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "500,502,503,504,429,reset,slow,truncated"
    )]
    faults: Vec<FaultKind>,
    /// Seed of the fault decisions (request n gets the same decision for the
    /// same seed).
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
    /// Latency added to every API answer but the rate limit's 429s, in
    /// milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// How long a `slow` fault stalls the body, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    slow_ms: u64,
    /// Log level on stderr: error, warn, info, debug or trace [default:
    /// RUST_LOG's level, warn without it, moved by -v/-q].
    #[arg(long)]
    log_level: Option<tracing::Level>,
}

fn parse_now(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{e}; expected RFC 3339 like 2026-11-26T06:00:00Z"))
}

impl DataArgs {
    fn config(&self) -> DataConfig {
        DataConfig {
            seed: self.seed,
            vulnerabilities: self.vulnerabilities,
            remediations: self.remediations,
            assets: self.assets,
            now: self.now.unwrap_or_else(Utc::now),
        }
    }
}

impl ServeArgs {
    fn config(&self) -> Result<Config, mock_vanta::Error> {
        let mut limits = if self.realistic {
            Limits::realistic()
        } else {
            Limits::default()
        };
        limits.requests_per_window = self.rate_limit.unwrap_or(limits.requests_per_window);
        limits.token_requests_per_window = self
            .token_rate_limit
            .unwrap_or(limits.token_requests_per_window);
        limits.window = Duration::from_millis(self.rate_window_ms);
        let name = match self.rate_model {
            ModelArg::FixedWindow => "fixed-window",
            ModelArg::SlidingWindow => "sliding-window",
            ModelArg::TokenBucket => "token-bucket",
        };
        let burst = match self.rate_model {
            ModelArg::TokenBucket => Some(self.burst.unwrap_or(limits.requests_per_window)),
            _ => self.burst,
        };
        limits.model = RateModel::parse(name, burst)?;
        limits.scope = match self.rate_scope {
            ScopeArg::Client => LimitScope::Client,
            ScopeArg::Endpoint => LimitScope::Endpoint,
            ScopeArg::Group => LimitScope::Group,
        };
        if let Some(s) = self.single_token {
            limits.single_token = matches!(s, Switch::On);
        }
        limits.token_ttl_s = self.token_ttl_s;
        limits.retry_after = matches!(self.retry_after, Switch::On);
        Ok(Config {
            addr: self.addr,
            data: self.data.config(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            limits,
            faults: Faults {
                rate: self.fault_rate,
                kinds: self.faults.clone(),
                seed: self.fault_seed,
                latency_ms: self.latency_ms,
                slow_ms: self.slow_ms,
            },
        })
    }
}

/// A usage mistake: one line on stderr, exit status 2.
fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("mock-vanta: {message}");
    ExitCode::from(2)
}

async fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let config = match args.config() {
        Ok(config) => config,
        Err(e) => return Ok(usage_error(e)),
    };
    let server = match Server::start(config).await {
        Ok(server) => server,
        Err(e @ mock_vanta::Error::Config(_)) => return Ok(usage_error(e)),
        Err(e) => return Err(e.into()),
    };
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "mock-vanta listening on {}", server.base_url())
            .context("writing to stdout")?;
        out.flush().context("writing to stdout")?;
    }
    wait_for_stop_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The log level, the same rule as perfharness's (`perfharness::cli::log_level`):
/// RUST_LOG's level (`error`, `warn`, `info`, `debug`, `trace` or `off`;
/// of `target=level` directives the most verbose one), `warn` without it,
/// raised one step by each `-v` and lowered by each `-q`. `None` is off.
fn log_level(rust_log: Option<&str>, verbose: u8, quiet: u8) -> Option<tracing::Level> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let rank = |s: &str| LEVELS.iter().position(|l| l.eq_ignore_ascii_case(s.trim()));
    let base = rust_log
        .and_then(|v| {
            v.split(',')
                .filter_map(|d| rank(d.rsplit('=').next().unwrap_or(d)))
                .max()
        })
        .unwrap_or(2);
    let r = (base + usize::from(verbose)).saturating_sub(usize::from(quiet));
    match r.min(5) {
        0 => None,
        1 => Some(tracing::Level::ERROR),
        2 => Some(tracing::Level::WARN),
        3 => Some(tracing::Level::INFO),
        4 => Some(tracing::Level::DEBUG),
        _ => Some(tracing::Level::TRACE),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help / --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let rendered = e.to_string();
            let line = rendered.lines().next().unwrap_or("invalid arguments");
            let line = line.strip_prefix("error: ").unwrap_or(line);
            return usage_error(format_args!("{line} (see mock-vanta --help)"));
        }
    };
    let (verbose, quiet) = (cli.verbose, cli.quiet);
    match cli.command {
        Command::ExpectedStats(data) => match mock_vanta::try_expected_stats(&data.config()) {
            Ok(stats) => {
                println!("{stats:#}");
                ExitCode::SUCCESS
            }
            Err(e) => usage_error(e),
        },
        Command::Serve(args) => {
            let level = args.log_level.or(log_level(
                std::env::var("RUST_LOG").ok().as_deref(),
                verbose,
                quiet,
            ));
            if let Some(level) = level {
                tracing_subscriber::fmt()
                    .with_writer(std::io::stderr)
                    .with_max_level(level)
                    .with_ansi(false)
                    .init();
            }
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("mock-vanta: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(serve(&args)) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("mock-vanta: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
