//! CloudWatch Logs: the in-memory store the Lambda side writes into, and the
//! awsJson1_1 API over it: FilterLogEvents, GetLogEvents, DescribeLogStreams,
//! DescribeLogGroups (what the harness reads), plus CreateLogGroup,
//! CreateLogStream, PutLogEvents and DeleteLogGroup/DeleteLogStream so the
//! AWS CLI and SDK writers work too.
//!
//! Events in a stream are kept ordered by (timestamp, arrival); readers see an
//! event only `visibility_delay_ms` after it was appended, like CloudWatch's
//! eventual consistency.
//!
//! The store is bounded: a group's retention policy is applied (events older
//! than `retentionInDays` go), and each group holds at most a configurable
//! number of bytes ([`DEFAULT_GROUP_CAP_BYTES`] unless set): past it, its
//! oldest events are dropped and counted ([`LogStore::dropped_events`]).
//!
//! Modules: `store` (groups, streams, events and their bounds), `api` (the
//! awsJson1_1 operations), `pattern` (filter pattern syntax).

mod api;
mod pattern;
mod store;

pub use store::{LogEvent, LogStore, DEFAULT_GROUP_CAP_BYTES};
