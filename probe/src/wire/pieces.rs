//! Messages in frames: a whole message in one [`Kind::Data`] frame, or, when it does not fit,
//! in [`Kind::Piece`] frames that the client reassembles under a cap.
//!
//! A data frame's payload is the caller's tag byte then the message. A piece's payload is the
//! tag, a flags byte ([`LAST`]), the piece's sequence number from 0 (u32, little-endian), then a
//! slice of the message. The pieces of a message travel one after the other: the server queues
//! a message whole or drops it whole.

use super::WireError;
use super::frame::{self, Kind};

/// The flag of a message's last piece.
pub const LAST: u8 = 1;

/// Bytes of a piece's own header: tag, flags, sequence number.
pub const PIECE_HEADER_LEN: usize = 6;

/// Appends the frames of one message to `out`: one data frame if it fits in `max_frame`, else
/// pieces of at most `max_frame` bytes each.
///
/// # Errors
///
/// [`WireError::MessageTooLarge`] if the message needs more than `u32::MAX` pieces, which no
/// cap of this crate allows.
pub fn encode_message(
    tag: u8,
    message: &[u8],
    max_frame: usize,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    if message.len() < max_frame {
        return frame::encode_parts(Kind::Data, &[&[tag], message], max_frame, out);
    }
    let chunk_len = max_frame.saturating_sub(PIECE_HEADER_LEN).max(1);
    let count = message.len().div_ceil(chunk_len);
    out.reserve(message.len() + count * (frame::HEADER_LEN + PIECE_HEADER_LEN));
    for (seq, chunk) in message.chunks(chunk_len).enumerate() {
        let seq = u32::try_from(seq).map_err(|_| WireError::MessageTooLarge {
            size: message.len(),
            cap: chunk_len.saturating_mul(u32::MAX as usize),
        })?;
        let flags = if seq as usize + 1 == count { LAST } else { 0 };
        let head = [tag, flags];
        frame::encode_parts(
            Kind::Piece,
            &[&head, &seq.to_le_bytes(), chunk],
            max_frame,
            out,
        )?;
    }
    Ok(())
}

/// Splits a data frame's payload into the tag and the message.
///
/// # Errors
///
/// [`WireError::Malformed`] for an empty payload (no tag).
pub fn split_data(payload: &[u8]) -> Result<(u8, &[u8]), WireError> {
    match payload.split_first() {
        Some((&tag, message)) => Ok((tag, message)),
        None => Err(WireError::malformed("data frame", "no tag byte")),
    }
}

/// Reassembles a message from its pieces, never holding more than its cap.
#[derive(Debug)]
pub struct Reassembler {
    max_message: usize,
    /// The tag and the next sequence number of the message under way.
    under_way: Option<(u8, u32)>,
    buf: Vec<u8>,
}

