//! The in-memory CloudWatch Logs store: groups of streams of events, kept
//! ordered by (timestamp, arrival), each group bounded by its retention
//! policy and its byte cap.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

/// CloudWatch counts each event as its UTF-8 message plus 26 bytes when it
/// caps a response at 1 MB.
pub(super) const EVENT_OVERHEAD: usize = 26;
/// How many bytes (messages plus 26 each) a log group keeps by default.
pub const DEFAULT_GROUP_CAP_BYTES: usize = 64 * 1024 * 1024;
/// Retention is applied at most this often per group.
pub(super) const RETENTION_SWEEP_MS: i64 = 1_000;
pub(super) const DAY_MS: i64 = 86_400_000;

/// One log event as the Lambda side produces it: one line, no trailing `\n`
/// handling needed by the caller beyond what AWS writes (system lines keep
/// their `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Event time, Unix epoch milliseconds.
    pub timestamp: i64,
    /// The message exactly as CloudWatch would store it.
    pub message: String,
}

/// An event as stored: `seq` orders events with equal timestamps by arrival
/// and makes positions (tokens, event ids) stable when events are inserted.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub(super) timestamp: i64,
    pub(super) seq: u64,
    pub(super) ingestion: i64,
    pub(super) message: String,
}

impl Stored {
    /// What the event counts against its group's cap.
    pub(super) fn size(&self) -> usize {
        self.message.len() + EVENT_OVERHEAD
    }

    pub(super) fn key(&self) -> Position {
        Position {
            timestamp: self.timestamp,
            seq: self.seq,
        }
    }
}

/// A place between events, ordered by (timestamp, seq).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Position {
    pub(super) timestamp: i64,
    pub(super) seq: u64,
}

impl Position {
    /// Before every event (CloudWatch rejects negative timestamps).
    pub(super) const HEAD: Position = Position {
        timestamp: -1,
        seq: 0,
    };
    /// After every event.
    pub(super) const TAIL: Position = Position {
        timestamp: i64::MAX - 1,
        seq: u64::MAX,
    };

    /// The 56 digits AWS's stream tokens and event ids are made of.
    pub(super) fn digits(self) -> String {
        format!(
            "{:020}{:036}",
            self.timestamp.saturating_add(1).max(0),
            self.seq
        )
    }

    pub(super) fn from_digits(s: &str) -> Option<Position> {
        if s.len() != 56 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let ts: i64 = s[..20].parse().ok()?;
        let seq: u64 = s[20..].parse().ok()?;
        Some(Position {
            timestamp: ts - 1,
            seq,
        })
    }
}

#[derive(Debug)]
pub(super) struct Stream {
    pub(super) created: i64,
    pub(super) events: Vec<Stored>,
}

impl Stream {
    /// The events with `start <= timestamp < end_exclusive` and a position
    /// after `after`, found by binary search (events are kept sorted).
    pub(super) fn window(
        &self,
        start: Option<i64>,
        end_exclusive: Option<i64>,
        after: Position,
    ) -> &[Stored] {
        let events = &self.events[..];
        let hi = match end_exclusive {
            Some(t) => events.partition_point(|e| e.timestamp < t),
            None => events.len(),
        };
        let lo = events[..hi]
            .partition_point(|e| start.is_some_and(|s| e.timestamp < s) || e.key() <= after);
        &events[lo..hi]
    }
}

pub(super) type SharedStream = Arc<Mutex<Stream>>;

/// A log group. Each stream has its own lock, so a reader scanning one
/// stream never holds up the Lambda side appending to another.
#[derive(Debug)]
pub(super) struct Group {
    pub(super) created: i64,
    /// PutRetentionPolicy's value (shown, not enforced: nothing here lives
    /// for days).
    pub(super) retention_days: Mutex<Option<i64>>,
    pub(super) streams: RwLock<BTreeMap<String, SharedStream>>,
    /// Bytes of all events held (as [`Stored::size`] counts them).
    pub(super) bytes: AtomicUsize,
    /// Events dropped to keep the group under its cap.
    pub(super) dropped: AtomicU64,
    /// When retention was last applied (epoch ms).
    pub(super) swept: AtomicI64,
}

impl Group {
    pub(super) fn new(created: i64) -> Self {
        Self {
            created,
            retention_days: Mutex::new(None),
            streams: RwLock::new(BTreeMap::new()),
            bytes: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            swept: AtomicI64::new(0),
        }
    }

