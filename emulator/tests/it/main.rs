//! The integration tests of `emulator`, one module per area, linked into
//! one test binary (one link against the heavy dependencies instead of one per
//! file).

mod accept;
mod access;
mod cli;
mod function_credentials;
mod lambda_async;
mod lambda_control;
mod lambda_logs;
mod lambda_support;
mod limits;
mod logs;
mod s3;
mod s3_consistency;
mod s3_memory;
mod s3_shapes;
mod secrets;
mod served;
mod shapes;
mod sqs_shapes;
mod template;
