//! Comparing a gate run with its baseline, tier by tier, and the one table
//! that shows both tiers.

use std::collections::BTreeMap;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, Table};
use serde::{Deserialize, Serialize};

use super::baseline::{cpu_model, Baseline, CompareMode, InstructionBaseline, Measurement};
use super::instructions::{Counts, PHASES, PHASE_STACK};
use super::wall::{decide, Decision, Rounds, Verdict};

/// Default `--max-regression` (the wall tier), as a fraction: the largest
/// growth of the median init / reference ratio; the gate fails when the
/// change's whole 95 % interval lies above it. See docs/gate.md for the runs behind it.
pub const DEFAULT_MAX_REGRESSION: f64 = 0.25;
/// `--max-regression`'s default as the command line shows it.
pub const DEFAULT_MAX_REGRESSION_ARG: &str = "25%";

/// Default `--max-instructions-regression`, as a fraction. Counts of an
/// unchanged binary differ by hundredths of a percent between runs (see
/// docs/gate.md), so half a percent is a limit that never fires on noise and
/// still catches a change worth 1 % of init.
pub const DEFAULT_MAX_INSTRUCTION_REGRESSION: f64 = 0.005;
/// `--max-instructions-regression`'s default as the command line shows it.
pub const DEFAULT_MAX_INSTRUCTION_REGRESSION_ARG: &str = "0.5%";

/// A gate that cannot give a verdict: exit 2, never a pass.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GateError {
    /// `--max-regression` is not a percentage.
    #[error("must be a percentage such as 15% (got {0:?})")]
    MaxRegression(String),
    /// Too few cold samples came back valid.
    #[error("only {valid} of {requested} cold samples of {function} were valid (need at least {needed}); the gate cannot judge, see the run's report for the failures")]
    TooFewSamples {
        /// Which function.
        function: String,
        /// Valid samples.
        valid: usize,
        /// Samples requested.
        requested: usize,
        /// Minimum needed.
        needed: usize,
    },
    /// `--samples` too small to give a p90.
    #[error("--samples {0} is too few for a p90; use at least {MIN_SAMPLES}")]
    SamplesTooSmall(usize),
    /// The baseline was made for another function or reference.
    #[error("the baseline is for {baseline}, this run measures {run}; pass the matching --function/--reference or re-create it with --update-baseline")]
    Mismatch {
        /// What the baseline names.
        baseline: String,
        /// What this run names.
        run: String,
    },
    /// The baseline compares in another mode (e.g. recorded on AWS, run locally).
    #[error("the baseline was recorded for {baseline} comparison but this run is {run}; record a baseline where you gate (--update-baseline)")]
    ModeMismatch {
        /// The baseline's mode.
        baseline: CompareMode,
        /// This run's mode.
        run: CompareMode,
    },
    /// A ratio comparison without a reference measurement.
    #[error("a ratio comparison needs the reference function's samples; pass --reference NAME")]
    NoReference,
    /// The baseline has no instruction count.
    #[error("the baseline has no instruction count; record one with --update-baseline (with valgrind installed and the function's --binary), or run only the wall tier with --tiers wall")]
    NoInstructionBaseline,
    /// The wall statistics could not be computed.
    #[error("the wall tier cannot compare: {0}")]
    Wall(String),
}

/// The smallest `--samples` the gate accepts: below ten the p90 is the
/// maximum.
pub const MIN_SAMPLES: usize = 10;

/// Parses `--max-regression`: `15%` or `15` mean 15 %.
pub fn parse_max_regression(s: &str) -> Result<f64, GateError> {
    let t = s.trim();
    let num = t.strip_suffix('%').unwrap_or(t).trim();
    match num.parse::<f64>() {
        Ok(p) if p.is_finite() && (0.0..=1000.0).contains(&p) => Ok(p / 100.0),
        _ => Err(GateError::MaxRegression(s.to_string())),
    }
}

/// How many of `requested` cold samples must be valid: at least 80 % and
/// never fewer than [`MIN_SAMPLES`], so a flaky run cannot pass on a handful
/// of lucky samples.
pub fn min_valid(requested: usize) -> usize {
    MIN_SAMPLES.max((requested * 4).div_ceil(5))
}

