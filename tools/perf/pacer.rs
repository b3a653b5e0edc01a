//! `--throughput` pacing: a schedule of intended send times.
//!
//! Record `k` of a thread is due at `start + k / rate`, or with `--throughput-schedule` when the
//! schedule's integral reaches `k` ([`Schedule::time_of`]). When the thread is behind the
//! schedule it sends at once, so the average rate holds. The intended time is what latency is
//! measured from, so a stalled producer shows up in the latency of every record that should
//! have gone out during the stall (no coordinated omission). How late the pacer itself let a
//! record go ([`Pacer::last_late`]) is reported apart, so the tool's own share of a latency is
//! visible.
//!
//! Two ways to wait when ahead, chosen from the gap to the previous record:
//! - **Precise**, when the gap is at least five spin windows (100 µs with the default 20 µs
//!   window: up to 10,000 records/s per thread): sleep until `spin` before the slot, then spin
//!   to it. The thread's timer slack is set to 1 µs (Linux ends sleeps up to 50 µs late by
//!   default, to batch timer interrupts), so a sleep ends on time but for the scheduler's
//!   wake-up latency, which the spin absorbs. CPU: a sleep and at most `spin` per record, a
//!   fifth of the time at most.
//! - **Bursts**, at higher rates, where a sleep per record would cost more than the gap: sleep
//!   whenever ahead, then send every record that fell due meanwhile at once. The kernel's
//!   default timer slack makes each sleep last 50 µs or more (once the slack was lowered for
//!   precise pacing, the pacer asks for [`BURST`] itself), so a burst comes every 50–100 µs:
//!   about 3 records at 50k/s, 12 at 200k/s. No spinning: the pacer never holds a core.

use std::time::{Duration, Instant};

use crate::schedule::{Cursor, Schedule};

/// The longest single sleep.
pub const MAX_SLICE: Duration = Duration::from_millis(10);
/// The default spin window before a record's slot (`--pacer-spin-us`).
pub const DEFAULT_SPIN: Duration = Duration::from_micros(20);
/// Precise pacing needs a gap of at least this many spin windows; shorter gaps mean bursts.
const GAP_IN_SPINS: u32 = 5;
/// The shortest sleep in bursts once the timer slack is lowered (what the default slack makes
/// of any sleep).
pub const BURST: Duration = Duration::from_micros(50);

/// A per-thread pacer.
#[derive(Debug)]
pub struct Pacer {
    start: Instant,
    /// This thread's rate over time; `None` = unlimited.
    schedule: Option<Schedule>,
    cursor: Cursor,
    sent: u64,
    /// How long before a slot the pacer stops sleeping and spins, where the gap allows.
    spin: Duration,
    /// When the last record was due.
    last_due: Option<Instant>,
    /// How late the last record was let go.
    last_late: Duration,
    /// The timer slack was set to 1 µs (for precise pacing).
    slack_set: bool,
}

