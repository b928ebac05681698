//! The wire as an app and a client see it: where the socket is and with what modes, refused
//! directories, stale sockets, TCP tokens, versions, messages in pieces, and the sizes that
//! chose postcard over JSON.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokmon_probe::wire::frame::{self, FrameReader, Kind};
use tokmon_probe::wire::{
    Client, ClientHello, ClientOptions, Endpoint, Incoming, MAX_FRAME_TO_CLIENT,
    MAX_FRAME_TO_SERVER, NoticeCode, PROTOCOL, Server, ServerConfig, ServerHello, Version,
    WireError, unix,
};

fn socket_of(server: &Server) -> PathBuf {
    match server.endpoint() {
        Endpoint::Unix(path) => path.clone(),
        Endpoint::Tcp(addr) => panic!("expected a Unix socket, got {addr}"),
    }
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

/// Waits (generously) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "still not {what} after 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn next_message(client: &mut Client) -> (u8, Vec<u8>) {
    match client.recv().expect("a message") {
        Some(Incoming::Message { tag, bytes }) => (tag, bytes),
        Some(other) => panic!("expected a message, got {other:?}"),
        None => panic!("the server closed"),
    }
}

#[test]
fn the_socket_is_private_and_gone_after_the_server() {
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("tokmon");
    let config = ServerConfig::unix()
        .socket_dir(&dir)
        .hello_payload(b"shape".to_vec());
    let server = Server::start(config).expect("starts");
    let path = socket_of(&server);
    assert_eq!(path, dir.join(format!("{}.sock", std::process::id())));
    assert_eq!(mode(&dir), 0o700, "directory mode");
    assert_eq!(mode(&path), 0o600, "socket mode");

    let options = ClientOptions::default()
        .name("wire test")
        .sample_interval(Duration::from_millis(250));
    let mut client = Client::connect_unix(&path, &options).expect("attaches");
    let hello = client.hello().clone();
    let exe = std::env::current_exe().expect("test binary");
    assert_eq!(hello.version, PROTOCOL);
    assert_eq!(hello.pid, std::process::id());
    assert_eq!(
        Some(hello.program.as_str()),
        exe.file_name().and_then(|n| n.to_str())
    );
    assert_eq!(hello.probe_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(hello.payload, b"shape");
    assert!(!hello.token_required);
    assert_eq!(hello.max_frame_to_client as usize, MAX_FRAME_TO_CLIENT);
    assert_eq!(hello.max_frame_to_server as usize, MAX_FRAME_TO_SERVER);

    eventually("attached", || server.has_clients());
    let new = server.new_clients();
    assert_eq!(new.len(), 1);
    assert!(server.new_clients().is_empty(), "announced once");
    let info = server.clients();
    assert_eq!(info[0].client, "wire test");
    assert_eq!(info[0].sample_interval, Some(Duration::from_millis(250)));
    assert!(
        info[0]
            .peer
            .contains(&format!("pid {}", std::process::id())),
        "{}",
        info[0].peer
    );

    let delivery = server.broadcast(7, b"first").expect("small");
    assert_eq!((delivery.queued, delivery.dropped), (1, 0));
    assert!(server.send_to(new[0], 8, b"just you").expect("small"));
    assert_eq!(next_message(&mut client), (7, b"first".to_vec()));
    assert_eq!(next_message(&mut client), (8, b"just you".to_vec()));

    drop(server);
    assert!(
        !path.exists(),
        "the socket is removed when the server is dropped"
    );
    assert!(matches!(client.recv(), Ok(None)), "the client sees the end");
}

#[test]
fn the_server_can_be_shared_with_the_producer_thread() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Server>();
    send_and_sync::<Client>();
}

#[test]
fn a_directory_open_to_others_is_refused() {
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("tokmon");
    fs::create_dir(&dir).expect("created");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
    let err = Server::start(ServerConfig::unix().socket_dir(&dir)).expect_err("0755 is refused");
    println!("{err}");
    assert!(matches!(err, WireError::UnsafeDir { .. }));
    assert!(err.to_string().contains("0755"), "{err}");
    assert_eq!(
        fs::read_dir(&dir).expect("readable").count(),
        0,
        "no socket was made"
    );
}

