//! The client side, for `tokmon attach`: connect by socket path or by TCP address and token,
//! the handshake, then messages with their pieces reassembled, every decode under a cap.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::frame::{self, FrameReader, Kind};
use super::hello::{ClientHello, Notice, PROTOCOL, ServerHello};
use super::pieces::{self, Reassembler};
use super::stream::Stream;
use super::{DEFAULT_MAX_MESSAGE, MAX_FRAME_TO_CLIENT, MAX_FRAME_TO_SERVER, WireError};

/// How a [`Client`] introduces itself and what it accepts.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    name: String,
    sample_interval: Option<Duration>,
    max_message: usize,
    handshake_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            name: concat!("tokmon-probe client ", env!("CARGO_PKG_VERSION")).to_owned(),
            sample_interval: None,
            max_message: DEFAULT_MAX_MESSAGE,
            handshake_timeout: Duration::from_secs(5),
        }
    }
}

impl ClientOptions {
    /// Who is attaching, as the app's server will list it (for example `tokmon 0.1.0`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The sample interval to ask the app's probe for.
    pub fn sample_interval(mut self, interval: Duration) -> Self {
        self.sample_interval = Some(interval);
        self
    }

    /// The largest message to reassemble from pieces (default [`DEFAULT_MAX_MESSAGE`]).
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// How long the server's hello and its answer to ours may take (default 5 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }
}

/// What a client receives after the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// One of the caller's messages, whole: the tag the server gave it and its bytes.
    Message {
        /// The server caller's tag.
        tag: u8,
        /// The message.
        bytes: Vec<u8>,
    },
    /// Messages the server dropped for this client so far because its queue was full
    /// (cumulative: the newest count replaces the last).
    Dropped {
        /// Dropped since the client attached.
        total: u64,
    },
    /// A message for the person (the server may close after it).
    Notice(Notice),
}

/// Reads what the server sends after the handshake, from any byte stream: frames under
/// [`MAX_FRAME_TO_CLIENT`] and messages reassembled under a cap. After a read timeout, call
/// [`next_message`](Self::next_message) again: nothing read is lost.
#[derive(Debug)]
pub struct MessageReader<R> {
    frames: FrameReader<R>,
    pieces: Reassembler,
    max_message: usize,
}

impl<R: Read> MessageReader<R> {
    /// A reader of messages of at most `max_message` bytes.
    pub fn new(inner: R, max_message: usize) -> Self {
        Self {
            frames: FrameReader::new(inner, MAX_FRAME_TO_CLIENT),
            pieces: Reassembler::new(max_message),
            max_message,
        }
    }

    /// The next message, drop count or notice; `None` when the server closed between messages.
    ///
    /// # Errors
    ///
    /// Whatever breaks a frame, a piece or the order of frames (the connection is then out of
    /// step), or the stream's error (retry after a timeout, see [`WireError::is_timeout`]).
    pub fn next_message(&mut self) -> Result<Option<Incoming>, WireError> {
        loop {
            let Some(frame) = self.frames.read_frame()? else {
                if self.pieces.in_progress() {
                    return Err(WireError::Truncated);
                }
                return Ok(None);
            };
            let kind = Kind::from_byte(frame.kind);
            if self.pieces.in_progress() && kind != Some(Kind::Piece) {
                return Err(WireError::malformed(
                    "frame order",
                    format!("a frame of kind {} inside a message in pieces", frame.kind),
                ));
            }
            match kind {
                Some(Kind::Data) => {
                    let (tag, message) = pieces::split_data(frame.payload)?;
                    if message.len() > self.max_message {
                        return Err(WireError::MessageTooLarge {
                            size: message.len(),
                            cap: self.max_message,
                        });
                    }
                    return Ok(Some(Incoming::Message {
                        tag,
                        bytes: message.to_vec(),
                    }));
                }
                Some(Kind::Piece) => {
                    if let Some((tag, bytes)) = self.pieces.push(frame.payload)? {
                        return Ok(Some(Incoming::Message { tag, bytes }));
                    }
                }
                Some(Kind::Dropped) => {
                    let total = postcard::from_bytes(frame.payload)
                        .map_err(|e| WireError::malformed("drop count", e))?;
                    return Ok(Some(Incoming::Dropped { total }));
                }
                Some(Kind::Notice) => {
                    return Ok(Some(Incoming::Notice(Notice::decode(frame.payload)?)));
                }
                Some(Kind::ServerHello | Kind::ClientHello | Kind::Welcome) => {
                    return Err(WireError::malformed(
                        "frame order",
                        format!(
                            "a handshake frame (kind {}) after the handshake",
                            frame.kind
                        ),
                    ));
                }
                // A newer minor version's frame: skipped.
                None => {}
            }
        }
    }

    /// The bytes its buffers hold room for, for tests that check the caps.
    pub fn buffer_capacity(&self) -> usize {
        self.frames.buffer_capacity() + self.pieces.buffer_capacity()
    }
}

