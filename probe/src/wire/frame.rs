//! Frames: a 5-byte header (the payload's length, u32 little-endian, and a kind, u8) and a
//! payload under a cap, read by a decoder that allocates nothing past the cap and resumes after
//! a read timeout.

use std::io::{self, Read, Write};

use super::WireError;

/// Bytes of a frame's header: the payload length (u32, little-endian) and the kind (u8).
pub const HEADER_LEN: usize = 5;

/// What a frame carries. The number is the header's kind byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// The server's hello, its first frame ([`ServerHello`](super::ServerHello)).
    ServerHello = 1,
    /// The client's answer ([`ClientHello`](super::ClientHello)).
    ClientHello = 2,
    /// A message to show a person, often a refusal before the server closes
    /// ([`Notice`](super::Notice)).
    Notice = 3,
    /// The server accepted the client's hello; data follows.
    Welcome = 4,
    /// A whole message of the caller's: a tag byte, then the caller's bytes.
    Data = 5,
    /// A piece of a message too large for one frame ([`pieces`](super::pieces)).
    Piece = 6,
    /// How many messages the server dropped for this client so far (postcard `u64`).
    Dropped = 7,
}

impl Kind {
    /// The kind of a header's byte, if this version knows it.
    pub fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Self::ServerHello,
            2 => Self::ClientHello,
            3 => Self::Notice,
            4 => Self::Welcome,
            5 => Self::Data,
            6 => Self::Piece,
            7 => Self::Dropped,
            _ => return None,
        })
    }
}

/// One decoded frame, borrowing the decoder's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The header's kind byte (see [`Kind::from_byte`]; an unknown one is a newer minor version's).
    pub kind: u8,
    /// The payload.
    pub payload: &'a [u8],
}

/// Appends one frame to `out`.
///
/// # Errors
///
/// [`WireError::FrameTooLarge`] if the payload is larger than `cap`.
pub fn encode(kind: Kind, payload: &[u8], cap: usize, out: &mut Vec<u8>) -> Result<(), WireError> {
    encode_parts(kind, &[payload], cap, out)
}

/// Appends one frame whose payload is `parts` one after the other.
pub(crate) fn encode_parts(
    kind: Kind,
    parts: &[&[u8]],
    cap: usize,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let len: usize = parts.iter().map(|part| part.len()).sum();
    let too_large = WireError::FrameTooLarge {
        announced: len as u64,
        cap,
    };
    if len > cap {
        return Err(too_large);
    }
    let len32 = u32::try_from(len).map_err(|_| too_large)?;
    out.reserve(HEADER_LEN + len);
    out.extend_from_slice(&len32.to_le_bytes());
    out.push(kind as u8);
    for part in parts {
        out.extend_from_slice(part);
    }
    Ok(())
}

/// Writes one frame.
///
/// # Errors
///
/// [`WireError::FrameTooLarge`] over `cap`, or the writer's error.
pub fn write(
    writer: &mut impl Write,
    kind: Kind,
    payload: &[u8],
    cap: usize,
) -> Result<(), WireError> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
    encode(kind, payload, cap, &mut bytes)?;
    writer.write_all(&bytes)?;
    writer.flush()?;
    Ok(())
}

/// Reads frames from a byte stream, one at a time, into one buffer never larger than its cap.
///
/// A read that fails with a timeout (`WouldBlock`, `TimedOut`) keeps what was read so far: call
/// [`read_frame`](Self::read_frame) again to go on. Any other error leaves the stream out of
/// step, and every later call returns an error.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    cap: usize,
    header: [u8; HEADER_LEN],
    header_filled: usize,
    payload: Vec<u8>,
    payload_filled: usize,
    /// The last call returned a frame: the next one starts a new frame.
    returned: bool,
    /// The stream is out of step (a refused header, a truncated frame).
    broken: bool,
}

impl<R: Read> FrameReader<R> {
    /// A reader of frames whose payloads are at most `cap` bytes.
    pub fn new(inner: R, cap: usize) -> Self {
        Self {
            inner,
            cap,
            header: [0; HEADER_LEN],
            header_filled: 0,
            payload: Vec::new(),
            payload_filled: 0,
            returned: false,
            broken: false,
        }
    }

