//! `--throughput` pacing: a schedule of intended send times that sleeps when ahead.
//!
//! Record `k` of a thread is due at `start + k / rate`. When the thread is ahead of the schedule
//! it sleeps (in slices of at most [`MAX_SLICE`], never spinning); when it is behind it sends
//! at once, so the average rate holds. The intended time is returned so latency can be measured
//! from it: a stalled producer then shows up in the latency of every record that should have
//! gone out during the stall (no coordinated omission).

use std::time::{Duration, Instant};

/// The longest single sleep.
pub const MAX_SLICE: Duration = Duration::from_millis(10);

/// A per-thread pacer.
#[derive(Debug)]
pub struct Pacer {
    start: Instant,
    /// Nanoseconds between records; `None` = unlimited.
    period_ns: Option<f64>,
    sent: u64,
}

impl Pacer {
    /// `rate` records per second for this thread, `None` for unlimited.
    pub fn new(start: Instant, rate: Option<f64>) -> Self {
        Pacer { start, period_ns: rate.map(|r| 1e9 / r), sent: 0 }
    }

    /// The time the next record is due, without waiting.
    pub fn due(&self) -> Option<Instant> {
        self.period_ns.map(|p| self.start + Duration::from_nanos((self.sent as f64 * p) as u64))
    }

    /// Waits until the next record is due and returns the time it was due (the latency origin);
    /// unlimited: returns now.
    pub fn wait(&mut self) -> Instant {
        let Some(due) = self.due() else {
            return Instant::now();
        };
        self.sent += 1;
        loop {
            let now = Instant::now();
            if now >= due {
                return due;
            }
            std::thread::sleep((due - now).min(MAX_SLICE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_start_plus_k_periods() {
        let start = Instant::now();
        let mut p = Pacer::new(start, Some(1000.0));
        assert_eq!(p.wait(), start);
        assert_eq!(p.due(), Some(start + Duration::from_millis(1)));
        p.sent = 10;
        assert_eq!(p.due(), Some(start + Duration::from_millis(10)));
    }

    #[test]
    fn pacing_holds_the_rate_without_running_ahead() {
        let start = Instant::now();
        let mut p = Pacer::new(start, Some(2000.0));
        let mut last = start;
        for _ in 0..40 {
            let due = p.wait();
            assert!(Instant::now() >= due);
            last = due;
        }
        // 40 records at 2000/s: the last is due at 19.5 ms.
        assert_eq!(last - start, Duration::from_micros(19_500));
        assert!(start.elapsed() >= Duration::from_micros(19_500));
    }

    #[test]
    fn unlimited_never_waits() {
        let mut p = Pacer::new(Instant::now(), None);
        assert!(p.due().is_none());
        let t = Instant::now();
        for _ in 0..1000 {
            p.wait();
        }
        assert!(t.elapsed() < Duration::from_millis(100));
    }
}