/// Checks that `valid` of `requested` samples of `function` suffice.
pub fn check_valid(function: &str, valid: usize, requested: usize) -> Result<(), GateError> {
    let needed = min_valid(requested);
    if valid < needed {
        return Err(GateError::TooFewSamples {
            function: function.to_string(),
            valid,
            requested,
            needed,
        });
    }
    Ok(())
}

/// The two tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Instructions from exec to the first `/next`, under Valgrind.
    Instructions,
    /// Init Duration of forced cold starts.
    Wall,
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tier::Instructions => "instructions",
            Tier::Wall => "wall",
        })
    }
}

/// A row's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowVerdict {
    /// Within the limit.
    Pass,
    /// Above the limit.
    Fail,
    /// Too noisy to decide.
    Undecided,
    /// Shown for information (a phase of the count).
    Info,
}

impl RowVerdict {
    fn text(self) -> &'static str {
        match self {
            RowVerdict::Pass => "PASS",
            RowVerdict::Fail => "FAIL",
            RowVerdict::Undecided => "UNDECIDED",
            RowVerdict::Info => "",
        }
    }

    fn markdown(self) -> &'static str {
        match self {
            RowVerdict::Pass => "✅ PASS",
            RowVerdict::Fail => "❌ FAIL",
            RowVerdict::Undecided => "⚠️ UNDECIDED",
            RowVerdict::Info => "",
        }
    }
}

impl From<Verdict> for RowVerdict {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Pass => RowVerdict::Pass,
            Verdict::Fail => RowVerdict::Fail,
            Verdict::Undecided => RowVerdict::Undecided,
        }
    }
}

/// One line of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Which tier.
    pub tier: Tier,
    /// What is compared, e.g. `init / reference (median of rounds)`.
    pub metric: String,
    /// The baseline's figure.
    pub baseline: f64,
    /// This run's figure.
    pub now: f64,
    /// `now / baseline − 1` (0.10 = 10 % more).
    pub change: f64,
    /// The change's 95 % interval (the wall tier).
    pub interval: Option<(f64, f64)>,
    /// The largest change allowed (none on information rows).
    pub limit: Option<f64>,
    /// The outcome.
    pub verdict: RowVerdict,
}

/// The instruction tier's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstructionOutcome {
    /// The baseline's count.
    pub baseline: u64,
    /// This run's count (median of its runs).
    pub now: u64,
    /// now / baseline − 1.
    pub change: f64,
    /// The largest change allowed.
    pub limit: f64,
    /// The runs' spread in this run.
    pub spread: f64,
    /// Each run's count.
    pub runs: Vec<u64>,
    /// The outcome.
    pub verdict: Verdict,
    /// The phase that grew the most, with its growth in instructions.
    pub largest_growth: Option<(String, i64)>,
    /// This run's phases.
    pub phases: BTreeMap<String, u64>,
    /// This run's crates, largest first (the top of the list).
    pub crates: Vec<(String, u64)>,
}

/// The whole comparison: both tiers' rows and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// How the wall figures were compared.
    pub mode: CompareMode,
    /// The function under test.
    pub function: String,
    /// The reference function, if any.
    pub reference: Option<String>,
    /// One row per compared figure, instruction tier first.
    pub rows: Vec<Row>,
    /// `pass`, `fail` or `undecided` (a fail wins over undecided).
    pub verdict: Verdict,
    /// True when the verdict is pass.
    pub pass: bool,
    /// Why a tier could not decide, or what to keep in mind.
    pub notes: Vec<String>,
    /// The instruction tier, when it ran.
    pub instructions: Option<InstructionOutcome>,
    /// The wall tier, when it ran.
    pub wall: Option<Decision>,
    /// What the wall tier measured.
    pub measured: Option<Measurement>,
}

