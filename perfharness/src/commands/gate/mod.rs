//! `perfharness gate`: the CI regression gate on init, in two tiers.
//!
//! - **Instructions** ([`instructions`]): the instructions the function
//!   executes from exec to its first `GET /runtime/invocation/next`, counted
//!   under Valgrind; deterministic to hundredths of a percent, so a small
//!   limit (default 0.5 %) catches init work a wall clock cannot see on a
//!   busy machine.
//! - **Wall time** ([`wall`]): N rounds of forced cold starts of the function
//!   and, interleaved, of a reference no-op function; the median of the
//!   rounds' init / reference ratios (locally) or the median in ms (AWS) is compared with
//!   `reports/baseline.json` by a bootstrap interval. This tier sees init
//!   that waits (a network call, a blocking read), which instruction counts
//!   do not.
//!
//! Exit 0 pass, 1 regression in either tier, 2 error or too noisy to decide.

pub mod baseline;
pub mod compare;
pub mod instructions;
pub mod page;
pub mod wall;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::aws::guard::{interrupted, run_guarded, ConfigGuard, RestoreReport};
use crate::aws::session::Session;
use crate::error::HarnessError;
use crate::measure::cold::sample_cold;
use crate::measure::warm::SampleOptions;
use crate::options::{CommonArgs, LogSource, OutputFormat};
use crate::sample::Sample;
use baseline::{
    cpu_model, Baseline, CompareMode, InitFigures, InstructionBaseline, Machine, Measurement,
    Ratios, SCHEMA,
};
use compare::{
    check_valid, compare_instructions, compare_wall, overall, parse_max_regression, Comparison,
    GateError, Tier, MIN_SAMPLES,
};
use instructions::{CountSetup, Counts};
use wall::{Rounds, Verdict};

/// Default `--samples`: 40 rounds. Ten unchanged runs of 20 rounds on a
/// machine loaded by concurrent builds left three undecided (intervals up to
/// ±50 %); the same samples as five runs of 40 rounds all passed with
/// intervals within [−6 %, +15 %] (docs/gate.md). A run takes about 40 s.
pub const DEFAULT_SAMPLES: usize = 40;

/// Options of `perfharness gate`.
#[derive(Debug, Clone, Args)]
pub struct GateArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The baseline to compare with (or to write with --update-baseline).
    #[arg(long, value_name = "FILE", default_value = "reports/baseline.json")]
    pub baseline: PathBuf,
    /// Tiers to run, comma-separated (default: both with --local or
    /// --binary, otherwise wall only).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "TIER,...")]
    pub tiers: Option<Vec<Tier>>,
    /// Wall tier: largest allowed growth of the median init / reference
    /// ratio (or of the median init on AWS); a regression is a 95 % interval wholly above it.
    #[arg(long, value_name = "PERCENT", default_value = compare::DEFAULT_MAX_REGRESSION_ARG, value_parser = |s: &str| parse_max_regression(s).map_err(|e| e.to_string()))]
    pub max_regression: f64,
    /// Instruction tier: largest allowed growth of the init instruction count.
    #[arg(long, value_name = "PERCENT", default_value = compare::DEFAULT_MAX_INSTRUCTION_REGRESSION_ARG, value_parser = |s: &str| parse_max_regression(s).map_err(|e| e.to_string()))]
    pub max_instructions_regression: f64,
    /// Wall tier: rounds of cold samples of each function (at least 10).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SAMPLES)]
    pub samples: usize,
    /// Cold samples per function per round, of which the fastest counts
    /// (default 3 when comparing ratios locally, 1 on AWS).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u16).range(1..=20))]
    pub repeat: Option<u16>,
    /// The reference no-op function measured beside it (default with
    /// --local: the emulator's fixture).
    #[arg(long, value_name = "NAME|ARN")]
    pub reference: Option<String>,
    /// How figures are compared (default: ratio locally, absolute on AWS).
    #[arg(long = "compare", value_enum, value_name = "MODE")]
    pub compare_mode: Option<CompareMode>,
    /// Write the measured figures of both tiers as the new baseline instead
    /// of comparing.
    #[arg(long)]
    pub update_baseline: bool,
    /// Times a cold sample is re-forced when the invoke after a forced update was warm.
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub max_reforce: u32,
    /// Instruction tier: the function's executable (default with --local:
    /// the release build the local stack runs).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// Instruction tier: Valgrind (a path, or a name looked up in PATH).
    #[arg(long, value_name = "PATH", default_value = "valgrind")]
    pub valgrind: PathBuf,
    /// Instruction tier: counting runs (the median counts; their spread
    /// shows whether the count is deterministic).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub count_runs: u16,
    /// Instruction tier: keep the median run's profile as
    /// <run dir>/instructions/cachegrind.out (for cg_annotate).
    #[arg(long)]
    pub keep_profile: bool,
    /// The benchmark stack (AWS) or the real tenant, for the wall tier's
    /// samples of the function (the reference is measured as it is).
    #[command(flatten)]
    pub vanta: crate::bench::VantaArgs,
}

