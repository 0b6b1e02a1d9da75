//! The library's error type.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can stop the emulator from starting or a template from
/// loading. Request-level failures never surface here: they become AWS error
/// responses on the wire.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configured address is not a loopback address.
    #[error("refusing to listen on {0}: the emulator binds loopback addresses only (use 127.0.0.1 or [::1])")]
    NotLoopback(SocketAddr),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// The S3 state directory could not be created or opened.
    #[error("S3 state directory {}: {message}", path.display())]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A function definition the emulator cannot serve.
    #[error("function {name:?}: {message}")]
    Function {
        /// The function's name as given.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// CPU scaling was asked for but cgroups cannot provide it.
    #[error("{0}")]
    CpuScaling(String),
    /// The SAM template could not be read or does not define what was asked.
    #[error("template {}: {message}", path.display())]
    Template {
        /// The template file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}
