//! Record values and keys, prepared once so the send loop only copies bytes.

use std::sync::Arc;

use ringkafka::internals::mock::SplitMix64;

use crate::args::PayloadKind;

/// The payload PRNG: the library's [`SplitMix64`] (payload choice needs no cryptographic quality,
/// and the crate has no `rand` dependency), seeded from the clock and bounded by `usize`.
#[derive(Debug, Clone)]
pub struct Rng(SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(SplitMix64::new(seed))
    }

    /// Seeded from the clock and a stream number (each thread its own stream).
    pub fn from_time(stream: u64) -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng::new(t ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: usize) -> usize {
        self.0.below(n as u64) as usize
    }

    /// Uniform in `[0, 1)`, from the top 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Eight random bytes.
    pub fn bytes(&mut self) -> [u8; 8] {
        self.0.next_u64().to_le_bytes()
    }
}

/// The values to send, shared by all sending threads.
#[derive(Debug, Clone)]
pub enum Payloads {
    /// One buffer of random upper-case letters (Java: `random.nextInt(26) + 65`), sent as is.
    Fixed(Arc<[u8]>),
    /// Filler whose first 8 bytes are overwritten with the record number.
    Seq(Arc<[u8]>),
    /// Entries of `--payload-file`, or the `--random-bytes-ratio` pool: one chosen at random
    /// per record.
    Choice(Arc<[Box<[u8]>]>),
}

impl Payloads {
    /// Builds the payloads; `Err` is a message for the user (unreadable or empty file).
    pub fn build(kind: &PayloadKind, record_size: Option<usize>, rng: &mut Rng) -> Result<Self, String> {
        match kind {
            PayloadKind::Random => {
                let n = record_size.unwrap_or(0);
                let v: Vec<u8> = (0..n).map(|_| b'A' + rng.below(26) as u8).collect();
                Ok(Payloads::Fixed(v.into()))
            }
            PayloadKind::Seq => {
                let n = record_size.unwrap_or(8).max(8);
                let v: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
                Ok(Payloads::Seq(v.into()))
            }
            PayloadKind::Pool { random_ratio, pool } => {
                let n = record_size.unwrap_or(0);
                Ok(Payloads::Choice(random_pool(n, *random_ratio, *pool, rng).into()))
            }
            PayloadKind::File { path, delimiter } => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read --payload-file {path}: {e}"))?;
                let entries = split_entries(&text, delimiter);
                if entries.is_empty() {
                    return Err(format!("--payload-file {path} has no payloads"));
                }
                Ok(Payloads::Choice(entries.into()))
            }
        }
    }

    /// The value of record `n` (global record number), in a `Vec` the producer takes over.
    #[inline]
    pub fn value(&self, n: u64, rng: &mut Rng) -> Vec<u8> {
        match self {
            Payloads::Fixed(p) => p.to_vec(),
            Payloads::Seq(p) => {
                let mut v = p.to_vec();
                v[..8].copy_from_slice(&n.to_be_bytes());
                v
            }
            Payloads::Choice(c) => c[rng.below(c.len())].to_vec(),
        }
    }

    /// Writes the value of record `n` into `buf` (cleared first). Lets a client that copies the
    /// bytes itself (librdkafka) reuse one buffer.
    #[inline]
    pub fn value_into(&self, n: u64, rng: &mut Rng, buf: &mut Vec<u8>) {
        buf.clear();
        match self {
            Payloads::Fixed(p) => buf.extend_from_slice(p),
            Payloads::Seq(p) => {
                buf.extend_from_slice(&n.to_be_bytes());
                buf.extend_from_slice(&p[8..]);
            }
            Payloads::Choice(c) => buf.extend_from_slice(&c[rng.below(c.len())]),
        }
    }

    /// The value when it is the same for every record (no per-record work needed to build it).
    pub fn fixed(&self) -> Option<&[u8]> {
        match self {
            Payloads::Fixed(p) => Some(p),
            _ => None,
        }
    }
}