/// A connection to an app's tokmon-probe server, past the handshake.
#[derive(Debug)]
pub struct Client {
    messages: MessageReader<Stream>,
    hello: ServerHello,
    done: bool,
}

impl Client {
    /// Connects to a server's Unix socket.
    ///
    /// # Errors
    ///
    /// The socket's error, [`WireError::Refused`] with the server's reason,
    /// [`WireError::VersionMismatch`], [`WireError::HandshakeTimeout`], or a malformed hello.
    pub fn connect_unix(
        path: impl AsRef<Path>,
        options: &ClientOptions,
    ) -> Result<Self, WireError> {
        let stream = UnixStream::connect(path)?;
        Self::handshake(Stream::Unix(stream), None, options)
    }

    /// Connects to a server over TCP with its token.
    ///
    /// # Errors
    ///
    /// As [`connect_unix`](Self::connect_unix); a wrong token is [`WireError::Refused`].
    pub fn connect_tcp(
        addr: SocketAddr,
        token: &str,
        options: &ClientOptions,
    ) -> Result<Self, WireError> {
        let stream = TcpStream::connect_timeout(&addr, options.handshake_timeout)?;
        // Small frames (samples) should leave at once rather than wait for more.
        stream.set_nodelay(true)?;
        Self::handshake(Stream::Tcp(stream), Some(token), options)
    }

    fn handshake(
        stream: Stream,
        token: Option<&str>,
        options: &ClientOptions,
    ) -> Result<Self, WireError> {
        stream.set_read_timeout(Some(options.handshake_timeout))?;
        stream.set_write_timeout(Some(options.handshake_timeout))?;
        let mut frames = FrameReader::new(stream, MAX_FRAME_TO_CLIENT);
        let hello = match handshake_frame(&mut frames, options)? {
            (Kind::ServerHello, payload) => ServerHello::decode(&payload)?,
            (kind, _) => {
                return Err(WireError::malformed(
                    "handshake",
                    format!("{kind:?} where the server's hello was due"),
                ));
            }
        };
        let answer = ClientHello {
            version: PROTOCOL,
            token: token.map(str::to_owned),
            sample_interval: options.sample_interval,
            client: options.name.clone(),
        };
        frame::write(
            frames.get_mut(),
            Kind::ClientHello,
            &answer.encode(),
            MAX_FRAME_TO_SERVER,
        )?;
        match handshake_frame(&mut frames, options)? {
            (Kind::Welcome, _) => {}
            (kind, _) => {
                return Err(WireError::malformed(
                    "handshake",
                    format!("{kind:?} where the welcome was due"),
                ));
            }
        }
        frames.get_ref().set_read_timeout(None)?;
        let messages = MessageReader {
            frames,
            pieces: Reassembler::new(options.max_message),
            max_message: options.max_message,
        };
        Ok(Self {
            messages,
            hello,
            done: false,
        })
    }

    /// The server's hello: the app's pid, program, probe version and the caller's payload.
    pub fn hello(&self) -> &ServerHello {
        &self.hello
    }

    /// The next message; `None` once the server closed the connection.
    ///
    /// # Errors
    ///
    /// As [`MessageReader::next_message`]; after a timeout (see
    /// [`set_read_timeout`](Self::set_read_timeout)) call again.
    pub fn recv(&mut self) -> Result<Option<Incoming>, WireError> {
        self.messages.next_message()
    }

    /// How long [`recv`](Self::recv) waits before returning a timeout error; `None` (the
    /// default after the handshake) waits for ever.
    ///
    /// # Errors
    ///
    /// The socket's error (a zero duration is refused).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.messages.frames.get_ref().set_read_timeout(timeout)
    }
}

/// Messages until the server closes; the iterator ends after the first error.
impl Iterator for Client {
    type Item = Result<Incoming, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.recv().transpose();
        if !matches!(next, Some(Ok(_))) {
            self.done = true;
        }
        next
    }
}

/// The next handshake frame, a notice turned into [`WireError::Refused`].
fn handshake_frame(
    frames: &mut FrameReader<Stream>,
    options: &ClientOptions,
) -> Result<(Kind, Vec<u8>), WireError> {
    let frame = match frames.read_frame() {
        Ok(Some(frame)) => frame,
        Ok(None) => return Err(WireError::ClosedEarly),
        Err(e) if e.is_timeout() => {
            return Err(WireError::HandshakeTimeout(options.handshake_timeout));
        }
        Err(e) => return Err(e),
    };
    match Kind::from_byte(frame.kind) {
        Some(Kind::Notice) => Err(WireError::Refused(Notice::decode(frame.payload)?)),
        Some(kind) => Ok((kind, frame.payload.to_vec())),
        None => Err(WireError::malformed(
            "handshake",
            format!("unknown frame kind {}", frame.kind),
        )),
    }
}
