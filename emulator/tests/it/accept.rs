//! The accept loop under file descriptor exhaustion: with `ulimit -n`
//! reached, accept fails until a descriptor is freed; the emulator must
//! wait between attempts instead of spinning a core, and serve again once
//! descriptors are back.

use std::time::Duration;

use crate::served::{cpu_ticks, Served};

#[tokio::test]
async fn out_of_file_descriptors_the_accept_loop_does_not_spin() {
    let served = Served::start_limited(&[], Some(64)).await;
    let addr = served.endpoint.strip_prefix("http://").unwrap().to_string();
    // Far more connections than the emulator may hold descriptors for.
    let mut held = Vec::new();
    for _ in 0..200 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect(&addr),
        )
        .await
        {
            held.push(s);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = cpu_ticks(served.pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_ticks(served.pid) - before;
    // A spinning loop burns about 100 ticks per second of one core.
    assert!(
        used < 40,
        "{used} ticks of CPU in 2 s while out of descriptors"
    );

    // Descriptors back: it serves again.
    drop(held);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&served.sdk_config("test", "test").await)
            .force_path_style(true)
            .build(),
    );
    let mut served_again = false;
    for _ in 0..50 {
        if s3.list_buckets().send().await.is_ok() {
            served_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served_again, "no answer after the descriptors were freed");
}
