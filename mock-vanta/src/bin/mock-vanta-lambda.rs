//! mock-vanta as an AWS Lambda function behind a Function URL (payload
//! format 2.0): see `mock_vanta::lambda`. Deployed by `bench/template.yaml`.

use std::process::ExitCode;

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let config = match mock_vanta::lambda::config_from_env(|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mock-vanta-lambda: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match mock_vanta::Server::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mock-vanta-lambda: cannot start mock-vanta: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = server.addr();
    let handler = service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<Value, lambda_runtime::Error>(mock_vanta::lambda::relay(addr, &event.payload).await)
    });
    let result = lambda_runtime::run(handler).await;
    server.shutdown().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-vanta-lambda: {e}");
            ExitCode::FAILURE
        }
    }
}
