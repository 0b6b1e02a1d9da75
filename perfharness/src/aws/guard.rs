//! Snapshot, restore and verification of the function's configuration, so
//! a run leaves the function exactly as it found it: on success, on error,
//! on SIGINT, SIGTERM and SIGHUP, and on a panic of the harness.
//!
//! Every write carries the RevisionId the harness left (the snapshot's, then
//! that of its own last settled update). A function changed by someone else
//! during the run is reported and left as they made it, never overwritten;
//! the report then names the original configuration (variable names, never
//! values) and the `aws lambda update-function-configuration` command that
//! puts it back. A [`NONCE_VARIABLE`] found in the snapshot was left by an
//! earlier run that was killed: it is not part of the original and the
//! restore removes it.

use std::collections::BTreeMap;
use std::future::Future;

use futures_util::FutureExt;
use serde::{Deserialize, Serialize};

use crate::aws::control::{
    begin_own_update, check_unchanged, concurrent_change, environment_of, expect_revision,
    get_configuration, precondition_to_concurrent, retry_control, wait_until_updated,
};
use crate::aws::session::Session;
use crate::error::{from_sdk, HarnessError};

/// The environment variable whose new value forces new execution
/// environments (set by the cold driver, removed by the restore).
pub const NONCE_VARIABLE: &str = "PERFHARNESS_COLD_NONCE";

/// The parts of the configuration the harness (or `power`) may change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Environment.Variables (empty when none).
    pub environment: BTreeMap<String, String>,
    /// MemorySize, MB.
    pub memory_mb: Option<i32>,
    /// Timeout, s.
    pub timeout_s: Option<i32>,
    /// Description.
    pub description: Option<String>,
    /// RevisionId when the snapshot was taken.
    pub revision_id: Option<String>,
}

impl Snapshot {
    fn of(c: &crate::aws::control::FunctionConfiguration) -> Self {
        Snapshot {
            environment: environment_of(c),
            memory_mb: c.memory_size(),
            timeout_s: c.timeout(),
            description: c.description().map(str::to_string),
            revision_id: c.revision_id().map(str::to_string),
        }
    }

    /// Names of the fields where `other` differs from this snapshot.
    pub fn differences(&self, other: &Snapshot) -> Vec<String> {
        let mut d = Vec::new();
        if self.environment != other.environment {
            d.push("Environment".to_string());
        }
        if self.memory_mb != other.memory_mb {
            d.push("MemorySize".to_string());
        }
        if self.timeout_s != other.timeout_s {
            d.push("Timeout".to_string());
        }
        if self.description.as_deref().unwrap_or("") != other.description.as_deref().unwrap_or("") {
            d.push("Description".to_string());
        }
        d
    }
}

impl Snapshot {
    /// The original configuration for people: sizes and the names of the
    /// variables (values can be secrets and are never shown).
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.environment.keys().map(String::as_str).collect();
        format!(
            "MemorySize {}, Timeout {}, Description {:?}, environment variables {}",
            self.memory_mb.map_or("unset".into(), |m| format!("{m} MB")),
            self.timeout_s.map_or("unset".into(), |t| format!("{t} s")),
            self.description.as_deref().unwrap_or(""),
            if names.is_empty() {
                "(none)".to_string()
            } else {
                names.join(", ")
            },
        )
    }

    /// The command that puts this configuration back on `function`, with a
    /// placeholder for each variable's value.
    pub fn restore_command(&self, function: &str) -> String {
        let mut cmd =
            format!("aws lambda update-function-configuration --function-name {function}");
        if let Some(m) = self.memory_mb {
            cmd.push_str(&format!(" --memory-size {m}"));
        }
        if let Some(t) = self.timeout_s {
            cmd.push_str(&format!(" --timeout {t}"));
        }
        let vars: Vec<String> = self
            .environment
            .keys()
            .map(|k| format!("{k}=<value of {k}>"))
            .collect();
        cmd.push_str(&format!(
            " --environment 'Variables={{{}}}'",
            vars.join(",")
        ));
        cmd
    }
}

