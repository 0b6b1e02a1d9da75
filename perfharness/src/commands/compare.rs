//! `perfharness compare`: the hyperfine of Lambda functions. Several
//! functions, or one function at several memory sizes or with several
//! payloads, measured in one run: forced cold starts interleaved one by one
//! (the gate's scheme, the order rotating each round so no variant always
//! follows another's update), then warm invokes interleaved the same way,
//! every configuration restored afterwards (also after a failure, SIGINT,
//! SIGTERM, SIGHUP or a panic). Each figure is shown relative to the
//! fastest variant with a bootstrap interval; targets bound those ratios.
//!
//! Exit 0 pass, 1 a ratio target missed, 2 usage or environment error (or
//! a configuration not restored), 130 interrupted (after restoring).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use clap::Args;

use crate::analysis::power::parse_memory_list;
use crate::analysis::targets::{Op, Target, TargetResult, Verdict};
use crate::aws::control::FunctionInfo;
use crate::aws::guard::{interrupted, run_guarded, ConfigGuard, RestoreReport};
use crate::aws::session::Session;
use crate::commands::power::set_memory;
use crate::error::HarnessError;
use crate::export::compare::{
    figure_rows, ratio_key, validate_ratio_key, CompareOutcome, CompareReport, FigureRow, Variant,
    FIGURES, SCHEMA,
};
use crate::export::RunStatus;
use crate::local::LocalStack;
use crate::measure::cold::sample_cold;
use crate::measure::recorder::Recorder;
use crate::measure::warm::{invoke_sample, SampleOptions};
use crate::options::{CommonArgs, LogSource, OutputFormat, VantaArgs};
use crate::sample::{Phase, Sample};

/// `--memory`: the sizes to compare, ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct Sizes(pub Vec<u32>);

fn sizes(s: &str) -> Result<Sizes, String> {
    parse_memory_list(s).map(Sizes).map_err(|e| e.to_string())
}

/// `--max-ratio FIGURE=RATIO`: a target on one figure's ratio.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxRatio(pub Target);

/// Parses `warm_p50=1.2`.
pub fn parse_max_ratio(s: &str) -> Result<MaxRatio, String> {
    let names = || FIGURES.iter().map(|f| f.key).collect::<Vec<_>>().join(", ");
    let Some((figure, raw)) = s.split_once('=') else {
        return Err(format!(
            "{s:?}: expected FIGURE=RATIO, e.g. warm_p50=1.2 (figures: {})",
            names()
        ));
    };
    let figure = figure.trim();
    if !FIGURES.iter().any(|f| f.key == figure) {
        return Err(format!("unknown figure {figure:?}; use one of {}", names()));
    }
    let limit = raw
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 1.0)
        .ok_or_else(|| {
            format!("{raw:?} is not a ratio of at least 1 (the slowest variant over the fastest), e.g. 1.2")
        })?;
    Ok(MaxRatio(Target {
        key: ratio_key(figure),
        op: Op::Le,
        limit,
    }))
}

