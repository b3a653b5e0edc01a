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
}

/// The values to send, shared by all sending threads.
#[derive(Debug, Clone)]
pub enum Payloads {
    /// One buffer of random upper-case letters (Java: `random.nextInt(26) + 65`), sent as is.
    Fixed(Arc<[u8]>),
    /// Filler whose first 8 bytes are overwritten with the record number.
    Seq(Arc<[u8]>),
    /// Entries of `--payload-file`, one chosen at random per record.
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

/// Java's `String.split`: entries between delimiters, trailing empty entries dropped.
pub fn split_entries(text: &str, delimiter: &str) -> Vec<Box<[u8]>> {
    let mut v: Vec<Box<[u8]>> = text.split(delimiter).map(|s| s.as_bytes().into()).collect();
    while v.last().is_some_and(|e| e.is_empty()) {
        v.pop();
    }
    v
}

/// Keys `key-{i % K}`, made once. `None` for null keys (`--keys 0`).
pub fn make_keys(k: u64) -> Option<Arc<[Box<[u8]>]>> {
    (k > 0).then(|| (0..k).map(|i| format!("key-{i}").into_bytes().into_boxed_slice()).collect())
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
    fn keys_cycle_through_k_names() {
        assert!(make_keys(0).is_none());
        let k = make_keys(3).unwrap();
        assert_eq!(&*k[2], b"key-2");
    }

    #[test]
    fn rng_below_stays_in_range() {
        let mut r = Rng::new(7);
        assert!((0..1000).all(|_| r.below(5) < 5));
    }
}