#[test]
fn a_directory_of_another_user_is_refused() {
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("tokmon");
    fs::create_dir(&dir).expect("created");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod");
    if std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).is_err() {
        // Only root can give a directory away; as another user there is nothing to test here.
        println!("not root: cannot chown a directory to another user; skipped");
        return;
    }
    let err = Server::start(ServerConfig::unix().socket_dir(&dir)).expect_err("refused");
    println!("{err}");
    assert!(err.to_string().contains("owned by uid 65534"), "{err}");
}

#[test]
fn a_symlinked_directory_is_refused() {
    let base = tempfile::tempdir().expect("temp dir");
    let real = base.path().join("real");
    fs::create_dir(&real).expect("created");
    fs::set_permissions(&real, fs::Permissions::from_mode(0o700)).expect("chmod");
    let link = base.path().join("tokmon");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let err = Server::start(ServerConfig::unix().socket_dir(&link)).expect_err("refused");
    assert!(err.to_string().contains("symbolic link"), "{err}");
}

#[test]
fn stale_sockets_are_recognised_and_cleaned() {
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("tokmon");
    unix::prepare_dir(&dir).expect("private dir");
    let mine = unix::socket_path(&dir, std::process::id());
    // A killed app leaves its socket file; nothing listens on it any more.
    drop(UnixListener::bind(&mine).expect("binds"));
    assert!(mine.exists());
    assert!(unix::stale(&mine), "a socket nobody listens on is stale");
    // A socket whose pid is dead is stale even if something still listens on it (pid_max is
    // at most 2^22).
    let dead = unix::socket_path(&dir, 4_999_999);
    let _listening = UnixListener::bind(&dead).expect("binds");
    assert!(unix::stale(&dead));
    fs::write(dir.join("notes.txt"), "not a socket").expect("written");

    let server =
        Server::start(ServerConfig::unix().socket_dir(&dir)).expect("starts over the stale socket");
    assert_eq!(socket_of(&server), mine);
    assert!(!unix::stale(&mine), "a live server's socket is not stale");
    let again =
        Server::start(ServerConfig::unix().socket_dir(&dir)).expect_err("one server per pid");
    assert!(matches!(again, WireError::InUse(_)), "{again}");

    let listed = unix::list(&[dir.clone(), base.path().join("missing")]);
    println!("{listed:?}");
    assert_eq!(listed.len(), 2);
    assert_eq!((listed[0].pid, listed[0].alive), (std::process::id(), true));
    assert_eq!((listed[1].pid, listed[1].alive), (4_999_999, false));
    assert!(!dead.exists(), "listing removed the dead one");
    assert!(mine.exists());
    assert!(dir.join("notes.txt").exists(), "other files are left alone");
    // The probe of the `stale` check connected and left: the server counts a clean close.
    eventually("the probes counted", || server.stats().clients == 0);
}

#[test]
fn a_pid_s_socket_is_reachable_through_proc_root() {
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("tokmon");
    let server = Server::start(ServerConfig::unix().socket_dir(&dir)).expect("starts");
    let outside = unix::path_from_outside(std::process::id(), &socket_of(&server));
    assert!(outside.starts_with(format!("/proc/{}/root", std::process::id())));
    let client =
        Client::connect_unix(&outside, &ClientOptions::default()).expect("reachable through /proc");
    assert_eq!(client.hello().pid, std::process::id());
    let candidates = unix::candidate_paths(std::process::id());
    assert!(!candidates.is_empty());
}

