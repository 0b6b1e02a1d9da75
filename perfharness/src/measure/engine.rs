//! Runs a load model: dispatches invocations on the open timetable or from
//! closed-model workers, records each one's timing, and stops cleanly on the
//! duration, the count, or a stop signal (Ctrl-C).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::schedule::{ClosedPlan, OpenSchedule, StopReason};
use super::series::{LoadSample, Outcome};

/// What an invoker reports about one invocation; timing is recorded by the
/// engine around it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// Request id from the service.
    pub request_id: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Whether REPORT carried Init Duration.
    pub cold: bool,
    /// Lambda Duration, ms.
    pub duration_ms: Option<f64>,
    /// Lambda Init Duration, ms.
    pub init_ms: Option<f64>,
    /// Lambda Billed Duration, ms.
    pub billed_ms: Option<f64>,
}

/// The load model to run.
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    /// Invocations at a rate, on a timetable that ignores answers.
    Open(OpenSchedule),
    /// Workers invoking back to back.
    Closed(ClosedPlan),
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// Every completed invocation, ordered by scheduled time.
    pub samples: Vec<LoadSample>,
    /// Why it stopped.
    pub stop: StopReason,
    /// Invocations still in flight after the grace period that were
    /// abandoned (only after a stop signal).
    pub abandoned: u64,
    /// Wall time of the run, s.
    pub elapsed_s: f64,
}

/// How long in-flight invocations may finish after a stop signal before they
/// are abandoned.
pub const STOP_GRACE: Duration = Duration::from_secs(30);

fn ms_since(start: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(start).as_secs_f64() * 1000.0
}

fn record(
    samples: &Mutex<Vec<LoadSample>>,
    start: Instant,
    scheduled: Instant,
    sent: Instant,
    inv: Invocation,
) {
    let done = Instant::now();
    let s = LoadSample {
        scheduled_ms: ms_since(start, scheduled),
        sent_ms: ms_since(start, sent),
        done_ms: ms_since(start, done),
        request_id: inv.request_id,
        outcome: inv.outcome,
        cold: inv.cold,
        duration_ms: inv.duration_ms,
        init_ms: inv.init_ms,
        billed_ms: inv.billed_ms,
    };
    samples.lock().unwrap_or_else(|e| e.into_inner()).push(s);
}