/// Options of `perfharness compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// A function to compare (name, ARN or partial ARN; with --local a
    /// function of template.yaml or perfharness-reference). Repeat it once
    /// per function.
    #[arg(long = "function", value_name = "NAME|ARN", required = true)]
    pub functions: Vec<String>,
    /// Memory sizes to compare every function at, MB (e.g. 512,1024).
    #[arg(long, value_name = "MB,MB,...", value_parser = sizes)]
    pub memory: Option<Sizes>,
    /// Invoke payload, inline JSON or @file; repeat it to compare payloads
    /// [default: {}].
    #[arg(long = "payload", value_name = "JSON|@FILE")]
    pub payloads: Vec<String>,
    /// Cold samples per variant [default: 20 with --local, 5 on AWS].
    #[arg(long = "cold", value_name = "N")]
    pub cold_samples: Option<usize>,
    /// Warm samples per variant [default: 100 with --local, 20 on AWS].
    #[arg(long = "warm", value_name = "N")]
    pub warm_samples: Option<usize>,
    /// Times a cold sample is re-forced when the invoke after a forced update was warm.
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub max_reforce: u32,
    /// A target on a ratio: FIGURE=RATIO, the slowest variant's figure at
    /// most RATIO times the fastest's (e.g. warm_p50=1.2). Repeatable.
    #[arg(long = "max-ratio", value_name = "FIGURE=RATIO", value_parser = parse_max_ratio)]
    pub max_ratio: Vec<MaxRatio>,
    /// A targets file of compare.<figure>_ratio targets (default: none;
    /// compare does not read reports/targets.toml, whose targets are full's).
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
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
    /// Run directory (default reports/runs/<UTC timestamp>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
    /// Price table overrides (TOML; see perfharness::analysis::cost).
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// With --local: number of vulnerabilities in mock-vanta's dataset.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub local_records: u64,
    /// With --local: CloudWatch Logs delivery delay the emulator simulates, ms.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub local_log_delay_ms: u64,
    /// With --local: CPU proportional to memory as on Lambda (cgroups; needs
    /// root). Always on with --local --memory.
    #[arg(long)]
    pub local_cpu_scaling: bool,
    /// With --local: let functions share every CPU with the harness and the
    /// servers (by default they get the upper half of the CPUs to themselves).
    #[arg(long)]
    pub local_shared_cpus: bool,
    /// The benchmark stack (AWS) or the real tenant.
    #[command(flatten)]
    pub vanta: VantaArgs,
}

impl CompareArgs {
    /// The shared options of one function's session (REPORTs from the
    /// Invoke tail: compare never reads CloudWatch Logs).
    pub fn common_for(&self, function: &str) -> CommonArgs {
        let mut c = CommonArgs::for_function(function);
        c.local = self.local;
        c.region = self.region.clone();
        c.profile = self.profile.clone();
        c.endpoint_url = self.endpoint_url.clone();
        c.out = self.out.clone();
        c.output = self.output;
        c.prices = self.prices.clone();
        c.log_source = Some(LogSource::Tail);
        c.local_records = self.local_records;
        c.local_log_delay_ms = self.local_log_delay_ms;
        c.local_cpu_scaling = self.local_cpu_scaling;
        c.local_shared_cpus = self.local_shared_cpus;
        c
    }
}

/// One variant to measure.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Index of its function's session.
    pub session: usize,
    /// The function.
    pub function: String,
    /// The memory size to set, if sizes are compared.
    pub memory: Option<u32>,
    /// Which size (0 without sizes): the warm phase runs one size at a time.
    pub memory_rank: usize,
    /// The payload as given.
    pub payload_arg: String,
    /// Its bytes.
    pub payload: Vec<u8>,
    /// Its label.
    pub label: String,
}

fn payload_label(p: &str) -> String {
    let p = p.strip_prefix('@').unwrap_or(p);
    let name = std::path::Path::new(p)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|_| !p.trim_start().starts_with(['{', '[', '"']))
        .unwrap_or_else(|| p.to_string());
    if name.chars().count() > 24 {
        format!("{}…", name.chars().take(23).collect::<String>())
    } else {
        name
    }
}

