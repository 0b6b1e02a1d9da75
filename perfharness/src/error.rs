//! The harness's error type. Every variant is an exit-status-2 condition (a
//! usage or infrastructure error); its message is one line saying what went
//! wrong and what to do.

/// Errors of the harness library.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The user asked for something impossible (bad flag, bad file).
    #[error("{0}")]
    Usage(String),
    /// The targets file is missing, malformed or names an unknown statistic.
    #[error("targets file {path}: {message}")]
    Targets {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// An AWS (or emulator) call failed for good.
    #[error("{operation} failed{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Aws {
        /// The API operation, e.g. `GetFunctionConfiguration`.
        operation: &'static str,
        /// The AWS error code, e.g. `ResourceNotFoundException`.
        code: Option<String>,
        /// The service's message plus a hint.
        message: String,
    },
    /// Something the harness needs could not be set up (local stack, build).
    #[error("{0}")]
    Infrastructure(String),
    /// A wait or poll ran past its bound.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The run was interrupted (SIGINT, SIGTERM or SIGHUP).
    #[error("interrupted")]
    Interrupted,
    /// Someone else changed the function's configuration during the run;
    /// the harness neither continues nor writes over their change.
    #[error("{0}")]
    ConcurrentChange(String),
    /// The harness panicked (a bug); the configuration was restored first.
    #[error("internal error (please report it): {0}")]
    Panicked(String),
    /// Reading or writing a file failed.
    #[error("{path}: {cause}")]
    Io {
        /// The file or directory.
        path: String,
        /// The underlying error (not a `source`: the message already says it).
        cause: std::io::Error,
    },
}

impl HarnessError {
    /// The AWS error code, when this is an AWS error.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            HarnessError::Aws { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        HarnessError::Io {
            path: path.as_ref().display().to_string(),
            cause: source,
        }
    }
}

/// Converts an SDK error into a [`HarnessError::Aws`], keeping the error
/// code so callers can decide to retry.
pub fn from_sdk<E, R>(
    operation: &'static str,
    err: aws_sdk_lambda::error::SdkError<E, R>,
) -> HarnessError
where
    E: aws_sdk_lambda::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_lambda::error::SdkError;
    let (code, message) = match &err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            (
                e.code().map(str::to_string),
                e.message().unwrap_or("no message").to_string(),
            )
        }
        SdkError::DispatchFailure(d) => (
            None,
            format!(
                "could not reach the endpoint ({}); check --region/--endpoint-url and the network",
                d.as_connector_error()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "dispatch failure".into())
            ),
        ),
        SdkError::TimeoutError(_) => (None, "the request timed out".to_string()),
        SdkError::ConstructionFailure(_) => (
            None,
            format!(
                "could not build the request: {}; check the AWS credentials and region",
                error_chain(&err)
            ),
        ),
        other => (None, error_chain(other)),
    };
    HarnessError::Aws {
        operation,
        code,
        message,
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        s.push_str(": ");
        s.push_str(&e.to_string());
        cur = e.source();
    }
    s
}
