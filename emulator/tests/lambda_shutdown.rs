//! Shutdown leaves no process behind: counted as children of this test
//! process via /proc (alone in its own test binary so nothing else spawns).

// Its own test binary: it measures CPU time, durations or child processes
// of the test process, which tests running beside it would disturb.
#[path = "it/lambda_support/mod.rs"]
mod lambda_support;

use lambda_support::{alive, child_pids, fixture, TestLambda};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_kills_every_environment() {
    assert!(
        child_pids().is_empty(),
        "no children before: {:?}",
        child_pids()
    );
    let t = TestLambda::start(vec![fixture("a"), fixture("b")]).await;
    let calls = [
        t.invoke("a", r#"{"sleepMs": 200}"#),
        t.invoke("a", r#"{"sleepMs": 200}"#),
        t.invoke("b", "{}"),
    ];
    let results = futures_util::future::join_all(calls).await;
    let pids: Vec<u32> = results
        .iter()
        .map(|r| r.json["pid"].as_u64().unwrap() as u32)
        .collect();
    assert_eq!(child_pids().len(), 3, "three environments alive");
    // One still busy while shutting down.
    let busy = tokio::spawn({
        let client = t.client.clone();
        async move {
            client
                .invoke()
                .function_name("b")
                .payload(aws_sdk_lambda::primitives::Blob::new(r#"{"hang": true}"#))
                .send()
                .await
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    t.shutdown().await;
    let left: Vec<u32> = child_pids().into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "children left after shutdown: {left:?}");
    assert!(pids.iter().all(|p| !alive(*p)));
    let _ = busy.await;
}
