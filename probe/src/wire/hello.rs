//! The handshake's messages: the server's hello, the client's answer, and notices (refusals),
//! each behind fixed magic bytes and a version that a peer of another major version still reads.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::WireError;

/// The first bytes of both hellos.
pub const MAGIC: [u8; 6] = *b"TOKMON";

/// The protocol this crate speaks. Peers of the same major version understand each other; a
/// newer minor version may add frame kinds, which an older peer skips.
///
/// 2: a worker's CPU time in each reading (`ProbeWorker::cpu_ns`).
/// 3: the spawn-site table in each reading (`ProbeSample::sites`, `sites_other`).
/// 4: each image's build id in the module map (`protocol::Module::build_id`).
pub const PROTOCOL: Version = Version { major: 4, minor: 0 };

/// Bytes before a hello's postcard body: the magic, then major and minor (u16, little-endian).
/// They never change, so that a peer of any version can say which version the other speaks.
pub const PREFIX_LEN: usize = MAGIC.len() + 4;

/// A protocol version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Version {
    /// Changes when peers can no longer understand each other.
    pub major: u16,
    /// Changes when something is added that an older peer can skip.
    pub minor: u16,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The message both sides show when the major versions differ.
pub(crate) fn mismatch_text(server: Version, client: Version) -> String {
    format!(
        "tokmon-probe speaks protocol {}, this client {}: attach with a tokmon of the same \
         protocol (the app's probe is protocol {server}, the client {client})",
        server.major, client.major
    )
}

/// The server's hello, its first frame to every client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerHello {
    /// The protocol the server speaks.
    pub version: Version,
    /// The app's process id.
    pub pid: u32,
    /// The app's executable's file name (not its command line, which may hold secrets).
    pub program: String,
    /// The version of the tokmon-probe crate in the app.
    pub probe_version: String,
    /// The largest frame payload the server accepts from a client.
    pub max_frame_to_server: u32,
    /// The largest frame payload the server sends.
    pub max_frame_to_client: u32,
    /// Whether the client's hello must carry the token (TCP).
    pub token_required: bool,
    /// Bytes of the caller's (the runtime's shape, for example), opaque to the wire.
    pub payload: Vec<u8>,
}

/// The hello's body on the wire; borrowed, so that decoding allocates no more than the frame.
#[derive(Serialize, Deserialize)]
struct ServerHelloBody<'a> {
    pid: u32,
    program: &'a str,
    probe_version: &'a str,
    max_frame_to_server: u32,
    max_frame_to_client: u32,
    token_required: bool,
    payload: &'a [u8],
}

/// The client's answer to the server's hello.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// The protocol the client speaks.
    pub version: Version,
    /// The server's token, required over TCP.
    pub token: Option<String>,
    /// How often the client would like samples; the app's probe decides.
    pub sample_interval: Option<Duration>,
    /// Who is attaching (for example `tokmon 0.1.0`), for the app's own accounting.
    pub client: String,
}

#[derive(Serialize, Deserialize)]
struct ClientHelloBody<'a> {
    token: Option<&'a str>,
    sample_interval: Option<Duration>,
    client: &'a str,
}

/// Why a notice was sent; carried as a number so that a newer code reads as [`Other`](Self::Other).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "u16", into = "u16")]
pub enum NoticeCode {
    /// The client's major version differs from the server's.
    VersionMismatch,
    /// The token is missing or wrong.
    BadToken,
    /// The server already serves its maximum of clients.
    TooManyClients,
    /// The peer's uid may not attach.
    PeerNotAllowed,
    /// The client's hello does not parse.
    BadHello,
    /// The client did not send its hello in time.
    HandshakeTimeout,
    /// A code of a newer version.
    Other(u16),
}

impl From<u16> for NoticeCode {
    fn from(code: u16) -> Self {
        match code {
            1 => Self::VersionMismatch,
            2 => Self::BadToken,
            3 => Self::TooManyClients,
            4 => Self::PeerNotAllowed,
            5 => Self::BadHello,
            6 => Self::HandshakeTimeout,
            other => Self::Other(other),
        }
    }
}

impl From<NoticeCode> for u16 {
    fn from(code: NoticeCode) -> Self {
        match code {
            NoticeCode::VersionMismatch => 1,
            NoticeCode::BadToken => 2,
            NoticeCode::TooManyClients => 3,
            NoticeCode::PeerNotAllowed => 4,
            NoticeCode::BadHello => 5,
            NoticeCode::HandshakeTimeout => 6,
            NoticeCode::Other(other) => other,
        }
    }
}

/// A message for the person at the other end, most often why the server closes the connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// What kind of notice.
    pub code: NoticeCode,
    /// What to show.
    pub text: String,
}

#[derive(Deserialize)]
struct NoticeBody<'a> {
    code: NoticeCode,
    text: &'a str,
}

impl Notice {
    /// A notice.
    pub fn new(code: NoticeCode, text: impl Into<String>) -> Self {
        Self {
            code,
            text: text.into(),
        }
    }

    /// The notice's postcard bytes.
    pub fn encode(&self) -> Vec<u8> {
        to_vec(self)
    }

    /// A notice from its bytes.
    ///
    /// # Errors
    ///
    /// [`WireError::Malformed`] if they do not parse.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let body: NoticeBody<'_> =
            postcard::from_bytes(bytes).map_err(|e| WireError::malformed("notice", e))?;
        Ok(Self::new(body.code, body.text))
    }
}

