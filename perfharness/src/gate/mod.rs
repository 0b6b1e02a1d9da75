//! `perfharness gate`: the CI regression gate on init duration.
//!
//! N forced cold starts of the function and, interleaved with them, of a
//! reference no-op function; init p50/p90 are compared with
//! `reports/baseline.json`: locally as the ratio to the reference (a slow or
//! busy machine slows both alike), on AWS as absolute figures. Exit 0 pass,
//! 1 regression, 2 error (including too few valid samples).

pub mod baseline;
pub mod compare;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::cli::{CommonArgs, LogSource, OutputFormat};
use crate::config_guard::{ctrl_c, run_guarded, ConfigGuard, RestoreReport};
use crate::driver::cold::sample_cold;
use crate::driver::warm::SampleOptions;
use crate::error::HarnessError;
use crate::sample::Sample;
use crate::session::Session;
use baseline::{Baseline, CompareMode, InitFigures, Machine, Measurement, Ratios, SCHEMA};
use compare::{check_valid, compare, parse_max_regression, Comparison, GateError, MIN_SAMPLES};

/// `--compare`: how figures are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareArg {
    /// Ratio to the reference (default for --local and --endpoint-url).
    Ratio,
    /// Milliseconds (default on AWS).
    Absolute,
}

/// Options of `perfharness gate`.
#[derive(Debug, Clone, Args)]
pub struct GateArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The baseline to compare with (or to write with --update-baseline).
    #[arg(long, value_name = "FILE", default_value = "reports/baseline.json")]
    pub baseline: PathBuf,
    /// Largest allowed growth of init p50 and p90 (e.g. 15%); the default
    /// is the measured run-to-run spread of the local gate (see gate::compare).
    #[arg(long, value_name = "PERCENT", default_value = "50%", value_parser = |s: &str| parse_max_regression(s).map_err(|e| e.to_string()))]
    pub max_regression: f64,
    /// Rounds of cold samples of each function (at least 10, for a p90).
    #[arg(long, value_name = "N", default_value_t = 20)]
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
    pub compare_mode: Option<CompareArg>,
    /// Write the measured figures as the new baseline instead of comparing.
    #[arg(long)]
    pub update_baseline: bool,
    /// Times a cold sample is re-forced when the invoke after a forced update was warm.
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub max_reforce: u32,
}