impl GateArgs {
    /// Gate options for `common` with every default.
    pub fn new(common: CommonArgs) -> Self {
        GateArgs {
            common,
            baseline: PathBuf::from("reports/baseline.json"),
            tiers: None,
            max_regression: compare::DEFAULT_MAX_REGRESSION,
            max_instructions_regression: compare::DEFAULT_MAX_INSTRUCTION_REGRESSION,
            samples: DEFAULT_SAMPLES,
            repeat: None,
            reference: None,
            compare_mode: None,
            update_baseline: false,
            max_reforce: 6,
            binary: None,
            valgrind: PathBuf::from("valgrind"),
            count_runs: 3,
            keep_profile: false,
            vanta: crate::bench::VantaArgs::defaults(),
        }
    }

    /// The tiers this run measures.
    pub fn tiers(&self) -> Vec<Tier> {
        match &self.tiers {
            Some(t) => {
                let mut t = t.clone();
                t.sort_by_key(|x| *x as u8);
                t.dedup();
                t
            }
            None if self.common.local || self.binary.is_some() => {
                vec![Tier::Instructions, Tier::Wall]
            }
            None => vec![Tier::Wall],
        }
    }
}

/// One function's cold samples in a gate run.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionSamples {
    /// Function name as given.
    pub function: String,
    /// Valid samples' figures, when there are any.
    pub figures: Option<InitFigures>,
    /// Valid samples (verified cold, successful, with Init Duration).
    pub valid: usize,
    /// How the configuration was restored.
    pub restore: Option<RestoreReport>,
    /// Every sample.
    pub samples: Vec<Sample>,
}

/// What a gate run writes to `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    /// `compare` or `update_baseline`.
    pub action: &'static str,
    /// The tiers that ran.
    pub tiers: Vec<Tier>,
    /// How the wall figures are compared.
    pub mode: CompareMode,
    /// The instruction tier's counts.
    pub instructions: Option<Counts>,
    /// The function's cold samples (the wall tier).
    pub function: Option<FunctionSamples>,
    /// The reference's cold samples.
    pub reference: Option<FunctionSamples>,
    /// The wall tier's paired rounds.
    pub rounds: Option<Rounds>,
    /// The comparison (absent when writing a baseline or on error).
    pub comparison: Option<Comparison>,
    /// The baseline written (with --update-baseline).
    pub baseline: Option<Baseline>,
    /// Wall time of the run, s.
    pub elapsed_s: f64,
    /// Of which the instruction tier, s.
    pub instructions_s: f64,
}

async fn sample_options(
    session: &Session,
    common: &CommonArgs,
    payload: &[u8],
) -> Result<SampleOptions, HarnessError> {
    let info = crate::aws::control::describe(session).await?;
    Ok(SampleOptions {
        payload: payload.to_vec(),
        log_source: common.log_source(),
        logs_timeout: common.logs_timeout,
        log_group: info.log_group,
    })
}

fn is_valid(s: &Sample) -> bool {
    s.cold && s.init_ms.is_some() && !s.is_error()
}

