//! Memory sizes to sweep and how the best one is chosen.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Lambda's smallest memory size, MB.
pub const MIN_MEMORY_MB: u32 = 128;
/// Lambda's largest memory size, MB.
pub const MAX_MEMORY_MB: u32 = 10_240;

/// A mistake in the power options, worded for the user.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PowerOptionError {
    /// The memory list is empty.
    #[error("--memory is empty; give sizes in MB such as 128,256,512,1024")]
    EmptyMemoryList,
    /// An entry is not a whole number of MB.
    #[error("--memory entry {0:?} is not a whole number of MB; use e.g. 128,256,512")]
    NotANumber(String),
    /// An entry is outside what Lambda accepts.
    #[error("--memory {0} MB is outside Lambda's range {MIN_MEMORY_MB}..={MAX_MEMORY_MB} MB")]
    OutOfRange(u64),
    /// The same size appears twice.
    #[error("--memory lists {0} MB twice")]
    Duplicate(u32),
    /// The balanced weight is not in 0..=1.
    #[error("--balanced-weight must be between 0 and 1 (0 = fastest, 1 = cheapest), got {0}")]
    Weight(f64),
    /// Unknown strategy name.
    #[error("--strategy must be cost, speed or balanced, got {0:?}")]
    Strategy(String),
}

/// Parses `--memory 128,256,512` into ascending sizes, rejecting sizes Lambda
/// would reject (whole MB from 128 to 10,240) and duplicates. A trailing
/// `MB` on an entry is accepted.
pub fn parse_memory_list(s: &str) -> Result<Vec<u32>, PowerOptionError> {
    let mut out = Vec::new();
    for raw in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let digits = raw
            .strip_suffix("MB")
            .or_else(|| raw.strip_suffix("mb"))
            .unwrap_or(raw)
            .trim();
        let mb: u64 = digits
            .parse()
            .map_err(|_| PowerOptionError::NotANumber(raw.to_string()))?;
        if !(u64::from(MIN_MEMORY_MB)..=u64::from(MAX_MEMORY_MB)).contains(&mb) {
            return Err(PowerOptionError::OutOfRange(mb));
        }
        let mb = mb as u32;
        if out.contains(&mb) {
            return Err(PowerOptionError::Duplicate(mb));
        }
        out.push(mb);
    }
    if out.is_empty() {
        return Err(PowerOptionError::EmptyMemoryList);
    }
    out.sort_unstable();
    Ok(out)
}

/// Parses and checks `--balanced-weight`.
pub fn parse_weight(s: &str) -> Result<f64, PowerOptionError> {
    let w: f64 = s
        .trim()
        .parse()
        .map_err(|_| PowerOptionError::Weight(f64::NAN))?;
    if (0.0..=1.0).contains(&w) {
        Ok(w)
    } else {
        Err(PowerOptionError::Weight(w))
    }
}

/// What "best" means for a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Lowest cost per invocation.
    Cost,
    /// Lowest warm duration.
    Speed,
    /// Lowest `w·cost + (1−w)·duration`, both normalized across the sizes.
    #[default]
    Balanced,
}

impl FromStr for Strategy {
    type Err = PowerOptionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cost" => Ok(Strategy::Cost),
            "speed" => Ok(Strategy::Speed),
            "balanced" => Ok(Strategy::Balanced),
            _ => Err(PowerOptionError::Strategy(s.to_string())),
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::Cost => "cost",
            Strategy::Speed => "speed",
            Strategy::Balanced => "balanced",
        })
    }
}

/// The two figures a size is judged on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Memory size, MB.
    pub memory_mb: u32,
    /// Representative warm duration (p50), ms.
    pub duration_ms: f64,
    /// Mean cost per invocation, USD.
    pub cost_usd: f64,
    /// Whether the size ran without errors; failing sizes are never chosen.
    pub healthy: bool,
}

/// Min-max normalization to 0..=1; all-equal values map to 0.
fn normalize(values: &[f64]) -> Vec<f64> {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    values
        .iter()
        .map(|v| if hi > lo { (v - lo) / (hi - lo) } else { 0.0 })
        .collect()
}

/// The score of each candidate under `strategy` (lower is better), `None`
/// for unhealthy ones. Normalization uses the healthy candidates only.
pub fn scores(candidates: &[Candidate], strategy: Strategy, weight: f64) -> Vec<Option<f64>> {
    let healthy: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.healthy && c.duration_ms.is_finite() && c.cost_usd.is_finite())
        .collect();
    let d = normalize(&healthy.iter().map(|c| c.duration_ms).collect::<Vec<_>>());
    let c = normalize(&healthy.iter().map(|c| c.cost_usd).collect::<Vec<_>>());
    let mut by_mem = std::collections::HashMap::new();
    for (cand, (dn, cn)) in healthy.iter().zip(d.into_iter().zip(c)) {
        let score = match strategy {
            // Normalized like `balanced` so every strategy's score reads on
            // the same 0..1 scale (the order, and so the choice, is the
            // same as by raw cost or duration).
            Strategy::Cost => cn,
            Strategy::Speed => dn,
            Strategy::Balanced => weight * cn + (1.0 - weight) * dn,
        };
        by_mem.insert(cand.memory_mb, score);
    }
    candidates
        .iter()
        .map(|c| by_mem.get(&c.memory_mb).copied())
        .collect()
}

