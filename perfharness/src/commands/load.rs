//! `perfharness load`: many invocations under a closed (`--concurrency`) or
//! open (`--rate`) model, with a per-second time series.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use tokio::sync::watch;

use crate::aws::guard::ConfigGuard;
use crate::aws::session::Session;
use crate::error::HarnessError;
use crate::export::load::{LoadPlan, LoadReport};
use crate::measure::engine::{Invocation, Model};
use crate::measure::recorder::Progress;
use crate::measure::schedule::{ClosedPlan, OpenSchedule};
use crate::measure::series::Outcome;
use crate::measure::warm::{invoke_sample, SampleOptions};
use crate::options::{parse_duration, CommonArgs, LogSource, OutputFormat};
use crate::sample::{Phase, Sample};

/// Options of `perfharness load`.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("model").required(true).args(["concurrency", "rate"])))]
pub struct LoadArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Closed model: this many workers invoking back to back.
    #[arg(long, value_name = "C")]
    pub concurrency: Option<u32>,
    /// Open model: invocations per second on a fixed schedule; latency counts
    /// from each invocation's scheduled start.
    #[arg(long, value_name = "PER_SECOND")]
    pub rate: Option<f64>,
    /// How long to run (e.g. 60s, 2m).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Linear ramp from zero to the rate (open) or of worker starts (closed).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub ramp: Duration,
    /// Stop after this many invocations whatever the duration.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_invocations: u64,
    /// Open model: most invocations outstanding at once; one that waits for
    /// a slot keeps its scheduled start, so the wait shows in its latency.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_in_flight: usize,
    /// The benchmark stack (AWS) or the real tenant.
    #[command(flatten)]
    pub vanta: crate::bench::VantaArgs,
}

impl LoadArgs {
    /// Arguments for a closed or open run of `function` with defaults
    /// elsewhere (for tests and programmatic callers).
    pub fn new(common: CommonArgs) -> Self {
        LoadArgs {
            common,
            concurrency: None,
            rate: None,
            duration: Duration::from_secs(60),
            ramp: Duration::ZERO,
            max_invocations: 100_000,
            max_in_flight: 1000,
            vanta: crate::bench::VantaArgs::defaults(),
        }
    }

    /// The model these options describe, or a usage error.
    pub fn model(&self) -> Result<Model, HarnessError> {
        let usage = |m: &str| Err(HarnessError::Usage(m.to_string()));
        if self.duration.is_zero() {
            return usage("--duration must be above zero, e.g. 60s");
        }
        if self.ramp > self.duration {
            return usage("--ramp is longer than --duration; shorten the ramp");
        }
        if self.max_invocations == 0 {
            return usage("--max-invocations must be at least 1");
        }
        match (self.rate, self.concurrency) {
            (Some(_), Some(_)) | (None, None) => {
                usage("give exactly one of --rate (open model) or --concurrency (closed model)")
            }
            (Some(r), None) => {
                if !r.is_finite() || r <= 0.0 || r > 100_000.0 {
                    return usage("--rate must be between 0 and 100000 invocations per second");
                }
                if self.max_in_flight == 0 {
                    return usage("--max-in-flight must be at least 1");
                }
                Ok(Model::Open(OpenSchedule {
                    rate: r,
                    ramp: self.ramp,
                    duration: self.duration,
                    max_count: self.max_invocations,
                }))
            }
            (None, Some(c)) => {
                if c == 0 || c > 10_000 {
                    return usage("--concurrency must be between 1 and 10000");
                }
                Ok(Model::Closed(ClosedPlan {
                    concurrency: c,
                    ramp: self.ramp,
                    duration: self.duration,
                    max_count: self.max_invocations,
                }))
            }
        }
    }

    /// The invocations the model makes: the open schedule's count, or at
    /// most --max-invocations for the closed model.
    fn workload(&self, model: &Model) -> crate::bench::Workload {
        let (invocations, upper_bound) = match model {
            Model::Open(o) => (o.planned_count(), false),
            Model::Closed(c) => (c.max_count, true),
        };
        crate::bench::Workload {
            invocations: usize::try_from(invocations).unwrap_or(usize::MAX),
            reforce_bound: 0,
            upper_bound,
        }
    }