/// One init figure per round: the smallest valid Init Duration among the
/// round's repeats. A cold start on a busy machine waits for a CPU at
/// random; the best of a few is the function's own start-up cost, which is
/// what the gate compares (and what stays put between a loaded developer
/// machine and a quiet CI runner). Rounds without a valid sample are left
/// out, so they count against the valid minimum.
pub fn round_best(samples: &[Sample]) -> std::collections::BTreeMap<usize, f64> {
    let mut best: std::collections::BTreeMap<usize, f64> = std::collections::BTreeMap::new();
    for s in samples.iter().filter(|s| is_valid(s)) {
        let init = s.init_ms.unwrap_or(f64::INFINITY);
        best.entry(s.index)
            .and_modify(|b| *b = b.min(init))
            .or_insert(init);
    }
    best
}

/// [`round_best`]'s figures in round order.
pub fn round_inits(samples: &[Sample]) -> Vec<f64> {
    round_best(samples).into_values().collect()
}

/// The rounds the bootstrap resamples: with a reference, the rounds where
/// both functions have a figure, paired; without, the function's.
pub fn paired_rounds(function: &[Sample], reference: Option<&[Sample]>) -> Rounds {
    let f = round_best(function);
    match reference {
        Some(r) => {
            let r = round_best(r);
            let (function, reference) = f
                .iter()
                .filter_map(|(i, fv)| r.get(i).map(|rv| (*fv, *rv)))
                .unzip();
            Rounds {
                function,
                reference,
            }
        }
        None => Rounds {
            function: f.into_values().collect(),
            reference: Vec::new(),
        },
    }
}

/// Takes `rounds` × `repeat` cold samples of each session's function,
/// interleaved one by one (the order alternating, so neither function
/// always runs right after the other's update). A sample's index is its
/// round.
async fn interleave(
    function: &Session,
    fopts: &SampleOptions,
    reference: Option<(&Session, &SampleOptions)>,
    rounds: usize,
    repeat: usize,
    max_reforce: u32,
    out: &std::sync::Mutex<(Vec<Sample>, Vec<Sample>)>,
) -> Result<(), HarnessError> {
    // A bar on a terminal only: CI logs would get one line per update.
    let bar = crate::measure::recorder::Progress::new("gate", rounds as u64);
    bar.message("rounds of interleaved cold starts");
    let push = |reference: bool, s: Sample| {
        let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
        if reference {
            o.1.push(s)
        } else {
            o.0.push(s)
        }
    };
    for i in 0..rounds {
        for k in 0..repeat.max(1) {
            let reference_first = (i + k) % 2 == 1;
            if let (true, Some((rs, ro))) = (reference_first, reference) {
                push(
                    true,
                    sample_cold(rs, ro, i, max_reforce, None).await?.sample,
                );
            }
            push(
                false,
                sample_cold(function, fopts, i, max_reforce, None)
                    .await?
                    .sample,
            );
            if let (false, Some((rs, ro))) = (reference_first, reference) {
                push(
                    true,
                    sample_cold(rs, ro, i, max_reforce, None).await?.sample,
                );
            }
        }
        bar.inc(1);
    }
    bar.finish();
    Ok(())
}

fn finish_restore(
    name: &str,
    r: Result<RestoreReport, HarnessError>,
) -> Result<RestoreReport, HarnessError> {
    let r = r?;
    if !r.verified {
        return Err(HarnessError::Infrastructure(format!(
            "{name}: {}",
            r.message
        )));
    }
    Ok(r)
}

/// The executable the instruction tier counts: `--binary`, or with
/// `--local` the release build the local stack runs.
async fn binary_to_count(args: &GateArgs, function: &Session) -> Result<PathBuf, HarnessError> {
    if let Some(b) = &args.binary {
        return Ok(b.clone());
    }
    if function.is_local() {
        let name = function.function.rsplit(':').next().unwrap_or_default();
        return if name == crate::local::REFERENCE_FUNCTION {
            crate::local::ensure_binary(crate::local::FIXTURE_BINARY).await
        } else {
            crate::local::ensure_binary(crate::local::FUNCTION_BINARY).await
        };
    }
    Err(HarnessError::Usage(
        "the instruction tier needs the function's executable: pass --binary PATH (or run only the wall tier with --tiers wall)".into(),
    ))
}

