//! AWS access: the SDK [`session`], configuration reads, updates and waits
//! ([`control`]), the configuration [`guard`] and REPORT retrieval from
//! CloudWatch Logs ([`logs`]).

pub mod control;
pub mod guard;
pub mod logs;
pub mod session;