/// Compares an instruction count with the baseline's: more than `limit`
/// growth fails; runs of the same binary that scatter (median absolute
/// deviation over a quarter of the limit) cannot decide.
pub fn compare_instructions(
    baseline: &InstructionBaseline,
    now: &Counts,
    limit: f64,
    notes: &mut Vec<String>,
) -> (Vec<Row>, InstructionOutcome) {
    // Both sides without the main thread's stack lookup, whose cost follows
    // the process's memory map rather than its init; a baseline recorded
    // before that phase was split off is compared whole, as it was taken.
    let (b, n, metric) = match baseline.phases.get(PHASE_STACK) {
        Some(stack) => (
            baseline.total.saturating_sub(*stack),
            now.profile.compared(),
            "init instructions (exec → first /next, without the stack lookup)",
        ),
        None => {
            notes.push(
                "instructions: the baseline counts the main thread's stack lookup (/proc/self/maps) with the rest; re-record it (--update-baseline) to compare without it"
                    .to_string(),
            );
            (
                baseline.total,
                now.profile.total,
                "init instructions (exec → first /next)",
            )
        }
    };
    let change = n as f64 / b.max(1) as f64 - 1.0;
    // The median run is compared; it is in doubt only when the runs
    // around it scatter: their median absolute deviation (one run's jitter
    // on a busy machine does not move it) must stay under a quarter of the
    // limit.
    let dispersion = median_deviation(&now.runs);
    let verdict = if dispersion > limit / 4.0 {
        notes.push(format!(
            "instructions: runs of the same binary scatter by {:.3}% (median absolute deviation; more than a quarter of the {:.2}% limit): the count is not deterministic here, so the tier cannot decide; see the profiles (--keep-profile)",
            dispersion * 100.0,
            limit * 100.0
        ));
        Verdict::Undecided
    } else if change > limit {
        Verdict::Fail
    } else {
        Verdict::Pass
    };
    let mut rows = vec![Row {
        tier: Tier::Instructions,
        metric: metric.into(),
        baseline: b as f64,
        now: n as f64,
        change,
        interval: None,
        limit: Some(limit),
        verdict: verdict.into(),
    }];
    let mut largest: Option<(String, i64)> = None;
    // In the order of init, then any phase only one side has.
    let mut phases: Vec<&String> = PHASES
        .iter()
        .filter_map(|p| now.profile.phases.get_key_value(*p).map(|(k, _)| k))
        .collect();
    for k in now.profile.phases.keys().chain(baseline.phases.keys()) {
        if !phases.contains(&k) {
            phases.push(k);
        }
    }
    for phase in phases {
        let count = now.profile.phases.get(phase).copied().unwrap_or(0);
        let base = baseline.phases.get(phase).copied().unwrap_or(0);
        if base == 0 && count == 0 {
            continue;
        }
        let growth = count as i64 - base as i64;
        if growth > 0 && largest.as_ref().is_none_or(|(_, g)| growth > *g) {
            largest = Some((phase.clone(), growth));
        }
        rows.push(Row {
            tier: Tier::Instructions,
            metric: format!("· {phase}"),
            baseline: base as f64,
            now: count as f64,
            change: if base > 0 {
                count as f64 / base as f64 - 1.0
            } else {
                f64::INFINITY
            },
            interval: None,
            limit: None,
            verdict: RowVerdict::Info,
        });
    }
    if verdict == Verdict::Fail {
        if let Some((phase, growth)) = &largest {
            notes.push(format!(
                "instructions: the largest growth is in {phase}: {growth:+} instructions ({:+.2}% of the baseline's total)",
                *growth as f64 / b.max(1) as f64 * 100.0
            ));
        }
    }
    let cpu = cpu_model();
    if baseline.cpu != cpu {
        notes.push(format!(
            "instructions: the baseline was counted on another CPU ({}; this is {cpu}): the C library picks its string routines by CPU, which can move the count; re-record the baseline where the gate runs if it fails for no reason",
            baseline.cpu
        ));
    }
    let outcome = InstructionOutcome {
        baseline: b,
        now: n,
        change,
        limit,
        spread: now.spread,
        runs: now.runs.clone(),
        verdict,
        largest_growth: largest,
        phases: now.profile.phases.clone(),
        crates: now.profile.crates.iter().take(20).cloned().collect(),
    };
    (rows, outcome)
}