impl ServerHello {
    /// The hello's bytes: magic, version, postcard body.
    pub fn encode(&self) -> Vec<u8> {
        let body = ServerHelloBody {
            pid: self.pid,
            program: &self.program,
            probe_version: &self.probe_version,
            max_frame_to_server: self.max_frame_to_server,
            max_frame_to_client: self.max_frame_to_client,
            token_required: self.token_required,
            payload: &self.payload,
        };
        with_prefix(self.version, &body)
    }

    /// The server's hello from its bytes, checked against this crate's protocol.
    ///
    /// # Errors
    ///
    /// [`WireError::BadMagic`], [`WireError::VersionMismatch`] (another major version) or
    /// [`WireError::Malformed`].
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let (version, body) = split_prefix(bytes)?;
        if version.major != PROTOCOL.major {
            return Err(WireError::VersionMismatch {
                server: version,
                client: PROTOCOL,
            });
        }
        let body: ServerHelloBody<'_> =
            postcard::from_bytes(body).map_err(|e| WireError::malformed("server hello", e))?;
        Ok(Self {
            version,
            pid: body.pid,
            program: body.program.to_owned(),
            probe_version: body.probe_version.to_owned(),
            max_frame_to_server: body.max_frame_to_server,
            max_frame_to_client: body.max_frame_to_client,
            token_required: body.token_required,
            payload: body.payload.to_vec(),
        })
    }
}

impl ClientHello {
    /// The hello's bytes: magic, version, postcard body.
    pub fn encode(&self) -> Vec<u8> {
        let body = ClientHelloBody {
            token: self.token.as_deref(),
            sample_interval: self.sample_interval,
            client: &self.client,
        };
        with_prefix(self.version, &body)
    }

    /// The client's hello from its bytes, checked against this crate's protocol.
    ///
    /// # Errors
    ///
    /// [`WireError::BadMagic`], [`WireError::VersionMismatch`] (another major version) or
    /// [`WireError::Malformed`].
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let (version, body) = split_prefix(bytes)?;
        if version.major != PROTOCOL.major {
            return Err(WireError::VersionMismatch {
                server: PROTOCOL,
                client: version,
            });
        }
        let body: ClientHelloBody<'_> =
            postcard::from_bytes(body).map_err(|e| WireError::malformed("client hello", e))?;
        Ok(Self {
            version,
            token: body.token.map(str::to_owned),
            sample_interval: body.sample_interval,
            client: body.client.to_owned(),
        })
    }
}

fn to_vec(value: &impl Serialize) -> Vec<u8> {
    // Serializing these plain structs into a growable vector cannot fail: postcard fails only on
    // a full buffer or on types it cannot express (maps of unknown length), neither used here.
    postcard::to_stdvec(value).unwrap_or_default()
}

fn with_prefix(version: Version, body: &impl Serialize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(64);
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&version.major.to_le_bytes());
    bytes.extend_from_slice(&version.minor.to_le_bytes());
    bytes.extend_from_slice(&to_vec(body));
    bytes
}

fn split_prefix(bytes: &[u8]) -> Result<(Version, &[u8]), WireError> {
    let Some((prefix, body)) = bytes.split_first_chunk::<PREFIX_LEN>() else {
        return Err(WireError::BadMagic);
    };
    let [m0, m1, m2, m3, m4, m5, a0, a1, i0, i1] = *prefix;
    if [m0, m1, m2, m3, m4, m5] != MAGIC {
        return Err(WireError::BadMagic);
    }
    let version = Version {
        major: u16::from_le_bytes([a0, a1]),
        minor: u16::from_le_bytes([i0, i1]),
    };
    Ok((version, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_hello() -> ServerHello {
        ServerHello {
            version: PROTOCOL,
            pid: 4242,
            program: "orders-api".into(),
            probe_version: "0.1.0".into(),
            max_frame_to_server: 4096,
            max_frame_to_client: 65536,
            token_required: true,
            payload: vec![1, 2, 3],
        }
    }

    #[test]
    fn hellos_and_notices_round_trip() {
        let hello = server_hello();
        assert_eq!(
            ServerHello::decode(&hello.encode()).expect("decodes"),
            hello
        );
        let answer = ClientHello {
            version: PROTOCOL,
            token: Some("00ff".into()),
            sample_interval: Some(Duration::from_millis(250)),
            client: "tokmon 0.1.0".into(),
        };
        assert_eq!(
            ClientHello::decode(&answer.encode()).expect("decodes"),
            answer
        );
        let notice = Notice::new(NoticeCode::Other(77), "later");
        assert_eq!(Notice::decode(&notice.encode()).expect("decodes"), notice);
    }

    #[test]
    fn another_major_version_is_named_in_the_error() {
        let mut hello = server_hello();
        hello.version = Version {
            major: PROTOCOL.major + 1,
            minor: 5,
        };
        let err = ServerHello::decode(&hello.encode()).expect_err("another major");
        let text = err.to_string();
        let expected = format!(
            "tokmon-probe speaks protocol {}, this client {}:",
            PROTOCOL.major + 1,
            PROTOCOL.major
        );
        assert!(text.starts_with(&expected), "{text}");
    }

    #[test]
    fn bytes_without_the_magic_are_refused() {
        assert!(matches!(
            ClientHello::decode(b"GET / HTTP/1.1\r\n"),
            Err(WireError::BadMagic)
        ));
        assert!(matches!(
            ClientHello::decode(b"TOK"),
            Err(WireError::BadMagic)
        ));
    }
}
