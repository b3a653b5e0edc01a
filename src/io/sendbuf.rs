//! [`SendBuf`]: what the driver writes to a connection — a buffer of bytes, with shared buffers
//! spliced in at given offsets. A Produce request is its header bytes with each record batch
//! spliced in where it goes, so the batches reach the socket (one `sendmsg`, an iovec each)
//! from where they were built, without being copied into the request.

use std::sync::Arc;

/// Bytes to write, in order: `bytes[..at₀]`, `spliced[0]`, `bytes[at₀..at₁]`, `spliced[1]`, …,
/// the rest of `bytes`. A plain `Vec<u8>` converts into one with nothing spliced.
///
/// The spliced buffers are shared (`Arc`), not moved: the engine keeps each batch it sends (to
/// send it again if the connection dies) while the driver holds it until written; the driver
/// gives its references back with the [`Sent`](super::Event::Sent) event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SendBuf {
    /// The bytes around the spliced buffers.
    pub bytes: Vec<u8>,
    /// `(at, buffer)`: `buffer` goes out just before `bytes[at..]`. `at` never decreases and is
    /// at most `bytes.len()`.
    pub spliced: Vec<(usize, Arc<Vec<u8>>)>,
}

impl SendBuf {
    /// Bytes to write in all.
    pub fn len(&self) -> usize {
        self.bytes.len() + self.spliced.iter().map(|(_, b)| b.len()).sum::<usize>()
    }

    /// True if there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Splices `buf` in at the current end of `bytes`.
    pub fn splice(&mut self, buf: Arc<Vec<u8>>) {
        self.spliced.push((self.bytes.len(), buf));
    }

    /// Empties both parts, keeping their capacity (and dropping the shared references).
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.spliced.clear();
    }

    /// The parts in the order they are written, empty ones included.
    pub fn segments(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut from = 0;
        self.spliced
            .iter()
            .flat_map(move |(at, buf)| {
                let own = &self.bytes[from..*at];
                from = *at;
                [own, &buf[..]]
            })
            .chain(std::iter::once(&self.bytes[self.spliced.last().map_or(0, |(at, _)| *at)..]))
    }

    /// The bytes as they go out, in one buffer (for tests, and for the TLS path, which encrypts
    /// them anyway).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        for s in self.segments() {
            v.extend_from_slice(s);
        }
        v
    }
}

impl From<Vec<u8>> for SendBuf {
    fn from(bytes: Vec<u8>) -> Self {
        SendBuf { bytes, spliced: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_interleave_the_bytes_and_the_spliced_buffers_in_order() {
        let mut b = SendBuf::from(b"ab".to_vec());
        b.splice(Arc::new(b"XY".to_vec()));
        b.splice(Arc::new(Vec::new()));
        b.bytes.extend_from_slice(b"cd");
        b.splice(Arc::new(b"Z".to_vec()));
        assert_eq!(b.to_vec(), b"abXYcdZ");
        assert_eq!(b.len(), 7);
        let segs: Vec<&[u8]> = b.segments().collect();
        assert_eq!(segs, [&b"ab"[..], b"XY", b"", b"", b"cd", b"Z", b""]);
        assert_eq!(SendBuf::from(b"plain".to_vec()).segments().collect::<Vec<_>>(), [&b"plain"[..]]);
    }
}