/// The runs' median absolute deviation from their median, as a fraction of
/// the median (0 for fewer than two runs).
pub fn median_deviation(runs: &[u64]) -> f64 {
    let v: Vec<f64> = runs.iter().map(|&r| r as f64).collect();
    let Some(m) = crate::analysis::interval::median(v.clone()).filter(|m| *m > 0.0) else {
        return 0.0;
    };
    let d: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    crate::analysis::interval::median(d).unwrap_or(0.0) / m
}

/// Compares the wall tier's rounds with the baseline's (after checking that
/// the baseline was made for the same function, reference and mode).
pub fn compare_wall(
    baseline: &Baseline,
    function: &str,
    reference: Option<&str>,
    mode: CompareMode,
    rounds: &Rounds,
    limit: f64,
    notes: &mut Vec<String>,
) -> Result<(Vec<Row>, Decision), GateError> {
    if baseline.function != function {
        return Err(GateError::Mismatch {
            baseline: baseline.function.clone(),
            run: function.to_string(),
        });
    }
    if baseline.mode != mode {
        return Err(GateError::ModeMismatch {
            baseline: baseline.mode,
            run: mode,
        });
    }
    let metric = match mode {
        CompareMode::Ratio => {
            if baseline.reference.as_deref() != reference {
                return Err(GateError::Mismatch {
                    baseline: format!(
                        "reference {}",
                        baseline.reference.as_deref().unwrap_or("(none)")
                    ),
                    run: format!("reference {}", reference.unwrap_or("(none)")),
                });
            }
            if !rounds.paired() || !baseline.rounds.paired() {
                return Err(GateError::NoReference);
            }
            "init / reference (median of rounds)"
        }
        CompareMode::Absolute => "init p50 (ms)",
    };
    let (base, now) = match mode {
        CompareMode::Ratio => (baseline.rounds.clone(), rounds.clone()),
        // Absolute: the function's own rounds, unpaired.
        CompareMode::Absolute => (
            Rounds {
                function: baseline.rounds.function.clone(),
                reference: Vec::new(),
            },
            Rounds {
                function: rounds.function.clone(),
                reference: Vec::new(),
            },
        ),
    };
    let d = decide(&base, &now, limit).ok_or_else(|| {
        GateError::Wall(format!(
            "{} baseline rounds and {} rounds now, or a reference median of zero",
            base.len(),
            now.len()
        ))
    })?;
    if d.verdict == Verdict::Undecided {
        notes.push(format!(
            "wall: too noisy to decide: the change {} has a 95% interval [{}, {}] across the +{:.0}% limit; this run could only detect a regression of {} or more. Run it again with more --samples, or on a quieter machine",
            fmt_change(d.change),
            fmt_change(d.low),
            fmt_change(d.high),
            limit * 100.0,
            fmt_change(d.detectable)
        ));
    }
    let row = Row {
        tier: Tier::Wall,
        metric: metric.into(),
        baseline: d.baseline,
        now: d.now,
        change: d.change,
        interval: Some((d.low, d.high)),
        limit: Some(limit),
        verdict: d.verdict.into(),
    };
    Ok((vec![row], d))
}

/// The overall verdict of the tiers that ran: a regression in either fails;
/// otherwise an undecided tier makes the run undecided.
pub fn overall(verdicts: &[Verdict]) -> Verdict {
    if verdicts.contains(&Verdict::Fail) {
        Verdict::Fail
    } else if verdicts.contains(&Verdict::Undecided) {
        Verdict::Undecided
    } else {
        Verdict::Pass
    }
}

/// `12345678` → `12,345,678`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_value(r: &Row, mode: CompareMode) -> (String, String) {
    let f = |v: f64| match (r.tier, mode) {
        (Tier::Instructions, _) => thousands(v.max(0.0) as u64),
        (Tier::Wall, CompareMode::Ratio) => format!("{v:.3}"),
        (Tier::Wall, CompareMode::Absolute) => format!("{v:.2}"),
    };
    (f(r.baseline), f(r.now))
}

/// A change as a signed percentage (`+3.2%`, `-0.012%`).
pub fn fmt_change(c: f64) -> String {
    if !c.is_finite() {
        "n/a".into()
    } else if c.abs() < 0.01 {
        format!("{:+.3}%", c * 100.0)
    } else {
        format!("{:+.1}%", c * 100.0)
    }
}

