//! The Lambda entry point: set up logging, hand every event to the handler.
//! Init does nothing that can wait; see `vanta_vuln_sync::handler`.

use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use vanta_vuln_sync::engine::SyncOptions;
use vanta_vuln_sync::handler::Handler;

/// glibc raises its mmap threshold each time a large block is freed, after
/// which multi-megabyte Parquet and upload buffers come from the heap and
/// fragment it: RSS then creeps up with the dataset's size. A fixed threshold
/// keeps those buffers in mmap'd memory that is returned on free, so memory
/// stays flat. With two CPUs or more the sync encodes on blocking threads
/// (see `engine::stream::cpu_bound`), and glibc gives each new thread an
/// arena of its own, up to eight per core: two arenas keep the peak RSS where
/// one thread kept it (47.6 MiB with an arena per thread, 40-43 MiB with two, at
/// 100,000 vulnerabilities). (Two libc calls; nothing that can wait.)
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> Result<(), lambda_runtime::Error> {
    tune_malloc();
    let (cpus, vcpus) = vanta_vuln_sync::runtime::of_this_process();
    vanta_vuln_sync::runtime::build(cpus)
        .map_err(|e| format!("cannot start the async runtime: {e}"))?
        .block_on(run(vcpus))
}

/// `vcpus`: the function's share of vCPUs; rows are batched for the Parquet
/// writer throughout when it is short of CPU (engine::Batching).
async fn run(vcpus: Option<f64>) -> Result<(), lambda_runtime::Error> {
    vanta_vuln_sync::logging::init_from_env();
    let handler = Arc::new(Handler::new(SyncOptions::for_vcpus(vcpus)));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = handler.clone();
        async move {
            let ctx = event.context;
            handler
                .handle(event.payload, &ctx.request_id, ctx.deadline)
                .await
        }
    }))
    .await
}