/// Resolves when the stop flag becomes true (or its sender is gone, which
/// means nobody can stop the run any more: wait forever).
async fn stopped(mut rx: watch::Receiver<bool>) {
    if rx.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs `model`, calling `invoke(i)` for the i-th invocation, with at most
/// `max_in_flight` outstanding (an open-model invocation that has to wait for
/// a slot keeps its scheduled start, so the wait shows in its latency).
pub async fn run<F, Fut>(
    model: &Model,
    max_in_flight: usize,
    stop: watch::Receiver<bool>,
    invoke: F,
) -> RunOutcome
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Invocation> + Send + 'static,
{
    let invoke = Arc::new(invoke);
    let samples = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    let mut reason = match model {
        Model::Open(schedule) => {
            let slots = Arc::new(Semaphore::new(max_in_flight.max(1)));
            let mut reason = StopReason::Duration;
            let mut i = 0u64;
            loop {
                let Some(offset) = schedule.offset(i) else {
                    if i >= schedule.max_count {
                        reason = StopReason::MaxCount;
                    }
                    break;
                };
                let due = start + offset;
                let permit = tokio::select! {
                    biased;
                    _ = stopped(stop.clone()) => { reason = StopReason::Interrupted; break; }
                    permit = async {
                        tokio::time::sleep_until(due).await;
                        slots.clone().acquire_owned().await
                    } => permit.expect("the semaphore is never closed"),
                };
                let (invoke, samples) = (invoke.clone(), samples.clone());
                tasks.spawn(async move {
                    let sent = Instant::now();
                    let inv = invoke(i).await;
                    record(&samples, start, due, sent, inv);
                    drop(permit);
                });
                i += 1;
            }
            reason
        }
        Model::Closed(plan) => {
            let next = Arc::new(AtomicU64::new(0));
            let deadline = start + plan.duration;
            for k in 0..plan.concurrency.max(1) {
                let (invoke, samples, next) = (invoke.clone(), samples.clone(), next.clone());
                let begin = start + plan.worker_start(k);
                let stop = stop.clone();
                let max = plan.max_count;
                tasks.spawn(async move {
                    tokio::select! {
                        _ = stopped(stop.clone()) => return,
                        _ = tokio::time::sleep_until(begin) => {}
                    }
                    loop {
                        if *stop.borrow() || Instant::now() >= deadline {
                            return;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= max {
                            return;
                        }
                        let sent = Instant::now();
                        let inv = invoke(i).await;
                        record(&samples, start, sent, sent, inv);
                    }
                });
            }
            StopReason::Duration
        }
    };
    // Let in-flight invocations finish; after a stop signal, only for a
    // bounded grace period.
    let mut abandoned = 0u64;
    let interrupted = async {
        stopped(stop.clone()).await;
        tokio::time::sleep(STOP_GRACE).await;
    };
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            joined = tasks.join_next() => if joined.is_none() { break },
            _ = &mut interrupted => {
                abandoned = tasks.len() as u64;
                tasks.abort_all();
                reason = StopReason::Interrupted;
                break;
            }
        }
    }
    let elapsed_s = start.elapsed().as_secs_f64();
    if let Model::Closed(plan) = model {
        if *stop.borrow() {
            reason = StopReason::Interrupted;
        } else if reason != StopReason::Interrupted {
            let n = samples.lock().unwrap_or_else(|e| e.into_inner()).len() as u64;
            if n >= plan.max_count {
                reason = StopReason::MaxCount;
            }
        }
    } else if *stop.borrow() {
        reason = StopReason::Interrupted;
    }
    let mut samples = std::mem::take(&mut *samples.lock().unwrap_or_else(|e| e.into_inner()));
    samples.sort_by(|a, b| a.scheduled_ms.total_cmp(&b.scheduled_ms));
    RunOutcome {
        samples,
        stop: reason,
        abandoned,
        elapsed_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::series::peak_in_flight;

    fn ok(i: u64) -> Invocation {
        Invocation {
            request_id: Some(format!("req-{i}")),
            outcome: Outcome::Ok,
            cold: i == 0,
            duration_ms: Some(1.0),
            init_ms: None,
            billed_ms: Some(1.0),
        }
    }

    fn open(rate: f64, secs: u64, max: u64) -> Model {
        Model::Open(OpenSchedule {
            rate,
            ramp: Duration::ZERO,
            duration: Duration::from_secs(secs),
            max_count: max,
        })
    }

    #[tokio::test]
    async fn open_model_stops_at_the_count() {
        let (_tx, rx) = watch::channel(false);
        let out = run(&open(2000.0, 60, 25), 100, rx, |i| async move { ok(i) }).await;
        assert_eq!(out.samples.len(), 25);
        assert_eq!(out.stop, StopReason::MaxCount);
        let mut ids: Vec<_> = out
            .samples
            .iter()
            .map(|s| s.request_id.clone().unwrap())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 25);
        assert!(out
            .samples
            .iter()
            .all(|s| s.done_ms >= s.sent_ms && s.sent_ms >= s.scheduled_ms));
    }

    #[tokio::test]
    async fn open_model_stops_at_the_duration() {
        let (_tx, rx) = watch::channel(false);
        let out = run(&open(50.0, 1, u64::MAX), 100, rx, |i| async move { ok(i) }).await;
        assert_eq!(out.samples.len(), 50);
        assert_eq!(out.stop, StopReason::Duration);
    }

    #[tokio::test]
    async fn queueing_behind_a_full_slot_counts_in_latency() {
        // One slot, 20 ms per call, due every 1 ms: call k cannot leave
        // before k·20 ms, so its latency from the schedule is at least
        // k·20 − k ms even though each call itself takes ~20 ms.
        let (_tx, rx) = watch::channel(false);
        let out = run(&open(1000.0, 60, 6), 1, rx, |i| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            ok(i)
        })
        .await;
        assert_eq!(out.samples.len(), 6);
        let last = &out.samples[5];
        assert!(
            last.latency_ms() >= 5.0 * 19.0,
            "latency {}",
            last.latency_ms()
        );
        assert!(last.latency_ms() > last.service_ms() + 50.0);
        assert_eq!(peak_in_flight(&out.samples), 1);
    }

    #[tokio::test]
    async fn closed_model_keeps_c_in_flight_and_stops_at_the_count() {
        let (_tx, rx) = watch::channel(false);
        let model = Model::Closed(ClosedPlan {
            concurrency: 3,
            ramp: Duration::ZERO,
            duration: Duration::from_secs(60),
            max_count: 30,
        });
        let out = run(&model, 100, rx, |i| async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            ok(i)
        })
        .await;
        assert_eq!(out.samples.len(), 30);
        assert_eq!(out.stop, StopReason::MaxCount);
        assert!(peak_in_flight(&out.samples) <= 3);
        // Closed-model latency is the round trip: nothing was scheduled ahead.
        assert!(out.samples.iter().all(|s| s.scheduled_ms == s.sent_ms));
    }

    #[tokio::test]
    async fn a_stop_signal_ends_the_run_with_what_ran() {
        let (tx, rx) = watch::channel(false);
        let tx = Arc::new(tx);
        let trigger = tx.clone();
        let out = run(&open(500.0, 60, u64::MAX), 100, rx, move |i| {
            let trigger = trigger.clone();
            async move {
                if i == 10 {
                    let _ = trigger.send(true);
                }
                ok(i)
            }
        })
        .await;
        assert_eq!(out.stop, StopReason::Interrupted);
        assert!(
            out.samples.len() >= 11 && out.samples.len() < 100,
            "{}",
            out.samples.len()
        );
        assert_eq!(out.abandoned, 0);
    }

    #[tokio::test]
    async fn outcomes_are_kept() {
        let (_tx, rx) = watch::channel(false);
        let out = run(&open(1000.0, 60, 4), 10, rx, |i| async move {
            let mut inv = ok(i);
            if i % 2 == 1 {
                inv.outcome = Outcome::Throttled;
            }
            inv
        })
        .await;
        let throttled = out
            .samples
            .iter()
            .filter(|s| s.outcome == Outcome::Throttled)
            .count();
        assert_eq!(throttled, 2);
    }
}