fn fmt_row_change(r: &Row) -> String {
    match r.interval {
        Some((lo, hi)) => format!(
            "{} [{}, {}]",
            fmt_change(r.change),
            fmt_change(lo),
            fmt_change(hi)
        ),
        None => fmt_change(r.change),
    }
}

fn fmt_limit(r: &Row) -> String {
    match r.limit {
        Some(l) if l < 0.1 => format!("+{:.2}%", l * 100.0),
        Some(l) => format!("+{:.0}%", l * 100.0),
        None => String::new(),
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Undecided => "UNDECIDED",
    }
}

impl Comparison {
    /// The exit status: 0 pass, 1 regression, 2 undecided.
    pub fn exit_code(&self) -> u8 {
        match self.verdict {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Undecided => 2,
        }
    }

    /// The columns of the one table every rendering shows.
    pub const HEADER: [&'static str; 7] = [
        "tier",
        "metric",
        "baseline",
        "now",
        "change [95% interval]",
        "limit",
        "verdict",
    ];

    /// The rows as text, in [`Self::HEADER`]'s columns.
    pub fn text_rows(&self) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|r| {
                let (b, n) = fmt_value(r, self.mode);
                vec![
                    r.tier.to_string(),
                    r.metric.clone(),
                    b,
                    n,
                    fmt_row_change(r),
                    fmt_limit(r),
                    r.verdict.text().to_string(),
                ]
            })
            .collect()
    }

    /// The verdict's word.
    pub fn verdict_word(&self) -> &'static str {
        verdict_word(self.verdict)
    }

    /// The table for a terminal.
    pub fn to_table(&self) -> String {
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED)
            .set_header(Self::HEADER.to_vec());
        for row in self.text_rows() {
            t.add_row(row.into_iter().map(Cell::new).collect::<Vec<_>>());
        }
        let mut s = format!("{t}\n");
        for line in self.summary_lines() {
            s.push_str(&line);
            s.push('\n');
        }
        s
    }

    /// What was decided and from what, one line per tier plus notes.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(i) = &self.instructions {
            lines.push(format!(
                "instructions {}: {} now (whole runs {}; spread {:.4}%), baseline {}",
                verdict_word(i.verdict),
                thousands(i.now),
                i.runs
                    .iter()
                    .map(|r| thousands(*r))
                    .collect::<Vec<_>>()
                    .join(", "),
                i.spread * 100.0,
                thousands(i.baseline)
            ));
        }
        if let (Some(d), Some(m)) = (&self.wall, &self.measured) {
            let reference = match (&self.reference, &m.reference) {
                (Some(name), Some(r)) => {
                    format!("; {name} p50 {:.2} ms (n={})", r.p50_ms, r.n)
                }
                _ => String::new(),
            };
            lines.push(format!(
                "wall {}: {} init p50 {:.2} ms p90 {:.2} ms (n={}){reference}; compared by {}; change {} [{}, {}], smallest detectable regression {}",
                verdict_word(d.verdict),
                self.function,
                m.function.p50_ms,
                m.function.p90_ms,
                m.function.n,
                self.mode,
                fmt_change(d.change),
                fmt_change(d.low),
                fmt_change(d.high),
                fmt_change(d.detectable)
            ));
        }
        lines.extend(self.notes.iter().cloned());
        lines.push(format!("gate {}", verdict_word(self.verdict)));
        lines
    }

    /// The comparison as Markdown, for a pull request or `$GITHUB_STEP_SUMMARY`.
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "### Init gate: {}\n\n| tier | metric | baseline | now | change [95% interval] | limit | verdict |\n|---|---|---:|---:|---:|---:|---|\n",
            verdict_word(self.verdict)
        );
        for r in &self.rows {
            let (b, n) = fmt_value(r, self.mode);
            s.push_str(&format!(
                "| {} | {} | {b} | {n} | {} | {} | {} |\n",
                r.tier,
                r.metric,
                fmt_row_change(r),
                fmt_limit(r),
                r.verdict.markdown()
            ));
        }
        s.push('\n');
        for line in self.summary_lines() {
            s.push_str(&format!("- {line}\n"));
        }
        s
    }

    /// The comparison as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a comparison always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::super::baseline::{InitFigures, Machine, Ratios, SCHEMA};
    use super::super::instructions::Profile;
    use super::*;

    fn measurement(fp50: f64, fp90: f64, rp50: f64, rp90: f64) -> Measurement {
        let f = InitFigures {
            n: 20,
            p50_ms: fp50,
            p90_ms: fp90,
        };
        let r = InitFigures {
            n: 20,
            p50_ms: rp50,
            p90_ms: rp90,
        };
        Measurement {
            function: f,
            reference: Some(r),
            ratio: Ratios::of(&f, &r),
        }
    }

    fn rounds(f: f64, r: f64) -> Rounds {
        // Twenty rounds spread ±10 % around f and r, the machine's load
        // moving both figures of a round alike.
        let w = |c: f64, k: usize| c * (0.9 + 0.2 * ((k * 7) % 20) as f64 / 19.0);
        Rounds {
            function: (0..20).map(|k| w(f, k)).collect(),
            reference: (0..20).map(|k| w(r, k)).collect(),
        }
    }

    fn baseline(mode: CompareMode) -> Baseline {
        Baseline {
            schema: SCHEMA,
            function: "f".into(),
            reference: Some("ref".into()),
            mode,
            samples: 20,
            repeat: 1,
            init: measurement(30.0, 40.0, 10.0, 20.0),
            rounds: rounds(30.0, 10.0),
            instructions: Some(instr_baseline()),
            machine: Machine::current("local"),
            created: "2026-11-26T17:00:00Z".into(),
            tool_version: "0.1.0".into(),
        }
    }

    fn instr_baseline() -> InstructionBaseline {
        InstructionBaseline {
            total: 1_000_000,
            runs: vec![1_000_000; 3],
            spread: 0.0,
            phases: BTreeMap::from([
                ("loader".to_string(), 600_000),
                ("runtime".to_string(), 400_000),
                (PHASE_STACK.to_string(), 0),
            ]),
            valgrind: "valgrind-3.19.0".into(),
            cpu: cpu_model(),
            binary: "f".into(),
        }
    }

    fn counts(loader: u64, runtime: u64, runs: &[u64]) -> Counts {
        let total = loader + runtime;
        let lo = *runs.iter().min().unwrap_or(&total);
        let hi = *runs.iter().max().unwrap_or(&total);
        Counts {
            runs: runs.to_vec(),
            profile: Profile {
                total,
                phases: BTreeMap::from([
                    ("loader".to_string(), loader),
                    ("runtime".to_string(), runtime),
                    (PHASE_STACK.to_string(), 0),
                ]),
                crates: vec![],
            },
            spread: (hi - lo) as f64 / total as f64,
        }
    }

    #[test]
    fn max_regression_forms() {
        assert_eq!(parse_max_regression("15%").unwrap(), 0.15);
        assert_eq!(parse_max_regression(" 20 ").unwrap(), 0.20);
        assert_eq!(parse_max_regression("0.5%").unwrap(), 0.005);
        assert_eq!(parse_max_regression("0%").unwrap(), 0.0);
        assert!(parse_max_regression("-5%").is_err());
        assert!(parse_max_regression("fifteen").is_err());
        assert!(parse_max_regression("").is_err());
        assert_eq!(
            parse_max_regression(DEFAULT_MAX_REGRESSION_ARG).unwrap(),
            DEFAULT_MAX_REGRESSION
        );
        assert_eq!(
            parse_max_regression(DEFAULT_MAX_INSTRUCTION_REGRESSION_ARG).unwrap(),
            DEFAULT_MAX_INSTRUCTION_REGRESSION
        );
    }

    #[test]
    fn too_few_valid_samples_is_an_error() {
        assert_eq!(min_valid(20), 16);
        assert_eq!(min_valid(10), 10);
        assert_eq!(min_valid(100), 80);
        assert!(check_valid("f", 16, 20).is_ok());
        let e = check_valid("f", 15, 20).unwrap_err();
        assert!(e.to_string().contains("only 15 of 20"), "{e}");
    }

    #[test]
    fn instruction_growth_over_the_limit_fails_and_names_the_phase() {
        let mut notes = Vec::new();
        let (rows, o) = compare_instructions(
            &instr_baseline(),
            &counts(600_000, 410_000, &[1_010_000; 3]),
            0.005,
            &mut notes,
        );
        assert_eq!(o.verdict, Verdict::Fail);
        assert!((o.change - 0.01).abs() < 1e-12);
        assert_eq!(rows[0].verdict, RowVerdict::Fail);
        assert_eq!(o.largest_growth, Some(("runtime".to_string(), 10_000)));
        assert!(notes.iter().any(|n| n.contains("runtime")), "{notes:?}");
        assert_eq!(rows.len(), 3);
        assert!(rows[1..].iter().all(|r| r.verdict == RowVerdict::Info));

        let mut notes = Vec::new();
        let (_, o) = compare_instructions(
            &instr_baseline(),
            &counts(600_100, 400_000, &[1_000_100, 1_000_100, 1_000_090]),
            0.005,
            &mut notes,
        );
        assert_eq!(o.verdict, Verdict::Pass);
        assert!(notes.is_empty(), "{notes:?}");
    }

    #[test]
    fn the_stack_lookup_is_reported_but_not_compared() {
        let mut base = instr_baseline();
        base.total += 20_000;
        base.phases.insert(PHASE_STACK.to_string(), 20_000);
        let with_stack = |stack: u64, runtime: u64| {
            let mut c = counts(
                600_000,
                runtime,
                &[1_000_000 + stack + runtime - 400_000; 3],
            );
            c.profile.total += stack;
            c.profile.phases.insert(PHASE_STACK.to_string(), stack);
            c
        };
        // Three more lines of /proc/self/maps (+0.66 % of the total): PASS.
        let mut notes = Vec::new();
        let (rows, o) =
            compare_instructions(&base, &with_stack(26_600, 400_000), 0.005, &mut notes);
        assert_eq!(o.verdict, Verdict::Pass, "{notes:?}");
        assert_eq!((o.baseline, o.now), (1_000_000, 1_000_000));
        assert!(rows[0].metric.contains("without the stack lookup"));
        assert!(rows
            .iter()
            .any(|r| r.metric.contains("stack lookup") && r.now == 26_600.0));
        // The same growth anywhere else fails.
        let mut notes = Vec::new();
        let (_, o) = compare_instructions(&base, &with_stack(20_000, 406_600), 0.005, &mut notes);
        assert_eq!(o.verdict, Verdict::Fail);
        // A baseline without the phase is compared whole, and says so.
        let mut old = instr_baseline();
        old.phases.remove(PHASE_STACK);
        let mut notes = Vec::new();
        let (_, o) = compare_instructions(&old, &with_stack(20_000, 400_000), 0.005, &mut notes);
        assert_eq!(o.now, 1_020_000);
        assert_eq!(o.verdict, Verdict::Fail);
        assert!(notes.iter().any(|n| n.contains("re-record")), "{notes:?}");
    }

    #[test]
    fn nondeterministic_counts_cannot_decide() {
        let mut notes = Vec::new();
        let (_, o) = compare_instructions(
            &instr_baseline(),
            &counts(600_000, 400_000, &[990_000, 1_000_000, 1_004_000]),
            0.005,
            &mut notes,
        );
        assert_eq!(o.verdict, Verdict::Undecided);
        assert!(notes[0].contains("not deterministic"), "{notes:?}");
        // One run off among five does not put the median in doubt.
        let mut notes = Vec::new();
        let (_, o) = compare_instructions(
            &instr_baseline(),
            &counts(
                600_000,
                400_000,
                &[1_000_000, 1_000_000, 1_000_100, 1_009_000, 999_950],
            ),
            0.005,
            &mut notes,
        );
        assert_eq!(o.verdict, Verdict::Pass, "{notes:?}");
        assert!((median_deviation(&[1, 1, 1, 2]) - 0.0).abs() < 1e-12);
        assert!((median_deviation(&[100, 110, 90]) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn wall_tier_decides_by_interval() {
        let b = baseline(CompareMode::Ratio);
        let mut notes = Vec::new();
        // Everything twice as slow: the ratio is unchanged.
        let (rows, d) = compare_wall(
            &b,
            "f",
            Some("ref"),
            CompareMode::Ratio,
            &rounds(60.0, 20.0),
            0.25,
            &mut notes,
        )
        .unwrap();
        assert_eq!(d.verdict, Verdict::Pass, "{d:?}");
        assert!(d.change.abs() < 1e-9);
        assert_eq!(rows[0].verdict, RowVerdict::Pass);
        // The function alone twice as slow.
        let (_, d) = compare_wall(
            &b,
            "f",
            Some("ref"),
            CompareMode::Ratio,
            &rounds(60.0, 10.0),
            0.25,
            &mut notes,
        )
        .unwrap();
        assert_eq!(d.verdict, Verdict::Fail, "{d:?}");
        assert!(d.low > 0.25);
        assert!(notes.is_empty());
    }

    #[test]
    fn mismatches_are_errors() {
        let b = baseline(CompareMode::Ratio);
        let r = rounds(30.0, 10.0);
        let mut n = Vec::new();
        assert!(matches!(
            compare_wall(&b, "g", Some("ref"), CompareMode::Ratio, &r, 0.15, &mut n),
            Err(GateError::Mismatch { .. })
        ));
        assert!(matches!(
            compare_wall(&b, "f", Some("other"), CompareMode::Ratio, &r, 0.15, &mut n),
            Err(GateError::Mismatch { .. })
        ));
        assert!(matches!(
            compare_wall(
                &b,
                "f",
                Some("ref"),
                CompareMode::Absolute,
                &r,
                0.15,
                &mut n
            ),
            Err(GateError::ModeMismatch { .. })
        ));
        let unpaired = Rounds {
            function: r.function.clone(),
            reference: vec![],
        };
        assert_eq!(
            compare_wall(
                &b,
                "f",
                Some("ref"),
                CompareMode::Ratio,
                &unpaired,
                0.15,
                &mut n
            ),
            Err(GateError::NoReference)
        );
    }

    #[test]
    fn one_table_with_both_tiers() {
        let b = baseline(CompareMode::Ratio);
        let mut notes = Vec::new();
        let (mut rows, i) = compare_instructions(
            b.instructions.as_ref().unwrap(),
            &counts(600_000, 400_000, &[1_000_000; 3]),
            0.005,
            &mut notes,
        );
        let (wrows, d) = compare_wall(
            &b,
            "f",
            Some("ref"),
            CompareMode::Ratio,
            &rounds(30.0, 10.0),
            0.25,
            &mut notes,
        )
        .unwrap();
        rows.extend(wrows);
        let verdict = overall(&[i.verdict, d.verdict]);
        let c = Comparison {
            mode: CompareMode::Ratio,
            function: "f".into(),
            reference: Some("ref".into()),
            rows,
            verdict,
            pass: verdict == Verdict::Pass,
            notes,
            instructions: Some(i),
            wall: Some(d),
            measured: Some(measurement(30.0, 40.0, 10.0, 20.0)),
        };
        assert_eq!(c.exit_code(), 0);
        let md = c.to_markdown();
        assert!(
            md.contains("| instructions | init instructions (exec → first /next, without the stack lookup) | 1,000,000 | 1,000,000 | +0.000% | +0.50% | ✅ PASS |"),
            "{md}"
        );
        assert!(
            md.contains("| wall | init / reference (median of rounds) | 3.000 | 3.000 |"),
            "{md}"
        );
        let table = c.to_table();
        assert!(table.contains("smallest detectable regression"), "{table}");
        let v: serde_json::Value = serde_json::from_str(&c.to_json()).unwrap();
        assert_eq!(v["verdict"], "pass");
        assert_eq!(v["rows"][0]["tier"], "instructions");
        assert_eq!(v["wall"]["verdict"], "pass");
    }

    #[test]
    fn a_fail_wins_over_undecided() {
        assert_eq!(overall(&[Verdict::Undecided, Verdict::Fail]), Verdict::Fail);
        assert_eq!(
            overall(&[Verdict::Pass, Verdict::Undecided]),
            Verdict::Undecided
        );
        assert_eq!(overall(&[Verdict::Pass]), Verdict::Pass);
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
