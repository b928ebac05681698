//! Both sides' decoders over random input: they never panic, never hold a buffer past their
//! cap, and read back exactly what was encoded however the bytes are cut up or delayed.

use std::io::{self, Read};

use proptest::prelude::*;
use tokmon_probe::wire::frame::{self, FrameReader, Kind};
use tokmon_probe::wire::pieces;
use tokmon_probe::wire::{
    ClientHello, Incoming, MAX_FRAME_TO_CLIENT, MAX_FRAME_TO_SERVER, MessageReader, Notice,
    ServerHello, WireError,
};

/// A reader that hands out its bytes in the given chunk sizes, and a timeout before each chunk
/// whose size is a multiple of 3, as a socket with a read timeout does.
struct Trickle {
    bytes: Vec<u8>,
    at: usize,
    chunks: Vec<usize>,
    turn: usize,
    timed_out: bool,
}

impl Trickle {
    fn new(bytes: Vec<u8>, chunks: Vec<usize>) -> Self {
        Self {
            bytes,
            at: 0,
            chunks,
            turn: 0,
            timed_out: false,
        }
    }
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let chunk = self
            .chunks
            .get(self.turn % self.chunks.len().max(1))
            .copied()
            .unwrap_or(7)
            .max(1);
        if chunk % 3 == 0 && !self.timed_out {
            self.timed_out = true;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.timed_out = false;
        self.turn += 1;
        let n = chunk.min(buf.len()).min(self.bytes.len() - self.at);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Random bytes that often start like a frame, so that the decoders get past the header.
fn framish() -> impl Strategy<Value = Vec<u8>> {
    let kinds = prop_oneof![Just(2u8), Just(3), Just(5), Just(6), Just(7), any::<u8>()];
    let header_then_noise = (
        0u32..70_000,
        kinds,
        prop::collection::vec(any::<u8>(), 0..2048),
    )
        .prop_map(|(len, kind, noise)| {
            let mut bytes = len.to_le_bytes().to_vec();
            bytes.push(kind);
            bytes.extend(noise);
            bytes
        });
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..4096),
        header_then_noise
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_frame_decoder_survives_anything(
        bytes in framish(),
        cap in prop_oneof![Just(MAX_FRAME_TO_SERVER), Just(MAX_FRAME_TO_CLIENT), 0usize..5000],
        chunks in prop::collection::vec(1usize..600, 1..8),
    ) {
        let mut reader = FrameReader::new(Trickle::new(bytes, chunks), cap);
        for _ in 0..10_000 {
            match reader.read_frame() {
                Ok(Some(frame)) => prop_assert!(frame.payload.len() <= cap),
                Ok(None) => break,
                Err(e) if e.is_timeout() => {}
                Err(_) => break,
            }
            prop_assert!(reader.buffer_capacity() <= cap.max(8), "capacity {} over cap {cap}", reader.buffer_capacity());
        }
    }

    #[test]
    fn the_client_s_reader_survives_anything(
        bytes in framish(),
        max_message in 0usize..200_000,
        chunks in prop::collection::vec(1usize..600, 1..8),
    ) {
        let mut reader = MessageReader::new(Trickle::new(bytes, chunks), max_message);
        for _ in 0..10_000 {
            match reader.next_message() {
                Ok(Some(Incoming::Message { bytes, .. })) => prop_assert!(bytes.len() <= max_message),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) if e.is_timeout() => {}
                Err(_) => break,
            }
            prop_assert!(reader.buffer_capacity() <= MAX_FRAME_TO_CLIENT + max_message.max(8));
        }
    }

    #[test]
    fn the_handshake_decoders_survive_anything(body in prop::collection::vec(any::<u8>(), 0..512), prefixed in any::<bool>()) {
        let mut bytes = Vec::new();
        if prefixed {
            // A valid magic and version, so that postcard sees the random body.
            bytes.extend_from_slice(b"TOKMON\x01\x00\x00\x00");
        }
        bytes.extend(body);
        let _ = ClientHello::decode(&bytes);
        let _ = ServerHello::decode(&bytes);
        let _ = Notice::decode(&bytes);
    }
}

proptest! {
    // Fewer cases: each encodes and decodes up to 600 KB.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn messages_round_trip_however_the_bytes_arrive(
        messages in prop::collection::vec((any::<u8>(), prop::collection::vec(any::<u8>(), 0..150_000)), 1..5),
        chunks in prop::collection::vec(1usize..70_000, 1..8),
    ) {
        let mut bytes = Vec::new();
        for (tag, message) in &messages {
            pieces::encode_message(*tag, message, MAX_FRAME_TO_CLIENT, &mut bytes).expect("encodes");
        }
        let mut reader = MessageReader::new(Trickle::new(bytes, chunks), 200_000);
        let mut got = Vec::new();
        loop {
            match reader.next_message() {
                Ok(Some(Incoming::Message { tag, bytes })) => got.push((tag, bytes)),
                Ok(Some(other)) => prop_assert!(false, "unexpected {other:?}"),
                Ok(None) => break,
                Err(e) if e.is_timeout() => {}
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
        prop_assert_eq!(got, messages);
    }
}

#[test]
fn a_header_over_the_cap_reserves_nothing() {
    for kind in [Kind::ClientHello, Kind::Data, Kind::Piece] {
        let bytes = [0xff, 0xff, 0xff, 0xff, kind as u8];
        let mut reader = FrameReader::new(&bytes[..], MAX_FRAME_TO_SERVER);
        assert!(matches!(
            reader.read_frame(),
            Err(WireError::FrameTooLarge {
                announced: 4_294_967_295,
                ..
            })
        ));
        assert_eq!(reader.buffer_capacity(), 0);
        let mut messages = MessageReader::new(&bytes[..], 1 << 20);
        assert!(matches!(
            messages.next_message(),
            Err(WireError::FrameTooLarge { .. })
        ));
        assert_eq!(messages.buffer_capacity(), 0);
    }
    let mut bytes = Vec::new();
    frame::encode(Kind::Data, &[1, 2, 3], MAX_FRAME_TO_CLIENT, &mut bytes).expect("small");
    assert_eq!(bytes.len(), frame::HEADER_LEN + 3);
}
