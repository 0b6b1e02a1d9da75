//! What each invocation of a load run did, and the per-second time series
//! built from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analysis::stats::percentile;

/// How one invocation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "type", rename_all = "snake_case")]
pub enum Outcome {
    /// HTTP 200 without `X-Amz-Function-Error`.
    Ok,
    /// Rejected with 429 `TooManyRequestsException`.
    Throttled,
    /// The function failed (`X-Amz-Function-Error`); the payload's `errorType`.
    FunctionError(String),
    /// The call failed before the function answered (other service errors,
    /// connection failures); the error's code.
    ClientError(String),
}

impl Outcome {
    /// The label under which this outcome is counted as an error, or `None`
    /// for a success. Throttles are counted apart from errors.
    pub fn error_label(&self) -> Option<&str> {
        match self {
            Outcome::FunctionError(t) | Outcome::ClientError(t) => Some(t),
            Outcome::Ok | Outcome::Throttled => None,
        }
    }
}

/// One invocation of a load run. Offsets are milliseconds from the run's
/// start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSample {
    /// When the invocation was due (open model) or started (closed model).
    pub scheduled_ms: f64,
    /// When the request actually left; later than `scheduled_ms` when the
    /// harness fell behind.
    pub sent_ms: f64,
    /// When the answer arrived.
    pub done_ms: f64,
    /// The invocation's request id, when the service gave one.
    pub request_id: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Whether its REPORT carried an Init Duration.
    pub cold: bool,
    /// Lambda's Duration, from its REPORT, when found.
    pub duration_ms: Option<f64>,
    /// Lambda's Init Duration, on cold starts.
    pub init_ms: Option<f64>,
    /// Lambda's Billed Duration, when found.
    pub billed_ms: Option<f64>,
}

impl LoadSample {
    /// Client latency measured from the scheduled start, so time spent
    /// waiting behind a slow harness or a saturated service counts
    /// (no coordinated omission).
    pub fn latency_ms(&self) -> f64 {
        (self.done_ms - self.scheduled_ms).max(0.0)
    }

    /// Round trip of the request alone, from the moment it left.
    pub fn service_ms(&self) -> f64 {
        (self.done_ms - self.sent_ms).max(0.0)
    }
}

/// One second of a load run, counted by completion time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecondStats {
    /// Seconds since the run's start (this bucket covers `[second, second+1)`).
    pub second: u64,
    /// Invocations due in this second (the offered load).
    pub offered: u64,
    /// Invocations that completed in this second, whatever their outcome.
    pub completed: u64,
    /// Successful completions in this second (the achieved throughput).
    pub ok: u64,
    /// Median client latency of the completions, ms.
    pub latency_p50_ms: Option<f64>,
    /// 99th percentile client latency of the completions, ms.
    pub latency_p99_ms: Option<f64>,
    /// Throttled completions.
    pub throttles: u64,
    /// Failed completions by error type.
    pub errors: BTreeMap<String, u64>,
    /// Completions that were cold starts.
    pub cold_starts: u64,
    /// The most invocations in flight at any instant in this second.
    pub max_in_flight: u64,
}

/// The highest number of invocations in flight at once over the whole run.
pub fn peak_in_flight(samples: &[LoadSample]) -> u64 {
    per_second(samples)
        .iter()
        .map(|s| s.max_in_flight)
        .max()
        .unwrap_or(0)
}

