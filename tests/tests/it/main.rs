//! The integration tests of `e2e`, one module per area, linked into
//! one test binary (one link against the heavy dependencies instead of one per
//! file).

mod bench_stack;
mod bench_template;
mod chaos;
mod mock_vanta_lambda;
mod perfharness_full;
mod sync_pyarrow;
mod template_crosscheck;