/// How the restore went; part of `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreReport {
    /// Fields that had to be put back.
    pub fields_restored: Vec<String>,
    /// True when a final read showed the configuration equal to the snapshot.
    pub verified: bool,
    /// True when someone else changed the function during the run (their
    /// change was kept, nothing was written).
    #[serde(default)]
    pub concurrent_change: bool,
    /// True when the snapshot held a nonce an earlier killed run left.
    #[serde(default)]
    pub leftover_nonce_removed: bool,
    /// One line for people.
    pub message: String,
}

/// Holds the original configuration and puts it back.
#[derive(Debug, Clone)]
pub struct ConfigGuard {
    snapshot: Snapshot,
    leftover_nonce: bool,
}

impl ConfigGuard {
    /// Reads and keeps the current configuration (waiting first for an
    /// update in progress to settle, so the snapshot is a stable one).
    /// A [`NONCE_VARIABLE`] left by an earlier killed run is left out of
    /// the snapshot (and so removed by the restore), and said on stderr.
    pub async fn snapshot(session: &Session) -> Result<ConfigGuard, HarnessError> {
        let mut c = get_configuration(session).await?;
        if c.last_update_status().map(|s| s.as_str()) == Some("InProgress") {
            c = wait_until_updated(session, None).await?;
        }
        expect_revision(session, c.revision_id());
        let mut snapshot = Snapshot::of(&c);
        let leftover_nonce = snapshot.environment.remove(NONCE_VARIABLE).is_some();
        if leftover_nonce {
            eprintln!(
                "warning: {NONCE_VARIABLE} on {} was left by an earlier run that was killed; it is not part of the original configuration and the restore removes it",
                session.function
            );
        }
        Ok(ConfigGuard {
            snapshot,
            leftover_nonce,
        })
    }