impl Pacer {
    /// `rate` records per second for this thread, `None` for unlimited.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn new(start: Instant, rate: Option<f64>, spin: Duration) -> Self {
        Self::with_schedule(start, rate.map(Schedule::constant), spin)
    }

    /// This thread's rates over time, `None` for unlimited; spinning at most `spin` before
    /// each slot where the gap is at least five times that (see the module docs).
    pub fn with_schedule(start: Instant, schedule: Option<Schedule>, spin: Duration) -> Self {
        Pacer {
            start,
            schedule,
            cursor: Cursor::default(),
            sent: 0,
            spin,
            last_due: None,
            last_late: Duration::ZERO,
            slack_set: false,
        }
    }

    /// The time the next record is due, without waiting.
    pub fn due(&mut self) -> Option<Instant> {
        let secs = self.schedule.as_ref()?.time_of(self.sent as f64, &mut self.cursor);
        Some(self.start + Duration::from_nanos((secs * 1e9) as u64))
    }

    /// The spin window for a record due `gap` after the one before (zero: bursts).
    fn spin_for(&self, gap: Duration) -> Duration {
        if !self.spin.is_zero() && gap >= self.spin * GAP_IN_SPINS {
            self.spin
        } else {
            Duration::ZERO
        }
    }

    /// Waits until the next record is due and returns the time it was due (the latency origin);
    /// unlimited: returns now.
    pub fn wait(&mut self) -> Instant {
        let Some(due) = self.due() else {
            return Instant::now();
        };
        self.sent += 1;
        let gap = match self.last_due {
            Some(last) => due.saturating_duration_since(last),
            // The first record: the gap to the second.
            None => self.due().map_or(Duration::ZERO, |next| next.saturating_duration_since(due)),
        };
        self.last_due = Some(due);
        let spin = self.spin_for(gap);
        if !spin.is_zero() && !self.slack_set {
            self.slack_set = true;
            set_timer_slack_ns(1_000);
        }
        loop {
            let now = Instant::now();
            if now >= due {
                self.last_late = now - due;
                return due;
            }
            let ahead = due - now;
            if spin.is_zero() {
                let at_least = if self.slack_set { BURST } else { Duration::ZERO };
                std::thread::sleep(ahead.max(at_least).min(MAX_SLICE));
            } else if ahead > spin {
                std::thread::sleep((ahead - spin).min(MAX_SLICE));
            } else {
                std::hint::spin_loop();
            }
        }
    }

    /// How late the last record [`wait`](Self::wait) returned was let go: its send began this
    /// long after its slot.
    pub fn last_late(&self) -> Duration {
        self.last_late
    }
}

/// Sets the calling thread's timer slack (how much later than asked the kernel may end a
/// sleep, to batch timer interrupts: 50 µs by default), through `/proc/<tid>/timerslack_ns`,
/// which a thread may write for itself. Best effort: where it fails, sleeps end up to 50 µs
/// late, and the spin window absorbs less of that.
fn set_timer_slack_ns(ns: u64) {
    let tid = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().and_then(|f| f.to_str()).map(str::to_string));
    if let Some(tid) = tid {
        let _ = std::fs::write(format!("/proc/{tid}/timerslack_ns"), ns.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_start_plus_k_periods() {
        let start = Instant::now();
        let mut p = Pacer::new(start, Some(1000.0), DEFAULT_SPIN);
        assert_eq!(p.wait(), start);
        assert_eq!(p.due(), Some(start + Duration::from_millis(1)));
        p.sent = 10;
        assert_eq!(p.due(), Some(start + Duration::from_millis(10)));
    }

    #[test]
    fn pacing_holds_the_rate_without_running_ahead() {
        for spin in [Duration::ZERO, DEFAULT_SPIN] {
            let start = Instant::now();
            let mut p = Pacer::new(start, Some(2000.0), spin);
            let mut last = start;
            for _ in 0..40 {
                let due = p.wait();
                assert!(Instant::now() >= due);
                assert!(Instant::now() - due >= p.last_late());
                last = due;
            }
            // 40 records at 2000/s: the last is due at 19.5 ms.
            assert_eq!(last - start, Duration::from_micros(19_500));
            assert!(start.elapsed() >= Duration::from_micros(19_500));
        }
    }

    #[test]
    fn short_gaps_give_way_to_bursts() {
        let p = Pacer::new(Instant::now(), Some(1_000.0), DEFAULT_SPIN);
        assert_eq!(p.spin_for(Duration::from_millis(1)), DEFAULT_SPIN);
        assert_eq!(p.spin_for(Duration::from_micros(100)), DEFAULT_SPIN, "10k/s: still precise");
        assert_eq!(p.spin_for(Duration::from_micros(20)), Duration::ZERO, "50k/s: bursts");
        let p = Pacer::new(Instant::now(), Some(1_000.0), Duration::ZERO);
        assert_eq!(p.spin_for(Duration::from_millis(1)), Duration::ZERO, "no window: always bursts");
    }

    #[test]
    fn unlimited_never_waits() {
        let mut p = Pacer::new(Instant::now(), None, DEFAULT_SPIN);
        assert!(p.due().is_none());
        let t = Instant::now();
        for _ in 0..1000 {
            p.wait();
        }
        assert!(t.elapsed() < Duration::from_millis(100));
    }
}