#[test]
fn tcp_needs_the_token() {
    let base = tempfile::tempdir().expect("temp dir");
    let token_file = base.path().join("token");
    let config = ServerConfig::tcp("127.0.0.1:0".parse().expect("address")).token_file(&token_file);
    let server = Server::start(config).expect("starts");
    let Endpoint::Tcp(addr) = server.endpoint().clone() else {
        panic!("expected TCP");
    };
    let token = server.token().expect("a token").to_owned();
    assert_eq!(token.len(), 32);
    assert_eq!(mode(&token_file), 0o600, "token file mode");
    assert_eq!(
        fs::read_to_string(&token_file).expect("readable").trim(),
        token
    );

    let err = Client::connect_tcp(
        addr,
        "0123456789abcdef0123456789abcdef",
        &ClientOptions::default(),
    )
    .expect_err("a wrong token is refused");
    println!("{err}");
    match &err {
        WireError::Refused(notice) => {
            assert_eq!(notice.code, NoticeCode::BadToken);
            assert!(notice.text.contains("wrong token"), "{}", notice.text);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut client =
        Client::connect_tcp(addr, &token, &ClientOptions::default()).expect("the right token");
    assert!(client.hello().token_required);
    eventually("attached", || server.has_clients());
    server.broadcast(1, b"over tcp").expect("small");
    assert_eq!(next_message(&mut client), (1, b"over tcp".to_vec()));
    eventually("the refusal counted", || server.stats().closed_bad == 1);

    drop(server);
    assert!(!token_file.exists(), "the token file goes with the server");
    let wide = ServerConfig::tcp("0.0.0.0:0".parse().expect("address"));
    assert!(matches!(
        Server::start(wide),
        Err(WireError::NotLoopback(_))
    ));
}

#[test]
fn a_client_of_another_major_version_is_told_why() {
    let base = tempfile::tempdir().expect("temp dir");
    let server =
        Server::start(ServerConfig::unix().socket_dir(base.path().join("tokmon"))).expect("starts");
    let stream = UnixStream::connect(socket_of(&server)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut frames = FrameReader::new(stream, MAX_FRAME_TO_CLIENT);
    let first = frames.read_frame().expect("readable").expect("the hello");
    assert_eq!(first.kind, Kind::ServerHello as u8);
    let future = ClientHello {
        version: Version {
            major: PROTOCOL.major + 1,
            minor: 0,
        },
        client: "tokmon 9".into(),
        ..ClientHello::default()
    };
    frame::write(
        frames.get_mut(),
        Kind::ClientHello,
        &future.encode(),
        MAX_FRAME_TO_SERVER,
    )
    .expect("sent");
    let answer = frames.read_frame().expect("readable").expect("a notice");
    assert_eq!(answer.kind, Kind::Notice as u8);
    let notice = tokmon_probe::wire::Notice::decode(answer.payload).expect("a notice");
    println!("{}", notice.text);
    assert_eq!(notice.code, NoticeCode::VersionMismatch);
    let expected = format!(
        "tokmon-probe speaks protocol {}, this client {}:",
        PROTOCOL.major,
        PROTOCOL.major + 1
    );
    assert!(notice.text.starts_with(&expected), "{}", notice.text);
    assert!(
        frames.read_frame().expect("a clean end").is_none(),
        "then the server closes"
    );
    eventually("counted", || server.stats().closed_bad == 1);
}

#[test]
fn a_server_of_another_major_version_is_a_clear_client_error() {
    let base = tempfile::tempdir().expect("temp dir");
    let path = base.path().join("future.sock");
    let listener = UnixListener::bind(&path).expect("binds");
    let fake = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accepts");
        let hello = ServerHello {
            version: Version {
                major: PROTOCOL.major + 1,
                minor: 1,
            },
            pid: 1,
            program: "future".into(),
            probe_version: "9.0.0".into(),
            max_frame_to_server: 4096,
            max_frame_to_client: 65536,
            token_required: false,
            payload: Vec::new(),
        };
        frame::write(
            &mut stream,
            Kind::ServerHello,
            &hello.encode(),
            MAX_FRAME_TO_CLIENT,
        )
        .expect("sent");
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    });
    let err = Client::connect_unix(&path, &ClientOptions::default()).expect_err("refused");
    println!("{err}");
    assert!(matches!(err, WireError::VersionMismatch { .. }));
    let expected = format!(
        "tokmon-probe speaks protocol {}, this client {}:",
        PROTOCOL.major + 1,
        PROTOCOL.major
    );
    assert!(err.to_string().starts_with(&expected), "{err}");
    drop(err);
    fake.join().expect("the fake server ends");
}

#[test]
fn a_message_larger_than_a_frame_arrives_whole() {
    let base = tempfile::tempdir().expect("temp dir");
    let server =
        Server::start(ServerConfig::unix().socket_dir(base.path().join("tokmon"))).expect("starts");
    let mut client =
        Client::connect_unix(socket_of(&server), &ClientOptions::default()).expect("attaches");
    eventually("attached", || server.has_clients());
    let sites: Vec<String> = (0..5000)
        .map(|i| {
            format!(
                "src/handlers/orders/module_{:03}.rs:{}:{}",
                i % 400,
                10 + i % 900,
                5 + i % 40
            )
        })
        .collect();
    let bytes = postcard::to_stdvec(&sites).expect("encodes");
    println!(
        "5000 spawn sites: {} bytes in postcard, frame cap {MAX_FRAME_TO_CLIENT}",
        bytes.len()
    );
    assert!(
        bytes.len() > MAX_FRAME_TO_CLIENT,
        "the test needs a message over one frame"
    );
    server.broadcast(3, b"before").expect("small");
    let delivery = server.broadcast(4, &bytes).expect("fits a queue");
    assert_eq!(delivery.queued, 1);
    server.broadcast(3, b"after").expect("small");
    assert_eq!(next_message(&mut client), (3, b"before".to_vec()));
    let (tag, got) = next_message(&mut client);
    assert_eq!(tag, 4);
    let decoded: Vec<String> = postcard::from_bytes(&got).expect("decodes");
    assert_eq!(decoded, sites);
    assert_eq!(next_message(&mut client), (3, b"after".to_vec()));

    let huge = vec![0u8; tokmon_probe::wire::DEFAULT_QUEUE_BYTES + 1];
    assert!(matches!(
        server.broadcast(5, &huge),
        Err(WireError::MessageTooLarge { .. })
    ));
}

/// A sample as the probe might send it (the real types are the sampler's): cumulative counters
/// per worker, the polls in flight and a few long polls.
#[derive(Serialize)]
struct FakeSample {
    seq: u64,
    at_micros: u64,
    workers: Vec<FakeWorker>,
    in_flight: Vec<FakePoll>,
    long_polls: Vec<FakePoll>,
    global_queue_depth: u64,
    blocking_threads: u32,
}

#[derive(Serialize)]
struct FakeWorker {
    polls: u64,
    busy_nanos: u64,
    parks: u64,
    steals: u64,
    local_queue_depth: u32,
    state: u8,
}

#[derive(Serialize)]
struct FakePoll {
    worker: u16,
    task_id: u64,
    spawn_site: u32,
    started_micros: u64,
    duration_micros: u64,
}

#[test]
fn postcard_against_json_sizes() {
    let sample = FakeSample {
        seq: 86_400,
        at_micros: 1_764_630_000_123_456,
        workers: (0..8u64)
            .map(|w| FakeWorker {
                polls: 12_345_678 + w * 1_001,
                busy_nanos: 987_654_321_000 + w * 77,
                parks: 45_678 + w,
                steals: 1_234 + w,
                local_queue_depth: (w * 3) as u32,
                state: (w % 3) as u8,
            })
            .collect(),
        in_flight: (0..4u64)
            .map(|i| FakePoll {
                worker: i as u16,
                task_id: 100_000 + i,
                spawn_site: 17 + i as u32,
                started_micros: 1_764_630_000_100_000 + i,
                duration_micros: 350 + i,
            })
            .collect(),
        long_polls: (0..6u64)
            .map(|i| FakePoll {
                worker: (i % 8) as u16,
                task_id: 200_000 + i,
                spawn_site: 40 + i as u32,
                started_micros: 1_764_630_000_050_000 + i * 1000,
                duration_micros: 12_000 + i * 500,
            })
            .collect(),
        global_queue_depth: 3,
        blocking_threads: 2,
    };
    let sites: Vec<String> = (0..5000)
        .map(|i| {
            format!(
                "src/handlers/orders/module_{:03}.rs:{}:{}",
                i % 400,
                10 + i % 900,
                5 + i % 40
            )
        })
        .collect();
    let sample_postcard = postcard::to_stdvec(&sample).expect("encodes").len();
    let sample_json = serde_json::to_vec(&sample).expect("encodes").len();
    let sites_postcard = postcard::to_stdvec(&sites).expect("encodes").len();
    let sites_json = serde_json::to_vec(&sites).expect("encodes").len();
    println!(
        "sample (8 workers, 4 in flight, 6 long polls): postcard {sample_postcard} B, JSON {sample_json} B"
    );
    println!("module map (5000 spawn sites): postcard {sites_postcard} B, JSON {sites_json} B");
    assert!(
        sample_postcard * 3 < sample_json,
        "postcard is much smaller for counters"
    );
    assert!(sites_postcard < sites_json);
}
