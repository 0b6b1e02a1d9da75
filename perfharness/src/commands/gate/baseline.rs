//! `reports/baseline.json`: the figures a gate run is compared with (the
//! instruction count of init and the wall-time rounds), and the machine and
//! tool that produced them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::wall::Rounds;
use crate::analysis::stats::percentile;

/// Version of the baseline file's layout (2: the instruction tier and the
/// wall tier's rounds).
pub const SCHEMA: u32 = 2;

/// How a gate compares a run with its baseline (`--compare`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum CompareMode {
    /// Init duration as a ratio to the reference function measured in the
    /// same run: the local mode, immune to a slow or busy machine.
    Ratio,
    /// Init duration in ms: on AWS, where the hardware is the same from run
    /// to run.
    Absolute,
}

impl std::fmt::Display for CompareMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CompareMode::Ratio => "ratio",
            CompareMode::Absolute => "absolute",
        })
    }
}

/// p50 and p90 of one function's init durations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InitFigures {
    /// Valid cold samples behind the figures.
    pub n: usize,
    /// Median Init Duration, ms.
    pub p50_ms: f64,
    /// 90th percentile Init Duration, ms.
    pub p90_ms: f64,
}

impl InitFigures {
    /// Nearest-rank p50 and p90 of `inits`; `None` when empty.
    pub fn from_inits(inits: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = inits.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        Some(Self {
            n: v.len(),
            p50_ms: percentile(&v, 0.50)?,
            p90_ms: percentile(&v, 0.90)?,
        })
    }
}

/// The function's init figures in units of the reference's median init:
/// the machine's speed, measured in the same run.
///
/// Both divide by the reference's p50, not p90 by p90: the reference's tail
/// is scheduling noise of a busy machine (a single late sample moves it
/// several-fold), while its median is stable, so dividing by it cancels
/// the machine's speed without importing the reference's outliers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ratios {
    /// function p50 / reference p50.
    pub p50: f64,
    /// function p90 / reference p50.
    pub p90: f64,
}

impl Ratios {
    /// The ratios of `function` to `reference`; `None` when the reference's
    /// median is zero.
    pub fn of(function: &InitFigures, reference: &InitFigures) -> Option<Self> {
        (reference.p50_ms > 0.0).then(|| Self {
            p50: function.p50_ms / reference.p50_ms,
            p90: function.p90_ms / reference.p50_ms,
        })
    }
}

/// What one gate run measured: the figures a baseline stores and a
/// comparison reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// The function under test.
    pub function: InitFigures,
    /// The reference no-op function, when one was measured.
    pub reference: Option<InitFigures>,
    /// function / reference, when a reference was measured.
    pub ratio: Option<Ratios>,
}

/// The instruction tier's baseline: the count of init and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstructionBaseline {
    /// Instructions from exec to the first `/next` (the median run).
    pub total: u64,
    /// Each counting run's total.
    pub runs: Vec<u64>,
    /// (largest − smallest) / median of the runs.
    pub spread: f64,
    /// The count split into phases.
    pub phases: BTreeMap<String, u64>,
    /// `valgrind --version`.
    pub valgrind: String,
    /// The CPU the count was taken on (the C library picks string routines
    /// by CPU, so another CPU can move the count a little).
    pub cpu: String,
    /// The executable counted (its file name).
    pub binary: String,
}

/// The CPU's model name from /proc/cpuinfo (`unknown` elsewhere).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Where a baseline was produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// `std::env::consts::OS`.
    pub os: String,
    /// `std::env::consts::ARCH`.
    pub arch: String,
    /// Logical CPUs available to the harness.
    pub cpus: usize,
    /// Lambda endpoint the samples came from (`local` for the emulator).
    pub target: String,
}

impl Machine {
    /// Describes this machine, measuring against `target`.
    pub fn current(target: impl Into<String>) -> Self {
        Self {
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            target: target.into(),
        }
    }
}

/// The contents of `reports/baseline.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Layout version ([`SCHEMA`]).
    pub schema: u32,
    /// The function measured.
    pub function: String,
    /// The reference function measured beside it, if any.
    pub reference: Option<String>,
    /// How runs are compared with this baseline.
    pub mode: CompareMode,
    /// Rounds of cold samples per function.
    pub samples: usize,
    /// Cold samples per function per round (the fastest of each round counts).
    #[serde(default = "one")]
    pub repeat: usize,
    /// The wall tier's figures.
    pub init: Measurement,
    /// The wall tier's rounds (one init per round and function), which the
    /// bootstrap resamples.
    pub rounds: Rounds,
    /// The instruction tier's count (absent when it did not run, e.g. on
    /// AWS without --binary).
    #[serde(default)]
    pub instructions: Option<InstructionBaseline>,
    /// Where it was measured.
    pub machine: Machine,
    /// When it was written (RFC 3339, UTC).
    pub created: String,
    /// `perfharness` version that wrote it.
    pub tool_version: String,
}