/// The variants of a command line: every function × every size × every
/// payload, at least two of them.
pub fn specs(args: &CompareArgs) -> Result<Vec<Spec>, HarnessError> {
    for (i, f) in args.functions.iter().enumerate() {
        if args.functions[..i].contains(f) {
            return Err(HarnessError::Usage(format!(
                "--function {f} is given twice; compare different functions, or one function with --memory or --payload"
            )));
        }
    }
    for (i, p) in args.payloads.iter().enumerate() {
        if args.payloads[..i].contains(p) {
            return Err(HarnessError::Usage(format!("--payload {p} is given twice")));
        }
    }
    let memories: Vec<Option<u32>> = match &args.memory {
        Some(m) => m.0.iter().copied().map(Some).collect(),
        None => vec![None],
    };
    let payloads: Vec<String> = if args.payloads.is_empty() {
        vec!["{}".to_string()]
    } else {
        args.payloads.clone()
    };
    let mut bytes = Vec::new();
    for p in &payloads {
        let mut c = CommonArgs::for_function("");
        c.payload = Some(p.clone());
        bytes.push(c.payload_bytes()?);
    }
    let mut out = Vec::new();
    for (session, f) in args.functions.iter().enumerate() {
        for (rank, m) in memories.iter().enumerate() {
            for (p, b) in payloads.iter().zip(&bytes) {
                let mut label = f.rsplit(':').next().unwrap_or(f).to_string();
                if let Some(m) = m.filter(|_| memories.len() > 1) {
                    label.push_str(&format!(" @ {m} MB"));
                }
                if payloads.len() > 1 {
                    label.push_str(&format!(" [{}]", payload_label(p)));
                }
                out.push(Spec {
                    session,
                    function: f.clone(),
                    memory: *m,
                    memory_rank: rank,
                    payload_arg: p.clone(),
                    payload: b.clone(),
                    label,
                });
            }
        }
    }
    if out.len() < 2 {
        return Err(HarnessError::Usage(
            "compare needs two or more variants: give --function twice (--function A --function B), or one function with --memory 512,1024 or with two --payload".into(),
        ));
    }
    Ok(out)
}

/// The ratio targets: `--targets FILE` (compare.<figure>_ratio names only)
/// and `--max-ratio`.
pub fn load_targets(args: &CompareArgs) -> Result<Vec<Target>, HarnessError> {
    let mut out = Vec::new();
    if let Some(path) = args.targets.as_deref().filter(|p| p.as_os_str() != "none") {
        let text = std::fs::read_to_string(path).map_err(|e| HarnessError::Targets {
            path: path.display().to_string(),
            message: format!("cannot read it ({e})"),
        })?;
        out = crate::analysis::targets::parse_names(
            &text,
            &path.display().to_string(),
            validate_ratio_key,
        )?;
    }
    out.extend(args.max_ratio.iter().map(|m| m.0.clone()));
    Ok(out)
}

/// Checks each target against the figures' ratios (slowest / fastest).
pub fn evaluate(targets: &[Target], figures: &[FigureRow]) -> Vec<TargetResult> {
    targets
        .iter()
        .map(|t| {
            let value = figures
                .iter()
                .find(|r| ratio_key(&r.figure) == t.key)
                .and_then(|r| r.ratio);
            let (verdict, note) = match value {
                Some(v) if t.holds(v) => (Verdict::Pass, None),
                Some(_) => (Verdict::Fail, None),
                None => (
                    Verdict::NoData,
                    Some("fewer than two variants have this figure (too few valid samples)".into()),
                ),
            };
            TargetResult {
                key: t.key.clone(),
                condition: t.condition(),
                value,
                verdict,
                note,
            }
        })
        .collect()
}

/// Samples per variant.
#[derive(Debug, Clone, Copy)]
pub struct Counts {
    /// Cold samples.
    pub cold: usize,
    /// Warm samples.
    pub warm: usize,
}

