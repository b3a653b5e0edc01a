//! The workload every client drives, and [`Feed`]: one sending thread's records in order, with
//! the pacing, the end of the run, the warm-up, the topic and the key of each already decided,
//! so a client's loop only builds and sends records.
//!
//! Record numbers: with `--num-records N` the numbers `0..N` are split into one contiguous range
//! per sending thread (so `--payload seq` values are `0..N-1` exactly once); with `--duration`
//! alone thread `t` of `T` takes `t, t+T, t+2T, …` until the run's time is up.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::pacer::Pacer;
use crate::payload::{Payloads, Rng};
use crate::schedule::Schedule;
use crate::stats::Stats;

/// The workload every sending thread shares.
#[derive(Debug)]
pub struct Workload {
    /// Record `n` goes to `topics[n % topics.len()]` (at least one).
    pub topics: Vec<Arc<str>>,
    /// `--num-records`; `None`: as many as the time allows.
    pub num_records: Option<u64>,
    /// How long the run sends: `--duration`, or a schedule's length when nothing else bounds it.
    pub duration: Option<Duration>,
    /// Records 0..warmup_records warm up (see `Stats::start_steady_state`).
    pub warmup_records: u64,
    /// Sending threads over all producers.
    pub threads: usize,
    /// Records per second over all threads, over time; `None` = unlimited.
    pub schedule: Option<Schedule>,
    pub payloads: Payloads,
    pub keys: Keys,
    /// `--random-seed`: each thread's random stream is derived from it (else from the clock).
    pub seed: Option<u64>,
    /// `--pacer-spin-us`: how long before each record's slot the pacer spins (see `pacer`).
    pub pacer_spin: Duration,
}

impl Workload {
    /// The record numbers thread `t` sends, and the step between them.
    pub fn range(&self, t: usize) -> (Range<u64>, u64) {
        match self.num_records {
            Some(n) => {
                let share = |t: usize| (n as u128 * t as u128 / self.threads as u128) as u64;
                (share(t)..share(t + 1), 1)
            }
            None => (t as u64..u64::MAX, self.threads as u64),
        }
    }

    /// Thread `t`'s schedule: its share of the total.
    pub fn thread_schedule(&self, t: usize) -> Option<Schedule> {
        let share = match self.num_records {
            Some(0) => 1.0 / self.threads as f64,
            Some(n) => {
                let r = self.range(t).0;
                (r.end - r.start) as f64 / n as f64
            }
            None => 1.0 / self.threads as f64,
        };
        self.schedule.as_ref().map(|s| s.scaled(share))
    }

    /// The records thread `t` sends, paced from `start`; outcomes of the warm-up's end and the
    /// number sent go to `stats`.
    pub fn feed<'a>(&'a self, t: usize, start: Instant, stats: &'static Stats) -> Feed<'a> {
        let (range, step) = self.range(t);
        Feed {
            w: self,
            pacer: Pacer::with_schedule(start, self.thread_schedule(t), self.pacer_spin),
            rng: match self.seed {
                Some(s) => Rng::new(s ^ (t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                None => Rng::from_time(t as u64),
            },
            next: range.start,
            end: range.end,
            step,
            deadline: self.duration.map(|d| start + d),
            stats,
            sent: 0,
            done: false,
        }
    }

    /// The topic of a [`Slot`].
    #[inline]
    pub fn topic(&self, slot: &Slot) -> &Arc<str> {
        &self.topics[slot.topic]
    }

    /// The key of a [`Slot`] (`None`: a null key).
    #[inline]
    pub fn key(&self, slot: &Slot) -> Option<&[u8]> {
        slot.key.map(|k| &*self.keys.names[k as usize])
    }
}

/// One record's place in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// The record number (the `--payload seq` value).
    pub n: u64,
    /// When it was meant to be sent: latency is measured from here.
    pub intended: Instant,
    /// How late the pacer let it go after `intended` (the tool's own share of its latency).
    pub late: Duration,
    /// Index into `Workload::topics`.
    pub topic: usize,
    /// Index into the key names; `None` for a null key.
    pub key: Option<u32>,
}

/// One sending thread's records, in order (see the module doc).
#[derive(Debug)]
pub struct Feed<'a> {
    w: &'a Workload,
    pacer: Pacer,
    /// This thread's random stream (keys, payload choice).
    pub rng: Rng,
    next: u64,
    end: u64,
    step: u64,
    deadline: Option<Instant>,
    stats: &'static Stats,
    sent: u64,
    done: bool,
}