/// The instruction tier: counts the function's init `--count-runs` times
/// with the environment its configuration gives it.
async fn count_instructions(
    args: &GateArgs,
    function: &Session,
    valgrind: &(PathBuf, String),
    out_dir: &std::path::Path,
) -> Result<Counts, anyhow::Error> {
    let binary = binary_to_count(args, function).await?;
    let info = crate::aws::control::describe(function).await?;
    let env = instructions::lambda_environment(
        &info.name,
        info.memory_mb,
        &function.region,
        info.log_format.eq_ignore_ascii_case("json"),
        &info.environment,
    );
    let setup = CountSetup {
        valgrind: valgrind.0.clone(),
        binary,
        env,
        work_dir: out_dir.join("instructions"),
        timeout: Duration::from_secs(120),
    };
    let counts =
        instructions::count(&setup, usize::from(args.count_runs), args.keep_profile).await?;
    if !args.keep_profile {
        let _ = std::fs::remove_dir_all(&setup.work_dir);
    }
    Ok(counts)
}

/// The wall tier's samples: rounds of interleaved forced cold starts, the
/// configurations restored afterwards.
struct WallRun {
    fs: Vec<Sample>,
    rs: Vec<Sample>,
    frestore: RestoreReport,
    rrestore: Option<RestoreReport>,
}

async fn sample_wall(
    args: &GateArgs,
    function: &Session,
    reference: Option<&Session>,
    repeat: usize,
    overrides: &crate::bench::Overrides,
) -> Result<WallRun, anyhow::Error> {
    let payload = args.common.payload_bytes()?;
    let fopts = sample_options(function, &args.common, &payload).await?;
    let ropts = match reference {
        Some(r) => Some(sample_options(r, &args.common, &payload).await?),
        None => None,
    };
    if args.common.log_source() == LogSource::Logs {
        tracing::info!("gate reads REPORT lines from CloudWatch Logs only");
    }
    let fguard = ConfigGuard::snapshot(function).await?;
    let rguard = match reference {
        Some(r) => Some(ConfigGuard::snapshot(r).await?),
        None => None,
    };
    let collected = std::sync::Mutex::new((Vec::new(), Vec::new()));
    let work = async {
        fguard.apply_environment(function, overrides).await?;
        interleave(
            function,
            &fopts,
            reference.zip(ropts.as_ref()),
            args.samples,
            repeat,
            args.max_reforce,
            &collected,
        )
        .await
    };
    let guarded = run_guarded(function, &fguard, work, interrupted()).await;
    let rrestore = match (reference, &rguard) {
        (Some(r), Some(g)) => Some(finish_restore(&r.function, g.restore(r).await)),
        _ => None,
    };
    let frestore = finish_restore(&function.function, guarded.restore);
    guarded.result?;
    let frestore = frestore?;
    let rrestore = rrestore.transpose()?;
    let (fs, rs) = collected.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok(WallRun {
        fs,
        rs,
        frestore,
        rrestore,
    })
}

