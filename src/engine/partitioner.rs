//! Choosing a partition, as Java's producer does: an explicit partition wins; a custom
//! [`Partitioner`] comes next; then keyed records go to `toPositive(murmur2(key)) % partitions`;
//! null keys (or every key, with `partitioner.ignore.keys`) use the uniform sticky partitioner
//! (KIP-480/KIP-794): stay on one partition until `batch.size` wire bytes have gone to it and
//! its batch is full (or twice `batch.size` went to it), then pick another at random among the
//! partitions that have a leader.

/// A custom partitioner, run on the sender thread (so it must be quick). Return `None` to fall
/// back to the built-in behaviour for this record, as Java's `-1` does.
pub trait Partitioner: Send + 'static {
    /// The partition for a record of `topic`, which has `partitions` partitions.
    fn partition(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partitions: i32,
    ) -> Option<i32>;
}

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`), bit for bit.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() == 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Java's `Utils.toPositive`.
#[inline]
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition Java's default partitioner gives a key.
#[inline]
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    to_positive(murmur2(key)) % partitions
}

/// Per-topic state of the uniform sticky partitioner.
#[derive(Debug, Clone, Default)]
pub struct StickyState {
    current: Option<i32>,
    /// Bytes appended to the current partition's batches since it was picked.
    produced: usize,
    /// The next record goes to a new partition.
    switch: bool,
}

/// A small, fast xorshift generator: the sticky partitioner only needs spread, not secrecy.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`: the same seed gives the same sequence (the sender seeds
    /// each producer differently; the engine's tests pass a fixed seed so their runs replay).
    /// The seed is scrambled (SplitMix64's finalizer), so nearby seeds give unrelated sequences.
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    /// Next value below `n` (n > 0).
    pub fn below(&mut self, n: u32) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (((x >> 32) * u64::from(n)) >> 32) as u32
    }
}

impl StickyState {
    /// The partition the next record goes to if it stays where the last one went (a record of
    /// a topic of `partitions` partitions); `None` when [`partition`](Self::partition) is to
    /// pick one.
    #[inline]
    pub fn current(&self, partitions: i32) -> Option<i32> {
        self.current.filter(|&p| p < partitions && !self.switch)
    }

    /// The partition for the next record. `available` lists partitions with a known leader (all
    /// partitions are used when it is empty). A new one is picked, at random and different from
    /// the current one where there is a choice, when there is none yet or [`appended`]
    /// (Self::appended) said it is time.
    ///
    /// With `queued` (KIP-794's adaptive partitioning, Java's default), the pick among
    /// `available` is weighted by how little each has waiting: partition `p` with `queued(p)`
    /// batches gets weight `max + 1 - queued(p)`, so a partition whose broker drains slowly
    /// gets fewer new records. Without it, the pick is uniform.
    pub fn partition(
        &mut self,
        partitions: i32,
        available: &[i32],
        rng: &mut Rng,
        queued: Option<&dyn Fn(i32) -> usize>,
    ) -> i32 {
        match self.current {
            Some(p) if p < partitions && !self.switch => p,
            _ => {
                let p = self.pick(partitions, available, rng, queued);
                self.current = Some(p);
                self.produced = 0;
                self.switch = false;
                p
            }
        }
    }

    /// `bytes` were appended to the current partition (a record, and the header of the batch it
    /// opened, if it did; what Java's `BuiltInPartitioner.updatePartitionInfo` counts: the wire
    /// bytes, not what the record reserved of `buffer.memory`). As in Java, the partition
    /// changes once `batch_size` bytes have gone to it and the batch the record went into is
    /// full (`full`: switching away from a batch still filling would leave it to linger half
    /// empty), or once twice that went to it in any case.
    pub fn appended(&mut self, bytes: usize, batch_size: usize, full: bool) {
        self.produced += bytes;
        let batch_size = batch_size.max(1);
        if (self.produced >= batch_size && full) || self.produced >= batch_size.saturating_mul(2) {
            self.switch = true;
        }
    }