impl Reassembler {
    /// A reassembler of messages of at most `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Self {
            max_message,
            under_way: None,
            buf: Vec::new(),
        }
    }

    /// Takes one piece's payload; returns the tag and the message after its last piece.
    ///
    /// # Errors
    ///
    /// [`WireError::Malformed`] for a short piece, a sequence number out of order or a tag that
    /// changes within a message; [`WireError::MessageTooLarge`] past the cap (the piece is not
    /// copied). After an error the reassembler starts afresh.
    pub fn push(&mut self, payload: &[u8]) -> Result<Option<(u8, Vec<u8>)>, WireError> {
        let result = self.push_inner(payload);
        if result.is_err() {
            self.reset();
        }
        result
    }

    /// Whether a message is under way (some of its pieces arrived, not the last).
    pub fn in_progress(&self) -> bool {
        self.under_way.is_some()
    }

    /// The buffer's capacity, for tests that check it never exceeds the cap.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    fn push_inner(&mut self, payload: &[u8]) -> Result<Option<(u8, Vec<u8>)>, WireError> {
        let Some((head, chunk)) = payload.split_first_chunk::<PIECE_HEADER_LEN>() else {
            return Err(WireError::malformed("piece", "shorter than its header"));
        };
        let [tag, flags, s0, s1, s2, s3] = *head;
        let seq = u32::from_le_bytes([s0, s1, s2, s3]);
        let expected = match self.under_way {
            None => 0,
            Some((under_way_tag, _)) if under_way_tag != tag => {
                return Err(WireError::malformed(
                    "piece",
                    format!("tag {tag} inside a message of tag {under_way_tag}"),
                ));
            }
            Some((_, next)) => next,
        };
        if seq != expected {
            return Err(WireError::malformed(
                "piece",
                format!("piece {seq} where piece {expected} was due"),
            ));
        }
        let size = self.buf.len().saturating_add(chunk.len());
        if size > self.max_message {
            return Err(WireError::MessageTooLarge {
                size,
                cap: self.max_message,
            });
        }
        self.buf.reserve_exact(chunk.len());
        self.buf.extend_from_slice(chunk);
        if flags & LAST != 0 {
            self.under_way = None;
            return Ok(Some((tag, std::mem::take(&mut self.buf))));
        }
        self.under_way = Some((tag, seq.wrapping_add(1)));
        Ok(None)
    }

    fn reset(&mut self) {
        self.under_way = None;
        self.buf = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame::FrameReader;

    fn reassemble(
        bytes: &[u8],
        max_frame: usize,
        max_message: usize,
    ) -> Result<Vec<(u8, Vec<u8>)>, WireError> {
        let mut reader = FrameReader::new(bytes, max_frame);
        let mut reassembler = Reassembler::new(max_message);
        let mut messages = Vec::new();
        while let Some(frame) = reader.read_frame()? {
            match Kind::from_byte(frame.kind) {
                Some(Kind::Data) => {
                    let (tag, message) = split_data(frame.payload)?;
                    messages.push((tag, message.to_vec()));
                }
                Some(Kind::Piece) => messages.extend(reassembler.push(frame.payload)?),
                other => panic!("unexpected frame {other:?}"),
            }
        }
        Ok(messages)
    }

    #[test]
    fn small_and_large_messages_round_trip() {
        let large: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let mut bytes = Vec::new();
        encode_message(1, b"small", 1024, &mut bytes).expect("encodes");
        encode_message(2, &large, 1024, &mut bytes).expect("encodes");
        encode_message(3, &[], 1024, &mut bytes).expect("encodes");
        let got = reassemble(&bytes, 1024, 1 << 20).expect("reassembles");
        assert_eq!(
            got,
            vec![(1, b"small".to_vec()), (2, large), (3, Vec::new())]
        );
    }

    #[test]
    fn a_message_exactly_the_frame_size_goes_in_pieces() {
        let message = vec![9u8; 1024];
        let mut bytes = Vec::new();
        encode_message(4, &message, 1024, &mut bytes).expect("encodes");
        assert_eq!(
            reassemble(&bytes, 1024, 4096).expect("reassembles"),
            vec![(4, message)]
        );
    }

    #[test]
    fn reassembly_stops_at_the_cap() {
        let mut bytes = Vec::new();
        encode_message(1, &[0; 5000], 1024, &mut bytes).expect("encodes");
        match reassemble(&bytes, 1024, 4096) {
            Err(WireError::MessageTooLarge { cap: 4096, .. }) => {}
            other => panic!("expected MessageTooLarge, got {other:?}"),
        }
    }

    #[test]
    fn pieces_out_of_order_are_refused() {
        let mut reassembler = Reassembler::new(1 << 20);
        assert!(
            reassembler
                .push(&[1, 0, 0, 0, 0, 0, b'a'])
                .expect("first")
                .is_none()
        );
        assert!(reassembler.push(&[1, LAST, 2, 0, 0, 0, b'c']).is_err());
        assert!(!reassembler.in_progress());
        assert!(
            reassembler
                .push(&[1, 0, 0, 0, 0, 0, b'a'])
                .expect("afresh")
                .is_none()
        );
        assert!(
            reassembler.push(&[2, LAST, 1, 0, 0, 0, b'b']).is_err(),
            "tag changed"
        );
    }
}