/// Runs the gate on connected sessions and returns the report and the exit
/// status (0 pass or baseline written, 1 regression, 2 too noisy to
/// decide). Errors mean exit 2. `valgrind` is the instruction tier's
/// Valgrind (path and version) when that tier runs.
pub async fn run_with_sessions(
    args: &GateArgs,
    function: &Session,
    reference: Option<&Session>,
    valgrind: Option<&(PathBuf, String)>,
    out_dir: &std::path::Path,
) -> Result<(GateReport, ExitCode), anyhow::Error> {
    let started = std::time::Instant::now();
    let tiers = args.tiers();
    let run_wall = tiers.contains(&Tier::Wall);
    let run_instructions = tiers.contains(&Tier::Instructions);
    if args.update_baseline && !run_wall {
        return Err(HarnessError::Usage(
            "--update-baseline records both tiers; drop --tiers (or include wall)".into(),
        )
        .into());
    }
    if run_instructions && valgrind.is_none() {
        return Err(HarnessError::Usage("the instruction tier needs valgrind".into()).into());
    }
    if args.samples < MIN_SAMPLES {
        return Err(GateError::SamplesTooSmall(args.samples).into());
    }
    let mode = match args.compare_mode {
        Some(m) => m,
        None if function.endpoint_url.is_some() => CompareMode::Ratio,
        None => CompareMode::Absolute,
    };
    if run_wall && mode == CompareMode::Ratio && reference.is_none() {
        return Err(GateError::NoReference.into());
    }
    // Read the baseline first: a missing one is an error before minutes of
    // sampling, unless it is about to be written.
    let base = if args.update_baseline {
        None
    } else {
        Some(Baseline::read(&args.baseline)?)
    };
    let repeat = args.repeat.map(usize::from).unwrap_or(match mode {
        CompareMode::Ratio => 3,
        CompareMode::Absolute => 1,
    });
    if let Some(b) = &base {
        if run_wall && b.repeat != repeat {
            return Err(GateError::Mismatch {
                baseline: format!("--repeat {}", b.repeat),
                run: format!("--repeat {repeat}"),
            }
            .into());
        }
        if run_instructions && b.instructions.is_none() {
            return Err(GateError::NoInstructionBaseline.into());
        }
    }

    // Against AWS the wall tier's samples sync against the benchmark stack
    // (or, with --vanta real, after an estimate and a confirmation): decided
    // before anything is measured.
    let overrides = if run_wall {
        let work = crate::bench::Workload {
            invocations: args.samples * repeat,
            reforce_bound: args.samples * repeat * args.max_reforce as usize,
            upper_bound: false,
        };
        crate::bench::choose(function, &args.vanta, work, &args.common.payload_bytes()?).await?
    } else {
        crate::bench::Overrides::new()
    };

    // The instruction tier first: it reads the function's configuration
    // before the wall tier's forced updates touch it.
    let counted = std::time::Instant::now();
    let counts = match (run_instructions, valgrind) {
        (true, Some(v)) => Some(count_instructions(args, function, v, out_dir).await?),
        _ => None,
    };
    let instructions_s = counted.elapsed().as_secs_f64();

    let wall = if run_wall {
        Some(sample_wall(args, function, reference, repeat, &overrides).await?)
    } else {
        None
    };

    let mut report = GateReport {
        action: if args.update_baseline {
            "update_baseline"
        } else {
            "compare"
        },
        tiers: tiers.clone(),
        mode,
        instructions: counts.clone(),
        function: None,
        reference: None,
        rounds: None,
        comparison: None,
        baseline: None,
        elapsed_s: 0.0,
        instructions_s,
    };
    let mut measured = None;
    if let Some(w) = wall {
        let ffig = InitFigures::from_inits(&round_inits(&w.fs));
        let rfig = reference.and_then(|_| InitFigures::from_inits(&round_inits(&w.rs)));
        let fvalid = ffig.map_or(0, |f| f.n);
        check_valid(&function.function, fvalid, args.samples)?;
        if let Some(r) = reference {
            check_valid(&r.function, rfig.map_or(0, |f| f.n), args.samples)?;
        }
        let rounds = match mode {
            CompareMode::Ratio => paired_rounds(&w.fs, Some(&w.rs)),
            CompareMode::Absolute => paired_rounds(&w.fs, None),
        };
        check_valid("the paired rounds", rounds.len(), args.samples)?;
        let ffig = ffig.expect("checked above");
        measured = Some(Measurement {
            function: ffig,
            reference: rfig,
            ratio: rfig.and_then(|r| Ratios::of(&ffig, &r)),
        });
        report.function = Some(FunctionSamples {
            function: function.function.clone(),
            figures: Some(ffig),
            valid: fvalid,
            restore: Some(w.frestore),
            samples: w.fs,
        });
        report.reference = reference.map(|r| FunctionSamples {
            function: r.function.clone(),
            figures: rfig,
            valid: rfig.map_or(0, |f| f.n),
            restore: w.rrestore,
            samples: w.rs,
        });
        report.rounds = Some(rounds);
    }
    let reference_name = reference.map(|r| r.function.clone());
    let code = match base {
        None => {
            let target = function
                .endpoint_url
                .as_ref()
                .map(|_| "local".to_string())
                .unwrap_or_else(|| format!("aws {}", function.region));
            let instructions = match (&counts, valgrind) {
                (Some(c), Some(v)) => Some(InstructionBaseline {
                    total: c.profile.total,
                    runs: c.runs.clone(),
                    spread: c.spread,
                    phases: c.profile.phases.clone(),
                    valgrind: v.1.clone(),
                    cpu: cpu_model(),
                    binary: binary_to_count(args, function)
                        .await
                        .ok()
                        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                        .unwrap_or_default(),
                }),
                _ => None,
            };
            let b = Baseline {
                schema: SCHEMA,
                function: function.function.clone(),
                reference: reference_name,
                mode,
                samples: args.samples,
                repeat,
                init: measured.expect("the wall tier ran"),
                rounds: report.rounds.clone().unwrap_or_default(),
                instructions,
                machine: Machine::current(target),
                created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                tool_version: env!("CARGO_PKG_VERSION").to_string(),
            };
            b.write(&args.baseline)?;
            report.baseline = Some(b);
            ExitCode::SUCCESS
        }
        Some(b) => {
            let mut rows = Vec::new();
            let mut notes = Vec::new();
            let mut verdicts = Vec::new();
            let mut instr = None;
            if let (Some(c), Some(bi)) = (&counts, &b.instructions) {
                let (r, o) =
                    compare_instructions(bi, c, args.max_instructions_regression, &mut notes);
                rows.extend(r);
                verdicts.push(o.verdict);
                instr = Some(o);
            }
            let mut decision = None;
            if let Some(rounds) = &report.rounds {
                let (r, d) = compare_wall(
                    &b,
                    &function.function,
                    reference_name.as_deref(),
                    mode,
                    rounds,
                    args.max_regression,
                    &mut notes,
                )?;
                rows.extend(r);
                verdicts.push(d.verdict);
                decision = Some(d);
            }
            if !run_instructions {
                notes.push(
                    "instructions: not run (pass --binary PATH, or --local, to count init instructions)"
                        .into(),
                );
            }
            if !run_wall {
                notes.push("wall: not run (--tiers)".into());
            }
            let verdict = overall(&verdicts);
            let c = Comparison {
                mode,
                function: function.function.clone(),
                reference: reference_name,
                rows,
                verdict,
                pass: verdict == Verdict::Pass,
                notes,
                instructions: instr,
                wall: decision,
                measured,
            };
            let code = ExitCode::from(c.exit_code());
            report.comparison = Some(c);
            code
        }
    };
    report.elapsed_s = started.elapsed().as_secs_f64();
    Ok((report, code))
}

