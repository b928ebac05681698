//! The wire against bad clients: churn, a client that never reads, garbage, a 4 GiB header, a
//! frame cut off, a silent client, one client too many. Each asserts what happened and prints
//! the server's counts.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use tokmon_probe::wire::frame::{self, FrameReader, Kind};
use tokmon_probe::wire::{
    Client, ClientOptions, Endpoint, Incoming, MAX_FRAME_TO_CLIENT, Notice, NoticeCode, Server,
    ServerConfig, WireError,
};

/// One test at a time: they count this process's threads and pace messages.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn start(dir: &tempfile::TempDir, config: ServerConfig) -> (Server, PathBuf) {
    let server = Server::start(config.socket_dir(dir.path().join("tokmon"))).expect("starts");
    let Endpoint::Unix(path) = server.endpoint().clone() else {
        panic!("expected a Unix socket");
    };
    (server, path)
}

/// Waits (generously) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "still not {what} after 60 s"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn threads_of_this_process() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("readable");
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Threads line")
}

fn vm_peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("readable");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmPeak:"))
        .and_then(|n| n.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmPeak line")
}

/// Connects and reads the first frame (the server's hello or a refusal).
fn raw(path: &PathBuf) -> FrameReader<UnixStream> {
    let stream = UnixStream::connect(path).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    FrameReader::new(stream, MAX_FRAME_TO_CLIENT)
}

fn expect_notice(frames: &mut FrameReader<UnixStream>) -> Notice {
    loop {
        let frame = frames
            .read_frame()
            .expect("readable")
            .expect("a frame before the end");
        if frame.kind == Kind::Notice as u8 {
            return Notice::decode(frame.payload).expect("a notice");
        }
        assert_eq!(
            frame.kind,
            Kind::ServerHello as u8,
            "only the hello comes before a notice"
        );
    }
}

fn attach(path: &PathBuf) -> Client {
    Client::connect_unix(path, &ClientOptions::default()).expect("attaches")
}

