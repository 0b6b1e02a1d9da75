//! Lambda on-demand prices and the cost estimate per 1,000 invocations.
//!
//! Defaults are AWS's published us-east-1 prices (Tier 1): x86_64
//! $0.0000166667 and arm64 $0.0000133334 per GB-second, $0.20 per million
//! requests. Other regions and tiers differ: override them with
//! `--prices FILE`, a TOML file such as
//!
//! ```toml
//! [x86_64]
//! gb_second = 0.0000166667
//! request_per_million = 0.20
//! [arm64]
//! gb_second = 0.0000133334
//! request_per_million = 0.20
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::HarnessError;

/// Price of one architecture.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// USD per GB-second of billed duration.
    pub gb_second: f64,
    /// USD per million requests.
    pub request_per_million: f64,
}

/// Prices by architecture (`x86_64`, `arm64`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceTable(pub BTreeMap<String, Price>);

impl Default for PriceTable {
    fn default() -> Self {
        let mut m = BTreeMap::new();
        m.insert(
            "x86_64".to_string(),
            Price {
                gb_second: 0.0000166667,
                request_per_million: 0.20,
            },
        );
        m.insert(
            "arm64".to_string(),
            Price {
                gb_second: 0.0000133334,
                request_per_million: 0.20,
            },
        );
        PriceTable(m)
    }
}

impl PriceTable {
    /// The defaults, changed by the overrides file when one is given.
    pub fn from_option(path: Option<&Path>) -> Result<Self, HarnessError> {
        match path {
            Some(p) => Self::load(p),
            None => Ok(Self::default()),
        }
    }

    /// Loads overrides from a TOML file on top of the defaults.
    pub fn load(path: &Path) -> Result<Self, HarnessError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            HarnessError::Usage(format!("cannot read prices file {}: {e}", path.display()))
        })?;
        let overrides: BTreeMap<String, Price> = toml::from_str(&text).map_err(|e| {
            HarnessError::Usage(format!(
                "prices file {} is malformed: {}; expected [x86_64] gb_second = ..., request_per_million = ...",
                path.display(),
                e.message()
            ))
        })?;
        let mut table = PriceTable::default();
        table.0.extend(overrides);
        Ok(table)
    }

    /// The price for `architecture`, falling back to x86_64 for unknown ones.
    pub fn for_arch(&self, architecture: &str) -> Price {
        self.0
            .get(architecture)
            .or_else(|| self.0.get("x86_64"))
            .copied()
            .unwrap_or(Price {
                gb_second: 0.0000166667,
                request_per_million: 0.20,
            })
    }

    /// Cost in USD of one invocation billed `billed_ms` at `memory_mb`.
    pub fn invocation_cost(&self, architecture: &str, memory_mb: u64, billed_ms: f64) -> f64 {
        let p = self.for_arch(architecture);
        (memory_mb as f64 / 1024.0) * (billed_ms / 1000.0) * p.gb_second
            + p.request_per_million / 1_000_000.0
    }

    /// Cost in USD of 1,000 invocations at the mean billed duration of
    /// `billed_ms`; `None` without data.
    pub fn per_thousand(
        &self,
        architecture: &str,
        memory_mb: u64,
        billed_ms: &[f64],
    ) -> Option<f64> {
        if billed_ms.is_empty() {
            return None;
        }
        let mean = billed_ms.iter().sum::<f64>() / billed_ms.len() as f64;
        Some(self.invocation_cost(architecture, memory_mb, mean) * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_example_cost() {
        let t = PriceTable::default();
        // 1 GB for 1 s on x86_64 = 0.0000166667 + request price.
        let c = t.invocation_cost("x86_64", 1024, 1000.0);
        assert!((c - (0.0000166667 + 0.0000002)).abs() < 1e-12);
        let arm = t.invocation_cost("arm64", 1024, 1000.0);
        assert!(arm < c);
        assert_eq!(t.per_thousand("x86_64", 128, &[]), None);
        let k = t.per_thousand("x86_64", 128, &[100.0, 300.0]).unwrap();
        assert!((k - 1000.0 * t.invocation_cost("x86_64", 128, 200.0)).abs() < 1e-12);
    }

    #[test]
    fn overrides_and_malformed_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("prices.toml");
        std::fs::write(&p, "[arm64]\ngb_second = 1.0\nrequest_per_million = 0.0\n").unwrap();
        let t = PriceTable::load(&p).unwrap();
        assert_eq!(t.for_arch("arm64").gb_second, 1.0);
        assert_eq!(t.for_arch("x86_64").request_per_million, 0.20);
        std::fs::write(&p, "[arm64]\ngb_secnd = 1.0\n").unwrap();
        let err = PriceTable::load(&p).unwrap_err().to_string();
        assert!(err.contains("malformed"), "{err}");
    }
}
