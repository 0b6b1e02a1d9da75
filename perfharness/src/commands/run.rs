//! The `full`, `cold`, `warm` and `report` commands: plan, measure under
//! the configuration guard, fetch missing REPORTs, compute, check targets,
//! write and print the reports, and choose the exit status.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;

use crate::analysis::cost::PriceTable;
use crate::analysis::targets::{self, Target};
use crate::aws::guard::{run_guarded, ConfigGuard, RestoreReport};
use crate::aws::session::Session;
use crate::error::HarnessError;
use crate::export::{
    ControlPlane, LogsSummary, RunContext, RunOutcome, RunReport, RunStatus, Settings, SCHEMA,
};
use crate::measure::recorder::Recorder;
use crate::measure::warm::SampleOptions;
use crate::options::{BenchArgs, LogSource, OutputFormat, ReportArgs};
use crate::sample::{Phase, ReportSource};

/// Which phases to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Cold, then warm (sequential and parallel).
    Full,
    /// Cold only.
    Cold,
    /// Warm only.
    Warm,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Cold => "cold",
            Mode::Warm => "warm",
        }
    }
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Phases.
    pub mode: Mode,
    /// Cold samples.
    pub cold: usize,
    /// Sequential warm samples (and parallel ones when concurrency > 1).
    pub warm: usize,
    /// Parallel invokes in the concurrent phase.
    pub concurrency: usize,
    /// Re-force limit per cold sample.
    pub max_reforce: u32,
    /// Invoke payload.
    pub payload: Vec<u8>,
    /// REPORT source.
    pub log_source: LogSource,
    /// Logs polling bound.
    pub logs_timeout: Duration,
    /// Environment changes applied for the duration of the run, under the
    /// configuration guard (the benchmark stack; `None` removes a variable).
    pub env_overrides: BTreeMap<String, Option<String>>,
}

impl Plan {
    /// The plan of a command line.
    pub fn from_args(args: &BenchArgs, mode: Mode) -> Result<Plan, HarnessError> {
        let counts = crate::bench::counts(
            args.common.local,
            args.cold_samples,
            args.warm_samples,
            args.concurrency,
        );
        if counts.concurrency == 0 {
            return Err(HarnessError::Usage(
                "--concurrency must be at least 1".into(),
            ));
        }
        if mode != Mode::Warm && counts.cold == 0 && mode == Mode::Cold {
            return Err(HarnessError::Usage(
                "--cold must be at least 1 for `cold`".into(),
            ));
        }
        if mode == Mode::Warm && counts.warm == 0 {
            return Err(HarnessError::Usage(
                "--warm must be at least 1 for `warm`".into(),
            ));
        }
        Ok(Plan {
            mode,
            cold: if mode == Mode::Warm { 0 } else { counts.cold },
            warm: if mode == Mode::Cold { 0 } else { counts.warm },
            concurrency: counts.concurrency,
            max_reforce: args.max_reforce,
            payload: args.common.payload_bytes()?,
            log_source: args.common.log_source(),
            logs_timeout: args.common.logs_timeout,
            env_overrides: BTreeMap::new(),
        })
    }
}

/// The targets file to use: `--targets` as given (`none`: nothing), else
/// `reports/targets.toml` in the working directory when there is one; says
/// on stderr when no file is used.
pub fn resolve_targets_path(given: Option<&Path>) -> PathBuf {
    if let Some(g) = given {
        return g.to_path_buf();
    }
    let default = Path::new("reports/targets.toml");
    if default.exists() {
        return default.to_path_buf();
    }
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| ".".into());
    eprintln!(
        "no targets checked: there is no reports/targets.toml in {cwd} (pass --targets FILE)"
    );
    PathBuf::from("none")
}