#[test]
fn a_thousand_connections_come_and_go_without_a_trace() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, path) = start(&dir, ServerConfig::unix());
    let threads_before = threads_of_this_process();
    for _ in 0..1000 {
        drop(UnixStream::connect(&path).expect("connects"));
    }
    // And some that complete the handshake before leaving; one may find the previous still
    // being cleaned up, and is refused: retried.
    let mut retried = 0;
    for _ in 0..100 {
        loop {
            match Client::connect_unix(&path, &ClientOptions::default()) {
                Ok(client) => break drop(client),
                Err(WireError::Refused(notice)) if notice.code == NoticeCode::TooManyClients => {
                    retried += 1;
                    thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
    eventually("every connection closed", || {
        let stats = server.stats();
        stats.clients == 0 && stats.accepted == stats.refused + stats.closed + stats.closed_bad
    });
    let stats = server.stats();
    println!("after 1000 connect/drop and 100 attach/drop: {stats:?}, {retried} retries");
    assert_eq!(stats.accepted, 1100 + retried);
    assert_eq!(stats.attached, 100);
    assert_eq!(
        stats.closed_bad, 0,
        "leaving between frames is a clean close"
    );
    eventually("the client threads gone", || {
        threads_of_this_process() <= threads_before + 2
    });

    let mut client = attach(&path);
    eventually("attached", || server.has_clients());
    server.broadcast(1, b"still serving").expect("small");
    assert_eq!(
        client.recv().expect("a message"),
        Some(Incoming::Message {
            tag: 1,
            bytes: b"still serving".to_vec()
        })
    );
}

#[test]
fn a_client_that_never_reads_costs_only_its_queue() {
    let _serial = serial();
    const QUEUE: usize = 1024 * 1024;
    const MESSAGES: u32 = 4000;
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, path) = start(&dir, ServerConfig::unix().queue_bytes(QUEUE));
    let mut stuck = attach(&path);
    let mut good = attach(&path);
    eventually("both attached", || {
        server.clients().iter().filter(|c| c.attached).count() == 2
    });
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut seen = Vec::new();
        let mut drops = 0;
        while seen.len() < MESSAGES as usize {
            match good.recv().expect("readable") {
                Some(Incoming::Message { bytes, .. }) => {
                    seen.push(u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")));
                }
                Some(Incoming::Dropped { total }) => drops = total,
                other => panic!("unexpected {other:?}"),
            }
        }
        tx.send((seen, drops)).expect("the test waits");
    });
    let mut message = vec![0u8; 1024];
    for i in 0..MESSAGES {
        message[..4].copy_from_slice(&i.to_le_bytes());
        server.broadcast(9, &message).expect("fits");
        // Paced like a sampler, so that the reading client keeps up even on a loaded machine:
        // its queue holds about 2 s of this.
        thread::sleep(Duration::from_millis(2));
    }
    let (seen, good_drops) = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the good client got everything");
    reader.join().expect("reader");
    assert_eq!(
        seen,
        (0..MESSAGES).collect::<Vec<_>>(),
        "everything, in order"
    );
    assert_eq!(good_drops, 0);

    let clients = server.clients();
    let stuck_info = clients
        .iter()
        .find(|c| c.dropped > 0)
        .expect("the stuck client dropped");
    println!("stuck client: {stuck_info:?}");
    println!("server: {:?}", server.stats());
    assert!(
        stuck_info.dropped > 1000,
        "most of 4 MiB did not fit in 1 MiB and the socket"
    );
    assert!(
        stuck_info.queue_high_water <= QUEUE,
        "the queue stayed under its cap"
    );
    assert_eq!(server.stats().dropped_messages, stuck_info.dropped);
    assert_eq!(server.stats().closed_stuck, 0, "not stuck for 30 s yet");

    // When it reads at last it gets what was queued, in order, and the count of the rest.
    let expected = stuck_info.dropped;
    let mut last = None;
    let mut reported = 0;
    while reported != expected {
        match stuck.recv().expect("readable") {
            Some(Incoming::Message { bytes, .. }) => {
                let n = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
                assert!(last.is_none_or(|last| n > last), "in order");
                last = Some(n);
            }
            Some(Incoming::Dropped { total }) => reported = total,
            other => panic!("unexpected {other:?}"),
        }
    }
    println!("the stuck client learnt of {reported} dropped messages");
}

#[test]
fn a_client_stuck_past_the_timeout_is_closed() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ServerConfig::unix()
        .queue_bytes(64 * 1024)
        .stuck_timeout(Duration::from_secs(1));
    let (server, path) = start(&dir, config);
    let _stuck = attach(&path);
    eventually("attached", || server.has_clients());
    let message = vec![7u8; 4096];
    eventually("closed as stuck", || {
        let _ = server.broadcast(1, &message);
        thread::sleep(Duration::from_millis(10));
        server.stats().closed_stuck == 1
    });
    eventually("gone", || server.stats().clients == 0);
    println!("{:?}", server.stats());
}

#[test]
fn garbage_is_closed_and_counted() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, path) = start(&dir, ServerConfig::unix());
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..20 {
        let mut garbage = vec![0u8; 64 + i * 100];
        for byte in &mut garbage {
            // xorshift: reproducible noise without a crate.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *byte = seed as u8;
        }
        let mut stream = UnixStream::connect(&path).expect("connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        // The server may close before all of it is written.
        let _ = stream.write_all(&garbage);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    }
    eventually("all 20 closed", || {
        server.stats().closed_bad == 20 && server.stats().clients == 0
    });
    println!("{:?}", server.stats());
    let mut client = attach(&path);
    eventually("attached", || server.has_clients());
    server.broadcast(2, b"fine").expect("small");
    assert!(matches!(
        client.recv(),
        Ok(Some(Incoming::Message { tag: 2, .. }))
    ));
}

