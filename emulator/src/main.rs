//! `emulator serve`: Lambda, CloudWatch Logs, S3 and Secrets Manager on one
//! loopback port, until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use emulator::lambda::{FaultSettings, FunctionSpec, LambdaSettings};
use emulator::{Credentials, Emulator, EmulatorConfig};

#[derive(Debug, Parser)]
#[command(
    name = "emulator",
    version,
    about = "Local AWS (Lambda, CloudWatch Logs, S3, Secrets Manager) on one loopback port"
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

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve until Ctrl-C or SIGTERM. Point clients at it with
    /// AWS_ENDPOINT_URL=http://ADDR, AWS_ACCESS_KEY_ID=test,
    /// AWS_SECRET_ACCESS_KEY=test, AWS_REGION=us-east-1.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Listen address (loopback only; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:4566", value_parser = parse_addr)]
    addr: SocketAddr,
    /// SAM template supplying each function's memory, timeout, environment,
    /// architecture and log format.
    #[arg(long)]
    template: Option<PathBuf>,
    /// A function to serve: NAME=PATH of its bootstrap executable (repeatable).
    #[arg(long = "function", value_name = "NAME=PATH", value_parser = parse_function)]
    functions: Vec<(String, PathBuf)>,
    /// Set an environment variable of a function, e.g. for values the
    /// template cannot resolve locally: NAME:KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "NAME:KEY=VALUE", value_parser = parse_env)]
    env: Vec<(String, String, String)>,
    /// Keep S3 data in DIR (default: a temporary directory removed on exit,
    /// in /dev/shm when that is a tmpfs with 4 GiB free and TMPDIR is unset).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Make log events visible to readers only after N ms, like CloudWatch.
    #[arg(long, value_name = "N", default_value_t = 0)]
    log_delay_ms: u64,
    /// Keep at most N MB of events per log group; older events are dropped.
    #[arg(
        long,
        value_name = "N",
        default_value_t = (emulator::logs::DEFAULT_GROUP_CAP_BYTES >> 20) as u32,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    log_group_cap_mb: u32,
    /// Fraction of S3 requests answered with 500 InternalError or 503 SlowDown.
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = parse_rate)]
    s3_fault_rate: f64,
    /// How long UpdateFunctionConfiguration stays InProgress, in ms.
    #[arg(long, value_name = "N", default_value_t = LambdaSettings::default().update_delay_ms)]
    update_delay_ms: u64,
    /// Reclaim execution environments idle for N seconds.
    #[arg(long, value_name = "N", default_value_t = LambdaSettings::default().idle_timeout.as_secs())]
    idle_timeout_s: u64,
    /// Concurrent execution environments per function without reserved concurrency.
    #[arg(
        long,
        value_name = "N",
        default_value_t = LambdaSettings::default().default_concurrency_cap,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    concurrency_cap: u32,
    /// Give each execution environment CPU proportional to its memory, as
    /// Lambda does (1 vCPU at 1769 MB, 7 % of one at 128 MB, at most the
    /// machine's cores), through a cgroup per environment. Needs root and
    /// the cgroup cpu controller (v1 /sys/fs/cgroup/cpu or v2 cpu.max).
    #[arg(long)]
    cpu_scaling: bool,
    /// Run execution environments only on these CPUs (e.g. 1 or 2-3,6) and
    /// the emulator itself on the others. On Lambda a function's vCPUs are
    /// its own; sharing them with the emulator's threads, which each of its
    /// requests wakes, slows it down (a cold sync by about a third on 2 CPUs).
    #[arg(long, value_name = "LIST", value_parser = parse_cpu_list)]
    function_cpus: Option<CpuList>,
    /// Require every request to be SigV4-signed with this key pair
    /// (ACCESS_KEY_ID:SECRET_ACCESS_KEY). Without it, any local process may
    /// use the Lambda, Logs and Secrets Manager APIs unsigned, and S3 with
    /// the secret key `test`; see the README's security section.
    #[arg(long, value_name = "KEY:SECRET")]
    credentials: Option<Credentials>,
    /// Multiply the asynchronous-invocation retry delays (AWS's 1 and 2
    /// minutes) and event ages (MaximumEventAgeInSeconds) by F, e.g. 0.01
    /// for 0.6 s and 1.2 s.
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = parse_scale)]
    async_time_scale: f64,
    /// Fraction of Event invocations delivered twice (half of them at the
    /// same time, half right after the first copy), as Lambda's at-least-once
    /// delivery may.
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = parse_rate)]
    duplicate_rate: f64,
    /// Fraction of invocations whose execution environment is killed at a
    /// random moment of their first second (Runtime.ExitError, environment
    /// replaced).
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = parse_rate)]
    kill_rate: f64,
    /// Seed of the duplicate and kill draws.
    #[arg(long, value_name = "N", default_value_t = 0)]
    fault_seed: u64,
}

fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(format!("expected a positive number, got {s:?}")),
    }
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    let resolved = match s.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => s.to_string(),
    };
    resolved
        .parse()
        .map_err(|_| format!("expected IP:PORT such as 127.0.0.1:4566, got {s:?}"))
}

fn parse_function(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_string(), PathBuf::from(path)))
        }
        _ => Err(format!("expected NAME=PATH, got {s:?}")),
    }
}

fn parse_env(s: &str) -> Result<(String, String, String), String> {
    let parsed = s.split_once(':').and_then(|(name, rest)| {
        let (key, value) = rest.split_once('=')?;
        (!name.is_empty() && !key.is_empty())
            .then(|| (name.to_string(), key.to_string(), value.to_string()))
    });
    parsed.ok_or_else(|| format!("expected NAME:KEY=VALUE, got {s:?}"))
}

/// CPU numbers, ascending and without repeats.
#[derive(Debug, Clone)]
struct CpuList(Vec<usize>);

/// `1`, `0-3`, `2-3,6`: CPU numbers and inclusive ranges.
fn parse_cpu_list(s: &str) -> Result<CpuList, String> {
    let bad = || format!("expected CPU numbers and ranges such as 1 or 2-3,6, got {s:?}");
    let mut cpus = Vec::new();
    for part in s.split(',') {
        let (from, to) = match part.split_once('-') {
            Some((a, b)) => (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            ),
            None => {
                let n: usize = part.trim().parse().map_err(|_| bad())?;
                (n, n)
            }
        };
        if from > to {
            return Err(bad());
        }
        cpus.extend(from..=to);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Ok(CpuList(cpus))
}

/// Confines the emulator to the CPUs it may use outside `functions` and
/// returns the functions' set; refuses CPUs it may not use or all of them.
fn split_cpus(functions: &[usize]) -> Result<emulator::affinity::CpuSet, Usage> {
    use emulator::affinity::{allowed, confine_process, CpuSet};
    let allowed = allowed()
        .map_err(|e| {
            Usage(format!(
                "--function-cpus: cannot read this process's CPUs: {e}"
            ))
        })?
        .cpus();
    let list = |cpus: &[usize]| CpuSet::of(cpus).to_string();
    let rest: Vec<usize> = allowed
        .iter()
        .copied()
        .filter(|c| !functions.contains(c))
        .collect();
    if functions.iter().any(|c| !allowed.contains(c)) || rest.is_empty() {
        return Err(Usage(format!(
            "--function-cpus {}: the emulator may run on CPUs {}; name some of them and leave at least one for the emulator",
            list(functions),
            list(&allowed)
        )));
    }
    confine_process(&CpuSet::of(&rest)).map_err(|e| {
        Usage(format!(
            "--function-cpus: cannot confine the emulator to CPUs {}: {e}",
            list(&rest)
        ))
    })?;
    Ok(CpuSet::of(functions))
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("expected a fraction between 0 and 1, got {s:?}")),
    }
}