fn baseline_markdown(b: &Baseline, path: &std::path::Path) -> String {
    let m = &b.init;
    let mut s = format!("### Init gate baseline written: {}\n\n", path.display());
    if let Some(i) = &b.instructions {
        s.push_str(&format!(
            "Instructions from exec to the first /next: {} ({}; runs {}, spread {:.4}%)\n\n| phase | instructions |\n|---|---:|\n",
            compare::thousands(i.total),
            i.valgrind,
            i.runs.len(),
            i.spread * 100.0
        ));
        for phase in instructions::PHASES {
            if let Some(n) = i.phases.get(phase) {
                s.push_str(&format!("| {phase} | {} |\n", compare::thousands(*n)));
            }
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "| wall | p50 ms | p90 ms | n |\n|---|---:|---:|---:|\n| {} | {:.2} | {:.2} | {} |\n",
        b.function, m.function.p50_ms, m.function.p90_ms, m.function.n
    ));
    if let (Some(name), Some(r)) = (&b.reference, &m.reference) {
        s.push_str(&format!(
            "| {name} | {:.2} | {:.2} | {} |\n",
            r.p50_ms, r.p90_ms, r.n
        ));
    }
    if let Some(r) = b.rounds.statistic() {
        s.push_str(&format!(
            "\nmedian init / reference ratio {r:.3} over {} paired rounds; compared by {}\n",
            b.rounds.len(),
            b.mode
        ));
    }
    s
}

