//! The Lambda entry point: set up logging, hand every event to the handler.
//! Init does nothing that can wait; see `vanta_vuln_sync::handler`.

use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use vanta_vuln_sync::handler::Handler;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
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