/// Builds the per-second time series: one entry per second from 0 to the
/// last completion, empty seconds included so a chart shows stalls.
pub fn per_second(samples: &[LoadSample]) -> Vec<SecondStats> {
    let bucket = |ms: f64| (ms.max(0.0) / 1000.0).floor() as u64;
    let last = samples
        .iter()
        .map(|s| bucket(s.done_ms).max(bucket(s.scheduled_ms)))
        .max();
    let Some(last) = last else {
        return Vec::new();
    };
    let mut out: Vec<SecondStats> = (0..=last)
        .map(|second| SecondStats {
            second,
            offered: 0,
            completed: 0,
            ok: 0,
            latency_p50_ms: None,
            latency_p99_ms: None,
            throttles: 0,
            errors: BTreeMap::new(),
            cold_starts: 0,
            max_in_flight: 0,
        })
        .collect();
    let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); out.len()];
    for s in samples {
        out[bucket(s.scheduled_ms) as usize].offered += 1;
        let b = bucket(s.done_ms) as usize;
        let e = &mut out[b];
        e.completed += 1;
        match &s.outcome {
            Outcome::Ok => e.ok += 1,
            Outcome::Throttled => e.throttles += 1,
            Outcome::FunctionError(t) | Outcome::ClientError(t) => {
                *e.errors.entry(t.clone()).or_default() += 1
            }
        }
        if s.cold {
            e.cold_starts += 1;
        }
        latencies[b].push(s.latency_ms());
    }
    for (e, mut l) in out.iter_mut().zip(latencies) {
        l.sort_by(f64::total_cmp);
        e.latency_p50_ms = percentile(&l, 0.50);
        e.latency_p99_ms = percentile(&l, 0.99);
    }
    // Sweep the in-flight intervals [sent, done). Ends sort before starts at
    // the same instant so back-to-back calls of one worker count once.
    let mut events: Vec<(f64, i64)> = samples
        .iter()
        .flat_map(|s| [(s.sent_ms, 1), (s.done_ms.max(s.sent_ms), -1)])
        .collect();
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut level: i64 = 0;
    let mut current = 0usize;
    for (t, delta) in events {
        let b = (bucket(t) as usize).min(out.len() - 1);
        // The level carried into seconds without events is still in flight.
        while current < b {
            current += 1;
            let e = &mut out[current];
            e.max_in_flight = e.max_in_flight.max(level as u64);
        }
        level += delta;
        let e = &mut out[b];
        e.max_in_flight = e.max_in_flight.max(level.max(0) as u64);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(sched: f64, sent: f64, done: f64, outcome: Outcome, cold: bool) -> LoadSample {
        LoadSample {
            scheduled_ms: sched,
            sent_ms: sent,
            done_ms: done,
            request_id: None,
            outcome,
            cold,
            duration_ms: None,
            init_ms: None,
            billed_ms: None,
        }
    }

    #[test]
    fn latency_counts_from_the_schedule() {
        let s = sample(100.0, 350.0, 400.0, Outcome::Ok, false);
        assert_eq!(s.latency_ms(), 300.0);
        assert_eq!(s.service_ms(), 50.0);
    }

    #[test]
    fn buckets_by_completion_with_outcomes() {
        let samples = vec![
            sample(0.0, 0.0, 10.0, Outcome::Ok, true),
            sample(100.0, 100.0, 120.0, Outcome::Throttled, false),
            sample(
                900.0,
                900.0,
                1100.0,
                Outcome::FunctionError("Sandbox.Timedout".into()),
                false,
            ),
            sample(
                1500.0,
                1500.0,
                1510.0,
                Outcome::ClientError("dispatch".into()),
                false,
            ),
            sample(3200.0, 3200.0, 3210.0, Outcome::Ok, false),
        ];
        let ts = per_second(&samples);
        assert_eq!(ts.len(), 4);
        assert_eq!(ts[0].offered, 3);
        assert_eq!(ts[0].completed, 2);
        assert_eq!(ts[0].ok, 1);
        assert_eq!(ts[0].throttles, 1);
        assert_eq!(ts[0].cold_starts, 1);
        assert_eq!(ts[1].completed, 2);
        assert_eq!(ts[1].errors.get("Sandbox.Timedout"), Some(&1));
        assert_eq!(ts[1].errors.get("dispatch"), Some(&1));
        // An empty second is kept so a stall shows.
        assert_eq!(ts[2].completed, 0);
        assert_eq!(ts[2].latency_p50_ms, None);
        assert_eq!(ts[3].ok, 1);
        assert_eq!(ts[1].latency_p99_ms, Some(200.0));
    }

    #[test]
    fn in_flight_peaks_and_carries_across_seconds() {
        let samples = vec![
            sample(0.0, 0.0, 2500.0, Outcome::Ok, false),
            sample(0.0, 100.0, 200.0, Outcome::Ok, false),
            sample(0.0, 150.0, 300.0, Outcome::Ok, false),
            // Back to back with the previous one: not overlapping.
            sample(0.0, 300.0, 400.0, Outcome::Ok, false),
        ];
        let ts = per_second(&samples);
        assert_eq!(ts[0].max_in_flight, 3);
        // Second 1 has no event but one call is still in flight.
        assert_eq!(ts[1].max_in_flight, 1);
        assert_eq!(ts[2].max_in_flight, 1);
        assert_eq!(peak_in_flight(&samples), 3);
    }

    #[test]
    fn empty_run_has_no_series() {
        assert!(per_second(&[]).is_empty());
        assert_eq!(peak_in_flight(&[]), 0);
    }

    #[test]
    fn outcome_serializes_with_stable_names() {
        let j = serde_json::to_string(&Outcome::FunctionError("X".into())).unwrap();
        assert_eq!(j, r#"{"kind":"function_error","type":"X"}"#);
        assert_eq!(
            serde_json::to_string(&Outcome::Ok).unwrap(),
            r#"{"kind":"ok"}"#
        );
    }
}