    /// Against AWS, the environment for the run: the benchmark stack, or
    /// nothing after a confirmed `--vanta real` (see [`crate::bench::choose`]).
    pub async fn overrides(
        &self,
        session: &Session,
    ) -> Result<crate::bench::Overrides, HarnessError> {
        let work = self.workload(&self.model()?);
        crate::bench::choose(session, &self.vanta, work, &self.common.payload_bytes()?).await
    }

    fn plan(&self) -> LoadPlan {
        LoadPlan {
            model: if self.rate.is_some() {
                "open"
            } else {
                "closed"
            }
            .into(),
            rate_per_s: self.rate,
            concurrency: self.concurrency,
            duration_s: self.duration.as_secs_f64(),
            ramp_s: self.ramp.as_secs_f64(),
            max_invocations: self.max_invocations,
            max_in_flight: self.max_in_flight,
        }
    }
}

/// Maps a harness sample onto a load outcome.
fn invocation_of(s: Sample) -> Invocation {
    let outcome = match s.status.as_str() {
        "success" if s.function_error.is_none() => Outcome::Ok,
        "throttled" => Outcome::Throttled,
        "invoke_error" => {
            Outcome::ClientError(s.error_type.unwrap_or_else(|| "InvokeError".into()))
        }
        status => Outcome::FunctionError(
            s.error_type
                .or(s.function_error)
                .unwrap_or_else(|| status.to_string()),
        ),
    };
    Invocation {
        request_id: s.request_id,
        outcome,
        cold: s.cold,
        duration_ms: s.duration_ms,
        init_ms: s.init_ms,
        billed_ms: s.billed_ms.map(|b| b as f64),
    }
}

/// Runs a load test on an open session until it ends by itself or `stop`
/// turns true. A fatal invoke error (no such function, no permission) stops
/// the run and is returned with the report of what ran. Against AWS the
/// function syncs against the benchmark stack for the run (see
/// [`LoadArgs::overrides`]).
pub async fn run_with_session(
    session: Arc<Session>,
    args: &LoadArgs,
    stop: watch::Receiver<bool>,
) -> Result<(LoadReport, Option<HarnessError>), HarnessError> {
    let overrides = args.overrides(&session).await?;
    run_with_overrides(session, args, stop, &overrides).await
}