fn one() -> usize {
    1
}

/// Failure to read or write a baseline.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// The file is missing or unreadable.
    #[error("cannot read baseline {path}: {source}; create it with `perfharness gate ... --update-baseline`")]
    Read {
        /// The path given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a baseline.
    #[error("baseline {path} is not valid: {source}; re-create it with --update-baseline")]
    Parse {
        /// The path given.
        path: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// Written by a newer layout.
    #[error("baseline {path} has schema {found}, this perfharness reads {SCHEMA}; re-create it with --update-baseline")]
    Schema {
        /// The path given.
        path: String,
        /// The schema found.
        found: u32,
    },
    /// The file could not be written.
    #[error("cannot write baseline {path}: {source}")]
    Write {
        /// The path given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl Baseline {
    /// Reads and checks a baseline file.
    pub fn read(path: &Path) -> Result<Self, BaselineError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| BaselineError::Read {
            path: p.clone(),
            source,
        })?;
        let b: Baseline = serde_json::from_str(&text).map_err(|source| BaselineError::Parse {
            path: p.clone(),
            source,
        })?;
        if b.schema != SCHEMA {
            return Err(BaselineError::Schema {
                path: p,
                found: b.schema,
            });
        }
        Ok(b)
    }

    /// Writes the baseline as pretty JSON with a trailing newline, creating
    /// the parent directory.
    pub fn write(&self, path: &Path) -> Result<(), BaselineError> {
        let err = |source| BaselineError::Write {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut text = serde_json::to_string_pretty(self).expect("a baseline always serializes");
        text.push('\n');
        std::fs::write(path, text).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample_baseline() -> Baseline {
        let f = InitFigures {
            n: 20,
            p50_ms: 30.0,
            p90_ms: 40.0,
        };
        let r = InitFigures {
            n: 20,
            p50_ms: 10.0,
            p90_ms: 16.0,
        };
        Baseline {
            schema: SCHEMA,
            function: "vanta-vuln-sync".into(),
            reference: Some("reference-noop".into()),
            mode: CompareMode::Ratio,
            samples: 20,
            repeat: 3,
            init: Measurement {
                function: f,
                reference: Some(r),
                ratio: Ratios::of(&f, &r),
            },
            rounds: Rounds {
                function: vec![30.0, 31.0],
                reference: vec![10.0, 11.0],
            },
            instructions: Some(InstructionBaseline {
                total: 1000,
                runs: vec![1000, 1000, 1001],
                spread: 0.001,
                phases: BTreeMap::from([("loader".to_string(), 400)]),
                valgrind: "valgrind-3.19.0".into(),
                cpu: cpu_model(),
                binary: "f".into(),
            }),
            machine: Machine::current("local"),
            created: "2026-11-26T17:00:00Z".into(),
            tool_version: "0.1.0".into(),
        }
    }

    #[test]
    fn figures_are_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        let f = InitFigures::from_inits(&v).unwrap();
        assert_eq!((f.n, f.p50_ms, f.p90_ms), (20, 10.0, 18.0));
        assert!(InitFigures::from_inits(&[]).is_none());
        assert_eq!(InitFigures::from_inits(&[f64::NAN, 3.0]).unwrap().n, 1);
    }

    #[test]
    fn ratios_divide_by_the_reference() {
        let b = sample_baseline();
        let r = b.init.ratio.unwrap();
        assert_eq!(r.p50, 3.0);
        assert_eq!(r.p90, 4.0);
        let zero = InitFigures {
            n: 1,
            p50_ms: 0.0,
            p90_ms: 0.0,
        };
        assert!(Ratios::of(&b.init.function, &zero).is_none());
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/baseline.json");
        let b = sample_baseline();
        b.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"mode\": \"ratio\""));
        assert!(text.contains("\"tool_version\""));
        assert!(text.contains("\"instructions\""));
        assert_eq!(Baseline::read(&path).unwrap(), b);
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Baseline::read(&dir.path().join("nope.json")).unwrap_err();
        assert!(missing.to_string().contains("--update-baseline"));
        let path = dir.path().join("bad.json");
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(
            Baseline::read(&path),
            Err(BaselineError::Parse { .. })
        ));
        let mut b = sample_baseline();
        b.schema = 99;
        b.write(&path).unwrap();
        assert!(matches!(
            Baseline::read(&path),
            Err(BaselineError::Schema { found: 99, .. })
        ));
    }
}