/// Takes the samples: `counts.cold` rounds of one forced cold start per
/// variant, the order rotating each round, then (one memory size at a time)
/// a warm-up invoke per variant and `counts.warm` rounds of one warm invoke
/// per variant.
async fn interleave(
    sessions: &[Session],
    specs: &[Spec],
    opts: &[SampleOptions],
    counts: Counts,
    max_reforce: u32,
    rec: &Recorder,
    out: &Mutex<Vec<(usize, Sample)>>,
) -> Result<(), HarnessError> {
    let push = |v: usize, s: Sample| {
        rec.push(s.clone());
        out.lock().unwrap_or_else(|p| p.into_inner()).push((v, s));
    };
    let n = specs.len();
    if counts.cold > 0 {
        rec.phase("cold", counts.cold * n);
        for i in 0..counts.cold {
            for k in 0..n {
                let v = (i + k) % n;
                let s = &sessions[specs[v].session];
                if let Some(m) = specs[v].memory {
                    set_memory(s, m).await?;
                }
                push(
                    v,
                    sample_cold(s, &opts[v], i, max_reforce, Some(rec))
                        .await?
                        .sample,
                );
            }
        }
    }
    if counts.warm == 0 {
        return Ok(());
    }
    let passes = specs.iter().map(|s| s.memory_rank).max().unwrap_or(0) + 1;
    for pass in 0..passes {
        let these: Vec<usize> = (0..n).filter(|v| specs[*v].memory_rank == pass).collect();
        for &v in &these {
            let s = &sessions[specs[v].session];
            if let Some(m) = specs[v].memory {
                set_memory(s, m).await?;
            }
            invoke_sample(s, &opts[v], Phase::Warmup, 0).await?;
        }
        rec.phase("warm", counts.warm * these.len());
        for i in 0..counts.warm {
            for k in 0..these.len() {
                let v = these[(i + k) % these.len()];
                let s = &sessions[specs[v].session];
                push(v, invoke_sample(s, &opts[v], Phase::Warm, i).await?.sample);
            }
        }
    }
    Ok(())
}

/// Connects to another function on the first one's endpoint (the local
/// stack's emulator, or AWS).
async fn connect_more(
    args: &CompareArgs,
    first: &Session,
    stack: Option<&LocalStack>,
    function: &str,
) -> Result<Session, HarnessError> {
    if let Some(st) = stack {
        let wanted = function.rsplit(':').next().unwrap_or(function);
        if !st.functions.iter().any(|f| f == wanted) {
            return Err(HarnessError::Usage(format!(
                "--local defines {}; {function:?} is not one of them (template.yaml)",
                st.functions.join(", ")
            )));
        }
    }
    let mut c = args.common_for(function);
    c.local = false;
    c.endpoint_url = first.endpoint_url.clone();
    c.region = Some(first.region.clone());
    let mut s = Session::connect(&c).await?;
    s.local = first.local;
    s.reference = first.reference.clone();
    Ok(s)
}

fn where_run(s: &Session) -> String {
    match (&s.endpoint_url, s.is_local()) {
        (_, true) => "local (emulator + mock-vanta)".to_string(),
        (Some(u), false) => u.clone(),
        (None, false) => format!("aws {}", s.region),
    }
}

