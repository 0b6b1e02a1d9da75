//! Settings read from the environment, validated once per invocation.
//!
//! Every malformed or missing setting produces one [`ConfigError`] that names
//! the variable and says what a valid value looks like; values of secret
//! variables are never echoed back.

use std::fmt;
use std::time::Duration;

use crate::vanta::PacingMode;

/// Default Vanta API base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.vanta.com";
/// Default Secrets Manager secret holding `{"client_id","client_secret"}`.
pub const DEFAULT_CREDENTIALS_SECRET: &str = "vanta-api-credentials";
/// Default destination bucket.
pub const DEFAULT_BUCKET: &str = "vanta-vuln-data";

/// A string that must never be printed: `Debug` and `Display` redact it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// OAuth client credentials of a Vanta application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The application's client id (`vci_…`); not secret.
    pub client_id: String,
    /// The application's client secret (`vcs_…`).
    pub client_secret: Secret,
}

/// Where the Vanta credentials come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    /// `VANTA_CLIENT_ID` and `VANTA_CLIENT_SECRET` were both set.
    Inline(Credentials),
    /// The JSON secret of this name (or ARN) in Secrets Manager.
    SecretsManager(String),
}

/// Everything the sync reads from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Where the Vanta client credentials come from.
    pub credentials: CredentialSource,
    /// Vanta API base URL without a trailing slash.
    pub base_url: String,
    /// Destination bucket.
    pub bucket: String,
    /// Key prefix inside the bucket, without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// Size of the HTTP connection pool to Vanta (`MAX_POOL_CONNECTIONS`).
    pub max_pool_connections: usize,
    /// Records per page requested from Vanta (1..=100).
    pub page_size: u32,
    /// Client-side request budget per minute for the list endpoints; 0 = no pacing.
    pub rate_limit_per_min: u32,
    /// How list calls are paced within that budget (`VANTA_PACING`).
    pub pacing: PacingMode,
    /// Remaining invocation time under which the sync checkpoints and continues.
    pub checkpoint_margin: Duration,
    /// This function's name, used to invoke itself for a continuation.
    pub function_name: Option<String>,
}

/// A setting that is missing or malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The variable holds a value that cannot be used.
    #[error("environment variable {var} is invalid: {reason}")]
    Invalid {
        /// The variable's name.
        var: &'static str,
        /// What is wrong and what a valid value looks like.
        reason: String,
    },
    /// Only one half of an inline credential pair is set.
    #[error("environment variable {missing} is not set but {present} is: set both, or neither to read the credentials from Secrets Manager (VANTA_CREDENTIALS_SECRET)")]
    HalfCredentials {
        /// The variable that is set.
        present: &'static str,
        /// The variable that is missing.
        missing: &'static str,
    },
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let credentials = match (get("VANTA_CLIENT_ID"), get("VANTA_CLIENT_SECRET")) {
            (Some(id), Some(secret)) => CredentialSource::Inline(Credentials {
                client_id: id.trim().to_owned(),
                client_secret: Secret::new(secret.trim()),
            }),
            (Some(_), None) => {
                return Err(ConfigError::HalfCredentials {
                    present: "VANTA_CLIENT_ID",
                    missing: "VANTA_CLIENT_SECRET",
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::HalfCredentials {
                    present: "VANTA_CLIENT_SECRET",
                    missing: "VANTA_CLIENT_ID",
                })
            }
            (None, None) => CredentialSource::SecretsManager(
                get("VANTA_CREDENTIALS_SECRET")
                    .unwrap_or_else(|| DEFAULT_CREDENTIALS_SECRET.to_owned()),
            ),
        };

        let base_url = get("VANTA_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let base_url = base_url.trim().trim_end_matches('/').to_owned();
        if !(base_url.starts_with("https://") || base_url.starts_with("http://"))
            || base_url.len() <= "https://".len()
        {
            return Err(ConfigError::Invalid {
                var: "VANTA_BASE_URL",
                reason: format!("{base_url:?} is not an http(s) URL (e.g. https://api.vanta.com)"),
            });
        }

        let bucket = get("S3_BUCKET").unwrap_or_else(|| DEFAULT_BUCKET.to_owned());
        let bucket = bucket.trim().to_owned();
        if bucket.len() < 3
            || bucket.len() > 63
            || !bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            return Err(ConfigError::Invalid {
                var: "S3_BUCKET",
                reason: format!(
                    "{bucket:?} is not a valid bucket name (3-63 lowercase letters, digits, '-' or '.')"
                ),
            });
        }

        let prefix = get("S3_PREFIX")
            .map(|p| p.trim().trim_matches('/').to_owned())
            .unwrap_or_default();

        let max_pool_connections =
            parse_number::<usize>(&get, "MAX_POOL_CONNECTIONS", 50, 1, 10_000)?;
        let page_size = parse_number::<u32>(&get, "VANTA_PAGE_SIZE", 100, 1, 100)?;
        let rate_limit_per_min =
            parse_number::<u32>(&get, "VANTA_RATE_LIMIT_PER_MIN", 50, 0, 1_000_000)?;
        let margin_s = parse_number::<u64>(&get, "CHECKPOINT_MARGIN_S", 60, 0, 900)?;
        let pacing = match get("VANTA_PACING") {
            None => PacingMode::default(),
            Some(raw) => raw.parse().map_err(|reason| ConfigError::Invalid {
                var: "VANTA_PACING",
                reason,
            })?,
        };

        Ok(Self {
            credentials,
            base_url,
            bucket,
            prefix,
            max_pool_connections,
            page_size,
            rate_limit_per_min,
            pacing,
            checkpoint_margin: Duration::from_secs(margin_s),
            function_name: get("AWS_LAMBDA_FUNCTION_NAME"),
        })
    }
}

