//! The integration tests of `emulator`, one module per area, linked into
//! one test binary (one link against the heavy dependencies instead of one per
//! file).

mod lambda_support;
mod cli;
mod lambda_control;
mod lambda_logs;
mod logs;
mod s3;
mod s3_consistency;
mod secrets;
mod template;