/// Measures the variants on connected sessions (one per function) under
/// the configuration guards, and builds the report (also for a run that
/// failed or was interrupted, with what was measured).
pub async fn measure(
    args: &CompareArgs,
    sessions: &[Session],
    specs: &[Spec],
    counts: Counts,
    targets: &[Target],
) -> Result<CompareReport, anyhow::Error> {
    use anyhow::Context;
    let started_at = chrono::Utc::now();
    let prices = crate::analysis::cost::PriceTable::from_option(args.prices.as_deref())?;
    let mut infos: Vec<FunctionInfo> = Vec::new();
    for s in sessions {
        infos.push(
            crate::aws::control::describe(s)
                .await
                .with_context(|| format!("--function {}", s.function))?,
        );
    }
    let mut overrides = Vec::new();
    for (i, s) in sessions.iter().enumerate() {
        let mine: Vec<&Spec> = specs.iter().filter(|v| v.session == i).collect();
        let work = crate::bench::Workload {
            invocations: mine.len() * (counts.cold + counts.warm + 1),
            reforce_bound: mine.len() * counts.cold * args.max_reforce as usize,
            upper_bound: false,
        };
        overrides.push(crate::bench::choose(s, &args.vanta, work, &mine[0].payload).await?);
    }
    let opts: Vec<SampleOptions> = specs
        .iter()
        .map(|v| SampleOptions {
            payload: v.payload.clone(),
            log_source: LogSource::Tail,
            logs_timeout: Duration::from_secs(0),
            log_group: infos[v.session].log_group.clone(),
        })
        .collect();
    let mut guards = Vec::new();
    for s in sessions {
        guards.push(ConfigGuard::snapshot(s).await?);
    }
    let rec = Recorder::new(args.output == OutputFormat::Table);
    let collected = Mutex::new(Vec::new());
    let work = async {
        for ((s, g), o) in sessions.iter().zip(&guards).zip(&overrides) {
            g.apply_environment(s, o).await?;
        }
        interleave(
            sessions,
            specs,
            &opts,
            counts,
            args.max_reforce,
            &rec,
            &collected,
        )
        .await
    };
    // The first guard handles signals and panics; the others restore right
    // after it.
    let guarded = run_guarded(&sessions[0], &guards[0], work, interrupted()).await;
    rec.finish();
    let mut restores = vec![guarded.restore];
    for (s, g) in sessions.iter().zip(&guards).skip(1) {
        restores.push(g.restore(s).await);
    }
    let restore: Vec<RestoreReport> = restores
        .into_iter()
        .zip(sessions.iter().zip(&guards))
        .map(|(r, (s, g))| {
            let mut r = r.unwrap_or_else(|e| RestoreReport {
                fields_restored: Vec::new(),
                verified: false,
                concurrent_change: false,
                leftover_nonce_removed: false,
                message: format!("configuration NOT restored: {e}; {}", g.restore_hint(s)),
            });
            r.message = format!("{}: {}", s.function, r.message);
            r
        })
        .collect();
    let (status, error) = match &guarded.result {
        Ok(()) => (RunStatus::Completed, None),
        Err(HarnessError::Interrupted) => (
            RunStatus::Interrupted,
            Some("interrupted by a signal".to_string()),
        ),
        Err(e) => (RunStatus::Failed, Some(e.to_string())),
    };
    let samples = collected.into_inner().unwrap_or_else(|p| p.into_inner());
    let variants: Vec<Variant> = specs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let info = &infos[v.session];
            Variant::new(
                v.label.clone(),
                v.function.clone(),
                v.memory.map(u64::from).unwrap_or(info.memory_mb),
                v.payload_arg.clone(),
                info.architecture.clone(),
                samples
                    .iter()
                    .filter(|(j, _)| *j == i)
                    .map(|(_, s)| s.clone())
                    .collect(),
            )
        })
        .collect();
    let cost =
        |v: &Variant, billed: f64| prices.invocation_cost(&v.architecture, v.memory_mb, billed);
    let figures = figure_rows(&variants, &cost);
    let results = evaluate(targets, &figures);
    let targets_met =
        status == RunStatus::Completed && results.iter().all(|r| r.verdict == Verdict::Pass);
    Ok(CompareReport {
        schema: SCHEMA.to_string(),
        started_at,
        finished_at: chrono::Utc::now(),
        target: where_run(&sessions[0]),
        cold_samples: counts.cold,
        warm_samples: counts.warm,
        variants,
        figures,
        targets: results,
        restore,
        outcome: CompareOutcome {
            status,
            error,
            targets_met,
        },
    })
}

async fn connect_and_measure(
    args: &CompareArgs,
    first: Session,
    stack: Option<&LocalStack>,
    specs: &[Spec],
    counts: Counts,
    targets: &[Target],
) -> Result<CompareReport, anyhow::Error> {
    let mut sessions = vec![first];
    for f in &args.functions[1..] {
        let s = connect_more(args, &sessions[0], stack, f).await?;
        sessions.push(s);
    }
    measure(args, &sessions, specs, counts, targets).await
}