impl Feed<'_> {
    /// Waits until the next record is due and returns it; `None` once the records or the time
    /// are used up (the count sent is then added to the stats).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Slot> {
        if self.done {
            return None;
        }
        let over = self.next >= self.end
            || self.deadline.is_some_and(|d| self.pacer.due().is_some_and(|due| due >= d));
        let intended = if over { None } else { Some(self.pacer.wait()) };
        let Some(intended) = intended.filter(|i| self.deadline.is_none_or(|d| *i < d)) else {
            self.done = true;
            self.stats.add_sent(self.sent);
            return None;
        };
        let n = self.next;
        self.next = self.next.saturating_add(self.step);
        self.sent += 1;
        if n == self.w.warmup_records && n > 0 {
            self.stats.start_steady_state(intended);
        }
        let topic = (n % self.w.topics.len() as u64) as usize;
        let key = self.w.keys.pick(n, &mut self.rng);
        Some(Slot { n, intended, late: self.pacer.last_late(), topic, key })
    }

    /// The value of a record, in a `Vec` the producer takes over.
    #[inline]
    pub fn value(&mut self, slot: &Slot) -> Vec<u8> {
        self.w.payloads.value(slot.n, &mut self.rng)
    }

    /// Writes the value of a record into `buf` (for clients that copy it themselves).
    #[inline]
    pub fn value_into(&mut self, slot: &Slot, buf: &mut Vec<u8>) {
        self.w.payloads.value_into(slot.n, &mut self.rng, buf)
    }
}

/// How each record's key is chosen (`--key-distribution`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDistribution {
    /// Null keys.
    None,
    /// Key `n % K` for record `n`.
    Sequential,
    /// Any of the K keys, equally likely.
    Uniform,
    /// Key `k` (0-based rank) with probability proportional to `1 / (k+1)^s`.
    Zipf { exponent: f64 },
}

/// The K key names (`key-0` … `key-{K-1}`, made once) and how each record picks one.
#[derive(Debug, Clone)]
pub struct Keys {
    names: Arc<[Box<[u8]>]>,
    pick: Pick,
}

#[derive(Debug, Clone)]
enum Pick {
    None,
    Sequential,
    Uniform,
    Zipf(Zipf),
}

impl Keys {
    /// `count` key names picked by `dist` (`count` is ignored for `None`).
    pub fn new(dist: KeyDistribution, count: u64) -> Self {
        let (pick, count) = match dist {
            KeyDistribution::None => (Pick::None, 0),
            KeyDistribution::Sequential => (Pick::Sequential, count),
            KeyDistribution::Uniform => (Pick::Uniform, count),
            KeyDistribution::Zipf { exponent } => (Pick::Zipf(Zipf::new(count, exponent)), count),
        };
        let names = (0..count).map(|i| format!("key-{i}").into_bytes().into_boxed_slice()).collect();
        Keys { names, pick }
    }

    /// The key index of record `n`.
    #[inline]
    pub fn pick(&self, n: u64, rng: &mut Rng) -> Option<u32> {
        let k = self.names.len() as u64;
        match &self.pick {
            Pick::None => None,
            Pick::Sequential => Some((n % k) as u32),
            Pick::Uniform => Some(rng.below(k as usize) as u32),
            Pick::Zipf(z) => Some((z.sample(rng) - 1) as u32),
        }
    }
}

/// Zipf-distributed ranks `1..=n` with exponent `s` in O(1) per sample and no table, by
/// rejection-inversion (Hörmann and Derflinger, "Rejection-inversion to generate variates from
/// monotone discrete distributions", 1996): invert the integral `H` of the continuous density
/// `x^-s` over `[0.5, n + 0.5]`, round to the nearest rank, and accept it when the point falls
/// under that rank's share; the rejection rate is small for every `s > 0`.
#[derive(Debug, Clone, Copy)]
pub struct Zipf {
    n: f64,
    s: f64,
    /// `H(1.5) - 1`: the upper end of the sampled interval (the part of rank 1 above `H(1.5)`).
    h_x1: f64,
    /// `H(n + 0.5)`.
    h_n: f64,
    /// A shortcut bound: a candidate this close to its rank is always accepted.
    squeeze: f64,
}

impl Zipf {
    pub fn new(n: u64, s: f64) -> Self {
        let mut z = Zipf { n: n as f64, s, h_x1: 0.0, h_n: 0.0, squeeze: 0.0 };
        z.h_x1 = z.big_h(1.5) - 1.0;
        z.h_n = z.big_h(z.n + 0.5);
        z.squeeze = 2.0 - z.big_h_inv(z.big_h(2.5) - z.h(2.0));
        z
    }

    /// The density `x^-s`.
    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    /// Its integral, `(x^(1-s) - 1) / (1-s)` (`ln x` at `s = 1`), written to stay accurate
    /// near `s = 1`.
    fn big_h(&self, x: f64) -> f64 {
        let l = x.ln();
        expm1_over_x((1.0 - self.s) * l) * l
    }

    /// The inverse of `big_h`.
    fn big_h_inv(&self, y: f64) -> f64 {
        let t = (y * (1.0 - self.s)).max(-1.0);
        (ln1p_over_x(t) * y).exp()
    }

    /// A rank in `1..=n`.
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        loop {
            let u = self.h_n + rng.unit() * (self.h_x1 - self.h_n);
            let x = self.big_h_inv(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.squeeze || u >= self.big_h(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }
}

/// `(e^x - 1) / x`, 1 at 0.
fn expm1_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x / 2.0 * (1.0 + x / 3.0 * (1.0 + x / 4.0))
    }
}