fn parse_number<T>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(raw) = get(var) else {
        return Ok(default);
    };
    let invalid = || ConfigError::Invalid {
        var,
        reason: format!(
            "{:?} is not a whole number between {min} and {max}",
            raw.trim()
        ),
    };
    let value: T = raw.trim().parse().map_err(|_| invalid())?;
    if value < min || value > max {
        return Err(invalid());
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_design() {
        let c = config(&[]).unwrap();
        assert_eq!(
            c.credentials,
            CredentialSource::SecretsManager("vanta-api-credentials".into())
        );
        assert_eq!(c.base_url, "https://api.vanta.com");
        assert_eq!(c.bucket, "vanta-vuln-data");
        assert_eq!(c.prefix, "");
        assert_eq!(c.max_pool_connections, 50);
        assert_eq!(c.page_size, 100);
        assert_eq!(c.rate_limit_per_min, 50);
        assert_eq!(c.pacing, PacingMode::Adaptive);
        assert_eq!(c.checkpoint_margin, Duration::from_secs(60));
    }

    #[test]
    fn inline_credentials_and_overrides() {
        let c = config(&[
            ("VANTA_CLIENT_ID", "vci_1"),
            ("VANTA_CLIENT_SECRET", "vcs_2"),
            ("VANTA_BASE_URL", "http://127.0.0.1:9/"),
            ("S3_PREFIX", "/vanta/"),
            ("VANTA_RATE_LIMIT_PER_MIN", "0"),
            ("VANTA_PACING", "Even"),
            ("CHECKPOINT_MARGIN_S", "5"),
        ])
        .unwrap();
        assert_eq!(c.pacing, PacingMode::Even);
        assert_eq!(c.base_url, "http://127.0.0.1:9");
        assert_eq!(c.prefix, "vanta");
        assert_eq!(c.rate_limit_per_min, 0);
        assert_eq!(c.checkpoint_margin, Duration::from_secs(5));
        match c.credentials {
            CredentialSource::Inline(creds) => {
                assert_eq!(creds.client_secret.expose(), "vcs_2");
                assert!(!format!("{creds:?}").contains("vcs_2"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn malformed_values_name_the_variable() {
        for (var, value) in [
            ("VANTA_PAGE_SIZE", "101"),
            ("VANTA_PAGE_SIZE", "ten"),
            ("MAX_POOL_CONNECTIONS", "0"),
            ("VANTA_RATE_LIMIT_PER_MIN", "-1"),
            ("CHECKPOINT_MARGIN_S", "1.5"),
            ("VANTA_PACING", "burst"),
            ("VANTA_BASE_URL", "api.vanta.com"),
            ("S3_BUCKET", "Bad_Bucket"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn half_credentials_are_refused_without_echoing_the_secret() {
        let err = config(&[("VANTA_CLIENT_SECRET", "vcs_topsecret")]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("VANTA_CLIENT_ID"), "{msg}");
        assert!(!msg.contains("vcs_topsecret"));
    }
}
