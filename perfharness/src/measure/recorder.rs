//! Collects samples as they are taken (so an interrupted run still reports
//! what ran), and the one progress bar every long-running command shows:
//! drawn on stderr only when it is a terminal, so CI logs stay clean.

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};

use crate::sample::Sample;

/// A progress bar on stderr (`prefix [=====>   ] pos/len message`), shown
/// only when stderr is a terminal; otherwise every method does nothing.
/// Clones draw the same bar, which is cleared when the last one is dropped.
#[derive(Debug, Clone)]
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar of `len` steps labelled `prefix`.
    pub fn new(prefix: &str, len: u64) -> Self {
        let bar = console::Term::stderr().is_term().then(|| {
            // Cleared when the last clone is dropped too (a run cut short
            // by a signal drops it mid-phase).
            let b = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
                .with_finish(ProgressFinish::AndClear);
            b.set_style(
                ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b.set_prefix(prefix.to_string());
            b
        });
        Progress(bar)
    }

    /// No bar at all.
    pub fn hidden() -> Self {
        Progress(None)
    }

    /// Starts a new phase: a new label and length, back at 0.
    pub fn phase(&self, prefix: &str, len: u64) {
        if let Some(b) = &self.0 {
            b.set_prefix(prefix.to_string());
            b.set_length(len);
            b.set_position(0);
        }
    }

    /// Advances by `n` steps.
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }

    /// Moves to step `pos`.
    pub fn set_position(&self, pos: u64) {
        if let Some(b) = &self.0 {
            b.set_position(pos);
        }
    }

    /// A short status after the counter ("waiting for update").
    pub fn message(&self, msg: &str) {
        if let Some(b) = &self.0 {
            b.set_message(msg.to_string());
        }
    }

    /// Prints `line` on stderr above the bar (plainly when there is none).
    pub fn println(&self, line: &str) {
        match &self.0 {
            Some(b) => b.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// Thread-safe sample collector with an optional progress bar.
#[derive(Debug)]
pub struct Recorder {
    samples: Mutex<Vec<Sample>>,
    bar: Progress,
}

impl Recorder {
    /// A recorder; `progress` asks for a bar, which appears only when
    /// stderr is a terminal.
    pub fn new(progress: bool) -> Self {
        Recorder {
            samples: Mutex::new(Vec::new()),
            bar: if progress {
                Progress::new("", 0)
            } else {
                Progress::hidden()
            },
        }
    }

    /// Starts a phase of `len` samples on the progress bar.
    pub fn phase(&self, name: &str, len: usize) {
        self.bar.phase(name, len as u64);
    }

    /// Shows a short status message (e.g. "waiting for update").
    pub fn message(&self, msg: &str) {
        self.bar.message(msg);
    }

    /// Records a sample.
    pub fn push(&self, sample: Sample) {
        self.bar.inc(1);
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(sample);
    }

    /// The samples so far.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the samples (after REPORTs were filled in from Logs).
    pub fn replace(&self, samples: Vec<Sample>) {
        *self.samples.lock().unwrap_or_else(|p| p.into_inner()) = samples;
    }

    /// Removes the progress bar.
    pub fn finish(&self) {
        self.bar.finish();
    }
}
