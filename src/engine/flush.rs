//! Flush generations: each record is counted in the generation current when it was accepted; a
//! `flush` starts a new generation and is answered once no record of an earlier one is left. The
//! room owns the generations' counts, the flush waiters, and the count of records not yet
//! completed (`incomplete`).
//!
//! Records enter the count in `records` (`track_generation`) and leave it wherever they complete
//! (`finish_generation`); nothing else changes these numbers.

use std::time::Instant;

use super::{Engine, FlushWaiter};

impl Engine {
    /// Sends everything without lingering and reports to `waiter` once every record accepted
    /// before this call has completed. `now` is the caller's clock.
    pub(crate) fn flush(&mut self, waiter: FlushWaiter, now: Instant) {
        if self.incomplete == 0 {
            waiter();
            return;
        }
        self.next_wakeup = Some(now);
        self.flush_waiters.push((self.generation, waiter));
        self.generation = self.generation.wrapping_add(1);
    }

    pub(super) fn track_generation(&mut self) -> u32 {
        let g = self.generation;
        match self.outstanding.back_mut() {
            Some((gen, n)) if *gen == g => *n += 1,
            _ => self.outstanding.push_back((g, 1)),
        }
        self.incomplete += 1;
        g
    }

    pub(super) fn finish_generation(&mut self, g: u32) {
        if let Some(e) = self.outstanding.iter_mut().find(|(gen, _)| *gen == g) {
            e.1 -= 1;
        }
        while matches!(self.outstanding.front(), Some((_, 0))) {
            self.outstanding.pop_front();
        }
        self.incomplete -= 1;
    }

    pub(super) fn check_flushes(&mut self) {
        if self.flush_waiters.is_empty() {
            return;
        }
        let oldest = self.outstanding.front().map(|(g, _)| *g);
        let mut i = 0;
        while i < self.flush_waiters.len() {
            let g = self.flush_waiters[i].0;
            // Generations only grow (wrapping is harmless: 2^32 flushes in flight never happen).
            let done = match oldest {
                None => true,
                Some(o) => o.wrapping_sub(g) as i32 > 0,
            };
            if done {
                let (_, w) = self.flush_waiters.swap_remove(i);
                w();
            } else {
                i += 1;
            }
        }
    }
}
