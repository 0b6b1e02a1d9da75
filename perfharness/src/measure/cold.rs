//! Forced cold starts: a nonce environment variable (every other variable
//! kept), a poll until the update has settled, an invoke, and a check of
//! its REPORT for Init Duration, re-forcing when the invoke was warm.

use std::time::Instant;

use crate::aws::control::{
    check_unchanged, get_configuration, update_environment, wait_until_updated,
};
use crate::aws::session::Session;
use crate::error::HarnessError;
use crate::measure::recorder::Recorder;
use crate::measure::warm::{invoke_sample, Invoked, SampleOptions};
use crate::options::LogSource;
use crate::platform::MalformedLine;
use crate::sample::Phase;

pub use crate::aws::guard::NONCE_VARIABLE;

/// What a forced update did.
#[derive(Debug, Clone)]
pub struct ForcedUpdate {
    /// RevisionId before the update.
    pub revision_before: Option<String>,
    /// RevisionId once Active/Successful.
    pub revision_after: Option<String>,
    /// Time from the update call to a settled configuration, ms.
    pub settle_ms: f64,
}

/// Forces the next invoke to start a new execution environment: sets
/// [`NONCE_VARIABLE`] to a fresh value keeping every other variable, then
/// polls until State=Active, LastUpdateStatus=Successful and the RevisionId
/// changed. The update carries the RevisionId the harness left, so a change
/// by someone else during the run stops it with
/// [`HarnessError::ConcurrentChange`] instead of being overwritten.
pub async fn force_cold_start(session: &Session) -> Result<ForcedUpdate, HarnessError> {
    let start = Instant::now();
    let mut current = get_configuration(session).await?;
    if current.last_update_status().map(|s| s.as_str()) == Some("InProgress") {
        // Someone else's update: the check below reports it once settled.
        current = wait_until_updated(session, None).await?;
    }
    check_unchanged(session, &current)?;
    let mut vars = crate::aws::control::environment_of(&current);
    vars.insert(
        NONCE_VARIABLE.to_string(),
        format!(
            "{}-{:016x}",
            chrono::Utc::now().timestamp_millis(),
            fastrand::u64(..)
        ),
    );
    let before = current.revision_id().map(str::to_string);
    update_environment(session, &vars, before.as_deref()).await?;
    let settled = wait_until_updated(session, before.as_deref()).await?;
    Ok(ForcedUpdate {
        revision_before: before,
        revision_after: settled.revision_id().map(str::to_string),
        settle_ms: start.elapsed().as_secs_f64() * 1000.0,
    })
}

/// Takes one verified cold sample: force, invoke, check Init Duration;
/// when the invoke was warm anyway, force again, up to `max_reforce` extra
/// times. The sample's `force_attempts` says how many forces it took; a
/// sample still warm after the limit is returned unverified (`cold` false).
pub async fn sample_cold(
    session: &Session,
    opts: &SampleOptions,
    index: usize,
    max_reforce: u32,
    rec: Option<&Recorder>,
) -> Result<Invoked, HarnessError> {
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        if let Some(r) = rec {
            r.message(&format!("forcing a cold start (attempt {attempts})"));
        }
        force_cold_start(session).await?;
        if let Some(r) = rec {
            r.message("invoking");
        }
        let mut inv = invoke_sample(session, opts, Phase::Cold, index).await?;
        if opts.log_source == LogSource::Logs
            && inv.sample.report_source.is_none()
            && inv.sample.request_id.is_some()
        {
            // Without a tail the REPORT must come from Logs before the
            // sample can be confirmed cold.
            let since = inv.sample.started_at.timestamp_millis();
            let out = crate::aws::logs::fill_from_logs(
                session,
                &opts.log_group,
                std::slice::from_mut(&mut inv.sample),
                since,
                opts.logs_timeout,
                false,
            )
            .await?;
            inv.malformed.extend(out.malformed);
        }
        inv.sample.force_attempts = attempts;
        let s = &inv.sample;
        // Re-force only a successful invoke that proved warm; an error or a
        // missing REPORT would not be fixed by forcing again.
        let warm_success = s.report_source.is_some() && !s.cold && !s.is_error();
        if !warm_success || attempts > max_reforce {
            return Ok(inv);
        }
        tracing::info!(
            index,
            attempts,
            "invoke after a forced update was warm; forcing again"
        );
    }
}

/// Takes `count` cold samples, recording each.
pub async fn run_cold(
    session: &Session,
    opts: &SampleOptions,
    count: usize,
    max_reforce: u32,
    rec: &Recorder,
    malformed: &std::sync::Mutex<Vec<MalformedLine>>,
) -> Result<(), HarnessError> {
    rec.phase("cold", count);
    for i in 0..count {
        let inv = sample_cold(session, opts, i, max_reforce, Some(rec)).await?;
        malformed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(inv.malformed);
        rec.push(inv.sample);
    }
    rec.message("");
    Ok(())
}
