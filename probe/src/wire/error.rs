//! What can go wrong on the wire, each with a message a user can act on.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::hello::{Notice, Version};

/// An error of the wire, on either side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The socket or the file system failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The socket directory is not private to this user.
    #[error("refusing the socket directory {dir}: {problem}")]
    UnsafeDir {
        /// The directory.
        dir: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A live server already listens on the path.
    #[error("a tokmon-probe server already listens on {0} (one server per process)")]
    InUse(PathBuf),
    /// A TCP address that is not loopback, without [`ServerConfig::allow_non_loopback`].
    ///
    /// [`ServerConfig::allow_non_loopback`]: super::ServerConfig::allow_non_loopback
    #[error(
        "{0} is not a loopback address: anyone who can reach it may try tokens; allow it \
         explicitly (ServerConfig::allow_non_loopback) or use 127.0.0.1"
    )]
    NotLoopback(SocketAddr),
    /// A frame header announced more than the cap of its direction.
    #[error("a frame of {announced} bytes was announced, more than the cap of {cap}")]
    FrameTooLarge {
        /// The announced payload length.
        announced: u64,
        /// The cap.
        cap: usize,
    },
    /// A message (reassembled or to send) is larger than its cap.
    #[error("a message of {size} bytes or more exceeds the cap of {cap}")]
    MessageTooLarge {
        /// Its size, or the size reached when reassembly stopped.
        size: usize,
        /// The cap.
        cap: usize,
    },
    /// The peer closed the connection in the middle of a frame.
    #[error("the peer closed the connection in the middle of a frame")]
    Truncated,
    /// The peer closed the connection before the handshake completed.
    #[error("the peer closed the connection during the handshake")]
    ClosedEarly,
    /// A frame that does not parse as what it must be.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was expected.
        what: &'static str,
        /// Why it does not parse.
        detail: String,
    },
    /// The peer does not speak this protocol at all.
    #[error("the peer is not tokmon-probe's wire (bad magic bytes)")]
    BadMagic,
    /// The peers' protocol major versions differ.
    #[error("{}", super::hello::mismatch_text(*server, *client))]
    VersionMismatch {
        /// The server's (the probe's) version.
        server: Version,
        /// The client's version.
        client: Version,
    },
    /// The server refused this client; the notice says why.
    #[error("tokmon-probe refused the connection: {}", .0.text)]
    Refused(Notice),
    /// The peer did not complete the handshake in time.
    #[error("the handshake did not complete within {0:?}")]
    HandshakeTimeout(std::time::Duration),
}

impl WireError {
    pub(crate) fn malformed(what: &'static str, detail: impl ToString) -> Self {
        Self::Malformed {
            what,
            detail: detail.to_string(),
        }
    }

    /// Whether this is a read or write timeout after which the same call may be retried.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Io(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
    }
}
