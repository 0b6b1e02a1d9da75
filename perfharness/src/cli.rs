//! The command line: clap's parser and the dispatch to the commands, and
//! nothing else (the option types live in `options`; nothing imports this
//! module). The binary's `main` only calls [`main`].

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::HarnessError;
use crate::options::{BenchArgs, ReportArgs};

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
    ParseLogs(crate::commands::parse_logs::ParseLogsArgs),
    /// Load test: closed (--concurrency) or open (--rate) model.
    Load(crate::commands::load::LoadArgs),
    /// Memory sweep with cost per invocation and the best size.
    Power(crate::commands::power::PowerArgs),
    /// CI regression gate on init duration.
    Gate(crate::commands::gate::GateArgs),
    /// Several functions (or one at several memory sizes or payloads) in
    /// one interleaved run, each figure relative to the fastest.
    Compare(crate::commands::compare::CompareArgs),
}

/// perfharness: cold/warm/load benchmarks of AWS Lambda functions from their REPORT lines.
#[derive(Debug, Parser)]
#[command(name = "perfharness", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// More log lines on stderr: -v info, -vv debug, -vvv trace (from
    /// RUST_LOG's level, warn by default). The same switch as emulator's
    /// and mock-vanta's.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Fewer log lines: -q errors only, -qq none.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub quiet: u8,
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
    init_tracing(log_level(
        std::env::var("RUST_LOG").ok().as_deref(),
        cli.verbose,
        cli.quiet,
    ));
    // This process is the harness's own: --local may move its threads.
    crate::local::own_this_process();
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
        Err(e) => exit_for_error(&e),
    }
}

/// The exit status of a command that ended in an error: 130 for a signal
/// (the configuration was restored first), 2 for everything else (usage,
/// environment, AWS, a restore that failed).
pub fn exit_for_error(e: &anyhow::Error) -> ExitCode {
    if matches!(
        e.downcast_ref::<HarnessError>(),
        Some(HarnessError::Interrupted)
    ) {
        eprintln!("interrupted: the configuration was restored; partial results were written");
        return ExitCode::from(130);
    }
    eprintln!("error: {}", one_line(e));
    ExitCode::from(2)
}

fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

/// The log level of every binary of the workspace (perfharness, emulator,
/// mock-vanta): RUST_LOG's level (`error`, `warn`, `info`, `debug`,
/// `trace` or `off`; of `target=level` directives the most verbose one),
/// `warn` without it, raised one step by each `-v` and lowered by each
/// `-q`. `None` is off.
pub fn log_level(rust_log: Option<&str>, verbose: u8, quiet: u8) -> Option<tracing::Level> {
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

fn init_tracing(level: Option<tracing::Level>) {
    let Some(level) = level else { return };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(crate::export::terminal::colour_enabled_stderr())
        .try_init();
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Full(a) => crate::commands::run::bench(&a, crate::commands::run::Mode::Full).await,
        Command::Cold(a) => crate::commands::run::bench(&a, crate::commands::run::Mode::Cold).await,
        Command::Warm(a) => crate::commands::run::bench(&a, crate::commands::run::Mode::Warm).await,
        Command::Report(a) => crate::commands::run::rerender(&a),
        Command::ParseLogs(a) => crate::commands::parse_logs::run(&a),
        Command::Load(a) => crate::commands::load::run(a).await,
        Command::Power(a) => crate::commands::power::run(a).await,
        Command::Gate(a) => crate::commands::gate::run(a).await,
        Command::Compare(a) => crate::commands::compare::run(a).await,
    }
}

#[cfg(test)]
mod tests {
    use super::log_level;
    use tracing::Level;

    #[test]
    fn rust_log_then_v_and_q() {
        assert_eq!(log_level(None, 0, 0), Some(Level::WARN));
        assert_eq!(log_level(None, 1, 0), Some(Level::INFO));
        assert_eq!(log_level(None, 9, 0), Some(Level::TRACE));
        assert_eq!(log_level(None, 0, 1), Some(Level::ERROR));
        assert_eq!(log_level(None, 0, 2), None);
        assert_eq!(log_level(Some("debug"), 0, 0), Some(Level::DEBUG));
        assert_eq!(
            log_level(Some("hyper=warn,perfharness=trace"), 0, 1),
            Some(Level::DEBUG)
        );
        assert_eq!(log_level(Some("OFF"), 1, 0), Some(Level::ERROR));
        assert_eq!(log_level(Some("nonsense"), 0, 0), Some(Level::WARN));
    }
}