#[test]
fn a_four_gib_header_is_refused_without_allocating() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, path) = start(&dir, ServerConfig::unix());
    let peak_before = vm_peak_kib();
    let mut frames = raw(&path);
    frames
        .get_mut()
        .write_all(&[0xff, 0xff, 0xff, 0xff, Kind::ClientHello as u8])
        .expect("sent");
    let notice = expect_notice(&mut frames);
    println!("{}", notice.text);
    assert_eq!(notice.code, NoticeCode::BadHello);
    assert!(notice.text.contains("4294967295"), "{}", notice.text);
    assert!(
        frames.read_frame().expect("a clean end").is_none(),
        "closed"
    );
    eventually("counted", || server.stats().closed_bad == 1);
    let grown = vm_peak_kib().saturating_sub(peak_before);
    println!("peak virtual memory grew by {grown} KiB");
    assert!(grown < 1024 * 1024, "no 4 GiB buffer was reserved");
}

#[test]
fn a_frame_cut_off_is_closed_and_counted() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, path) = start(&dir, ServerConfig::unix());
    // During the handshake: half a hello.
    let mut frames = raw(&path);
    assert_eq!(
        frames.read_frame().expect("readable").expect("hello").kind,
        Kind::ServerHello as u8
    );
    frames
        .get_mut()
        .write_all(&[100, 0, 0, 0, Kind::ClientHello as u8])
        .expect("header");
    frames.get_mut().write_all(&[0x55; 50]).expect("half");
    drop(frames);
    eventually("counted", || server.stats().closed_bad == 1);
    // After the handshake: half a frame of a kind this version does not know.
    let client = attach(&path);
    eventually("attached", || server.has_clients());
    drop(client);
    let mut stream = UnixStream::connect(&path).expect("connects");
    let mut frames = FrameReader::new(stream.try_clone().expect("clone"), MAX_FRAME_TO_CLIENT);
    assert!(frames.read_frame().expect("readable").is_some());
    let hello = tokmon_probe::wire::ClientHello {
        version: tokmon_probe::wire::PROTOCOL,
        ..Default::default()
    };
    frame::write(&mut stream, Kind::ClientHello, &hello.encode(), 4096).expect("hello");
    assert_eq!(
        frames
            .read_frame()
            .expect("readable")
            .expect("welcome")
            .kind,
        Kind::Welcome as u8
    );
    stream.write_all(&[200, 0, 0, 0, 99]).expect("header");
    stream.write_all(&[1; 10]).expect("a tenth");
    drop((stream, frames));
    eventually("counted", || {
        server.stats().closed_bad == 2 && server.stats().clients == 0
    });
    println!("{:?}", server.stats());
}

#[test]
fn a_silent_client_is_closed_after_the_handshake_timeout() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, path) = start(
        &dir,
        ServerConfig::unix().handshake_timeout(Duration::from_secs(1)),
    );
    let mut frames = raw(&path);
    let notice = expect_notice(&mut frames);
    println!("{}", notice.text);
    assert_eq!(notice.code, NoticeCode::HandshakeTimeout);
    assert!(frames.read_frame().expect("a clean end").is_none());
    eventually("counted", || server.stats().closed_bad == 1);
}

#[test]
fn one_client_too_many_is_told_so() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, path) = start(&dir, ServerConfig::unix().max_clients(5));
    let mut five: Vec<Client> = (0..5).map(|_| attach(&path)).collect();
    let err = Client::connect_unix(&path, &ClientOptions::default()).expect_err("the sixth");
    println!("{err}");
    match &err {
        WireError::Refused(notice) => {
            assert_eq!(notice.code, NoticeCode::TooManyClients);
            assert!(notice.text.contains("at most 5 clients"), "{}", notice.text);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(server.stats().refused, 1);
    drop(five.pop());
    eventually("a place free", || server.stats().clients == 4);
    let _sixth = attach(&path);
    println!("{:?}", server.stats());
}

#[test]
fn dropping_the_server_ends_every_thread_and_connection() {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, path) = start(&dir, ServerConfig::unix());
    let mut attached = attach(&path);
    let _silent = UnixStream::connect(&path).expect("connects");
    eventually("two connections", || server.stats().clients == 2);
    let started = Instant::now();
    drop(server);
    println!("dropped in {:?}", started.elapsed());
    assert!(matches!(attached.recv(), Ok(None)));
    assert!(!path.exists());
}
