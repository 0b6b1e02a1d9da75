//! `perfharness power`: a memory sweep with cold and warm samples per size,
//! the cost per invocation, and the best size by cost, speed or a balance.
//! The original configuration is restored and verified at the end, also on
//! failure and Ctrl-C.

use std::process::ExitCode;
use std::sync::Mutex;

use clap::Args;

use crate::analysis::power::{parse_memory_list, parse_weight, Strategy};
use crate::aws::control::{
    begin_own_update, check_unchanged, get_configuration, precondition_to_concurrent,
    retry_control, wait_until_updated,
};
use crate::aws::guard::{interrupted, run_guarded, ConfigGuard};
use crate::aws::session::Session;
use crate::error::{from_sdk, HarnessError};
use crate::export::power::{PowerReport, SizeResult};
use crate::measure::cold::sample_cold;
use crate::measure::recorder::Progress;
use crate::measure::warm::{invoke_sample, SampleOptions};
use crate::options::{CommonArgs, OutputFormat};
use crate::sample::{Phase, Sample};

/// `--memory`: the sizes to sweep, ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryList(pub Vec<u32>);

fn memory_list(s: &str) -> Result<MemoryList, String> {
    parse_memory_list(s)
        .map(MemoryList)
        .map_err(|e| e.to_string())
}

fn weight(s: &str) -> Result<f64, String> {
    parse_weight(s).map_err(|e| e.to_string())
}

/// Options of `perfharness power`.
#[derive(Debug, Clone, Args)]
pub struct PowerArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Memory sizes to sweep, MB (128..=10240).
    #[arg(long, value_name = "MB,MB,...", default_value = "128,256,512,1024,1536,3008", value_parser = memory_list)]
    pub memory: MemoryList,
    /// Cold samples per size.
    #[arg(long = "cold", value_name = "N", default_value_t = 5)]
    pub cold_samples: usize,
    /// Warm samples per size.
    #[arg(long = "warm", value_name = "N", default_value_t = 20)]
    pub warm_samples: usize,
    /// What "best" means.
    #[arg(long, value_enum, default_value = "balanced")]
    pub strategy: Strategy,
    /// Balanced strategy: weight of cost against duration (0 = fastest, 1 = cheapest).
    #[arg(long, value_name = "W", default_value = "0.5", value_parser = weight)]
    pub balanced_weight: f64,
    /// Times a cold sample is re-forced when the invoke after a forced update was warm.
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub max_reforce: u32,
    /// The benchmark stack (AWS) or the real tenant.
    #[command(flatten)]
    pub vanta: crate::bench::VantaArgs,
}

impl PowerArgs {
    /// A sweep of `memory` for `common` with default sample counts.
    pub fn new(common: CommonArgs, memory: Vec<u32>) -> Self {
        PowerArgs {
            common,
            memory: MemoryList(memory),
            cold_samples: 5,
            warm_samples: 20,
            strategy: Strategy::Balanced,
            balanced_weight: 0.5,
            max_reforce: 6,
            vanta: crate::bench::VantaArgs::defaults(),
        }
    }
}

/// Sets MemorySize (guarded by the RevisionId, retried on conflicts) and
/// waits until the update has settled.
pub async fn set_memory(session: &Session, memory_mb: u32) -> Result<(), HarnessError> {
    let mut current = get_configuration(session).await?;
    if current.last_update_status().map(|s| s.as_str()) == Some("InProgress") {
        current = wait_until_updated(session, None).await?;
    }
    check_unchanged(session, &current)?;
    if current.memory_size() == Some(memory_mb as i32) {
        return Ok(());
    }
    let before = current.revision_id().map(str::to_string);
    begin_own_update(session);
    retry_control(session, || async {
        session
            .lambda
            .update_function_configuration()
            .function_name(&session.function)
            .memory_size(memory_mb as i32)
            .set_revision_id(before.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk("UpdateFunctionConfiguration", e))
    })
    .await
    .map_err(|e| precondition_to_concurrent(session, e))?;
    wait_until_updated(session, before.as_deref()).await?;
    Ok(())
}

/// The sweep itself; samples land in `out` as they are taken so an
/// interrupted sweep still reports them.
async fn sweep(
    session: &Session,
    args: &PowerArgs,
    opts: &SampleOptions,
    out: &Mutex<Vec<(u32, Sample)>>,
) -> Result<(), HarnessError> {
    let per_size = (args.cold_samples + args.warm_samples) as u64;
    let bar = Progress::new("power", per_size * args.memory.0.len() as u64);
    let push = |m: u32, s: Sample| {
        bar.inc(1);
        out.lock().unwrap_or_else(|p| p.into_inner()).push((m, s))
    };
    let result = async {
        for &m in &args.memory.0 {
            bar.println(&format!("power: {m} MB"));
            bar.message(&format!("{m} MB"));
            set_memory(session, m).await?;
            for i in 0..args.cold_samples {
                let inv = sample_cold(session, opts, i, args.max_reforce, None).await?;
                push(m, inv.sample);
            }
            if args.cold_samples == 0 {
                // The first invoke after the update is cold: keep it out of the
                // warm samples.
                let _ = invoke_sample(session, opts, Phase::Warmup, 0).await?;
            }
            for i in 0..args.warm_samples {
                let inv = invoke_sample(session, opts, Phase::Warm, i).await?;
                push(m, inv.sample);
            }
        }
        Ok(())
    }
    .await;
    bar.finish();
    result
}

