//! The Lambda entry point: set up logging, hand every event to the handler.
//! Init does nothing that can wait; see `vanta_vuln_sync::handler`.

use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use vanta_vuln_sync::handler::Handler;

/// glibc raises its mmap threshold each time a large block is freed, after
/// which multi-megabyte Parquet and upload buffers come from the heap and
/// fragment it: RSS then creeps up with the dataset's size. A fixed threshold
/// keeps those buffers in mmap'd memory that is returned on free, so memory
/// stays flat. (One libc call; nothing that can wait.)
fn keep_large_buffers_off_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

fn main() -> Result<(), lambda_runtime::Error> {
    keep_large_buffers_off_the_heap();
    run()
}

#[tokio::main]
async fn run() -> Result<(), lambda_runtime::Error> {
    vanta_vuln_sync::logging::init_from_env();
    let handler = Arc::new(Handler::default());
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
