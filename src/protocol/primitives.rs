//! Kafka's primitive wire types: fixed-width big-endian integers, zig-zag varints, unsigned
//! varints, strings, byte arrays and arrays in their classic (int16/int32 length) and compact
//! (unsigned varint length + 1) forms, UUIDs and tagged-field sections.
//!
//! Decoding reads from a borrowed slice through [`Reader`], checking every length against what is
//! left before it slices or allocates, so a hostile length can neither panic nor make us allocate
//! more than the input holds. Encoding appends to a `Vec<u8>` through the [`Writer`] extension
//! trait; lengths that are only known later are back-patched (see [`super::frame`]).

use std::fmt;

/// Why bytes could not be decoded. Every malformation has its own variant so a caller (and a log
/// line) can say exactly what the peer got wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended `needed` bytes into a field that had only `remaining` left.
    UnexpectedEof { needed: usize, remaining: usize },
    /// A length prefix was negative where only `-1` (null) or non-negative values are allowed.
    InvalidLength(i64),
    /// A length prefix claims more bytes (or array elements) than the input can possibly hold.
    LengthExceedsInput { length: usize, remaining: usize },
    /// A varint ran past its maximum width.
    VarintTooLong,
    /// A string was not valid UTF-8.
    InvalidUtf8,
    /// A null appeared in a field that is not nullable in this version.
    UnexpectedNull(&'static str),
    /// A field held a value outside its domain (e.g. a record batch with magic 1).
    InvalidValue { field: &'static str, value: i64 },
    /// A record batch's CRC-32C did not match its contents.
    CrcMismatch { expected: u32, actual: u32 },
    /// Bytes were left over after a message that should have consumed its whole frame.
    TrailingBytes(usize),
    /// The message was asked for at a version this codec does not implement.
    UnsupportedVersion { api_key: i16, version: i16 },
    /// A compressed record batch would decompress past the caller's limit (a decompression bomb,
    /// or a limit set too low).
    DecompressedTooLarge { limit: usize },
    /// A compressed record batch's records section was not valid for its codec.
    Decompression { codec: &'static str, reason: String },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnexpectedEof { needed, remaining } => {
                write!(f, "input ended: needed {needed} bytes, {remaining} left")
            }
            DecodeError::InvalidLength(n) => write!(f, "invalid length prefix {n}"),
            DecodeError::LengthExceedsInput { length, remaining } => {
                write!(f, "length {length} exceeds the {remaining} bytes left")
            }
            DecodeError::VarintTooLong => write!(f, "varint longer than its maximum width"),
            DecodeError::InvalidUtf8 => write!(f, "string is not valid UTF-8"),
            DecodeError::UnexpectedNull(field) => write!(f, "unexpected null in {field}"),
            DecodeError::InvalidValue { field, value } => {
                write!(f, "invalid value {value} for {field}")
            }
            DecodeError::CrcMismatch { expected, actual } => {
                write!(f, "CRC-32C mismatch: header says {expected:#010x}, data gives {actual:#010x}")
            }
            DecodeError::TrailingBytes(n) => write!(f, "{n} trailing bytes after message"),
            DecodeError::UnsupportedVersion { api_key, version } => {
                write!(f, "api key {api_key} version {version} is not supported by this codec")
            }
            DecodeError::DecompressedTooLarge { limit } => {
                write!(f, "record batch decompresses to more than the {limit}-byte limit")
            }
            DecodeError::Decompression { codec, reason } => {
                write!(f, "invalid {codec} data in record batch: {reason}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Result of a decode step.
pub type DecodeResult<T> = Result<T, DecodeError>;

/// A cursor over borrowed bytes. All reads are bounds-checked; none panics.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader positioned at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Offset of the next byte to read from the start of the input.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Fails with [`DecodeError::TrailingBytes`] unless the input is used up.
    pub fn finish(&self) -> DecodeResult<()> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }

    /// The next `n` bytes, borrowed.
    pub fn take(&mut self, n: usize) -> DecodeResult<&'a [u8]> {
        if n > self.remaining() {
            return Err(DecodeError::UnexpectedEof { needed: n, remaining: self.remaining() });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn fixed<const N: usize>(&mut self) -> DecodeResult<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn i8(&mut self) -> DecodeResult<i8> {
        Ok(i8::from_be_bytes(self.fixed()?))
    }
    pub fn i16(&mut self) -> DecodeResult<i16> {
        Ok(i16::from_be_bytes(self.fixed()?))
    }
    pub fn i32(&mut self) -> DecodeResult<i32> {
        Ok(i32::from_be_bytes(self.fixed()?))
    }
    pub fn i64(&mut self) -> DecodeResult<i64> {
        Ok(i64::from_be_bytes(self.fixed()?))
    }
    pub fn u32(&mut self) -> DecodeResult<u32> {
        Ok(u32::from_be_bytes(self.fixed()?))
    }
    /// A 16-byte UUID as raw bytes.
    pub fn uuid(&mut self) -> DecodeResult<[u8; 16]> {
        self.fixed()
    }
    /// A boolean: any non-zero byte is true, as in the Java implementation.
    pub fn bool(&mut self) -> DecodeResult<bool> {
        Ok(self.i8()? != 0)
    }

    /// An unsigned LEB128 varint of at most 5 bytes (32 bits).
    pub fn uvarint(&mut self) -> DecodeResult<u32> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.i8()? as u8;
            if i == 4 && b > 0x0f {
                return Err(DecodeError::VarintTooLong);
            }
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintTooLong)
    }

    /// An unsigned LEB128 varlong of at most 10 bytes (64 bits).
    pub fn uvarlong(&mut self) -> DecodeResult<u64> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let b = self.i8()? as u8;
            if i == 9 && b > 0x01 {
                return Err(DecodeError::VarintTooLong);
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintTooLong)
    }

    /// A zig-zag signed varint (32 bits).
    pub fn varint(&mut self) -> DecodeResult<i32> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i32) ^ -((u & 1) as i32))
    }

    /// A zig-zag signed varlong (64 bits).
    pub fn varlong(&mut self) -> DecodeResult<i64> {
        let u = self.uvarlong()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// Checks that `len` units of at least `min_unit` bytes each can fit in what is left.
    fn check_len(&self, len: usize, min_unit: usize) -> DecodeResult<usize> {
        let bytes = len.saturating_mul(min_unit);
        if bytes > self.remaining() {
            return Err(DecodeError::LengthExceedsInput { length: len, remaining: self.remaining() });
        }
        Ok(len)
    }

    /// Length of a classic string (int16 prefix); `None` for null (-1).
    fn classic_str_len(&mut self) -> DecodeResult<Option<usize>> {
        match self.i16()? {
            -1 => Ok(None),
            n if n < 0 => Err(DecodeError::InvalidLength(n.into())),
            n => self.check_len(n as usize, 1).map(Some),
        }
    }

    /// Length of a compact string/bytes/array (unsigned varint N+1); `None` for null (0).
    fn compact_len(&mut self, min_unit: usize) -> DecodeResult<Option<usize>> {
        match self.uvarint()? {
            0 => Ok(None),
            n => self.check_len((n - 1) as usize, min_unit).map(Some),
        }
    }

    fn utf8(bytes: &'a [u8]) -> DecodeResult<&'a str> {
        std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)
    }

    /// A string; `flexible` picks the compact form. Null is an error here.
    pub fn string(&mut self, flexible: bool, field: &'static str) -> DecodeResult<&'a str> {
        self.nullable_string(flexible)?.ok_or(DecodeError::UnexpectedNull(field))
    }

    /// A nullable string; `flexible` picks the compact form.
    pub fn nullable_string(&mut self, flexible: bool) -> DecodeResult<Option<&'a str>> {
        let len = if flexible { self.compact_len(1)? } else { self.classic_str_len()? };
        match len {
            None => Ok(None),
            Some(n) => Ok(Some(Self::utf8(self.take(n)?)?)),
        }
    }

    /// Nullable bytes; `flexible` picks the compact form, otherwise an int32 length.
    pub fn nullable_bytes(&mut self, flexible: bool) -> DecodeResult<Option<&'a [u8]>> {
        let len = if flexible {
            self.compact_len(1)?
        } else {
            match self.i32()? {
                -1 => None,
                n if n < 0 => return Err(DecodeError::InvalidLength(n.into())),
                n => Some(self.check_len(n as usize, 1)?),
            }
        };
        match len {
            None => Ok(None),
            Some(n) => Ok(Some(self.take(n)?)),
        }
    }

    /// Non-null bytes; `flexible` picks the compact form.
    pub fn bytes(&mut self, flexible: bool, field: &'static str) -> DecodeResult<&'a [u8]> {
        self.nullable_bytes(flexible)?.ok_or(DecodeError::UnexpectedNull(field))
    }

    /// The element count of a nullable array whose elements take at least `min_elem` bytes each;
    /// `None` for a null array. The count is checked against the bytes left, so a caller may
    /// `Vec::with_capacity` it safely.
    pub fn nullable_array_len(&mut self, flexible: bool, min_elem: usize) -> DecodeResult<Option<usize>> {
        let min_elem = min_elem.max(1);
        if flexible {
            self.compact_len(min_elem)
        } else {
            match self.i32()? {
                -1 => Ok(None),
                n if n < 0 => Err(DecodeError::InvalidLength(n.into())),
                n => self.check_len(n as usize, min_elem).map(Some),
            }
        }
    }

    /// The element count of a non-null array (see [`Reader::nullable_array_len`]).
    pub fn array_len(&mut self, flexible: bool, min_elem: usize, field: &'static str) -> DecodeResult<usize> {
        self.nullable_array_len(flexible, min_elem)?.ok_or(DecodeError::UnexpectedNull(field))
    }

    /// Decodes a non-null array with `f` for each element.
    pub fn array<T>(
        &mut self,
        flexible: bool,
        min_elem: usize,
        field: &'static str,
        mut f: impl FnMut(&mut Self) -> DecodeResult<T>,
    ) -> DecodeResult<Vec<T>> {
        let n = self.array_len(flexible, min_elem, field)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(f(self)?);
        }
        Ok(out)
    }

    /// Reads a tagged-field section, handing each `(tag, bytes)` to `f`. Tags `f` does not know
    /// it should ignore: unknown tagged fields are skipped, as the protocol requires.
    pub fn tagged_fields(
        &mut self,
        mut f: impl FnMut(u32, &'a [u8]) -> DecodeResult<()>,
    ) -> DecodeResult<()> {
        let n = self.uvarint()? as usize;
        // Each tagged field takes at least two bytes (tag + size).
        self.check_len(n, 2)?;
        for _ in 0..n {
            let tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            let data = self.take(size)?;
            f(tag, data)?;
        }
        Ok(())
    }

    /// Skips a tagged-field section entirely.
    pub fn skip_tagged_fields(&mut self) -> DecodeResult<()> {
        self.tagged_fields(|_, _| Ok(()))
    }
}