impl GateArgs {
    /// Gate options for `common` with every default.
    pub fn new(common: CommonArgs) -> Self {
        GateArgs {
            common,
            baseline: PathBuf::from("reports/baseline.json"),
            max_regression: compare::DEFAULT_MAX_REGRESSION,
            samples: 20,
            repeat: None,
            reference: None,
            compare_mode: None,
            update_baseline: false,
            max_reforce: 6,
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
    /// How figures are compared.
    pub mode: CompareMode,
    /// The function under test.
    pub function: FunctionSamples,
    /// The reference.
    pub reference: Option<FunctionSamples>,
    /// The comparison (absent when writing a baseline or on error).
    pub comparison: Option<Comparison>,
    /// The baseline written (with --update-baseline).
    pub baseline: Option<Baseline>,
    /// Wall time of the run, s.
    pub elapsed_s: f64,
}

async fn sample_options(
    session: &Session,
    common: &CommonArgs,
    payload: &[u8],
) -> Result<SampleOptions, HarnessError> {
    let info = crate::driver::describe(session).await?;
    Ok(SampleOptions {
        payload: payload.to_vec(),
        log_source: common.log_source,
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
pub fn round_inits(samples: &[Sample]) -> Vec<f64> {
    let mut best: std::collections::BTreeMap<usize, f64> = std::collections::BTreeMap::new();
    for s in samples.iter().filter(|s| is_valid(s)) {
        let init = s.init_ms.unwrap_or(f64::INFINITY);
        best.entry(s.index)
            .and_modify(|b| *b = b.min(init))
            .or_insert(init);
    }
    best.into_values().collect()
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
    // A counter on a terminal only: CI logs would get one line per update.
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
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
        if progress {
            eprint!("\rgate: {}/{rounds} rounds", i + 1);
        }
    }
    if progress {
        eprintln!();
    }
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

/// Runs the gate on connected sessions and returns the report and the exit
/// status (0 pass or baseline written, 1 regression). Errors mean exit 2.
pub async fn run_with_sessions(
    args: &GateArgs,
    function: &Session,
    reference: Option<&Session>,
) -> Result<(GateReport, ExitCode), anyhow::Error> {
    let started = std::time::Instant::now();
    if args.samples < MIN_SAMPLES {
        return Err(GateError::SamplesTooSmall(args.samples).into());
    }
    let mode = match args.compare_mode {
        Some(CompareArg::Ratio) => CompareMode::Ratio,
        Some(CompareArg::Absolute) => CompareMode::Absolute,
        None if function.endpoint_url.is_some() => CompareMode::Ratio,
        None => CompareMode::Absolute,
    };
    if mode == CompareMode::Ratio && reference.is_none() {
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
        if b.repeat != repeat {
            return Err(GateError::Mismatch {
                baseline: format!("--repeat {}", b.repeat),
                run: format!("--repeat {repeat}"),
            }
            .into());
        }
    }
    let payload = args.common.payload_bytes()?;
    let fopts = sample_options(function, &args.common, &payload).await?;
    let ropts = match reference {
        Some(r) => Some(sample_options(r, &args.common, &payload).await?),
        None => None,
    };
    if args.common.log_source == LogSource::Logs {
        tracing::info!("gate reads REPORT lines from CloudWatch Logs only");
    }
    let fguard = ConfigGuard::snapshot(function).await?;
    let rguard = match reference {
        Some(r) => Some(ConfigGuard::snapshot(r).await?),
        None => None,
    };
    let collected = std::sync::Mutex::new((Vec::new(), Vec::new()));
    let work = interleave(
        function,
        &fopts,
        reference.zip(ropts.as_ref()),
        args.samples,
        repeat,
        args.max_reforce,
        &collected,
    );
    let guarded = run_guarded(function, &fguard, work, ctrl_c()).await;
    let rrestore = match (reference, &rguard) {
        (Some(r), Some(g)) => Some(finish_restore(&r.function, g.restore(r).await)),
        _ => None,
    };
    let frestore = finish_restore(&function.function, guarded.restore);
    guarded.result?;
    let frestore = frestore?;
    let rrestore = rrestore.transpose()?;
    let (fs, rs) = collected.into_inner().unwrap_or_else(|p| p.into_inner());

    let ffig = InitFigures::from_inits(&round_inits(&fs));
    let rfig = reference.and_then(|_| InitFigures::from_inits(&round_inits(&rs)));
    let fvalid = ffig.map_or(0, |f| f.n);
    check_valid(&function.function, fvalid, args.samples)?;
    if let Some(r) = reference {
        check_valid(&r.function, rfig.map_or(0, |f| f.n), args.samples)?;
    }
    let ffig = ffig.expect("checked above");
    let measured = Measurement {
        function: ffig,
        reference: rfig,
        ratio: rfig.and_then(|r| Ratios::of(&ffig, &r)),
    };
    let reference_name = reference.map(|r| r.function.clone());
    let mut report = GateReport {
        action: if args.update_baseline {
            "update_baseline"
        } else {
            "compare"
        },
        mode,
        function: FunctionSamples {
            function: function.function.clone(),
            figures: Some(ffig),
            valid: fvalid,
            restore: Some(frestore),
            samples: fs,
        },
        reference: reference.map(|r| FunctionSamples {
            function: r.function.clone(),
            figures: rfig,
            valid: rfig.map_or(0, |f| f.n),
            restore: rrestore,
            samples: rs,
        }),
        comparison: None,
        baseline: None,
        elapsed_s: 0.0,
    };
    let code = match base {
        None => {
            let target = function
                .endpoint_url
                .as_ref()
                .map(|_| "local".to_string())
                .unwrap_or_else(|| format!("aws {}", function.region));
            let b = Baseline {
                schema: SCHEMA,
                function: function.function.clone(),
                reference: reference_name,
                mode,
                samples: args.samples,
                repeat,
                init: measured,
                machine: Machine::current(target),
                created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                tool_version: env!("CARGO_PKG_VERSION").to_string(),
            };
            b.write(&args.baseline)?;
            report.baseline = Some(b);
            ExitCode::SUCCESS
        }
        Some(b) => {
            let c = compare(
                &b,
                &function.function,
                reference_name.as_deref(),
                mode,
                &measured,
                args.max_regression,
            )?;
            let code = if c.pass {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            };
            report.comparison = Some(c);
            code
        }
    };
    report.elapsed_s = started.elapsed().as_secs_f64();
    Ok((report, code))
}

fn baseline_markdown(b: &Baseline, path: &std::path::Path) -> String {
    let m = &b.init;
    let mut s = format!(
        "### Init-duration baseline written: {}\n\n| | p50 ms | p90 ms | n |\n|---|---:|---:|---:|\n| {} | {:.2} | {:.2} | {} |\n",
        path.display(),
        b.function,
        m.function.p50_ms,
        m.function.p90_ms,
        m.function.n
    );
    if let (Some(name), Some(r)) = (&b.reference, &m.reference) {
        s.push_str(&format!(
            "| {name} | {:.2} | {:.2} | {} |\n",
            r.p50_ms, r.p90_ms, r.n
        ));
    }
    if let Some(r) = m.ratio {
        s.push_str(&format!(
            "\nratio p50 {:.3}, p90 {:.3}; compared by {}\n",
            r.p50, r.p90, b.mode
        ));
    }
    s
}

/// `perfharness gate`.
pub async fn run(args: GateArgs) -> anyhow::Result<ExitCode> {
    if args.samples < MIN_SAMPLES {
        return Err(GateError::SamplesTooSmall(args.samples).into());
    }
    let session = Session::connect(&args.common).await?;
    let reference_name = args
        .reference
        .clone()
        .or_else(|| session.reference_function().map(str::to_string));
    let reference = match &reference_name {
        Some(name) => {
            let mut common = args.common.clone();
            common.function = name.clone();
            common.local = false;
            common.endpoint_url = session.endpoint_url.clone();
            common.region = Some(session.region.clone());
            match Session::connect(&common).await {
                Ok(s) => Some(s),
                Err(e) => {
                    session.shutdown().await;
                    return Err(e.into());
                }
            }
        }
        None => None,
    };
    let result = run_with_sessions(&args, &session, reference.as_ref()).await;
    if let Some(r) = reference {
        r.shutdown().await;
    }
    session.shutdown().await;
    let (report, code) = result?;
    let md = match (&report.comparison, &report.baseline) {
        (Some(c), _) => c.to_markdown(),
        (None, Some(b)) => baseline_markdown(b, &args.baseline),
        _ => String::new(),
    };
    let dir = args.common.out_dir();
    std::fs::create_dir_all(&dir).map_err(|e| HarnessError::io(&dir, e))?;
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(dir.join("report.json"), json.clone() + "\n")
        .map_err(|e| HarnessError::io(&dir, e))?;
    std::fs::write(dir.join("report.md"), &md).map_err(|e| HarnessError::io(&dir, e))?;
    crate::load::report::append_step_summary(&md);
    match (args.common.output, &report.comparison) {
        (OutputFormat::Json, _) => println!("{json}"),
        (OutputFormat::Markdown, _) => println!("{md}"),
        (OutputFormat::Table, Some(c)) => println!("{}", c.to_table()),
        (OutputFormat::Table, None) => println!("{md}"),
    }
    eprintln!(
        "gate took {:.1} s; run directory: {}",
        report.elapsed_s,
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
        let mut warm = cold(3, 0.5, "success");
        warm.cold = false;
        assert!(round_inits(&[warm]).is_empty());
    }
}
