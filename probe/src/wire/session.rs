//! One client's connection: its reader thread (the handshake, then whatever the client sends),
//! its writer thread draining its queue, and the queue, bounded in bytes.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::frame::{self, FrameReader, Kind};
use super::hello::{ClientHello, Notice, NoticeCode, mismatch_text};
use super::server::{ClientInfo, Shared, lock};
use super::stream::Stream;
use super::{MAX_FRAME_TO_CLIENT, MAX_FRAME_TO_SERVER, WireError, tcp};

/// How long a blocked write waits before the writer looks at the stop flag and the stuck clock.
const WRITE_POLL: Duration = Duration::from_millis(200);

/// How long the writer sleeps on an empty queue before looking at the stop flag again (it is
/// woken at once by a new message or by shutdown; this is only a fence).
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Bytes counted against a client's queue for each message besides its frames: the queue's
/// slot and the shared buffer's counts and allocation, so that many tiny messages cannot hold
/// several times the cap.
pub(super) const ITEM_OVERHEAD: usize = 64;

/// How long a refusal notice may take to write before the connection is dropped anyway.
const REFUSAL_WRITE: Duration = Duration::from_millis(100);

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    Clean,
    Bad,
    Stuck,
}

#[derive(Debug)]
pub(super) struct Slot {
    pub(super) id: u64,
    pub(super) peer: String,
    /// A handle on the connection, to shut it down from the server's drop.
    pub(super) stream: Stream,
    pub(super) queue: Mutex<Queue>,
    pub(super) wake: Condvar,
    pub(super) attached: AtomicBool,
    /// [`Server::new_clients`] returned it already.
    pub(super) announced: AtomicBool,
    pub(super) ended: AtomicBool,
    pub(super) sent: AtomicU64,
    pub(super) hello: Mutex<Option<ClientHello>>,
    pub(super) reader: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
pub(super) struct Queue {
    /// Each item is one message's frames (a data frame or all its pieces), shared by all
    /// clients' queues.
    pub(super) items: VecDeque<Arc<[u8]>>,
    pub(super) bytes: usize,
    pub(super) high_water: usize,
    pub(super) dropped: u64,
    /// The dropped count last written to the client.
    pub(super) reported: u64,
    pub(super) closed: bool,
}

/// Writes a notice and closes, giving up quickly on a peer that does not read.
pub(super) fn send_notice_and_close(mut stream: Stream, notice: &Notice) {
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
pub(super) fn serve(shared: &Arc<Shared>, slot: &Arc<Slot>, stream: Stream) {
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
    pub(super) fn new(id: u64, peer: String, stream: Stream) -> Self {
        Self {
            id,
            peer,
            stream,
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            attached: AtomicBool::new(false),
            announced: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            sent: AtomicU64::new(0),
            hello: Mutex::new(None),
            reader: Mutex::new(None),
        }
    }

    /// Attached and not ended: its connection is open.
    pub(super) fn live(&self) -> bool {
        self.attached.load(Ordering::Acquire) && !self.ended.load(Ordering::Acquire)
    }

    /// Live and returned by [`Server::new_clients`](super::Server::new_clients) already.
    pub(super) fn announced_target(&self) -> bool {
        self.live() && self.announced.load(Ordering::Acquire)
    }

    /// Queues a message's frames if they fit; else counts a drop.
    pub(super) fn enqueue(&self, frames: &Arc<[u8]>, shared: &Shared) -> bool {
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
    pub(super) fn end(&self, shared: &Shared, end: End) {
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
    pub(super) fn close(&self) {
        {
            let mut queue = lock(&self.queue);
            queue.closed = true;
            queue.items = VecDeque::new();
            queue.bytes = 0;
        }
        self.wake.notify_all();
        self.stream.shutdown();
    }

    pub(super) fn info(&self) -> ClientInfo {
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