    pub(super) fn retention_days(&self) -> Option<i64> {
        *self
            .retention_days
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Removes the events older than the retention period (at most once a
    /// second unless `force`).
    pub(super) fn apply_retention(&self, now: i64, force: bool) {
        let Some(days) = self.retention_days() else {
            return;
        };
        if !force && now - self.swept.swap(now, Ordering::Relaxed) < RETENTION_SWEEP_MS {
            return;
        }
        let cutoff = now.saturating_sub(days.saturating_mul(DAY_MS));
        for (_, stream) in self.streams() {
            let mut stream = lock(&stream);
            let expired = stream.events.partition_point(|e| e.timestamp < cutoff);
            let freed: usize = stream.events.drain(..expired).map(|e| e.size()).sum();
            self.bytes.fetch_sub(freed, Ordering::Relaxed);
        }
    }

    /// Drops the group's oldest events (across its streams) until it holds
    /// at most 90 % of `cap` bytes, once it holds more than `cap`.
    pub(super) fn enforce_cap(&self, cap: usize) {
        if self.bytes.load(Ordering::Relaxed) <= cap {
            return;
        }
        let target = cap - cap / 10;
        while self.bytes.load(Ordering::Relaxed) > target {
            // The stream holding the oldest event, and the next-oldest
            // stream's first time: drop from the former up to the latter.
            let mut oldest: Option<(Position, SharedStream)> = None;
            let mut runner_up = Position::TAIL;
            for (_, stream) in self.streams() {
                let Some(first) = lock(&stream).events.first().map(Stored::key) else {
                    continue;
                };
                match &oldest {
                    Some((best, _)) if *best <= first => runner_up = runner_up.min(first),
                    _ => {
                        if let Some((best, _)) = oldest.take() {
                            runner_up = runner_up.min(best);
                        }
                        oldest = Some((first, stream));
                    }
                }
            }
            let Some((_, stream)) = oldest else {
                return;
            };
            let mut stream = lock(&stream);
            let mut n = 0;
            let mut freed = 0;
            for e in &stream.events {
                if self.bytes.load(Ordering::Relaxed).saturating_sub(freed) <= target
                    || e.key() > runner_up
                {
                    break;
                }
                freed += e.size();
                n += 1;
            }
            // Always progress, even if another stream's first event ties.
            if n == 0 {
                if let Some(e) = stream.events.first() {
                    freed = e.size();
                    n = 1;
                }
            }
            stream.events.drain(..n);
            self.bytes.fetch_sub(freed, Ordering::Relaxed);
            self.dropped.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    pub(super) fn stream(&self, name: &str) -> Option<SharedStream> {
        read(&self.streams).get(name).cloned()
    }

    pub(super) fn stream_or_create(&self, name: &str, now: i64) -> SharedStream {
        if let Some(s) = self.stream(name) {
            return s;
        }
        write(&self.streams)
            .entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Stream {
                    created: now,
                    events: Vec::new(),
                }))
            })
            .clone()
    }

    /// The streams by name, taken under a short read lock.
    pub(super) fn streams(&self) -> Vec<(String, SharedStream)> {
        read(&self.streams)
            .iter()
            .map(|(n, s)| (n.clone(), Arc::clone(s)))
            .collect()
    }
}

#[derive(Debug, Default)]
pub(super) struct Inner {
    pub(super) groups: RwLock<BTreeMap<String, Arc<Group>>>,
    pub(super) next_seq: AtomicU64,
}

// A panic while a lock is held cannot leave these maps half-updated in a way
// readers would trip over, so poisoning is ignored.
pub(super) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn lock(stream: &Mutex<Stream>) -> MutexGuard<'_, Stream> {
    stream.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Shared, cheaply clonable store of log groups and streams.
#[derive(Debug, Clone)]
pub struct LogStore {
    pub(super) inner: Arc<Inner>,
    pub(super) delay_ms: u64,
    pub(super) group_cap: usize,
}

impl Default for LogStore {
    fn default() -> Self {
        Self::new(0)
    }
}

impl LogStore {
    /// Creates an empty store; events become visible to readers `visibility_delay_ms`
    /// after they are appended (CloudWatch's eventual consistency). Each
    /// group keeps at most [`DEFAULT_GROUP_CAP_BYTES`].
    pub fn new(visibility_delay_ms: u64) -> Self {
        Self {
            inner: Arc::default(),
            delay_ms: visibility_delay_ms,
            group_cap: DEFAULT_GROUP_CAP_BYTES,
        }
    }

    /// The same store with each group capped at `bytes` (each event counts
    /// its message plus 26 bytes, as CloudWatch counts them).
    pub fn with_group_cap(mut self, bytes: usize) -> Self {
        self.group_cap = bytes.max(1);
        self
    }

    /// How many of `group`'s oldest events were dropped to keep it under
    /// its cap (0 for an unknown group).
    pub fn dropped_events(&self, group: &str) -> u64 {
        self.group(group)
            .map_or(0, |g| g.dropped.load(Ordering::Relaxed))
    }

    /// Bytes `group` holds now, as counted against its cap.
    pub fn stored_bytes(&self, group: &str) -> usize {
        self.group(group)
            .map_or(0, |g| g.bytes.load(Ordering::Relaxed))
    }

    /// Appends events to `group`/`stream`, creating both when missing.
    pub fn append(&self, group_name: &str, stream: &str, events: Vec<LogEvent>) {
        let now = now_ms();
        let group = self.group_or_create(group_name, now);
        self.append_to(&group, stream, events, now);
        group.apply_retention(now, false);
        group.enforce_cap(self.group_cap);
    }