    /// The next frame, or `None` at the end of the stream between two frames (a connection
    /// reset is an end too: a peer that leaves with bytes unread causes one).
    ///
    /// # Errors
    ///
    /// [`WireError::FrameTooLarge`] for a header announcing more than the cap (nothing is
    /// allocated for it), [`WireError::Truncated`] at the end of the stream inside a frame, or
    /// the stream's error (retry after a timeout, see [`WireError::is_timeout`]).
    pub fn read_frame(&mut self) -> Result<Option<Frame<'_>>, WireError> {
        if self.broken {
            return Err(WireError::malformed(
                "frame stream",
                "out of step after an earlier error",
            ));
        }
        if self.returned {
            self.returned = false;
            self.header_filled = 0;
            self.payload_filled = 0;
        }
        while self.header_filled < HEADER_LEN {
            let n = match self.inner.read(&mut self.header[self.header_filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A peer that closes with bytes of ours unread leaves this way (Unix sockets
                // report it so): the end of the stream like any other.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => 0,
                Err(e) => return Err(self.fail_io(e)),
            };
            if n == 0 {
                if self.header_filled == 0 {
                    return Ok(None);
                }
                self.broken = true;
                return Err(WireError::Truncated);
            }
            self.header_filled += n;
            if self.header_filled == HEADER_LEN {
                let len = self.announced();
                if len > self.cap as u64 {
                    self.broken = true;
                    return Err(WireError::FrameTooLarge {
                        announced: len,
                        cap: self.cap,
                    });
                }
                let len = len as usize;
                // Only now, with the length checked against the cap, is the buffer sized.
                self.payload.clear();
                self.payload.reserve_exact(len);
                self.payload.resize(len, 0);
            }
        }
        let len = self.payload.len();
        while self.payload_filled < len {
            let n = match self.inner.read(&mut self.payload[self.payload_filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A peer that closes with bytes of ours unread leaves this way (Unix sockets
                // report it so): the end of the stream like any other.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => 0,
                Err(e) => return Err(self.fail_io(e)),
            };
            if n == 0 {
                self.broken = true;
                return Err(WireError::Truncated);
            }
            self.payload_filled += n;
        }
        self.returned = true;
        Ok(Some(Frame {
            kind: self.header[4],
            payload: &self.payload,
        }))
    }

    /// The decoder's buffer capacity, for tests that check it never exceeds the cap.
    pub fn buffer_capacity(&self) -> usize {
        self.payload.capacity()
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The underlying stream, for writing to it between reads.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    fn announced(&self) -> u64 {
        let [a, b, c, d, _] = self.header;
        u64::from(u32::from_le_bytes([a, b, c, d]))
    }

    fn fail_io(&mut self, e: io::Error) -> WireError {
        if !matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            self.broken = true;
        }
        WireError::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut bytes = Vec::new();
        encode(Kind::Data, b"\x07hello", 64, &mut bytes).expect("under the cap");
        encode(Kind::Welcome, b"", 64, &mut bytes).expect("under the cap");
        let mut reader = FrameReader::new(&bytes[..], 64);
        let frame = reader.read_frame().expect("valid").expect("a frame");
        assert_eq!(
            (frame.kind, frame.payload),
            (Kind::Data as u8, &b"\x07hello"[..])
        );
        let frame = reader.read_frame().expect("valid").expect("a frame");
        assert_eq!((frame.kind, frame.payload.len()), (Kind::Welcome as u8, 0));
        assert!(reader.read_frame().expect("clean end").is_none());
    }

    #[test]
    fn a_header_over_the_cap_is_refused_before_allocating() {
        let bytes = [0xff, 0xff, 0xff, 0xff, Kind::Data as u8];
        let mut reader = FrameReader::new(&bytes[..], 64 * 1024);
        match reader.read_frame() {
            Err(WireError::FrameTooLarge { announced, cap }) => {
                assert_eq!((announced, cap), (u64::from(u32::MAX), 64 * 1024));
            }
            other => panic!("expected FrameTooLarge, got {other:?}"),
        }
        assert_eq!(reader.buffer_capacity(), 0);
        assert!(reader.read_frame().is_err(), "the stream stays out of step");
    }

    #[test]
    fn an_end_inside_a_frame_is_truncated() {
        let mut bytes = Vec::new();
        encode(Kind::Data, b"0123456789", 64, &mut bytes).expect("under the cap");
        for cut in 1..bytes.len() {
            let mut reader = FrameReader::new(&bytes[..cut], 64);
            assert!(
                matches!(reader.read_frame(), Err(WireError::Truncated)),
                "cut at {cut}"
            );
        }
    }

    /// Its bytes, then a connection reset.
    struct ResetAfter<'a>(&'a [u8]);

    impl Read for ResetAfter<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::ErrorKind::ConnectionReset.into());
            }
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_reset_is_an_end_clean_between_frames_truncated_inside() {
        let mut bytes = Vec::new();
        encode(Kind::Data, b"\x01abc", 64, &mut bytes).expect("under the cap");
        let mut reader = FrameReader::new(ResetAfter(&bytes), 64);
        assert!(reader.read_frame().expect("valid").is_some());
        assert!(reader.read_frame().expect("a clean end").is_none());
        let mut reader = FrameReader::new(ResetAfter(&bytes[..7]), 64);
        assert!(matches!(reader.read_frame(), Err(WireError::Truncated)));
    }

    #[test]
    fn encoding_over_the_cap_is_refused() {
        let mut out = Vec::new();
        assert!(matches!(
            encode(Kind::Data, &[0; 65], 64, &mut out),
            Err(WireError::FrameTooLarge {
                announced: 65,
                cap: 64
            })
        ));
        assert!(out.is_empty());
    }
}