/// `ln(1 + x) / x`, 1 at 0.
fn ln1p_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - x / 4.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(n: Option<u64>, threads: usize, rate: Option<f64>) -> Workload {
        Workload {
            topics: vec!["a".into(), "b".into()],
            num_records: n,
            duration: None,
            warmup_records: 0,
            threads,
            schedule: rate.map(Schedule::constant),
            payloads: Payloads::Fixed(Arc::from(&b"x"[..])),
            keys: Keys::new(KeyDistribution::Sequential, 3),
            seed: Some(1),
            pacer_spin: crate::pacer::DEFAULT_SPIN,
        }
    }

    fn stats() -> &'static Stats {
        Box::leak(Box::new(Stats::new(Instant::now())))
    }

    #[test]
    fn records_split_evenly_and_cover_all_numbers() {
        let w = workload(Some(10), 3, Some(1000.0));
        let ranges: Vec<_> = (0..3).map(|t| w.range(t).0).collect();
        assert_eq!(ranges, vec![0..3, 3..6, 6..10]);
        let total: f64 = (0..3).map(|t| w.thread_schedule(t).unwrap().rate_at(0.0)).sum();
        assert!((total - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn a_feed_gives_its_range_with_topics_and_keys_then_ends() {
        let w = workload(Some(10), 3, None);
        let st = stats();
        let mut f = w.feed(2, Instant::now(), st);
        let slots: Vec<Slot> = std::iter::from_fn(|| f.next()).collect();
        assert_eq!(slots.iter().map(|s| s.n).collect::<Vec<_>>(), vec![6, 7, 8, 9]);
        assert_eq!(slots.iter().map(|s| s.topic).collect::<Vec<_>>(), vec![0, 1, 0, 1]);
        assert_eq!(w.topic(&slots[1]).as_ref(), "b");
        assert_eq!(w.key(&slots[1]), Some(&b"key-1"[..]), "record 7: key 7 % 3");
        assert!(f.next().is_none());
        assert_eq!(st.sent(), 4);
    }

    #[test]
    fn a_duration_ends_the_feed_and_threads_interleave_numbers() {
        let mut w = workload(None, 2, Some(1000.0));
        w.duration = Some(Duration::from_millis(20));
        let st = stats();
        let start = Instant::now();
        let mut f = w.feed(1, start, st);
        let slots: Vec<Slot> = std::iter::from_fn(|| f.next()).collect();
        // 500/s for this thread over 20 ms: records due at 0, 2, …, 18 ms.
        assert_eq!(slots.len(), 10);
        assert_eq!(slots.iter().map(|s| s.n).take(3).collect::<Vec<_>>(), vec![1, 3, 5]);
        assert!(slots.iter().all(|s| s.intended < start + Duration::from_millis(20)));
        assert_eq!(st.sent(), 10);
    }

    #[test]
    fn unlimited_with_a_duration_stops_when_time_is_up() {
        let mut w = workload(None, 1, None);
        w.duration = Some(Duration::from_millis(30));
        let start = Instant::now();
        let mut f = w.feed(0, start, stats());
        let mut count = 0u64;
        while f.next().is_some() {
            count += 1;
        }
        assert!(count > 0);
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn key_distributions_pick_within_the_keys() {
        let mut rng = Rng::new(5);
        let none = Keys::new(KeyDistribution::None, 10);
        assert_eq!(none.pick(3, &mut rng), None);
        let seq = Keys::new(KeyDistribution::Sequential, 10);
        assert_eq!(seq.pick(13, &mut rng), Some(3));
        let uni = Keys::new(KeyDistribution::Uniform, 10);
        let mut seen = [0u32; 10];
        for n in 0..10_000 {
            seen[uni.pick(n, &mut rng).unwrap() as usize] += 1;
        }
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "uniform: {seen:?}");
    }

    #[test]
    fn zipf_frequencies_follow_the_power_law() {
        for s in [0.5, 0.99, 1.0, 1.5] {
            let n = 50u64;
            let z = Zipf::new(n, s);
            let mut rng = Rng::new(42);
            let draws = 400_000;
            let mut counts = vec![0u64; n as usize];
            for _ in 0..draws {
                let k = z.sample(&mut rng);
                assert!((1..=n).contains(&k));
                counts[(k - 1) as usize] += 1;
            }
            let norm: f64 = (1..=n).map(|k| (k as f64).powf(-s)).sum();
            for k in [1u64, 2, 5, 20, 50] {
                let expected = draws as f64 * (k as f64).powf(-s) / norm;
                let got = counts[(k - 1) as usize] as f64;
                // Five standard deviations of a binomial count.
                let tol = 5.0 * expected.sqrt() + 1.0;
                assert!((got - expected).abs() < tol, "s={s} rank {k}: {got} vs {expected:.0}");
            }
        }
    }

    #[test]
    fn zipf_with_one_key_always_picks_it() {
        let z = Zipf::new(1, 0.99);
        let mut rng = Rng::new(1);
        assert!((0..100).all(|_| z.sample(&mut rng) == 1));
    }
}
