//! Where records go: Parquet encoding and S3 uploads.

pub mod parquet;
pub mod s3;