/// Runs a sweep on a connected session: the report (written whatever
/// happened) and the work's error, if any.
pub async fn run_with_session(
    session: &Session,
    args: &PowerArgs,
) -> Result<(PowerReport, Option<HarnessError>), HarnessError> {
    if args.memory.0.is_empty() {
        return Err(HarnessError::Usage("--memory is empty".into()));
    }
    if args.warm_samples == 0 {
        return Err(HarnessError::Usage(
            "--warm must be at least 1: the best size is chosen on warm figures".into(),
        ));
    }
    let prices = crate::analysis::cost::PriceTable::from_option(args.common.prices.as_deref())?;
    let info = crate::aws::control::describe(session).await?;
    let opts = SampleOptions {
        payload: args.common.payload_bytes()?,
        log_source: args.common.log_source(),
        logs_timeout: args.common.logs_timeout,
        log_group: info.log_group.clone(),
    };
    let sizes = args.memory.0.len();
    let work = crate::bench::Workload {
        invocations: sizes
            * (args.cold_samples + args.warm_samples + usize::from(args.cold_samples == 0)),
        reforce_bound: sizes * args.cold_samples * args.max_reforce as usize,
        upper_bound: false,
    };
    let overrides = crate::bench::choose(session, &args.vanta, work, &opts.payload).await?;
    let guard = ConfigGuard::snapshot(session).await?;
    let collected = Mutex::new(Vec::new());
    let guarded = run_guarded(
        session,
        &guard,
        async {
            guard.apply_environment(session, &overrides).await?;
            sweep(session, args, &opts, &collected).await
        },
        interrupted(),
    )
    .await;
    let samples = collected.into_inner().unwrap_or_else(|p| p.into_inner());
    let arch = info.architecture.clone();
    let cost = |m: u32, billed: f64| prices.invocation_cost(&arch, u64::from(m), billed);
    let mut sizes = Vec::new();
    let mut skipped = Vec::new();
    for &m in &args.memory.0 {
        let of = |p: Phase| -> Vec<Sample> {
            samples
                .iter()
                .filter(|(mm, s)| *mm == m && s.phase == p)
                .map(|(_, s)| s.clone())
                .collect()
        };
        let (cold, warm) = (of(Phase::Cold), of(Phase::Warm));
        if cold.is_empty() && warm.is_empty() {
            skipped.push(m);
            continue;
        }
        sizes.push(SizeResult::from_samples(m, &cold, &warm, cost));
    }
    let (restored, restore_err) = match guarded.restore {
        Ok(r) if r.verified => (true, None),
        Ok(r) => (false, Some(HarnessError::Infrastructure(r.message))),
        Err(e) => (false, Some(e)),
    };
    let report = PowerReport::build(
        &info.name,
        &info.architecture,
        info.memory_mb,
        args.strategy,
        args.balanced_weight,
        sizes,
        skipped,
        samples,
        restored,
    );
    // A failed restore matters more than the sweep's own error.
    let err = restore_err.or(guarded.result.err());
    Ok((report, err))
}

/// What a `--local` sweep's figures mean; `function_cpus`: the CPUs
/// functions ran on apart from the servers (`None`: every CPU, shared).
fn local_cpu_note(function_cpus: Option<&[usize]>) -> String {
    let cap = match function_cpus {
        Some(cpus) => format!(
            "at most the {} CPU{} functions run on apart from the harness and the servers, so sizes above {} MB get no more",
            cpus.len(),
            if cpus.len() == 1 { "" } else { "s" },
            (cpus.len() as f64 * emulator::lambda::MB_PER_VCPU) as usize
        ),
        None => "at most this machine's cores, shared with the harness and the servers".to_string(),
    };
    format!("local: CPU is scaled by memory as on Lambda (1 vCPU at 1769 MB, proportionally less below, {cap}), a cgroup CPU quota per execution environment")
}

/// `perfharness power`.
pub async fn run(mut args: PowerArgs) -> anyhow::Result<ExitCode> {
    // Without it every size gets the whole machine and the sweep shows flat
    // durations; on Lambda CPU grows with memory.
    if args.common.local {
        args.common.local_cpu_scaling = true;
    }
    args.common.refuse_targets("power")?;
    crate::bench::check_local(args.common.local, &args.vanta)?;
    let (session, stack) = crate::local::connect(&args.common).await?;
    let function_cpus = session.function_cpus.clone();
    let result = run_with_session(&session, &args).await;
    drop(session);
    crate::local::stop(stack).await;
    let (report, err) = result?;
    let dir = args.common.out_dir();
    report.write(&dir).map_err(|e| HarnessError::io(&dir, e))?;
    let md = report.to_markdown();
    crate::export::page::step_summary_or_warn(&md);
    let cpu_note = args
        .common
        .local_cpu_scaling
        .then(|| local_cpu_note(function_cpus.as_deref()));
    match args.common.output {
        OutputFormat::Table => {
            println!("{}", report.to_table());
            if let Some(note) = cpu_note {
                println!("{note}");
            }
        }
        OutputFormat::Markdown => {
            println!("{md}");
            if let Some(note) = cpu_note {
                println!("_{note}_");
            }
        }
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&report)?);
            // stdout stays one JSON document.
            if let Some(note) = cpu_note {
                eprintln!("{note}");
            }
        }
    }
    eprintln!("run directory: {}", dir.display());
    if let Some(e) = err {
        return Err(e.into());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::local_cpu_note;

    #[test]
    fn the_note_names_the_cpu_a_local_sweep_can_reach() {
        let one = local_cpu_note(Some(&[1]));
        assert!(
            one.contains("at most the 1 CPU functions run on") && one.contains("above 1769 MB"),
            "{one}"
        );
        let two = local_cpu_note(Some(&[2, 3]));
        assert!(
            two.contains("the 2 CPUs") && two.contains("above 3538 MB"),
            "{two}"
        );
        let shared = local_cpu_note(None);
        assert!(shared.contains("this machine's cores, shared"), "{shared}");
    }
}
