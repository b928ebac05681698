//! What a [`Server`](super::Server) is started with: the transport (a Unix socket by default, TCP
//! on request), its caps and timeouts, and where it ended up listening.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{DEFAULT_MAX_CLIENTS, DEFAULT_QUEUE_BYTES};
#[cfg(doc)]
use super::{MAX_FRAME_TO_CLIENT, Server, unix};

/// Where the server listens and what it allows.
#[derive(Clone, Debug)]
pub(super) enum Transport {
    Unix {
        dir: Option<PathBuf>,
    },
    Tcp {
        addr: SocketAddr,
        token_file: Option<PathBuf>,
        allow_non_loopback: bool,
    },
}

/// How to start a [`Server`]: a Unix socket by default, TCP on request; its caps and timeouts.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub(super) transport: Transport,
    pub(super) max_clients: usize,
    pub(super) queue_bytes: usize,
    pub(super) handshake_timeout: Duration,
    pub(super) stuck_timeout: Duration,
    pub(super) hello_payload: Vec<u8>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self::unix()
    }
}

impl ServerConfig {
    /// A Unix socket in [`unix::default_dir`] (see [`socket_dir`](Self::socket_dir)).
    pub fn unix() -> Self {
        Self {
            transport: Transport::Unix { dir: None },
            max_clients: DEFAULT_MAX_CLIENTS,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            handshake_timeout: Duration::from_secs(5),
            stuck_timeout: Duration::from_secs(30),
            hello_payload: Vec::new(),
        }
    }

    /// TCP on `addr` (port 0 picks a free port, see [`Server::endpoint`]), with a fresh random
    /// token that clients must present ([`Server::token`]). `addr` must be loopback unless
    /// [`allow_non_loopback`](Self::allow_non_loopback).
    pub fn tcp(addr: SocketAddr) -> Self {
        Self {
            transport: Transport::Tcp {
                addr,
                token_file: None,
                allow_non_loopback: false,
            },
            ..Self::unix()
        }
    }

    /// The directory of the Unix socket instead of the default (created with mode 0700 if
    /// missing, refused if not private). No effect on TCP.
    pub fn socket_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        if let Transport::Unix { dir: d } = &mut self.transport {
            *d = Some(dir.into());
        }
        self
    }

    /// Over TCP, also write the token to this file, mode 0600 (removed when the server stops).
    /// No effect on a Unix socket.
    pub fn token_file(mut self, path: impl Into<PathBuf>) -> Self {
        if let Transport::Tcp { token_file, .. } = &mut self.transport {
            *token_file = Some(path.into());
        }
        self
    }

    /// Over TCP, accept an address that is not loopback (reachable from other machines, where
    /// the token is the only fence). No effect on a Unix socket.
    pub fn allow_non_loopback(mut self, allow: bool) -> Self {
        if let Transport::Tcp {
            allow_non_loopback, ..
        } = &mut self.transport
        {
            *allow_non_loopback = allow;
        }
        self
    }

    /// Clients served at once (at least 1; default [`DEFAULT_MAX_CLIENTS`]), counting those
    /// still in their handshake.
    pub fn max_clients(mut self, max: usize) -> Self {
        self.max_clients = max.max(1);
        self
    }

    /// Bytes queued for one client before messages are dropped for it (default
    /// [`DEFAULT_QUEUE_BYTES`]): each message's frames plus a small fixed overhead for its
    /// bookkeeping. Also the largest message the server sends.
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes;
        self
    }

    /// How long a client has, from its connection, to send its hello (default 5 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long a client may take no byte while bytes wait for it before it is closed (default
    /// 30 s). Until then a client that does not read only has messages dropped.
    pub fn stuck_timeout(mut self, timeout: Duration) -> Self {
        self.stuck_timeout = timeout;
        self
    }

    /// Bytes of the caller's sent in every hello (the runtime's shape, say), at most
    /// [`MAX_FRAME_TO_CLIENT`] with the rest of the hello.
    pub fn hello_payload(mut self, payload: Vec<u8>) -> Self {
        self.hello_payload = payload;
        self
    }
}

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix socket's path.
    Unix(PathBuf),
    /// A TCP address (with the port actually bound).
    Tcp(SocketAddr),
}