/// [`run_with_session`] with the environment `overrides` applied under the
/// configuration guard for the run (none: the configuration is untouched);
/// the configuration is restored when the run ends, however it ends, and a
/// failed restore is the run's error.
async fn run_with_overrides(
    session: Arc<Session>,
    args: &LoadArgs,
    stop: watch::Receiver<bool>,
    overrides: &crate::bench::Overrides,
) -> Result<(LoadReport, Option<HarnessError>), HarnessError> {
    let model = args.model()?;
    let info = crate::aws::control::describe(&session).await?;
    let guard = if overrides.is_empty() {
        None
    } else {
        let g = ConfigGuard::snapshot(&session).await?;
        if let Err(e) = g.apply_environment(&session, overrides).await {
            return Err(match g.restore(&session).await {
                Ok(r) if r.verified => e,
                Ok(r) => HarnessError::Infrastructure(format!("{e}; {}", r.message)),
                Err(re) => {
                    HarnessError::Infrastructure(format!("{e}; configuration NOT restored: {re}"))
                }
            });
        }
        Some(g)
    };
    let opts = Arc::new(SampleOptions {
        payload: args.common.payload_bytes()?,
        // Thousands of invocations: the tail carries each REPORT; polling
        // CloudWatch Logs for every one would be the bottleneck.
        log_source: LogSource::Tail,
        logs_timeout: args.common.logs_timeout,
        log_group: info.log_group.clone(),
    });
    // A fatal error raises the same stop flag as Ctrl-C.
    let (fatal_tx, fatal_rx) = watch::channel(false);
    let fatal: Arc<Mutex<Option<HarnessError>>> = Arc::default();
    let mut user_stop = stop.clone();
    let relay_tx = fatal_tx.clone();
    let relay = tokio::spawn(async move {
        if user_stop.wait_for(|s| *s).await.is_ok() {
            let _ = relay_tx.send(true);
        }
    });
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    // On a terminal: a bar of the run's seconds with the calls completed.
    let bar = Progress::new("load", args.duration.as_secs_f64().ceil() as u64);
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let ticker = {
        let (bar, done) = (bar.clone(), done.clone());
        let start = std::time::Instant::now();
        tokio::spawn(async move {
            loop {
                bar.set_position(start.elapsed().as_secs());
                bar.message(&format!(
                    "s, {} invocations",
                    done.load(std::sync::atomic::Ordering::Relaxed)
                ));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let invoker = {
        let (session, opts, fatal, fatal_tx, done) = (
            session.clone(),
            opts.clone(),
            fatal.clone(),
            fatal_tx.clone(),
            done.clone(),
        );
        move |i: u64| {
            let (session, opts, fatal, fatal_tx, done) = (
                session.clone(),
                opts.clone(),
                fatal.clone(),
                fatal_tx.clone(),
                done.clone(),
            );
            async move {
                let result = invoke_sample(&session, &opts, Phase::Load, i as usize).await;
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match result {
                    Ok(inv) => invocation_of(inv.sample),
                    Err(e) => {
                        let code = e.aws_code().unwrap_or("InvokeError").to_string();
                        fatal
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        let _ = fatal_tx.send(true);
                        Invocation {
                            request_id: None,
                            outcome: Outcome::ClientError(code),
                            cold: false,
                            duration_ms: None,
                            init_ms: None,
                            billed_ms: None,
                        }
                    }
                }
            }
        }
    };
    let out = crate::measure::engine::run(&model, args.max_in_flight, fatal_rx, invoker).await;
    ticker.abort();
    bar.finish();
    relay.abort();
    let mut fatal = fatal.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(g) = guard {
        // A failed restore matters more than the run's own error.
        match g.restore(&session).await {
            Ok(r) if r.verified => eprintln!("{}", r.message),
            Ok(r) => fatal = Some(HarnessError::Infrastructure(r.message)),
            Err(e) => {
                fatal = Some(HarnessError::Infrastructure(format!(
                    "configuration NOT restored: {e}"
                )))
            }
        }
    }
    let target = session
        .endpoint_url
        .clone()
        .unwrap_or_else(|| format!("aws {}", session.region));
    let report = LoadReport::build(
        &info.name,
        &target,
        &started_at,
        args.plan(),
        out.stop,
        out.elapsed_s,
        out.abandoned,
        out.samples,
    );
    Ok((report, fatal))
}

/// `perfharness load`: connects, runs, writes the run directory and prints
/// the summary. Ctrl-C stops the schedule, lets calls in flight finish and
/// still writes the report of what ran.
pub async fn run(args: LoadArgs) -> anyhow::Result<ExitCode> {
    args.model()?;
    args.common.refuse_targets("load")?;
    if let Some(s) = args.common.log_source.filter(|s| *s != LogSource::Tail) {
        return Err(HarnessError::Usage(format!(
            "`load` reads REPORT lines from each invoke's tail only: drop --log-source {}",
            clap::ValueEnum::to_possible_value(&s)
                .map_or_else(String::new, |v| v.get_name().to_string())
        ))
        .into());
    }
    crate::bench::check_local(args.common.local, &args.vanta)?;
    let (session, stack) = crate::local::connect(&args.common).await?;
    let session = Arc::new(session);
    // Decided (and confirmed, with --vanta real) before the signal handler
    // is installed, so Ctrl-C at the prompt simply ends the program.
    let overrides = match args.overrides(&session).await {
        Ok(o) => o,
        Err(e) => {
            drop(session);
            crate::local::stop(stack).await;
            return Err(e.into());
        }
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    // SIGINT or SIGTERM: stop the schedule, let calls in flight finish,
    // restore the configuration and write the report.
    let was_interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = was_interrupted.clone();
    let ctrl_c = tokio::spawn(async move {
        crate::aws::guard::interrupted().await;
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        eprintln!("interrupted: stopping the schedule, waiting for calls in flight");
        let _ = stop_tx.send(true);
    });
    let result = run_with_overrides(session.clone(), &args, stop_rx, &overrides).await;
    ctrl_c.abort();
    drop(session);
    crate::local::stop(stack).await;
    let (report, fatal) = result?;
    let dir = args.common.out_dir();
    report.write(&dir).map_err(|e| HarnessError::io(&dir, e))?;
    let md = report.to_markdown();
    crate::export::page::step_summary_or_warn(&md);
    match args.common.output {
        OutputFormat::Table => println!("{}", report.to_table()),
        OutputFormat::Markdown => println!("{md}"),
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    eprintln!("run directory: {}", dir.display());
    if let Some(e) = fatal {
        return Err(e.into());
    }
    if was_interrupted.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(HarnessError::Interrupted.into());
    }
    Ok(ExitCode::SUCCESS)
}
