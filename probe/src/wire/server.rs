//! The server: a listener thread, and for each client a reader thread (the handshake, then
//! whatever the client sends) and a writer thread draining the client's queue, which is bounded
//! in bytes; [`Server::broadcast`] only appends to the queues and never waits on a client.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};

use super::frame::{self, FrameReader, Kind};
use super::hello::{ClientHello, Notice, NoticeCode, PROTOCOL, ServerHello, mismatch_text};
use super::stream::Stream;
use super::unix::SocketFile;
use super::{
    DEFAULT_MAX_CLIENTS, DEFAULT_QUEUE_BYTES, MAX_FRAME_TO_CLIENT, MAX_FRAME_TO_SERVER, WireError,
    pieces, tcp, unix,
};

/// How often the listener looks at the stop flag while no one connects.
const ACCEPT_POLL: Duration = Duration::from_millis(200);

/// How long a blocked write waits before the writer looks at the stop flag and the stuck clock.
const WRITE_POLL: Duration = Duration::from_millis(200);

/// How long the writer sleeps on an empty queue before looking at the stop flag again (it is
/// woken at once by a new message or by shutdown; this is only a fence).
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Bytes counted against a client's queue for each message besides its frames: the queue's
/// slot and the shared buffer's counts and allocation, so that many tiny messages cannot hold
/// several times the cap.
const ITEM_OVERHEAD: usize = 64;

/// How long a refusal notice may take to write before the connection is dropped anyway.
const REFUSAL_WRITE: Duration = Duration::from_millis(100);

/// Where the server listens and what it allows.
#[derive(Clone, Debug)]
enum Transport {
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
    transport: Transport,
    max_clients: usize,
    queue_bytes: usize,
    handshake_timeout: Duration,
    stuck_timeout: Duration,
    hello_payload: Vec<u8>,
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

/// The server's counters since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections accepted from the socket, whatever became of them.
    pub accepted: u64,
    /// Connections refused at once: too many clients, or a peer uid not allowed.
    pub refused: u64,
    /// Clients whose handshake succeeded.
    pub attached: u64,
    /// Connections that ended cleanly: the client left between frames, or the server stopped.
    pub closed: u64,
    /// Connections closed for breaking the protocol: garbage, a bad hello, a wrong token,
    /// another major version, a frame over the cap, a frame cut off, no hello in time.
    pub closed_bad: u64,
    /// Clients closed for taking no byte for the stuck timeout.
    pub closed_stuck: u64,
    /// Messages dropped because a client's queue was full, over all clients.
    pub dropped_messages: u64,
    /// Connections open now (in their handshake or attached).
    pub clients: usize,
}

/// One client as the server sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    /// The server's number for it (for [`Server::send_to`]).
    pub id: u64,
    /// Who: `pid P uid U` on a Unix socket, the address over TCP.
    pub peer: String,
    /// Whether its handshake succeeded.
    pub attached: bool,
    /// Its name from its hello.
    pub client: String,
    /// The sample interval it asked for.
    pub sample_interval: Option<Duration>,
    /// Bytes waiting in its queue (frames, plus a small fixed overhead per message).
    pub queued_bytes: usize,
    /// The most bytes its queue ever held.
    pub queue_high_water: usize,
    /// Messages dropped for it.
    pub dropped: u64,
    /// Frames written to it (data frames count one per message; pieces of one message count
    /// once).
    pub sent: u64,
}

/// What became of one message given to [`Server::broadcast`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Clients whose queue took it.
    pub queued: usize,
    /// Clients whose queue was full (each counts a drop, reported to it later).
    pub dropped: usize,
}

/// The wire's server: serves attached clients from its own threads until dropped. Dropping it
/// stops the threads, closes the connections and removes the socket file (and the token file).
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    endpoint: Endpoint,
    token: Option<String>,
    token_file: Option<PathBuf>,
    listener: Option<JoinHandle<()>>,
    /// Removed on drop, after the threads stopped.
    socket_file: Option<SocketFile>,
}

