//! Framing: every request and response travels as an int32 byte count followed by that many
//! bytes. Encoders reserve the prefix, write the body, then back-patch the count, so a message is
//! built in one pass with no intermediate buffer.

use super::primitives::{DecodeError, DecodeResult};

/// Size of the length prefix.
pub const PREFIX_LEN: usize = 4;

/// Reserves a length prefix at the end of `buf` and returns its position for [`end_frame`].
#[inline]
pub fn begin_frame(buf: &mut Vec<u8>) -> usize {
    let at = buf.len();
    buf.extend_from_slice(&[0; PREFIX_LEN]);
    at
}

/// Back-patches the prefix reserved at `at` with the number of bytes written since.
#[inline]
pub fn end_frame(buf: &mut [u8], at: usize) {
    let len = (buf.len() - at - PREFIX_LEN) as i32;
    buf[at..at + PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
}

/// If `buf` starts with a whole frame, returns `(frame body, total bytes consumed)`.
/// `Ok(None)` means more bytes are needed. A negative size or one above `max_frame` is an error:
/// the connection must be dropped, never a buffer of that size allocated.
pub fn split_frame(buf: &[u8], max_frame: usize) -> DecodeResult<Option<(&[u8], usize)>> {
    if buf.len() < PREFIX_LEN {
        return Ok(None);
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if size < 0 {
        return Err(DecodeError::InvalidLength(size.into()));
    }
    let size = size as usize;
    if size > max_frame {
        return Err(DecodeError::LengthExceedsInput { length: size, remaining: max_frame });
    }
    if buf.len() < PREFIX_LEN + size {
        return Ok(None);
    }
    Ok(Some((&buf[PREFIX_LEN..PREFIX_LEN + size], PREFIX_LEN + size)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_patches_length_and_splits() {
        let mut buf = vec![9u8];
        let at = begin_frame(&mut buf);
        buf.extend_from_slice(b"hello");
        end_frame(&mut buf, at);
        assert_eq!(&buf[1..5], &[0, 0, 0, 5]);
        let (body, used) = split_frame(&buf[1..], 1024).unwrap().unwrap();
        assert_eq!((body, used), (&b"hello"[..], 9));
        assert_eq!(split_frame(&buf[1..8], 1024).unwrap(), None);
        assert!(split_frame(&[0xff, 0xff, 0xff, 0xff], 1024).is_err());
        assert!(split_frame(&[0x7f, 0xff, 0xff, 0xff], 1024).is_err());
    }
}
