//! Collects samples as they are taken (so an interrupted run still reports
//! what ran) and drives the progress bar, shown only on a terminal.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::sample::Sample;

/// Thread-safe sample collector with an optional progress bar.
#[derive(Debug)]
pub struct Recorder {
    samples: Mutex<Vec<Sample>>,
    bar: Option<ProgressBar>,
}

impl Recorder {
    /// A recorder; `progress` asks for a bar, which appears only when
    /// stderr is a terminal.
    pub fn new(progress: bool) -> Self {
        let bar = (progress && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b
        });
        Recorder {
            samples: Mutex::new(Vec::new()),
            bar,
        }
    }

    /// Starts a phase of `len` samples on the progress bar.
    pub fn phase(&self, name: &str, len: usize) {
        if let Some(b) = &self.bar {
            b.set_prefix(name.to_string());
            b.set_length(len as u64);
            b.set_position(0);
        }
    }

    /// Shows a short status message (e.g. "waiting for update").
    pub fn message(&self, msg: &str) {
        if let Some(b) = &self.bar {
            b.set_message(msg.to_string());
        }
    }

    /// Records a sample.
    pub fn push(&self, sample: Sample) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
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
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