/// A mistake on the command line: reported on one line, exit status 2.
struct Usage(String);

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
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                eprintln!("emulator: missing command; run `emulator serve --help`");
                return ExitCode::from(2);
            }
            // clap's message is several lines (usage, hint); keep the first.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let first = first.trim_start_matches("error: ");
            eprintln!("emulator: {first} (see `emulator serve --help`)");
            return ExitCode::from(2);
        }
    };
    let level = log_level(
        std::env::var("RUST_LOG").ok().as_deref(),
        cli.verbose,
        cli.quiet,
    );
    let Command::Serve(args) = cli.command;
    let tuning = LambdaTuning {
        async_time_scale: args.async_time_scale,
        faults: FaultSettings {
            duplicate_rate: args.duplicate_rate,
            kill_rate: args.kill_rate,
            kill_within: Duration::from_secs(1),
            seed: args.fault_seed,
            ..FaultSettings::default()
        },
    };
    let cfg = match config(args) {
        Ok(cfg) => cfg,
        Err(Usage(message)) => {
            eprintln!("emulator: {message}");
            return ExitCode::from(2);
        }
    };
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
            eprintln!("emulator: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(cfg, tuning)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("emulator: {e:#}");
            match e.downcast_ref::<emulator::Error>() {
                // The user's own mistakes; failing to bind a busy port is not.
                Some(emulator::Error::NotLoopback(_) | emulator::Error::Function { .. }) => {
                    ExitCode::from(2)
                }
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// Builds the emulator's configuration from the arguments.
fn config(args: ServeArgs) -> Result<EmulatorConfig, Usage> {
    if !args.addr.ip().is_loopback() {
        return Err(Usage(format!(
            "--addr {}: the emulator binds loopback addresses only; use 127.0.0.1:PORT or [::1]:PORT",
            args.addr
        )));
    }
    // Absolute paths: the function process does not run in our directory.
    let mut binaries = Vec::with_capacity(args.functions.len());
    for (name, path) in &args.functions {
        match std::fs::canonicalize(path) {
            Ok(abs) if abs.is_file() => binaries.push((name.clone(), abs)),
            _ => {
                return Err(Usage(format!(
                "--function {name}={}: no such file; build it first (e.g. cargo build --release)",
                path.display()
            )))
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (name, _) in &binaries {
        if !seen.insert(name) {
            return Err(Usage(format!("--function {name} is given twice")));
        }
    }
    let mut functions: Vec<FunctionSpec> = match &args.template {
        Some(template) => {
            let defined =
                emulator::template::function_names(template).map_err(|e| Usage(e.to_string()))?;
            for (name, _) in &binaries {
                if !defined.contains(name) {
                    // Not fatal (a test fixture needs no template entry),
                    // but a typo would silently run with 128 MB / 3 s.
                    eprintln!(
                        "emulator: note: {} defines no function {name} (it defines {}); it runs with AWS's defaults (128 MB, 3 s)",
                        template.display(),
                        defined.join(", ")
                    );
                }
            }
            emulator::template::load_functions(template, &binaries)
                .map_err(|e| Usage(e.to_string()))?
        }
        None => binaries
            .iter()
            .map(|(name, path)| FunctionSpec::new(name.clone(), path.clone()))
            .collect(),
    };
    for (name, key, value) in args.env {
        let Some(spec) = functions.iter_mut().find(|f| f.name == name) else {
            return Err(Usage(format!(
                "--env {name}:{key}=…: no --function named {name}"
            )));
        };
        spec.environment.insert(key, value);
    }
    let function_cpus = args
        .function_cpus
        .as_ref()
        .map(|list| split_cpus(&list.0))
        .transpose()?;
    Ok(EmulatorConfig {
        addr: args.addr,
        functions,
        state_dir: args.state_dir,
        log_delay_ms: args.log_delay_ms,
        log_group_cap_bytes: (args.log_group_cap_mb as usize) << 20,
        s3_fault_rate: args.s3_fault_rate,
        update_delay_ms: args.update_delay_ms,
        idle_timeout: Duration::from_secs(args.idle_timeout_s),
        default_concurrency_cap: args.concurrency_cap,
        cpu_scaling: args.cpu_scaling,
        function_cpus,
        credentials: args.credentials,
    })
}

/// The Lambda settings applied once the emulator runs.
struct LambdaTuning {
    async_time_scale: f64,
    faults: FaultSettings,
}

async fn serve(cfg: EmulatorConfig, tuning: LambdaTuning) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;

    use tokio::signal::unix::{signal, SignalKind};
    // Watch the signals before announcing the port: a supervisor may signal
    // as soon as it has read the line.
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let handle = Emulator::start(cfg).await?;
    let lambda = handle.lambda();
    lambda
        .set_async_time_scale(tuning.async_time_scale)
        .and_then(|()| lambda.set_faults(tuning.faults))
        .map_err(anyhow::Error::msg)?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "emulator listening on {}", handle.endpoint_url())
            .and_then(|()| out.flush())
            .context("cannot write to stdout")?;
    }
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    handle.shutdown().await;
    Ok(())
}