    pub(super) fn append_to(&self, group: &Group, stream: &str, events: Vec<LogEvent>, now: i64) {
        let stream = group.stream_or_create(stream, now);
        let mut stream = lock(&stream);
        for event in events {
            // Taken under the stream's lock: within a stream, sequence numbers
            // grow in arrival order.
            let seq = self.inner.next_seq.fetch_add(1, Ordering::Relaxed) + 1;
            let stored = Stored {
                timestamp: event.timestamp,
                seq,
                ingestion: now,
                message: event.message,
            };
            group.bytes.fetch_add(stored.size(), Ordering::Relaxed);
            // Almost always in order: the common case is a push.
            if stream
                .events
                .last()
                .is_none_or(|last| last.timestamp <= stored.timestamp)
            {
                stream.events.push(stored);
            } else {
                let at = stream
                    .events
                    .partition_point(|e| e.timestamp <= stored.timestamp);
                stream.events.insert(at, stored);
            }
        }
    }

    pub(super) fn group(&self, name: &str) -> Option<Arc<Group>> {
        read(&self.inner.groups).get(name).cloned()
    }

    pub(super) fn group_or_create(&self, name: &str, now: i64) -> Arc<Group> {
        if let Some(g) = self.group(name) {
            return g;
        }
        write(&self.inner.groups)
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(Group::new(now)))
            .clone()
    }

    /// Whether an event ingested at `ingestion` is visible at `now`.
    pub(super) fn visible(&self, ingestion: i64, now: i64) -> bool {
        ingestion.saturating_add(self.delay_ms as i64) <= now
    }
}

pub(super) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_through_their_digits() {
        for p in [
            Position::HEAD,
            Position::TAIL,
            Position {
                timestamp: 1_764_000_000_000,
                seq: 42,
            },
        ] {
            let digits = p.digits();
            assert_eq!(digits.len(), 56);
            assert_eq!(Position::from_digits(&digits), Some(p));
        }
    }

    #[test]
    fn concurrent_appends_keep_every_event_in_order() {
        let store = LogStore::new(0);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        // Two threads share a stream, two have their own.
                        let stream = if t < 2 { "shared" } else { ["a", "b"][t - 2] };
                        store.append(
                            "g",
                            stream,
                            vec![LogEvent {
                                timestamp: i,
                                message: format!("{t}-{i}"),
                            }],
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let group = store.group("g").unwrap();
        let mut seqs = Vec::new();
        for (name, stream) in group.streams() {
            let stream = lock(&stream);
            let expected = if name == "shared" { 1000 } else { 500 };
            assert_eq!(stream.events.len(), expected, "{name}");
            assert!(stream.events.windows(2).all(|w| w[0].key() < w[1].key()));
            seqs.extend(stream.events.iter().map(|e| e.seq));
        }
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(seqs.len(), 2000, "sequence numbers are unique");
    }

    #[test]
    fn a_flood_keeps_each_group_under_its_cap_dropping_the_oldest() {
        let store = LogStore::new(0).with_group_cap(100_000);
        let line = "x".repeat(74); // 100 bytes with the overhead
        for i in 0..10_000 {
            let stream = ["a", "b"][i % 2];
            store.append(
                "g",
                stream,
                vec![LogEvent {
                    timestamp: i as i64,
                    message: line.clone(),
                }],
            );
            assert!(store.stored_bytes("g") <= 100_000);
        }
        let group = store.group("g").unwrap();
        let kept: usize = group
            .streams()
            .iter()
            .map(|(_, s)| lock(s).events.len())
            .sum();
        assert!(kept > 800 && kept <= 1000, "{kept}");
        assert_eq!(store.dropped_events("g"), 10_000 - kept as u64);
        assert_eq!(store.stored_bytes("g"), kept * 100);
        // What is left is the newest, from both streams.
        for (_, s) in group.streams() {
            let first = lock(&s).events[0].timestamp;
            assert!(first >= (10_000 - kept - 2) as i64, "{first}");
        }
        // Another group is not affected.
        store.append(
            "h",
            "s",
            vec![LogEvent {
                timestamp: 0,
                message: line,
            }],
        );
        assert_eq!(store.dropped_events("h"), 0);
    }

    #[test]
    fn out_of_order_appends_are_kept_sorted_by_time() {
        let store = LogStore::new(0);
        let ev = |t: i64, m: &str| LogEvent {
            timestamp: t,
            message: m.to_string(),
        };
        store.append("g", "s", vec![ev(10, "a"), ev(30, "c")]);
        store.append("g", "s", vec![ev(20, "b"), ev(30, "d")]);
        let stream = store.group("g").unwrap().stream("s").unwrap();
        let stream = lock(&stream);
        let messages: Vec<&str> = stream.events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["a", "b", "c", "d"]);
    }
}
