//! `--transactional-id` and `--transaction-duration-ms`, as Java's `kafka-producer-perf-test`
//! has them: each producer's sending thread runs transactions back to back, the first begun
//! before its first record, each committed once it is `--transaction-duration-ms` old (checked
//! after each send, from the record's intended send time: no extra clock read), the last one
//! committed when the thread's records are all sent. A commit waits for its transaction's
//! records, as it does in an application: that wait is part of what the run measures.
//!
//! Transactions are on when `--transactional-id`, `--transaction-duration-ms` or a
//! `transactional.id` property is given (Java's rule): the duration defaults to 3000 ms, the id
//! to `performance-producer-<random>`. With `--producers N` producer `i` takes `ID-i`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::stats::Stats;
use crate::Target;

/// Java's default `--transaction-duration-ms` when transactions are on.
const DEFAULT_DURATION: Duration = Duration::from_millis(3000);

/// The transaction age at which each is committed, when transactions are on (set once by
/// [`resolve`]).
static PERIOD: OnceLock<Duration> = OnceLock::new();

/// The transactional id and duration the run uses, if transactions are on. Sets the period
/// the sending threads read.
pub fn resolve(args: &Args, props: &[(String, String)]) -> Option<(String, Duration)> {
    let from_props = props.iter().rev().find(|(k, _)| k == "transactional.id").map(|(_, v)| v.clone());
    let id = args.transactional_id.clone().or(from_props.filter(|v| !v.trim().is_empty()));
    if id.is_none() && args.transaction_duration.is_none() {
        return None;
    }
    let id = id.unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        format!("performance-producer-{:x}{:x}", nanos.as_nanos() as u64, std::process::id())
    });
    let duration = args.transaction_duration.unwrap_or(DEFAULT_DURATION);
    let _ = PERIOD.set(duration);
    Some((id, duration))
}

/// The transactional id of producer `i` of `n`.
pub fn producer_id(id: &str, i: usize, n: usize) -> String {
    if n > 1 {
        format!("{id}-{i}")
    } else {
        id.to_string()
    }
}

/// One sending thread's transactions (nothing when transactions are off).
pub struct Runner {
    period: Option<Duration>,
    began: Instant,
    open: bool,
}

impl Runner {
    /// Begins the thread's first transaction, if transactions are on.
    pub fn start(target: &dyn Target, stats: &Stats) -> Runner {
        let mut r = Runner { period: PERIOD.get().copied(), began: Instant::now(), open: false };
        if r.period.is_some() {
            r.begin(target, stats);
        }
        r
    }

    fn begin(&mut self, target: &dyn Target, stats: &Stats) {
        match target.begin_transaction() {
            Ok(()) => {
                self.open = true;
                self.began = Instant::now();
            }
            Err(e) => stats.record_err(&format!("begin_transaction: {e}")),
        }
    }

    /// After a send at `now` (the record's intended time): commit a transaction that is old
    /// enough, and begin the next.
    #[inline]
    pub fn after_send(&mut self, target: &dyn Target, now: Instant, stats: &Stats) {
        if let Some(period) = self.period {
            if now.saturating_duration_since(self.began) >= period {
                self.commit(target, stats);
                self.begin(target, stats);
            }
        }
    }

    fn commit(&mut self, target: &dyn Target, stats: &Stats) {
        if !std::mem::take(&mut self.open) {
            return;
        }
        if let Err(e) = target.commit_transaction() {
            // Counted as a failure (exit status 1); the transaction is aborted so that the run
            // can go on.
            eprintln!("ringkafka-perf: commit_transaction failed: {e}");
            stats.record_err(&format!("commit_transaction: {e}"));
            if let Err(e) = target.abort_transaction() {
                eprintln!("ringkafka-perf: abort_transaction failed: {e}");
            }
        }
    }

    /// The thread's records are all sent: commit the last transaction.
    pub fn finish(&mut self, target: &dyn Target, stats: &Stats) {
        self.commit(target, stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Args {
        crate::args::parse(s.split_whitespace().map(String::from)).unwrap().unwrap()
    }

    #[test]
    fn transactions_are_on_as_javas_tool_turns_them_on() {
        let base = "--num-records 1 --record-size 1";
        assert_eq!(resolve(&args(base), &[]), None);
        let a = args(&format!("{base} --transactional-id tx"));
        assert_eq!(resolve(&a, &[]), Some(("tx".into(), Duration::from_millis(3000))));
        let props = vec![("transactional.id".to_string(), "from-props".to_string())];
        assert_eq!(resolve(&args(base), &props), Some(("from-props".into(), Duration::from_millis(3000))));
        assert_eq!(resolve(&a, &props).unwrap().0, "tx", "the flag wins over the property");
        let d = args(&format!("{base} --transaction-duration-ms 250"));
        let (id, dur) = resolve(&d, &[]).unwrap();
        assert!(id.starts_with("performance-producer-"), "{id}");
        assert_eq!(dur, Duration::from_millis(250));
        assert_eq!(producer_id("tx", 2, 3), "tx-2");
        assert_eq!(producer_id("tx", 0, 1), "tx");
    }

    #[test]
    fn a_zero_or_empty_transaction_flag_is_a_usage_error() {
        let p = |s: &str| crate::args::parse(s.split_whitespace().map(String::from));
        assert!(p("--num-records 1 --record-size 1 --transaction-duration-ms 0").is_err());
        assert!(p("--num-records 1 --record-size 1 --transactional-id").is_err());
    }
}