/// Runs `full`, `cold` or `warm` from the command line.
pub async fn bench(args: &BenchArgs, mode: Mode) -> anyhow::Result<ExitCode> {
    let common = &args.common;
    let targets_path = resolve_targets_path(common.targets.as_deref());
    let targets = targets::load(&targets_path)?;
    let targets_file = (!targets.is_empty() || targets_path.as_os_str() != "none")
        .then(|| targets_path.display().to_string());
    let prices = crate::analysis::cost::PriceTable::from_option(common.prices.as_deref())?;
    let mut plan = Plan::from_args(args, mode)?;
    let out_dir = common.out_dir();
    crate::bench::check_local(common.local, &args.vanta)?;
    let (session, stack) = crate::local::connect(common).await?;
    let work = crate::bench::Workload {
        invocations: crate::bench::invocations(plan.cold, plan.warm, plan.concurrency),
        reforce_bound: plan.cold * plan.max_reforce as usize,
        upper_bound: false,
    };
    match crate::bench::choose(&session, &args.vanta, work, &plan.payload).await {
        Ok(o) => plan.env_overrides = o,
        Err(e) => {
            drop(session);
            crate::local::stop(stack).await;
            return Err(e.into());
        }
    }
    let progress = common.output == OutputFormat::Table;
    let measured = measure(
        &session,
        &plan,
        &targets,
        targets_file,
        &prices,
        progress,
        crate::aws::guard::interrupted(),
    )
    .await;
    drop(session);
    crate::local::stop(stack).await;
    let report = measured?;
    let written = report.write_all(&out_dir)?;
    print_report(&report, common.output)?;
    eprintln!(
        "reports written: {}",
        written
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(exit_code(&report))
}

/// The exit status a report calls for: 0 all targets met, 1 a target
/// missed, 2 a failed run or an unverified restore, 130 interrupted.
pub fn exit_code(r: &RunReport) -> ExitCode {
    if let Some(rs) = &r.restore {
        if !rs.verified {
            eprintln!("error: {}", rs.message);
            return ExitCode::from(2);
        }
    }
    match r.outcome.status {
        RunStatus::Failed => {
            eprintln!(
                "error: {}",
                r.outcome.error.as_deref().unwrap_or("the run failed")
            );
            ExitCode::from(2)
        }
        RunStatus::Interrupted => {
            eprintln!("interrupted: partial results were written");
            ExitCode::from(130)
        }
        _ if r.outcome.targets_met => ExitCode::SUCCESS,
        _ => {
            let missed = r
                .targets
                .iter()
                .filter(|t| t.verdict != targets::Verdict::Pass)
                .count();
            eprintln!("{missed} target(s) missed");
            ExitCode::from(1)
        }
    }
}

fn print_report(r: &RunReport, output: OutputFormat) -> Result<(), HarnessError> {
    let text = match output {
        OutputFormat::Table => {
            crate::export::terminal::render(r, crate::export::terminal::colour_enabled_stdout())
        }
        OutputFormat::Json => serde_json::to_string_pretty(r)
            .map_err(|e| HarnessError::Infrastructure(e.to_string()))?,
        OutputFormat::Markdown => crate::export::markdown::render(r),
    };
    println!("{text}");
    Ok(())
}

/// Measures the session's function as `plan` says, under the configuration
/// guard; `interrupt` stops the measurement early (Ctrl-C). Errors before
/// the configuration snapshot are returned; later errors end up in the
/// report's outcome, with whatever was measured until then.
pub async fn measure<I>(
    session: &Session,
    plan: &Plan,
    targets: &[Target],
    targets_file: Option<String>,
    prices: &PriceTable,
    progress: bool,
    interrupt: I,
) -> Result<RunReport, HarnessError>
where
    I: Future<Output = ()>,
{
    let started_at = chrono::Utc::now();
    let info = crate::aws::control::describe(session).await?;
    let guard = ConfigGuard::snapshot(session).await?;
    let opts = SampleOptions {
        payload: plan.payload.clone(),
        log_source: plan.log_source,
        logs_timeout: plan.logs_timeout,
        log_group: info.log_group.clone(),
    };
    let rec = Recorder::new(progress);
    let malformed = Mutex::new(Vec::new());
    let work = async {
        if !plan.env_overrides.is_empty() {
            guard
                .apply_environment(session, &plan.env_overrides)
                .await?;
        }
        if plan.mode != Mode::Warm && plan.cold > 0 {
            crate::measure::cold::run_cold(
                session,
                &opts,
                plan.cold,
                plan.max_reforce,
                &rec,
                &malformed,
            )
            .await?;
        }
        if plan.mode != Mode::Cold && plan.warm > 0 {
            // One invoke so the sequential phase starts on a warm environment.
            crate::measure::warm::run_sequential(
                session,
                &opts,
                Phase::Warmup,
                1,
                &rec,
                &malformed,
            )
            .await?;
            crate::measure::warm::run_sequential(
                session,
                &opts,
                Phase::Warm,
                plan.warm,
                &rec,
                &malformed,
            )
            .await?;
            if plan.concurrency > 1 {
                // One parallel round first so each worker has its own warm
                // environment; cold starts during the measured round are
                // reported as such.
                let c = plan.concurrency;
                crate::measure::warm::run_concurrent(
                    session,
                    &opts,
                    Phase::Warmup,
                    c,
                    c,
                    &rec,
                    &malformed,
                )
                .await?;
                crate::measure::warm::run_concurrent(
                    session,
                    &opts,
                    Phase::Concurrent,
                    plan.warm,
                    c,
                    &rec,
                    &malformed,
                )
                .await?;
            }
        }
        Ok(())
    };
    let guarded = run_guarded(session, &guard, work, interrupt).await;
    rec.finish();
    let (status, error) = match &guarded.result {
        Ok(()) => (RunStatus::Completed, None),
        Err(HarnessError::Interrupted) => (
            RunStatus::Interrupted,
            Some("interrupted by a signal".to_string()),
        ),
        Err(e) => (RunStatus::Failed, Some(e.to_string())),
    };
    let restore = Some(match guarded.restore {
        Ok(r) => r,
        Err(e) => RestoreReport {
            fields_restored: Vec::new(),
            verified: false,
            concurrent_change: false,
            leftover_nonce_removed: false,
            message: format!(
                "configuration NOT restored: {e}; {}",
                guard.restore_hint(session)
            ),
        },
    });

    // REPORT lines from CloudWatch Logs: fill in what the tail lacked, and
    // cross-check the rest with `both`.
    let mut samples = rec.samples();
    let mut logs = LogsSummary::default();
    let mut malformed = malformed.into_inner().unwrap_or_else(|p| p.into_inner());
    if plan.log_source != LogSource::Tail && !samples.is_empty() {
        let bound = if status == RunStatus::Interrupted {
            plan.logs_timeout.min(Duration::from_secs(5))
        } else {
            plan.logs_timeout
        };
        // A (second) Ctrl-C while polling Logs gives up the poll: the
        // configuration is already restored, and unfound samples are listed.
        let fill = crate::aws::logs::fill_from_logs(
            session,
            &info.log_group,
            &mut samples,
            started_at.timestamp_millis(),
            bound,
            plan.log_source == LogSource::Both,
        );
        let polled = tokio::select! {
            r = fill => Some(r),
            _ = crate::aws::guard::interrupted() => None,
        };
        match polled {
            Some(Ok(o)) => {
                if plan.log_source == LogSource::Both {
                    logs.cross_checked = o.found;
                }
                logs.discrepancies = o.discrepancies;
                malformed.extend(o.malformed);
            }
            Some(Err(e)) => logs.error = Some(e.to_string()),
            None => logs.error = Some("CloudWatch Logs polling interrupted".to_string()),
        }
    }
    logs.from_tail = samples
        .iter()
        .filter(|s| s.report_source == Some(ReportSource::Tail))
        .count();
    logs.from_logs = samples
        .iter()
        .filter(|s| s.report_source == Some(ReportSource::Logs))
        .count();
    logs.missing = samples
        .iter()
        .filter(|s| s.is_missing())
        .filter_map(|s| s.request_id.clone())
        .collect();
    logs.malformed = malformed;

    let metrics = crate::analysis::metrics::compute(
        &samples,
        &info.architecture,
        info.memory_mb,
        prices,
        logs.malformed.len(),
    );
    let results = targets::evaluate(targets, &metrics);
    let targets_met = status == RunStatus::Completed && targets::all_met(&results);
    Ok(RunReport {
        schema: SCHEMA.to_string(),
        command: plan.mode.name().to_string(),
        started_at,
        finished_at: chrono::Utc::now(),
        function: info,
        context: RunContext {
            region: session.region.clone(),
            endpoint_url: session.endpoint_url.clone(),
            local: session.is_local(),
            function_cpus: session.function_cpus.clone(),
            harness_version: env!("CARGO_PKG_VERSION").to_string(),
        },
        settings: Settings {
            cold_samples: if plan.mode == Mode::Warm {
                0
            } else {
                plan.cold
            },
            warm_samples: if plan.mode == Mode::Cold {
                0
            } else {
                plan.warm
            },
            concurrency: plan.concurrency,
            max_reforce: plan.max_reforce,
            log_source: plan.log_source,
            logs_timeout_s: plan.logs_timeout.as_secs_f64(),
            payload_bytes: plan.payload.len(),
        },
        samples,
        metrics,
        targets_file,
        targets: results,
        logs,
        control_plane: ControlPlane {
            conflicts_retried: session.counters.conflicts.load(Ordering::Relaxed),
            throttles_retried: session.counters.throttles.load(Ordering::Relaxed),
            other_retried: session.counters.other.load(Ordering::Relaxed),
        },
        restore,
        outcome: RunOutcome {
            status,
            error,
            targets_met,
        },
    })
}

/// `report RUN_DIR`: re-renders a saved run (re-evaluating targets when
/// `--targets` is given) and prints it.
pub fn rerender(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let mut report = RunReport::load(&args.run_dir)?;
    if let Some(t) = &args.targets {
        let targets = targets::load(t)?;
        report.targets = targets::evaluate(&targets, &report.metrics);
        report.targets_file = Some(t.display().to_string());
        report.outcome.targets_met =
            report.outcome.status == RunStatus::Completed && targets::all_met(&report.targets);
    }
    report.write_all(&args.run_dir)?;
    print_report(&report, args.output)?;
    Ok(exit_code(&report))
}
