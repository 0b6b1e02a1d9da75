//! `perfharness power`: a memory sweep with cold and warm samples per size,
//! the cost per invocation, and the best size by cost, speed or a balance.

pub mod strategy;