/// The index of the best candidate, ties going to the smaller size; `None`
/// when no candidate is healthy.
pub fn choose(candidates: &[Candidate], strategy: Strategy, weight: f64) -> Option<usize> {
    let s = scores(candidates, strategy, weight);
    let mut best: Option<(usize, f64)> = None;
    for (i, score) in s.iter().enumerate() {
        let Some(score) = *score else { continue };
        let better = match best {
            None => true,
            Some((j, b)) => {
                score < b || (score == b && candidates[i].memory_mb < candidates[j].memory_mb)
            }
        };
        if better {
            best = Some((i, score));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_list_parses_and_sorts() {
        assert_eq!(
            parse_memory_list("512, 128,256MB").unwrap(),
            vec![128, 256, 512]
        );
        assert_eq!(parse_memory_list("10240").unwrap(), vec![10240]);
    }

    #[test]
    fn memory_list_errors_are_specific() {
        assert_eq!(
            parse_memory_list(""),
            Err(PowerOptionError::EmptyMemoryList)
        );
        assert_eq!(
            parse_memory_list("64"),
            Err(PowerOptionError::OutOfRange(64))
        );
        assert_eq!(
            parse_memory_list("10241"),
            Err(PowerOptionError::OutOfRange(10241))
        );
        assert_eq!(
            parse_memory_list("128,abc"),
            Err(PowerOptionError::NotANumber("abc".into()))
        );
        assert_eq!(
            parse_memory_list("1.5"),
            Err(PowerOptionError::NotANumber("1.5".into()))
        );
        assert_eq!(
            parse_memory_list("256,256"),
            Err(PowerOptionError::Duplicate(256))
        );
        let msg = parse_memory_list("64").unwrap_err().to_string();
        assert!(msg.contains("128..=10240"), "{msg}");
    }

    #[test]
    fn weight_bounds() {
        assert_eq!(parse_weight("0.3").unwrap(), 0.3);
        assert!(parse_weight("1.5").is_err());
        assert!(parse_weight("x").is_err());
    }

    #[test]
    fn strategy_names() {
        assert_eq!("Speed".parse::<Strategy>().unwrap(), Strategy::Speed);
        assert!("fast".parse::<Strategy>().is_err());
        assert_eq!(Strategy::Balanced.to_string(), "balanced");
    }

    fn sweep() -> Vec<Candidate> {
        // A typical CPU-bound curve: duration halves with memory until 1024,
        // cost is flat-ish then rises.
        let c = |m, d, c| Candidate {
            memory_mb: m,
            duration_ms: d,
            cost_usd: c,
            healthy: true,
        };
        vec![
            c(128, 800.0, 2.0e-6),
            c(256, 400.0, 1.9e-6),
            c(512, 200.0, 1.95e-6),
            c(1024, 110.0, 2.3e-6),
            c(2048, 100.0, 4.0e-6),
        ]
    }

    #[test]
    fn cost_and_speed_pick_the_extremes() {
        let s = sweep();
        assert_eq!(s[choose(&s, Strategy::Cost, 0.5).unwrap()].memory_mb, 256);
        assert_eq!(s[choose(&s, Strategy::Speed, 0.5).unwrap()].memory_mb, 2048);
    }

    #[test]
    fn balanced_weight_moves_between_them() {
        let s = sweep();
        assert_eq!(
            s[choose(&s, Strategy::Balanced, 1.0).unwrap()].memory_mb,
            256
        );
        assert_eq!(
            s[choose(&s, Strategy::Balanced, 0.0).unwrap()].memory_mb,
            2048
        );
        // 512: d=(200-100)/700=0.143, c=(1.95-1.9)/2.1=0.024 → best middle.
        assert_eq!(
            s[choose(&s, Strategy::Balanced, 0.5).unwrap()].memory_mb,
            512
        );
    }

    #[test]
    fn unhealthy_sizes_are_never_chosen() {
        let mut s = sweep();
        s[1].healthy = false;
        assert_eq!(s[choose(&s, Strategy::Cost, 0.5).unwrap()].memory_mb, 512);
        assert_eq!(scores(&s, Strategy::Cost, 0.5)[1], None);
        for c in &mut s {
            c.healthy = false;
        }
        assert_eq!(choose(&s, Strategy::Speed, 0.5), None);
    }

    #[test]
    fn ties_go_to_the_smaller_size() {
        let c = |m| Candidate {
            memory_mb: m,
            duration_ms: 5.0,
            cost_usd: 1e-7,
            healthy: true,
        };
        let s = vec![c(1024), c(256), c(512)];
        assert_eq!(
            s[choose(&s, Strategy::Balanced, 0.5).unwrap()].memory_mb,
            256
        );
    }
}
