//! Snapshot, restore and verification of the function's configuration, so
//! a run leaves the function exactly as it found it: on success, on error
//! and on Ctrl-C.

use std::collections::BTreeMap;
use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::driver::{environment_of, get_configuration, retry_control, wait_until_updated};
use crate::error::{from_sdk, HarnessError};
use crate::session::Session;

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
    fn of(c: &crate::driver::FunctionConfiguration) -> Self {
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

/// How the restore went; part of `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreReport {
    /// Fields that had to be put back.
    pub fields_restored: Vec<String>,
    /// True when a final read showed the configuration equal to the snapshot.
    pub verified: bool,
    /// One line for people.
    pub message: String,
}

/// Holds the original configuration and puts it back.
#[derive(Debug, Clone)]
pub struct ConfigGuard {
    snapshot: Snapshot,
}

impl ConfigGuard {
    /// Reads and keeps the current configuration (waiting first for an
    /// update in progress to settle, so the snapshot is a stable one).
    pub async fn snapshot(session: &Session) -> Result<ConfigGuard, HarnessError> {
        let mut c = get_configuration(session).await?;
        if c.last_update_status().map(|s| s.as_str()) == Some("InProgress") {
            c = wait_until_updated(session, None).await?;
        }
        Ok(ConfigGuard {
            snapshot: Snapshot::of(&c),
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
        let before = get_configuration(session)
            .await?
            .revision_id()
            .map(str::to_string);
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
                .send()
                .await
                .map(|_| ())
                .map_err(|e| from_sdk("UpdateFunctionConfiguration", e))
        })
        .await?;
        wait_until_updated(session, before.as_deref()).await?;
        Ok(())
    }

    /// Puts back every field that differs (after any update in progress has
    /// settled), waits for the update, and verifies with a fresh read.
    pub async fn restore(&self, session: &Session) -> Result<RestoreReport, HarnessError> {
        let mut current = get_configuration(session).await?;
        if current.last_update_status().map(|s| s.as_str()) == Some("InProgress") {
            current = wait_until_updated(session, None).await?;
        }
        let diff = self.snapshot.differences(&Snapshot::of(&current));
        if !diff.is_empty() {
            let s = &self.snapshot;
            let before = current.revision_id().map(str::to_string);
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
                req.send()
                    .await
                    .map(|_| ())
                    .map_err(|e| from_sdk("UpdateFunctionConfiguration", e))
            })
            .await?;
            wait_until_updated(session, before.as_deref()).await?;
        }
        let after = Snapshot::of(&get_configuration(session).await?);
        let left = self.snapshot.differences(&after);
        let verified = left.is_empty();
        let message = if !verified {
            format!(
                "configuration NOT restored: {} still differ from the original",
                left.join(", ")
            )
        } else if diff.is_empty() {
            "configuration unchanged (verified)".to_string()
        } else {
            format!("configuration restored and verified ({})", diff.join(", "))
        };
        Ok(RestoreReport {
            fields_restored: diff,
            verified,
            message,
        })
    }
}

/// How a guarded piece of work ended.
#[derive(Debug)]
pub struct Guarded<T> {
    /// The work's result; `Err(HarnessError::Interrupted)` when interrupted.
    pub result: Result<T, HarnessError>,
    /// The restore outcome (an error when the restore itself failed).
    pub restore: Result<RestoreReport, HarnessError>,
}

/// Runs `work` and then restores the configuration, whether the work
/// succeeded, failed, or `interrupt` resolved first (Ctrl-C: pass
/// `tokio::signal::ctrl_c()`); the work future is dropped on interrupt, so
/// collect its samples outside it (see [`crate::recorder::Recorder`]).
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
    let result = tokio::select! {
        r = work => r,
        _ = interrupt => Err(HarnessError::Interrupted),
    };
    let restore = guard.restore(session).await;
    Guarded { result, restore }
}

/// A future that resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM (what CI
/// runners and `kill` send); never, if no handler can be set.
pub async fn ctrl_c() {
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    let int = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = int => {}
        _ = term => {}
    }
}