    /// The original configuration.
    pub fn original(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Sets the function's environment to the original one changed by
    /// `overrides` (`None` removes a variable) and waits for the update; the
    /// original comes back with [`ConfigGuard::restore`].
    pub async fn apply_environment(
        &self,
        session: &Session,
        overrides: &BTreeMap<String, Option<String>>,
    ) -> Result<(), HarnessError> {
        let mut env = self.snapshot.environment.clone();
        for (k, v) in overrides {
            match v {
                Some(v) => env.insert(k.clone(), v.clone()),
                None => env.remove(k),
            };
        }
        if env == self.snapshot.environment {
            return Ok(());
        }
        let current = get_configuration(session).await?;
        check_unchanged(session, &current)?;
        let before = current.revision_id().map(str::to_string);
        begin_own_update(session);
        retry_control(session, || async {
            session
                .lambda
                .update_function_configuration()
                .function_name(&session.function)
                .environment(
                    aws_sdk_lambda::types::Environment::builder()
                        .set_variables(Some(
                            env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                        ))
                        .build(),
                )
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

    /// What to tell people when the configuration could not be restored:
    /// the original itself and the command that restores it.
    pub fn restore_hint(&self, session: &Session) -> String {
        format!(
            "the original configuration: {}; to restore it: {}",
            self.snapshot.describe(),
            self.snapshot.restore_command(&session.function)
        )
    }

    /// Puts back every field that differs (after any update in progress has
    /// settled), waits for the update, and verifies with a fresh read. A
    /// function someone else changed during the run is left alone and
    /// reported. Never fails: a failure is a report with `verified` false
    /// whose message holds [`ConfigGuard::restore_hint`].
    pub async fn restore(&self, session: &Session) -> Result<RestoreReport, HarnessError> {
        Ok(match self.try_restore(session).await {
            Ok(r) => r,
            Err(e @ HarnessError::ConcurrentChange(_)) => RestoreReport {
                fields_restored: Vec::new(),
                verified: false,
                concurrent_change: true,
                leftover_nonce_removed: false,
                message: format!(
                    "configuration NOT restored: {e}; their change is kept. If it should not be, {}",
                    self.restore_hint(session)
                ),
            },
            Err(e) => RestoreReport {
                fields_restored: Vec::new(),
                verified: false,
                concurrent_change: false,
                leftover_nonce_removed: false,
                message: format!(
                    "configuration NOT restored: {e}; {}",
                    self.restore_hint(session)
                ),
            },
        })
    }

    async fn try_restore(&self, session: &Session) -> Result<RestoreReport, HarnessError> {
        let mut current = get_configuration(session).await?;
        if current.last_update_status().map(|s| s.as_str()) == Some("InProgress") {
            current = wait_until_updated(session, None).await?;
        }
        check_unchanged(session, &current)?;
        let diff = self.snapshot.differences(&Snapshot::of(&current));
        if !diff.is_empty() {
            let s = &self.snapshot;
            let before = current.revision_id().map(str::to_string);
            begin_own_update(session);
            retry_control(session, || async {
                let mut req = session
                    .lambda
                    .update_function_configuration()
                    .function_name(&session.function);
                if diff.iter().any(|f| f == "Environment") {
                    req = req.environment(
                        aws_sdk_lambda::types::Environment::builder()
                            .set_variables(Some(
                                s.environment
                                    .iter()
                                    .map(|(k, v)| (k.clone(), v.clone()))
                                    .collect(),
                            ))
                            .build(),
                    );
                }
                if diff.iter().any(|f| f == "MemorySize") {
                    req = req.set_memory_size(s.memory_mb);
                }
                if diff.iter().any(|f| f == "Timeout") {
                    req = req.set_timeout(s.timeout_s);
                }
                if diff.iter().any(|f| f == "Description") {
                    req = req.description(s.description.clone().unwrap_or_default());
                }
                req.set_revision_id(before.clone())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| from_sdk("UpdateFunctionConfiguration", e))
            })
            .await
            .map_err(|e| match precondition_to_concurrent(session, e) {
                HarnessError::ConcurrentChange(_) => concurrent_change(session, None),
                e => e,
            })?;
            wait_until_updated(session, before.as_deref()).await?;
        }
        let after = Snapshot::of(&get_configuration(session).await?);
        let left = self.snapshot.differences(&after);
        let verified = left.is_empty();
        let mut message = if !verified {
            format!(
                "configuration NOT restored: {} still differ from the original; {}",
                left.join(", "),
                self.restore_hint(session)
            )
        } else if diff.is_empty() {
            "configuration unchanged (verified)".to_string()
        } else {
            format!("configuration restored and verified ({})", diff.join(", "))
        };
        if self.leftover_nonce && verified {
            message.push_str(&format!(
                "; removed {NONCE_VARIABLE} left by an earlier killed run"
            ));
        }
        Ok(RestoreReport {
            fields_restored: diff,
            verified,
            concurrent_change: false,
            leftover_nonce_removed: self.leftover_nonce && verified,
            message,
        })
    }
}

/// How a guarded piece of work ended.
#[derive(Debug)]
pub struct Guarded<T> {
    /// The work's result: `Err(HarnessError::Interrupted)` after a signal,
    /// `Err(HarnessError::Panicked)` when the work panicked.
    pub result: Result<T, HarnessError>,
    /// The restore outcome.
    pub restore: Result<RestoreReport, HarnessError>,
}

/// Runs `work` and then restores the configuration, whether the work
/// succeeded, failed, panicked, or `interrupt` resolved first (pass
/// [`interrupted`]); the work future is dropped on interrupt, so collect
/// its samples outside it (see [`crate::measure::recorder::Recorder`]).
pub async fn run_guarded<T, W, I>(
    session: &Session,
    guard: &ConfigGuard,
    work: W,
    interrupt: I,
) -> Guarded<T>
where
    W: Future<Output = Result<T, HarnessError>>,
    I: Future<Output = ()>,
{
    let work = std::panic::AssertUnwindSafe(work).catch_unwind();
    let result = tokio::select! {
        r = work => r.unwrap_or_else(|panic| Err(HarnessError::Panicked(panic_message(&*panic)))),
        _ = interrupt => Err(HarnessError::Interrupted),
    };
    let restore = guard.restore(session).await;
    Guarded { result, restore }
}

/// The message of a panic payload.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// A future that resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM (CI
/// runners, `timeout`, `kill`) or SIGHUP (a closed terminal or SSH
/// session); never, if no handler can be set.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let one = |kind: SignalKind| async move {
            match signal(kind) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = one(SignalKind::interrupt()) => {}
            _ = one(SignalKind::terminate()) => {}
            _ = one(SignalKind::hangup()) => {}
        }
    }
    #[cfg(not(unix))]
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
