//! The server: its listener thread, who is admitted, and the producer's side, where
//! [`Server::broadcast`] only appends to the clients' bounded queues and never waits on a client
//! (each client's threads are in `session`).

use std::io;
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};

use super::config::{Endpoint, ServerConfig, Transport};
use super::frame::{self, Kind};
use super::hello::{Notice, NoticeCode, PROTOCOL, ServerHello};
use super::session::{ITEM_OVERHEAD, Slot, send_notice_and_close, serve};
use super::stream::Stream;
use super::unix::SocketFile;
use super::{MAX_FRAME_TO_CLIENT, MAX_FRAME_TO_SERVER, WireError, pieces, tcp, unix};

/// How often the listener looks at the stop flag while no one connects.
const ACCEPT_POLL: Duration = Duration::from_millis(200);

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
    /// Writes to it that completed: messages (all pieces of one count once) and drop reports.
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
pub(super) struct Shared {
    pub(super) max_clients: usize,
    pub(super) queue_bytes: usize,
    pub(super) handshake_timeout: Duration,
    pub(super) stuck_timeout: Duration,
    /// The hello frame, header included, the same for every client.
    pub(super) hello_frame: Vec<u8>,
    pub(super) token: Option<String>,
    pub(super) stop: AtomicBool,
    pub(super) clients: Mutex<Vec<Arc<Slot>>>,
    /// Attached clients, so that a broadcast with none encodes nothing and takes no lock.
    pub(super) attached_now: AtomicUsize,
    pub(super) next_id: AtomicU64,
    pub(super) counters: Counters,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) accepted: AtomicU64,
    pub(super) refused: AtomicU64,
    pub(super) attached: AtomicU64,
    pub(super) closed: AtomicU64,
    pub(super) closed_bad: AtomicU64,
    pub(super) closed_stuck: AtomicU64,
    pub(super) dropped: AtomicU64,
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
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
        self.queue_for_all(tag, message, false, &[])
    }

    /// As [`broadcast`](Self::broadcast), but only to the clients [`new_clients`](Self::new_clients)
    /// has returned: a client attached since gets nothing until the producer has seen it, so the
    /// first messages it gets are those the producer sends it with [`send_to`](Self::send_to).
    ///
    /// # Errors
    ///
    /// As [`broadcast`](Self::broadcast).
    pub fn broadcast_announced(&self, tag: u8, message: &[u8]) -> Result<Delivery, WireError> {
        self.queue_for_all(tag, message, true, &[])
    }

    /// As [`broadcast_announced`](Self::broadcast_announced), but not to the clients in
    /// `except`: those the producer feeds at a pace of their own, with [`send_to`](Self::send_to).
    /// The message is framed once for all the others.
    ///
    /// # Errors
    ///
    /// As [`broadcast`](Self::broadcast).
    pub fn broadcast_announced_except(
        &self,
        tag: u8,
        message: &[u8],
        except: &[u64],
    ) -> Result<Delivery, WireError> {
        self.queue_for_all(tag, message, true, except)
    }

    /// How many clients [`broadcast_announced_except`](Self::broadcast_announced_except) would
    /// reach with this `except`: a producer with none may skip encoding.
    pub fn announced_except(&self, except: &[u64]) -> usize {
        if !self.has_clients() {
            return 0;
        }
        lock(&self.shared.clients)
            .iter()
            .filter(|slot| slot.announced_target() && !except.contains(&slot.id))
            .count()
    }

    /// Whether client `id` is attached still (it may leave at any time after).
    pub fn is_attached(&self, id: u64) -> bool {
        lock(&self.shared.clients)
            .iter()
            .any(|slot| slot.id == id && slot.live())
    }

    fn queue_for_all(
        &self,
        tag: u8,
        message: &[u8],
        announced_only: bool,
        except: &[u64],
    ) -> Result<Delivery, WireError> {
        if !self.has_clients() {
            return Ok(Delivery::default());
        }
        let frames = self.encode(tag, message)?;
        let clients = lock(&self.shared.clients);
        let mut delivery = Delivery::default();
        for slot in clients.iter().filter(|slot| {
            slot.attached.load(Ordering::Acquire)
                && (!announced_only || slot.announced.load(Ordering::Acquire))
                && !except.contains(&slot.id)
        }) {
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
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let slot = Arc::new(Slot::new(id, peer, handle));
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
