//! The wire: how a tokmon client attaches to the probe in a running app, over a Unix socket (or
//! TCP with a token on request), in capped, length-prefixed frames.
//!
//! The transport carries opaque messages: the caller encodes its samples, stacks and module map
//! (with postcard) and hands the bytes to [`Server::broadcast`] with a tag of its own. The wire
//! owns the rest: the socket and who may connect, the versioned hello, frames and their caps,
//! large messages in pieces, and a bounded queue per client so that a slow, stuck or hostile
//! client never blocks, crashes or grows the app.
//!
//! # Where
//!
//! By default the server listens on `$XDG_RUNTIME_DIR/tokmon/<pid>.sock`, or, where
//! `XDG_RUNTIME_DIR` is unset (system services), on `$TMPDIR/tokmon-<uid>/<pid>.sock`. The
//! directory is mode 0700 and refused if another user owns it or its mode is looser; the socket
//! is mode 0600, and each peer's uid (`SO_PEERCRED`) must be the app's or root's. The socket is
//! removed when the server is dropped; one left by a killed app is recognised as stale
//! ([`unix::stale`]) and removed by the next server of the same pid or by [`unix::list`]. A
//! service with a private `/tmp` is reached through `/proc/<pid>/root` ([`unix::path_from_outside`]).
//! TCP ([`ServerConfig::tcp`]) binds loopback only unless told otherwise, and a client must
//! present the server's random token ([`Server::token`]) in its hello.
//!
//! # Protocol
//!
//! Every frame is a 5-byte header, the payload's length (u32, little-endian) and a kind (u8),
//! then the payload ([`frame`]). The server speaks first with its hello ([`ServerHello`]: magic
//! bytes, protocol version, pid, program, probe version and an opaque payload of the caller's);
//! the client answers with its own ([`ClientHello`]: magic, version, token, requested sample
//! interval); the server then sends [`frame::Kind::Welcome`], or a [`Notice`] saying why not and
//! closes. Hellos and control frames are postcard; data frames are the caller's bytes.
//!
//! # Caps
//!
//! | what | cap | why |
//! |---|---|---|
//! | a frame to the server | [`MAX_FRAME_TO_SERVER`] (4 KiB) | a client sends only its hello and small control frames |
//! | a frame to a client | [`MAX_FRAME_TO_CLIENT`] (64 KiB) | larger messages go in pieces, so no decoder buffer is larger |
//! | a client's queue | [`DEFAULT_QUEUE_BYTES`] (512 KiB) | what a stuck client may cost the app; a message that does not fit is dropped and counted |
//! | a message | the queue's cap (server), [`DEFAULT_MAX_MESSAGE`] (16 MiB, client) | a message is queued whole or not at all |
//! | clients at once | [`DEFAULT_MAX_CLIENTS`] (4) | one reader and one writer thread each |
//!
//! A header announcing more than its direction's cap is refused before anything is allocated.
//!
//! # Threads
//!
//! The server never runs on the app's runtime: one listener thread, and for each client one
//! thread that reads (the hello, then anything the client sends) and one that writes its queue,
//! all plain std threads with blocking I/O and timeouts. With at most a handful of clients that
//! is at most a dozen idle threads, and blocking code is simpler to get right than a poll loop.

pub mod client;
mod config;
mod error;
pub mod frame;
pub mod hello;
pub mod pieces;
pub mod server;
mod session;
mod stream;
pub mod tcp;
pub mod unix;

pub use client::{Client, ClientOptions, Incoming, MessageReader};
pub use config::{Endpoint, ServerConfig};
pub use error::WireError;
pub use hello::{ClientHello, MAGIC, Notice, NoticeCode, PROTOCOL, ServerHello, Version};
pub use server::{ClientInfo, Delivery, Server, ServerStats};

/// The largest frame payload a client may send to the server.
pub const MAX_FRAME_TO_SERVER: usize = 4 * 1024;

/// The largest frame payload the server sends to a client; a larger message goes in pieces.
pub const MAX_FRAME_TO_CLIENT: usize = 64 * 1024;

/// The bytes of frames a client's queue holds before messages for it are dropped and counted.
pub const DEFAULT_QUEUE_BYTES: usize = 512 * 1024;

/// The largest message a client reassembles from pieces unless told otherwise.
pub const DEFAULT_MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Clients served at once; the next one is refused with a [`Notice`].
pub const DEFAULT_MAX_CLIENTS: usize = 4;