/// Number of bytes `v` takes as an unsigned varint: one per 7 bits from the highest set bit
/// down, at least one. Branch-free: `h / 7` for the highest bit's index `h` (0..=63) is
/// `h * 37 >> 8` over that range.
#[inline]
pub fn uvarint_len(v: u64) -> usize {
    let high = 63 - (v | 1).leading_zeros() as usize;
    ((high * 37) >> 8) + 1
}

/// Number of bytes `v` takes as a zig-zag varint/varlong.
#[inline]
pub fn varlong_len(v: i64) -> usize {
    uvarint_len(((v << 1) ^ (v >> 63)) as u64)
}

/// Appending Kafka primitives to a byte buffer.
pub trait Writer {
    fn put_i8(&mut self, v: i8);
    fn put_i16(&mut self, v: i16);
    fn put_i32(&mut self, v: i32);
    fn put_i64(&mut self, v: i64);
    fn put_u32(&mut self, v: u32);
    fn put_bool(&mut self, v: bool);
    fn put_uuid(&mut self, v: &[u8; 16]);
    fn put_slice(&mut self, v: &[u8]);
    fn put_uvarint(&mut self, v: u32);
    fn put_uvarlong(&mut self, v: u64);
    fn put_varint(&mut self, v: i32);
    fn put_varlong(&mut self, v: i64);
    /// A string in classic (int16 length) or compact form.
    fn put_string(&mut self, v: &str, flexible: bool);
    /// A nullable string; `None` is written as null.
    fn put_nullable_string(&mut self, v: Option<&str>, flexible: bool);
    /// Nullable bytes in classic (int32 length) or compact form.
    fn put_nullable_bytes(&mut self, v: Option<&[u8]>, flexible: bool);
    /// An array length prefix (classic int32 or compact N+1).
    fn put_array_len(&mut self, n: usize, flexible: bool);
    /// A null array.
    fn put_null_array(&mut self, flexible: bool);
    /// An empty tagged-field section (only in flexible versions).
    fn put_empty_tagged_fields(&mut self);
}

