//! Flush generations: each record is counted in the generation current when it was accepted; a
//! `flush` starts a new generation and is answered once no record of an earlier one is left.
//!
//! The room owns [`Flushes`]: the generations' counts, the flush waiters, and the count of
//! records not yet completed (`incomplete`). Its fields are private: records enter the count in
//! `records` (`Flushes::track`), leave it wherever they complete (`Flushes::finish`), and
//! whoever completes records calls `Flushes::check` to answer the flushes now done. Nothing else
//! changes these numbers.

use std::collections::VecDeque;
use std::time::Instant;

use super::{Engine, FlushWaiter};

/// The flush room's state (see the module docs).
#[derive(Default)]
pub(super) struct Flushes {
    /// The generation records accepted now are counted in.
    generation: u32,
    /// Records of `generation` not yet completed.
    current: usize,
    /// Records not yet completed per earlier generation, oldest first; a generation none is
    /// left of is dropped from the front.
    outstanding: VecDeque<(u32, usize)>,
    /// Flushes waiting, each with the generation it closed.
    waiters: Vec<(u32, FlushWaiter)>,
    /// Records accepted and not yet completed.
    incomplete: usize,
}

impl Engine {
    /// Sends everything without lingering and reports to `waiter` once every record accepted
    /// before this call has completed. `now` is the caller's clock.
    pub(crate) fn flush(&mut self, waiter: FlushWaiter, now: Instant) {
        if self.flushes.incomplete == 0 {
            waiter();
            return;
        }
        self.next_wakeup = Some(now);
        let f = &mut self.flushes;
        f.waiters.push((f.generation, waiter));
        if f.current > 0 {
            f.outstanding.push_back((f.generation, std::mem::take(&mut f.current)));
        }
        f.generation = f.generation.wrapping_add(1);
    }
}

impl Flushes {
    /// Records accepted and not yet completed.
    pub(super) fn incomplete(&self) -> usize {
        self.incomplete
    }

    /// Whether a flush is waiting (everything is then sent without lingering).
    pub(super) fn waiting(&self) -> bool {
        !self.waiters.is_empty()
    }

    /// Counts a record accepted now; returns its generation (for [`finish`](Self::finish)).
    #[inline]
    pub(super) fn track(&mut self) -> u32 {
        self.current += 1;
        self.incomplete += 1;
        self.generation
    }

    /// A record of generation `g` completed.
    pub(super) fn finish(&mut self, g: u32) {
        self.finish_n(g, 1);
    }

    /// `n` records of generation `g` completed.
    pub(super) fn finish_n(&mut self, g: u32, n: usize) {
        if n == 0 {
            return;
        }
        if g == self.generation {
            self.current -= n;
        } else if let Some(e) = self.outstanding.iter_mut().find(|(gen, _)| *gen == g) {
            e.1 -= n;
        }
        while matches!(self.outstanding.front(), Some((_, 0))) {
            self.outstanding.pop_front();
        }
        self.incomplete -= n;
    }

    /// Answers the flushes whose records have all completed.
    pub(super) fn check(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let oldest = match self.outstanding.front() {
            Some((g, _)) => Some(*g),
            None => (self.current > 0).then_some(self.generation),
        };
        let mut i = 0;
        while i < self.waiters.len() {
            let g = self.waiters[i].0;
            // Generations only grow (wrapping is harmless: 2^32 flushes in flight never happen).
            let done = match oldest {
                None => true,
                Some(o) => o.wrapping_sub(g) as i32 > 0,
            };
            if done {
                let (_, w) = self.waiters.swap_remove(i);
                w();
            } else {
                i += 1;
            }
        }
    }
}
