//! emulator: local AWS on one loopback port, so that `AWS_ENDPOINT_URL` is the
//! only switch between AWS and local runs.
//!
//! Modules (ownership while issue 4 is being built):
//! - `edge`: the one listener; routes Lambda by path, Logs and Secrets
//!   Manager by `X-Amz-Target`, everything else to S3.
//! - `lambda`: control plane, execution environments, Runtime API.
//! - `logs`: the CloudWatch Logs store and its query API.
//! - `s3`, `secrets`: S3 (through `s3s`) and Secrets Manager.
//! - `template`: function definitions from a SAM template.

pub mod lambda;
pub mod logs;