/// `perfharness gate`.
pub async fn run(args: GateArgs) -> anyhow::Result<ExitCode> {
    if args.samples < MIN_SAMPLES {
        return Err(GateError::SamplesTooSmall(args.samples).into());
    }
    let tiers = args.tiers();
    // Valgrind is looked for before anything starts: missing, the gate
    // says so in one line and exits 2.
    let valgrind = if tiers.contains(&Tier::Instructions) {
        Some(instructions::find_valgrind(&args.valgrind).await?)
    } else {
        None
    };
    args.common.refuse_targets("gate")?;
    crate::bench::check_local(args.common.local, &args.vanta)?;
    let dir = args.common.out_dir();
    let (session, stack) = crate::local::connect(&args.common).await?;
    let reference_name = args
        .reference
        .clone()
        .or_else(|| session.reference_function().map(str::to_string));
    let reference = match (&reference_name, tiers.contains(&Tier::Wall)) {
        (Some(name), true) => {
            let mut common = args.common.clone();
            common.function = name.clone();
            common.local = false;
            common.endpoint_url = session.endpoint_url.clone();
            common.region = Some(session.region.clone());
            match Session::connect(&common).await {
                Ok(s) => Some(s),
                Err(e) => {
                    drop(session);
                    crate::local::stop(stack).await;
                    return Err(e.into());
                }
            }
        }
        _ => None,
    };
    let result =
        run_with_sessions(&args, &session, reference.as_ref(), valgrind.as_ref(), &dir).await;
    drop(reference);
    drop(session);
    crate::local::stop(stack).await;
    let (report, code) = result?;
    let md = match (&report.comparison, &report.baseline) {
        (Some(c), _) => c.to_markdown(),
        (None, Some(b)) => baseline_markdown(b, &args.baseline),
        _ => String::new(),
    };
    std::fs::create_dir_all(&dir).map_err(|e| HarnessError::io(&dir, e))?;
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(dir.join("report.json"), json.clone() + "\n")
        .map_err(|e| HarnessError::io(&dir, e))?;
    let gate_json = match (&report.comparison, &report.baseline) {
        (Some(c), _) => c.to_json(),
        (None, Some(b)) => serde_json::to_string_pretty(b)?,
        _ => "{}".into(),
    };
    std::fs::write(dir.join("gate.json"), gate_json + "\n")
        .map_err(|e| HarnessError::io(&dir, e))?;
    std::fs::write(dir.join("report.md"), &md).map_err(|e| HarnessError::io(&dir, e))?;
    std::fs::write(dir.join("report.html"), page::render(&report, &md))
        .map_err(|e| HarnessError::io(&dir, e))?;
    crate::export::page::step_summary_or_warn(&md);
    match (args.common.output, &report.comparison) {
        (OutputFormat::Json, _) => println!("{json}"),
        (OutputFormat::Markdown, _) => println!("{md}"),
        (OutputFormat::Table, Some(c)) => println!("{}", c.to_table()),
        (OutputFormat::Table, None) => println!("{md}"),
    }
    if let Some(c) = report
        .comparison
        .as_ref()
        .filter(|c| c.verdict == Verdict::Undecided)
    {
        eprintln!("error: the gate cannot decide: {}", c.notes.join("; "));
    }
    eprintln!(
        "gate took {:.1} s (instructions {:.1} s); run directory: {}",
        report.elapsed_s,
        report.instructions_s,
        dir.display()
    );
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Phase;

    fn cold(index: usize, init: f64, status: &str) -> Sample {
        let mut s = Sample::new(Phase::Cold, index, chrono::Utc::now(), init + 1.0);
        s.cold = true;
        s.init_ms = Some(init);
        s.status = status.into();
        s
    }

    #[test]
    fn each_round_counts_its_fastest_valid_sample() {
        let samples = vec![
            cold(0, 5.0, "success"),
            cold(0, 2.0, "success"),
            cold(0, 9.0, "success"),
            cold(1, 1.0, "error"),
            cold(1, 4.0, "success"),
            // Round 2 has no valid sample: it is left out.
            cold(2, 1.0, "error"),
        ];
        assert_eq!(round_inits(&samples), vec![2.0, 4.0]);
        // Paired with a reference that has rounds 1 and 2: only round 1 pairs.
        let reference = vec![cold(1, 3.0, "success"), cold(2, 1.5, "success")];
        let paired = paired_rounds(&samples, Some(&reference));
        assert_eq!(paired.function, vec![4.0]);
        assert_eq!(paired.reference, vec![3.0]);
        let alone = paired_rounds(&samples, None);
        assert_eq!(alone.function, vec![2.0, 4.0]);
        assert!(!alone.paired());
        let mut warm = cold(3, 0.5, "success");
        warm.cold = false;
        assert!(round_inits(&[warm]).is_empty());
    }
}