/// `perfharness compare`.
pub async fn run(mut args: CompareArgs) -> anyhow::Result<ExitCode> {
    let specs = specs(&args)?;
    let targets = load_targets(&args)?;
    crate::bench::check_local(args.local, &args.vanta)?;
    if args.local && args.memory.is_some() {
        // Without it every size gets the whole machine; on Lambda CPU grows
        // with memory (as `power --local`).
        args.local_cpu_scaling = true;
        eprintln!("--local --memory: CPU is scaled by memory as on Lambda (a cgroup CPU quota per execution environment)");
    }
    let c = crate::bench::counts(args.local, args.cold_samples, args.warm_samples, Some(1));
    let counts = Counts {
        cold: c.cold,
        warm: c.warm,
    };
    if counts.cold == 0 && counts.warm == 0 {
        return Err(HarnessError::Usage("--cold 0 --warm 0 measures nothing".into()).into());
    }
    let dir = args.common_for(&args.functions[0]).out_dir();
    let (session, stack) = crate::local::connect(&args.common_for(&args.functions[0])).await?;
    let result =
        connect_and_measure(&args, session, stack.as_ref(), &specs, counts, &targets).await;
    crate::local::stop(stack).await;
    let report = result?;
    report.write(&dir).map_err(|e| HarnessError::io(&dir, e))?;
    let md = report.to_markdown();
    crate::export::page::step_summary_or_warn(&md);
    match args.output {
        OutputFormat::Table => println!("{}", report.to_table()),
        OutputFormat::Markdown => println!("{md}"),
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    eprintln!("run directory: {}", dir.display());
    if let Some(r) = report.restore.iter().find(|r| !r.verified) {
        eprintln!("error: {}", r.message);
        return Ok(ExitCode::from(2));
    }
    match report.outcome.status {
        RunStatus::Interrupted => Err(HarnessError::Interrupted.into()),
        RunStatus::Failed => {
            eprintln!(
                "error: {}",
                report.outcome.error.as_deref().unwrap_or("the run failed")
            );
            Ok(ExitCode::from(2))
        }
        RunStatus::Completed if report.outcome.targets_met => Ok(ExitCode::SUCCESS),
        RunStatus::Completed => {
            let missed = report
                .targets
                .iter()
                .filter(|t| t.verdict != Verdict::Pass)
                .count();
            eprintln!("{missed} ratio target(s) missed");
            Ok(ExitCode::from(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        a: CompareArgs,
    }

    fn args(argv: &[&str]) -> Result<CompareArgs, String> {
        let mut v = vec!["t"];
        v.extend(argv);
        T::try_parse_from(v).map(|t| t.a).map_err(|e| e.to_string())
    }

    #[test]
    fn variants_are_the_product_and_need_two() {
        let a = args(&["--function", "a", "--function", "b"]).unwrap();
        let s = specs(&a).unwrap();
        assert_eq!(
            s.iter().map(|v| v.label.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let a = args(&["--function", "a", "--memory", "1024,512"]).unwrap();
        let s = specs(&a).unwrap();
        assert_eq!(
            s.iter().map(|v| v.label.as_str()).collect::<Vec<_>>(),
            ["a @ 512 MB", "a @ 1024 MB"]
        );
        assert_eq!(s[1].memory_rank, 1);
        let a = args(&[
            "--function",
            "a",
            "--payload",
            "{}",
            "--payload",
            "{\"x\":1}",
        ])
        .unwrap();
        assert_eq!(specs(&a).unwrap()[1].label, "a [{\"x\":1}]");
        for bad in [
            vec!["--function", "a"],
            vec!["--function", "a", "--function", "a"],
            vec!["--function", "a", "--payload", "nope", "--payload", "{}"],
        ] {
            let e = specs(&args(&bad).unwrap()).unwrap_err().to_string();
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn max_ratio_names_a_figure_and_a_ratio() {
        let m = parse_max_ratio("warm_p50=1.2").unwrap();
        assert_eq!(m.0.key, "compare.warm_p50_ratio");
        assert!(m.0.holds(1.2) && !m.0.holds(1.21));
        assert!(parse_max_ratio("1.2").unwrap_err().contains("FIGURE=RATIO"));
        assert!(parse_max_ratio("warm_p42=1.2")
            .unwrap_err()
            .contains("unknown figure"));
        assert!(parse_max_ratio("warm_p50=0.5")
            .unwrap_err()
            .contains("at least 1"));
    }
}