impl Writer for Vec<u8> {
    #[inline]
    fn put_i8(&mut self, v: i8) {
        self.push(v as u8);
    }
    #[inline]
    fn put_i16(&mut self, v: i16) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    fn put_i32(&mut self, v: i32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    fn put_i64(&mut self, v: i64) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    fn put_bool(&mut self, v: bool) {
        self.push(u8::from(v));
    }
    #[inline]
    fn put_uuid(&mut self, v: &[u8; 16]) {
        self.extend_from_slice(v);
    }
    #[inline]
    fn put_slice(&mut self, v: &[u8]) {
        self.extend_from_slice(v);
    }
    #[inline]
    fn put_uvarint(&mut self, v: u32) {
        self.put_uvarlong(u64::from(v));
    }
    #[inline]
    fn put_uvarlong(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.push(v as u8);
    }
    #[inline]
    fn put_varint(&mut self, v: i32) {
        self.put_uvarint(((v << 1) ^ (v >> 31)) as u32);
    }
    #[inline]
    fn put_varlong(&mut self, v: i64) {
        self.put_uvarlong(((v << 1) ^ (v >> 63)) as u64);
    }
    fn put_string(&mut self, v: &str, flexible: bool) {
        self.put_nullable_string(Some(v), flexible);
    }
    fn put_nullable_string(&mut self, v: Option<&str>, flexible: bool) {
        match (v, flexible) {
            (None, true) => self.put_uvarint(0),
            (None, false) => self.put_i16(-1),
            (Some(s), true) => {
                self.put_uvarint(s.len() as u32 + 1);
                self.extend_from_slice(s.as_bytes());
            }
            (Some(s), false) => {
                self.put_i16(s.len() as i16);
                self.extend_from_slice(s.as_bytes());
            }
        }
    }
    fn put_nullable_bytes(&mut self, v: Option<&[u8]>, flexible: bool) {
        match (v, flexible) {
            (None, true) => self.put_uvarint(0),
            (None, false) => self.put_i32(-1),
            (Some(b), true) => {
                self.put_uvarint(b.len() as u32 + 1);
                self.extend_from_slice(b);
            }
            (Some(b), false) => {
                self.put_i32(b.len() as i32);
                self.extend_from_slice(b);
            }
        }
    }
    fn put_array_len(&mut self, n: usize, flexible: bool) {
        if flexible {
            self.put_uvarint(n as u32 + 1);
        } else {
            self.put_i32(n as i32);
        }
    }
    fn put_null_array(&mut self, flexible: bool) {
        if flexible {
            self.put_uvarint(0);
        } else {
            self.put_i32(-1);
        }
    }
    fn put_empty_tagged_fields(&mut self) {
        self.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The branch-free width is the encoder's, on both sides of every 7-bit boundary.
    #[test]
    fn uvarint_len_is_the_encoded_width() {
        let mut values = vec![0u64, 1, u64::MAX];
        for bit in 0..64 {
            let p = 1u64 << bit;
            values.extend([p - 1, p, p + 1]);
        }
        for v in values {
            let mut buf = Vec::new();
            buf.put_uvarlong(v);
            assert_eq!(uvarint_len(v), buf.len(), "width of {v:#x}");
        }
    }

    #[test]
    fn varint_golden_bytes_match_kafka() {
        // Values from Kafka's ByteUtilsTest.
        let cases: &[(i32, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for &(v, bytes) in cases {
            let mut buf = Vec::new();
            buf.put_varint(v);
            assert_eq!(buf, bytes, "encoding {v}");
            assert_eq!(Reader::new(bytes).varint().unwrap(), v, "decoding {v}");
        }
    }

    #[test]
    fn hostile_lengths_are_typed_errors() {
        // Array claiming 2^31-1 elements of 4 bytes from an 8-byte input.
        let mut r = Reader::new(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        assert!(matches!(r.array_len(false, 4, "x"), Err(DecodeError::LengthExceedsInput { .. })));
        let mut r = Reader::new(&[0xff, 0xfe]);
        assert_eq!(r.nullable_string(false), Err(DecodeError::InvalidLength(-2)));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(r.uvarint(), Err(DecodeError::VarintTooLong));
    }
}