    fn pick(
        &self,
        partitions: i32,
        available: &[i32],
        rng: &mut Rng,
        queued: Option<&dyn Fn(i32) -> usize>,
    ) -> i32 {
        // Adaptive (and a choice to make): weights `max + 1 - queued(p)`, drawn from their sum
        // without a table (two passes over `available`).
        let adaptive = queued.filter(|_| available.len() > 1).map(|q| {
            let max = available.iter().map(|&p| q(p)).max().unwrap_or(0);
            let total: u64 = available.iter().map(|&p| (max + 1 - q(p)) as u64).sum();
            (q, max, total)
        });
        let pick = |rng: &mut Rng| {
            if available.is_empty() {
                rng.below(partitions as u32) as i32
            } else if let Some((q, max, total)) = adaptive {
                let mut r = u64::from(rng.below(total.min(u32::MAX as u64) as u32));
                for &p in available {
                    let w = (max + 1 - q(p)) as u64;
                    if r < w {
                        return p;
                    }
                    r -= w;
                }
                available[available.len() - 1]
            } else {
                available[rng.below(available.len() as u32) as usize]
            }
        };
        let mut p = pick(rng);
        let choices = if available.is_empty() { partitions as usize } else { available.len() };
        if choices > 1 {
            while Some(p) == self.current {
                p = pick(rng);
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_java_vectors() {
        // From Kafka's UtilsTest.testMurmur2 and the Java partitioner's known outputs.
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
            (b"abc", 479470107),
            (b"1", -1993445489),
            (b"12", 126087238),
            (b"123", -267702483),
            (b"1234", -1614185708),
            (b"12345", -1188365604),
        ];
        for (k, want) in cases {
            assert_eq!(murmur2(k), *want, "murmur2({:?})", std::str::from_utf8(k).unwrap());
        }
        assert_eq!(partition_for_key(b"foobar", 3), to_positive(-790332482) % 3);
    }

    /// The next record of `size` bytes, its batch full or not: the partition it goes to.
    fn next(s: &mut StickyState, rng: &mut Rng, available: &[i32], size: usize, full: bool) -> i32 {
        let p = s.partition(3, available, rng, None);
        s.appended(size, 100, full);
        p
    }

    #[test]
    fn sticky_switches_after_batch_size_bytes_into_a_full_batch_and_spreads() {
        let (mut s, mut rng) = (StickyState::default(), Rng(12345));
        let first = next(&mut s, &mut rng, &[], 60, false);
        assert_eq!(next(&mut s, &mut rng, &[], 60, true), first, "stays until batch.size");
        let second = next(&mut s, &mut rng, &[], 60, false);
        assert_ne!(second, first, "switches after batch.size bytes and a full batch");
        // batch.size reached but the batch still filling: stays, up to twice batch.size.
        assert_eq!(next(&mut s, &mut rng, &[], 60, false), second);
        assert_eq!(next(&mut s, &mut rng, &[], 60, false), second);
        assert_eq!(next(&mut s, &mut rng, &[], 60, false), second, "120 bytes: still filling");
        assert_ne!(next(&mut s, &mut rng, &[], 60, false), second, "240 bytes: switches anyway");
        let mut seen = [0u32; 3];
        for _ in 0..3000 {
            seen[next(&mut s, &mut rng, &[], 100, true) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 500), "spread over partitions: {seen:?}");
        for _ in 0..100 {
            assert_eq!(next(&mut s, &mut rng, &[2], 100, true), 2, "only available partitions");
        }
    }

    /// KIP-794: with queue lengths 10, 0, 0, partition 0 weighs 1 against 11 and 11. Each pick
    /// must differ from the last, so partition 0 comes up about 1/12 of the time against 1/2
    /// for each of the others (uniform: 1/3 each).
    #[test]
    fn adaptive_sticky_sends_fewer_records_where_more_is_queued() {
        let queued = |p: i32| -> usize {
            if p == 0 {
                10
            } else {
                0
            }
        };
        let count = |adaptive: bool| {
            let (mut s, mut rng, mut seen) = (StickyState::default(), Rng(777), [0u32; 3]);
            for _ in 0..6000 {
                let q = adaptive.then_some(&queued as &dyn Fn(i32) -> usize);
                seen[s.partition(3, &[0, 1, 2], &mut rng, q) as usize] += 1;
                s.appended(100, 100, true);
            }
            seen
        };
        let adaptive = count(true);
        assert!(adaptive[0] < 900 && adaptive[1] > 2200 && adaptive[2] > 2200, "adaptive: {adaptive:?}");
        let uniform = count(false);
        assert!(uniform.iter().all(|&n| n > 1700), "uniform: {uniform:?}");
        // Equal queues: no preference.
        let (mut s, mut rng, mut seen) = (StickyState::default(), Rng(99), [0u32; 3]);
        let flat = |_: i32| -> usize { 4 };
        for _ in 0..6000 {
            seen[s.partition(3, &[0, 1, 2], &mut rng, Some(&flat)) as usize] += 1;
            s.appended(100, 100, true);
        }
        assert!(seen.iter().all(|&n| n > 1700), "equal queues: {seen:?}");
    }
}