#[derive(Debug)]
struct Shared {
    max_clients: usize,
    queue_bytes: usize,
    handshake_timeout: Duration,
    stuck_timeout: Duration,
    /// The hello frame, header included, the same for every client.
    hello_frame: Vec<u8>,
    token: Option<String>,
    stop: AtomicBool,
    clients: Mutex<Vec<Arc<Slot>>>,
    /// Attached clients, so that a broadcast with none encodes nothing and takes no lock.
    attached_now: AtomicUsize,
    next_id: AtomicU64,
    counters: Counters,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    refused: AtomicU64,
    attached: AtomicU64,
    closed: AtomicU64,
    closed_bad: AtomicU64,
    closed_stuck: AtomicU64,
    dropped: AtomicU64,
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Clean,
    Bad,
    Stuck,
}

#[derive(Debug)]
struct Slot {
    id: u64,
    peer: String,
    /// A handle on the connection, to shut it down from the server's drop.
    stream: Stream,
    queue: Mutex<Queue>,
    wake: Condvar,
    attached: AtomicBool,
    /// [`Server::new_clients`] returned it already.
    announced: AtomicBool,
    ended: AtomicBool,
    sent: AtomicU64,
    hello: Mutex<Option<ClientHello>>,
    reader: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Queue {
    /// Each item is one message's frames (a data frame or all its pieces), shared by all
    /// clients' queues.
    items: VecDeque<Arc<[u8]>>,
    bytes: usize,
    high_water: usize,
    dropped: u64,
    /// The dropped count last written to the client.
    reported: u64,
    closed: bool,
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data under these locks stays consistent at every step, so a panic elsewhere (which
    // this module does not do) must not take the wire down with it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Server {
    /// Binds the socket and starts the listener thread.
    ///
    /// # Errors
    ///
    /// [`WireError::UnsafeDir`] for a socket directory that is not private,
    /// [`WireError::InUse`] if a live server of this pid listens already,
    /// [`WireError::NotLoopback`], [`WireError::FrameTooLarge`] for a hello payload over the
    /// frame cap, or the socket's error.
    pub fn start(config: ServerConfig) -> Result<Self, WireError> {
        let pid = std::process::id();
        let (listener, endpoint, socket_file, token, token_file) = match &config.transport {
            Transport::Unix { dir } => {
                let dir = dir.clone().unwrap_or_else(unix::default_dir);
                let (listener, file) = unix::bind(&dir, pid)?;
                let endpoint = Endpoint::Unix(file.path().to_owned());
                (Listener::Unix(listener), endpoint, Some(file), None, None)
            }
            Transport::Tcp {
                addr,
                token_file,
                allow_non_loopback,
            } => {
                tcp::check_addr(*addr, *allow_non_loopback)?;
                let listener = TcpListener::bind(addr)?;
                let endpoint = Endpoint::Tcp(listener.local_addr()?);
                let token = tcp::new_token()?;
                if let Some(path) = token_file {
                    tcp::write_token_file(path, &token)?;
                }
                (
                    Listener::Tcp(listener),
                    endpoint,
                    None,
                    Some(token),
                    token_file.clone(),
                )
            }
        };
        let hello = ServerHello {
            version: PROTOCOL,
            pid,
            program: program_name(),
            probe_version: env!("CARGO_PKG_VERSION").to_owned(),
            max_frame_to_server: MAX_FRAME_TO_SERVER as u32,
            max_frame_to_client: MAX_FRAME_TO_CLIENT as u32,
            token_required: token.is_some(),
            payload: config.hello_payload.clone(),
        };
        let mut hello_frame = Vec::new();
        frame::encode(
            Kind::ServerHello,
            &hello.encode(),
            MAX_FRAME_TO_CLIENT,
            &mut hello_frame,
        )?;
        match &listener {
            Listener::Unix(l) => l.set_nonblocking(true)?,
            Listener::Tcp(l) => l.set_nonblocking(true)?,
        }
        let shared = Arc::new(Shared {
            max_clients: config.max_clients,
            queue_bytes: config.queue_bytes,
            handshake_timeout: config.handshake_timeout,
            stuck_timeout: config.stuck_timeout,
            hello_frame,
            token: token.clone(),
            stop: AtomicBool::new(false),
            clients: Mutex::new(Vec::new()),
            attached_now: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            counters: Counters::default(),
        });
        let listener = thread::Builder::new().name("tokmon-wire".into()).spawn({
            let shared = shared.clone();
            move || listen(&shared, &listener)
        })?;
        Ok(Self {
            shared,
            endpoint,
            token,
            token_file,
            listener: Some(listener),
            socket_file,
        })
    }

    /// Where the server listens.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The token a TCP client must present; `None` on a Unix socket.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Whether any client is attached: a producer with no one to send to may skip encoding.
    pub fn has_clients(&self) -> bool {
        self.shared.attached_now.load(Ordering::Acquire) > 0
    }

    /// Queues one message for every attached client, without waiting: a client whose queue
    /// cannot take the whole message has it dropped and counted, and learns the count in a
    /// later [`Kind::Dropped`] frame. A message larger than one frame goes in pieces.
    ///
    /// # Errors
    ///
    /// [`WireError::MessageTooLarge`] if its frames exceed a client's whole queue (no client
    /// could ever take it).
    pub fn broadcast(&self, tag: u8, message: &[u8]) -> Result<Delivery, WireError> {
        if !self.has_clients() {
            return Ok(Delivery::default());
        }
        let frames = self.encode(tag, message)?;
        let clients = lock(&self.shared.clients);
        let mut delivery = Delivery::default();
        for slot in clients
            .iter()
            .filter(|slot| slot.attached.load(Ordering::Acquire))
        {
            if slot.enqueue(&frames, &self.shared) {
                delivery.queued += 1;
            } else {
                delivery.dropped += 1;
            }
        }
        Ok(delivery)
    }

    /// Queues one message for one attached client (one of [`new_clients`](Self::new_clients),
    /// say, to send it what the others received before it came). Returns whether its queue took
    /// it; `false` also for a client that is gone.
    ///
    /// # Errors
    ///
    /// As [`broadcast`](Self::broadcast).
    pub fn send_to(&self, id: u64, tag: u8, message: &[u8]) -> Result<bool, WireError> {
        let slot = lock(&self.shared.clients)
            .iter()
            .find(|slot| slot.id == id && slot.attached.load(Ordering::Acquire))
            .cloned();
        let Some(slot) = slot else {
            return Ok(false);
        };
        let frames = self.encode(tag, message)?;
        Ok(slot.enqueue(&frames, &self.shared))
    }

    /// The clients attached since the last call.
    pub fn new_clients(&self) -> Vec<u64> {
        lock(&self.shared.clients)
            .iter()
            .filter(|slot| {
                slot.attached.load(Ordering::Acquire)
                    && !slot.announced.swap(true, Ordering::AcqRel)
            })
            .map(|slot| slot.id)
            .collect()
    }

    /// The connections open now.
    pub fn clients(&self) -> Vec<ClientInfo> {
        lock(&self.shared.clients)
            .iter()
            .map(|slot| slot.info())
            .collect()
    }

    /// The counters since the server started.
    pub fn stats(&self) -> ServerStats {
        let c = &self.shared.counters;
        let n = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ServerStats {
            accepted: n(&c.accepted),
            refused: n(&c.refused),
            attached: n(&c.attached),
            closed: n(&c.closed),
            closed_bad: n(&c.closed_bad),
            closed_stuck: n(&c.closed_stuck),
            dropped_messages: n(&c.dropped),
            clients: lock(&self.shared.clients).len(),
        }
    }

    /// Stops the server: as dropping it, said explicitly.
    pub fn shutdown(self) {}

    fn encode(&self, tag: u8, message: &[u8]) -> Result<Arc<[u8]>, WireError> {
        let cap = self.shared.queue_bytes;
        let too_large = |size| WireError::MessageTooLarge { size, cap };
        if message.len() > cap {
            return Err(too_large(message.len()));
        }
        let mut frames = Vec::new();
        pieces::encode_message(tag, message, MAX_FRAME_TO_CLIENT, &mut frames)?;
        if frames.len() + ITEM_OVERHEAD > cap {
            return Err(too_large(frames.len()));
        }
        Ok(frames.into())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(listener) = self.listener.take() {
            let _ = listener.join();
        }
        let slots = std::mem::take(&mut *lock(&self.shared.clients));
        for slot in &slots {
            slot.close();
        }
        for slot in &slots {
            let reader = lock(&slot.reader).take();
            if let Some(reader) = reader {
                let _ = reader.join();
            }
        }
        if let Some(path) = &self.token_file {
            let _ = std::fs::remove_file(path);
        }
        // Last, so that no thread accepts on a path that a successor may have bound.
        drop(self.socket_file.take());
    }
}

/// The executable's file name: what `ps` shows, without the arguments, which may hold secrets.
fn program_name() -> String {
    let exe = std::env::current_exe().ok();
    let from_exe = exe.as_deref().and_then(Path::file_name);
    let arg0 = std::env::args_os().next().map(PathBuf::from);
    let name = from_exe.or_else(|| arg0.as_deref().and_then(Path::file_name));
    name.map_or_else(|| "?".to_owned(), |n| n.to_string_lossy().into_owned())
}

fn listen(shared: &Arc<Shared>, listener: &Listener) {
    let timeout = Timespec::try_from(ACCEPT_POLL).unwrap_or(Timespec {
        tv_sec: 0,
        tv_nsec: 200_000_000,
    });
    while !shared.stop.load(Ordering::Acquire) {
        let ready = {
            let fd = match listener {
                Listener::Unix(l) => l.as_fd(),
                Listener::Tcp(l) => l.as_fd(),
            };
            let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
            rustix::event::poll(&mut fds, Some(&timeout))
        };
        match ready {
            Ok(0) => continue,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => {
                thread::sleep(ACCEPT_POLL);
                continue;
            }
        }
        let accepted = match listener {
            Listener::Unix(l) => l.accept().map(|(s, _)| Stream::Unix(s)),
            Listener::Tcp(l) => l.accept().map(|(s, _)| Stream::Tcp(s)),
        };
        match accepted {
            Ok(stream) => admit(shared, stream),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Out of descriptors or memory: wait rather than spin; the app comes first.
            Err(_) => thread::sleep(ACCEPT_POLL),
        }
    }
}

fn admit(shared: &Arc<Shared>, stream: Stream) {
    let counters = &shared.counters;
    counters.accepted.fetch_add(1, Ordering::Relaxed);
    let refuse = |stream: Stream, notice: Notice| {
        counters.refused.fetch_add(1, Ordering::Relaxed);
        send_notice_and_close(stream, &notice);
    };
    // The listener is non-blocking; the connection must not be.
    let blocking = match &stream {
        Stream::Unix(s) => s.set_nonblocking(false),
        Stream::Tcp(s) => s.set_nonblocking(false),
    };
    if blocking.is_err() {
        counters.refused.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let peer = match &stream {
        Stream::Unix(s) => match unix::check_peer(s) {
            Ok(peer) => peer,
            Err(notice) => return refuse(stream, notice),
        },
        Stream::Tcp(s) => s
            .peer_addr()
            .map_or_else(|_| "tcp".to_owned(), |a| a.to_string()),
    };
    let Ok(handle) = stream.try_clone() else {
        counters.refused.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let mut clients = lock(&shared.clients);
    if clients.len() >= shared.max_clients {
        let n = clients.len();
        drop(clients);
        let text = format!(
            "tokmon-probe serves at most {} clients at once and {n} are connected; detach one \
             and retry",
            shared.max_clients
        );
        return refuse(stream, Notice::new(NoticeCode::TooManyClients, text));
    }
    let slot = Arc::new(Slot {
        id: shared.next_id.fetch_add(1, Ordering::Relaxed),
        peer,
        stream: handle,
        queue: Mutex::new(Queue::default()),
        wake: Condvar::new(),
        attached: AtomicBool::new(false),
        announced: AtomicBool::new(false),
        ended: AtomicBool::new(false),
        sent: AtomicU64::new(0),
        hello: Mutex::new(None),
        reader: Mutex::new(None),
    });
    clients.push(slot.clone());
    drop(clients);
    let spawned = thread::Builder::new().name("tokmon-wire-rd".into()).spawn({
        let (shared, slot) = (shared.clone(), slot.clone());
        move || serve(&shared, &slot, stream)
    });
    match spawned {
        Ok(reader) => *lock(&slot.reader) = Some(reader),
        Err(_) => {
            lock(&shared.clients).retain(|s| s.id != slot.id);
            slot.close();
            counters.refused.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Writes a notice and closes, giving up quickly on a peer that does not read.
fn send_notice_and_close(mut stream: Stream, notice: &Notice) {
    let _ = stream.set_write_timeout(Some(REFUSAL_WRITE));
    let _ = frame::write(
        &mut stream,
        Kind::Notice,
        &notice.encode(),
        MAX_FRAME_TO_CLIENT,
    );
    stream.shutdown();
}

/// The client's reader thread: the handshake, the writer thread, then the client's frames.
fn serve(shared: &Arc<Shared>, slot: &Arc<Slot>, stream: Stream) {
    let mut writer = None;
    let end = handshake_and_read(shared, slot, stream, &mut writer);
    slot.end(shared, end);
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    if slot.attached.load(Ordering::Acquire) {
        shared.attached_now.fetch_sub(1, Ordering::AcqRel);
    }
    lock(&shared.clients).retain(|s| s.id != slot.id);
}

fn handshake_and_read(
    shared: &Arc<Shared>,
    slot: &Arc<Slot>,
    stream: Stream,
    writer: &mut Option<JoinHandle<()>>,
) -> End {
    let deadline = Instant::now() + shared.handshake_timeout;
    if stream.set_write_timeout(Some(WRITE_POLL)).is_err() {
        return End::Bad;
    }
    let mut reader = FrameReader::new(stream, MAX_FRAME_TO_SERVER);
    if let Err(end) = write_patiently(
        reader.get_mut(),
        &shared.hello_frame,
        slot,
        shared,
        shared.handshake_timeout,
    ) {
        return end;
    }
    let hello = match read_hello(shared, &mut reader, deadline) {
        Ok(hello) => hello,
        Err(Refusal::Gone(end)) => return end,
        Err(Refusal::Notice(notice)) => {
            let mut stream = reader.get_mut();
            let _ = stream.set_write_timeout(Some(REFUSAL_WRITE));
            let _ = frame::write(
                &mut stream,
                Kind::Notice,
                &notice.encode(),
                MAX_FRAME_TO_CLIENT,
            );
            return End::Bad;
        }
    };
    if let Err(end) = write_patiently(
        reader.get_mut(),
        &welcome_frame(),
        slot,
        shared,
        shared.handshake_timeout,
    ) {
        return end;
    }
    *lock(&slot.hello) = Some(hello);
    let Ok(writer_stream) = reader.get_ref().try_clone() else {
        return End::Bad;
    };
    let spawned = thread::Builder::new().name("tokmon-wire-wr".into()).spawn({
        let (shared, slot) = (shared.clone(), slot.clone());
        move || write_queue(&shared, &slot, writer_stream)
    });
    match spawned {
        Ok(handle) => *writer = Some(handle),
        Err(_) => return End::Bad,
    }
    shared.attached_now.fetch_add(1, Ordering::AcqRel);
    slot.attached.store(true, Ordering::Release);
    shared.counters.attached.fetch_add(1, Ordering::Relaxed);
    if shared.stop.load(Ordering::Acquire) {
        return End::Clean;
    }
    // Protocol 1.0 has nothing for a client to send after its hello; a frame of a kind this
    // version does not know is a newer minor version's, and skipped.
    if reader.get_ref().set_read_timeout(None).is_err() {
        return End::Bad;
    }
    loop {
        match reader.read_frame() {
            Ok(None) => return End::Clean,
            Ok(Some(frame)) if Kind::from_byte(frame.kind).is_none() => {}
            Ok(Some(_)) => return End::Bad,
            Err(e) if e.is_timeout() => {}
            Err(_) if slot.ended.load(Ordering::Acquire) => return End::Clean,
            Err(_) => return End::Bad,
        }
    }
}

fn welcome_frame() -> Vec<u8> {
    let mut bytes = Vec::with_capacity(frame::HEADER_LEN);
    // An empty payload is always under the cap.
    let _ = frame::encode(Kind::Welcome, &[], MAX_FRAME_TO_CLIENT, &mut bytes);
    bytes
}

enum Refusal {
    /// Tell the client why, then close.
    Notice(Notice),
    /// Close without a word (the client left, or cut a frame off).
    Gone(End),
}

fn read_hello(
    shared: &Shared,
    reader: &mut FrameReader<Stream>,
    deadline: Instant,
) -> Result<ClientHello, Refusal> {
    let bad_hello = |text: String| Refusal::Notice(Notice::new(NoticeCode::BadHello, text));
    let hello = loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            let text = format!("no hello within {:?}; closing", shared.handshake_timeout);
            return Err(Refusal::Notice(Notice::new(
                NoticeCode::HandshakeTimeout,
                text,
            )));
        }
        if reader.get_ref().set_read_timeout(Some(remaining)).is_err() {
            return Err(Refusal::Gone(End::Bad));
        }
        match reader.read_frame() {
            Ok(None) => return Err(Refusal::Gone(End::Clean)),
            Ok(Some(frame)) if frame.kind == Kind::ClientHello as u8 => {
                break ClientHello::decode(frame.payload);
            }
            Ok(Some(frame)) => {
                return Err(bad_hello(format!(
                    "expected the client's hello, got a frame of kind {}",
                    frame.kind
                )));
            }
            Err(e) if e.is_timeout() => {}
            Err(e @ WireError::FrameTooLarge { .. }) => return Err(bad_hello(e.to_string())),
            Err(_) if shared.stop.load(Ordering::Acquire) => return Err(Refusal::Gone(End::Clean)),
            Err(_) => return Err(Refusal::Gone(End::Bad)),
        }
    };
    let hello = match hello {
        Ok(hello) => hello,
        Err(WireError::VersionMismatch { server, client }) => {
            let text = mismatch_text(server, client);
            return Err(Refusal::Notice(Notice::new(
                NoticeCode::VersionMismatch,
                text,
            )));
        }
        Err(e) => return Err(bad_hello(format!("the client's hello: {e}"))),
    };
    if let Some(token) = &shared.token
        && !tcp::token_matches(token, hello.token.as_deref())
    {
        let text = if hello.token.is_some() {
            "wrong token: use the token the app's tokmon-probe printed or wrote to its token file"
        } else {
            "this server needs a token (TCP): use the token the app's tokmon-probe printed or \
             wrote to its token file"
        };
        return Err(Refusal::Notice(Notice::new(NoticeCode::BadToken, text)));
    }
    Ok(hello)
}

/// The client's writer thread: drains its queue, and reports drops before the next message.
fn write_queue(shared: &Shared, slot: &Slot, mut stream: Stream) {
    loop {
        let next = {
            let mut queue = lock(&slot.queue);
            loop {
                if queue.closed || shared.stop.load(Ordering::Acquire) {
                    return;
                }
                if queue.dropped != queue.reported {
                    queue.reported = queue.dropped;
                    break Next::Dropped(queue.dropped);
                }
                if let Some(frames) = queue.items.pop_front() {
                    queue.bytes -= frames.len() + ITEM_OVERHEAD;
                    break Next::Frames(frames);
                }
                queue = slot
                    .wake
                    .wait_timeout(queue, IDLE_POLL)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        };
        let written = match next {
            Next::Frames(frames) => {
                write_patiently(&mut stream, &frames, slot, shared, shared.stuck_timeout)
            }
            Next::Dropped(total) => {
                let mut bytes = Vec::with_capacity(16);
                let payload = postcard::to_stdvec(&total).unwrap_or_default();
                let _ = frame::encode(Kind::Dropped, &payload, MAX_FRAME_TO_CLIENT, &mut bytes);
                write_patiently(&mut stream, &bytes, slot, shared, shared.stuck_timeout)
            }
        };
        match written {
            Ok(()) => {
                slot.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(end) => {
                slot.end(shared, end);
                return;
            }
        }
    }
}

enum Next {
    Frames(Arc<[u8]>),
    Dropped(u64),
}

/// Writes all of `bytes`, through write timeouts, until the client takes no byte for `stuck`
/// or the connection is closed.
fn write_patiently(
    stream: &mut Stream,
    bytes: &[u8],
    slot: &Slot,
    shared: &Shared,
    stuck: Duration,
) -> Result<(), End> {
    let mut written = 0;
    let mut progress = Instant::now();
    while written < bytes.len() {
        match stream.write(&bytes[written..]) {
            Ok(0) => return Err(End::Clean),
            Ok(n) => {
                written += n;
                progress = Instant::now();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if shared.stop.load(Ordering::Acquire) || lock(&slot.queue).closed {
                    return Err(End::Clean);
                }
                if progress.elapsed() >= stuck {
                    return Err(End::Stuck);
                }
            }
            // The client is gone (EPIPE, ECONNRESET): its reader sees the end too.
            Err(_) => return Err(End::Clean),
        }
    }
    Ok(())
}

impl Slot {
    /// Queues a message's frames if they fit; else counts a drop.
    fn enqueue(&self, frames: &Arc<[u8]>, shared: &Shared) -> bool {
        let mut queue = lock(&self.queue);
        if queue.closed {
            return false;
        }
        let cost = frames.len() + ITEM_OVERHEAD;
        if queue.bytes + cost > shared.queue_bytes {
            queue.dropped += 1;
            shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        queue.bytes += cost;
        queue.high_water = queue.high_water.max(queue.bytes);
        queue.items.push_back(frames.clone());
        drop(queue);
        self.wake.notify_one();
        true
    }

    /// Counts why the connection ended (once) and closes it.
    fn end(&self, shared: &Shared, end: End) {
        if !self.ended.swap(true, Ordering::AcqRel) {
            let counters = &shared.counters;
            let counter = match end {
                End::Clean => &counters.closed,
                End::Bad => &counters.closed_bad,
                End::Stuck => &counters.closed_stuck,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.close();
    }

    /// Stops the writer and unblocks the reader; frees the queue.
    fn close(&self) {
        {
            let mut queue = lock(&self.queue);
            queue.closed = true;
            queue.items = VecDeque::new();
            queue.bytes = 0;
        }
        self.wake.notify_all();
        self.stream.shutdown();
    }

    fn info(&self) -> ClientInfo {
        let (queued_bytes, queue_high_water, dropped) = {
            let queue = lock(&self.queue);
            (queue.bytes, queue.high_water, queue.dropped)
        };
        let hello = lock(&self.hello).clone().unwrap_or_default();
        ClientInfo {
            id: self.id,
            peer: self.peer.clone(),
            attached: self.attached.load(Ordering::Acquire),
            client: hello.client,
            sample_interval: hello.sample_interval,
            queued_bytes,
            queue_high_water,
            dropped,
            sent: self.sent.load(Ordering::Relaxed),
        }
    }
}
