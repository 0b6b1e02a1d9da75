//! `perfharness gate`: the CI regression gate on init duration.

pub mod baseline;
pub mod compare;
