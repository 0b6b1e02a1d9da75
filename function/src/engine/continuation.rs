//! How a checkpointed run goes on in a fresh invocation.

use super::*;

/// How a checkpointed run is continued in a fresh invocation.
#[derive(Clone, Debug)]
pub enum Continuer {
    /// Invoke this function asynchronously (`InvocationType=Event`).
    Lambda {
        /// What the Lambda client is made from.
        sdk: Box<aws_config::SdkConfig>,
        /// The Lambda client, made at the first continuation and kept for
        /// the process. Making it validates the SDK's HTTP client, which
        /// builds an HTTPS connector: every root certificate of the system
        /// read and parsed, a cost each first invocation paid even when it
        /// never continued.
        client: Arc<std::sync::OnceLock<aws_sdk_lambda::Client>>,
        /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`).
        function_name: String,
    },
    /// Collect the continuation payloads (tests and local drivers resume them).
    Collect(Arc<std::sync::Mutex<Vec<Value>>>),
}

impl Continuer {
    /// A collector and the list it fills.
    pub fn collector() -> (Self, Arc<std::sync::Mutex<Vec<Value>>>) {
        let list = Arc::new(std::sync::Mutex::new(Vec::new()));
        (Self::Collect(list.clone()), list)
    }

    async fn continue_with(&self, payload: Value) -> Result<(), SyncError> {
        match self {
            Continuer::Lambda {
                sdk,
                client,
                function_name,
            } => {
                client
                    .get_or_init(|| aws_sdk_lambda::Client::new(sdk))
                    .invoke()
                    .function_name(function_name)
                    .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
                    .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
                    .send()
                    .await
                    .map_err(|e| {
                        SyncError::Continuation(
                            aws_sdk_lambda::error::DisplayErrorContext(e).to_string(),
                        )
                    })?;
                Ok(())
            }
            Continuer::Collect(list) => {
                list.lock()
                    .map_err(|_| SyncError::Continuation("collector poisoned".into()))?
                    .push(payload);
                Ok(())
            }
        }
    }
}

impl Engine {
    /// Invokes the continuation of checkpoint `cp`, then records that it did.
    pub(super) async fn continue_run(
        &self,
        cp: &Checkpoint,
        continuer: &Continuer,
    ) -> Result<(), SyncError> {
        let key = checkpoint_key(&cp.run_prefix, cp.invocations);
        continuer.continue_with(json!({ "resume": key })).await?;
        self.bucket
            .put_new(
                &continued_key(&cp.run_prefix, cp.invocations),
                Vec::new(),
                "text/plain",
            )
            .await?;
        Ok(())
    }
}
