//! `--throughput` pacing: a schedule of intended send times that sleeps when ahead.
//!
//! Record `k` of a thread is due at `start + k / rate`, or with `--throughput-schedule` when the
//! schedule's integral reaches `k` ([`Schedule::time_of`]). When the thread is ahead of the schedule
//! it sleeps (in slices of at most [`MAX_SLICE`], never spinning); when it is behind it sends
//! at once, so the average rate holds. The intended time is returned so latency can be measured
//! from it: a stalled producer then shows up in the latency of every record that should have
//! gone out during the stall (no coordinated omission).

use std::time::{Duration, Instant};

use crate::schedule::{Cursor, Schedule};

/// The longest single sleep.
pub const MAX_SLICE: Duration = Duration::from_millis(10);

/// A per-thread pacer.
#[derive(Debug)]
pub struct Pacer {
    start: Instant,
    /// This thread's rate over time; `None` = unlimited.
    schedule: Option<Schedule>,
    cursor: Cursor,
    sent: u64,
}

impl Pacer {
    /// `rate` records per second for this thread, `None` for unlimited.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn new(start: Instant, rate: Option<f64>) -> Self {
        Self::with_schedule(start, rate.map(Schedule::constant))
    }

    /// This thread's rates over time, `None` for unlimited.
    pub fn with_schedule(start: Instant, schedule: Option<Schedule>) -> Self {
        Pacer { start, schedule, cursor: Cursor::default(), sent: 0 }
    }

    /// The time the next record is due, without waiting.
    pub fn due(&mut self) -> Option<Instant> {
        let secs = self.schedule.as_ref()?.time_of(self.sent as f64, &mut self.cursor);
        Some(self.start + Duration::from_nanos((secs * 1e9) as u64))
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