/// OMB's randomized payloads: `pool` values of `size` bytes, each its first `ratio · size` bytes
/// random (any byte value) and the rest zeros. The ratio sets how well batches compress: 1.0 is
/// incompressible, 0.0 all zeros. Records draw from the pool at random, so a batch holds
/// different values (one value repeated would compress far better than real data).
pub fn random_pool(size: usize, ratio: f64, pool: usize, rng: &mut Rng) -> Vec<Box<[u8]>> {
    let random = ((size as f64 * ratio).round() as usize).min(size);
    (0..pool)
        .map(|_| {
            let mut v = vec![0u8; size];
            for chunk in v[..random].chunks_mut(8) {
                let b = rng.bytes();
                chunk.copy_from_slice(&b[..chunk.len()]);
            }
            v.into_boxed_slice()
        })
        .collect()
}

/// Java's `String.split`: entries between delimiters, trailing empty entries dropped.
pub fn split_entries(text: &str, delimiter: &str) -> Vec<Box<[u8]>> {
    let mut v: Vec<Box<[u8]>> = text.split(delimiter).map(|s| s.as_bytes().into()).collect();
    while v.last().is_some_and(|e| e.is_empty()) {
        v.pop();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_payload_is_upper_case_letters_of_the_size() {
        let p = Payloads::build(&PayloadKind::Random, Some(100), &mut Rng::new(1)).unwrap();
        let v = p.value(0, &mut Rng::new(2));
        assert_eq!(v.len(), 100);
        assert!(v.iter().all(u8::is_ascii_uppercase));
        assert_eq!(p.value(1, &mut Rng::new(3)), v, "generated once");
    }

    #[test]
    fn seq_payload_starts_with_the_big_endian_record_number() {
        let p = Payloads::build(&PayloadKind::Seq, Some(20), &mut Rng::new(1)).unwrap();
        let v = p.value(0x0102, &mut Rng::new(1));
        assert_eq!(v.len(), 20);
        assert_eq!(&v[..8], &[0, 0, 0, 0, 0, 0, 1, 2]);
    }

    #[test]
    fn payload_file_entries_split_like_java() {
        let e = split_entries("a\nbb\n\nccc\n\n", "\n");
        let e: Vec<&[u8]> = e.iter().map(|b| &b[..]).collect();
        assert_eq!(e, vec![&b"a"[..], b"bb", b"", b"ccc"]);
        assert!(split_entries("", "\n").is_empty());
    }

    #[test]
    fn random_bytes_ratio_sets_how_much_of_each_value_is_random() {
        let mut rng = Rng::new(9);
        let pool = random_pool(100, 0.3, 50, &mut rng);
        assert_eq!(pool.len(), 50);
        assert!(pool.iter().all(|v| v.len() == 100 && v[30..].iter().all(|&b| b == 0)));
        // 30 random bytes: all zero by chance is out of the question; and values differ.
        assert!(pool.iter().all(|v| v[..30].iter().any(|&b| b != 0)));
        assert_ne!(pool[0], pool[1]);
        let p =
            Payloads::build(&PayloadKind::Pool { random_ratio: 1.0, pool: 4 }, Some(16), &mut rng).unwrap();
        let v = p.value(0, &mut rng);
        assert_eq!(v.len(), 16);
        assert!(p.fixed().is_none(), "a value per record, chosen from the pool");
        // Zero random bytes: all zeros, compressible to nothing.
        assert!(random_pool(10, 0.0, 2, &mut rng).iter().all(|v| v.iter().all(|&b| b == 0)));
    }

    #[test]
    fn unit_is_in_zero_one() {
        let mut r = Rng::new(3);
        assert!((0..1000).map(|_| r.unit()).all(|u| (0.0..1.0).contains(&u)));
    }

    #[test]
    fn rng_below_stays_in_range() {
        let mut r = Rng::new(7);
        assert!((0..1000).all(|_| r.below(5) < 5));
    }
}
