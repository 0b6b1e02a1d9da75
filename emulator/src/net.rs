//! Accepting connections. `accept` fails when the process runs out of file
//! descriptors (EMFILE/ENFILE) or memory, and keeps failing until some are
//! freed; retrying at once would spin a core. Every accept loop of the
//! emulator (the edge and each Runtime API) goes through [`accept`], which
//! backs off while errors persist.

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// The first wait after an accept error; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The next connection, with Nagle off (small request/response pairs would
/// otherwise wait up to 40 ms). Errors are retried after a growing pause;
/// the first of a run is logged once.
pub(crate) async fn accept(listener: &TcpListener) -> TcpStream {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                return stream;
            }
            Err(e) => {
                if backoff == FIRST_BACKOFF {
                    tracing::warn!("accept failed, backing off: {e}");
                }
                tokio::time::sleep(backoff).await;
                backoff = next_backoff(backoff);
            }
        }
    }
}

fn next_backoff(current: Duration) -> Duration {
    (current * 2).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_second() {
        let mut b = FIRST_BACKOFF;
        let mut steps = 0;
        while b < MAX_BACKOFF {
            let next = next_backoff(b);
            assert!(next > b);
            b = next;
            steps += 1;
        }
        assert_eq!(b, MAX_BACKOFF);
        assert_eq!(next_backoff(b), MAX_BACKOFF);
        assert!(steps < 10);
    }
}
