//! Shared by the tests that attach to the example server (`examples/stall_server.rs`): the
//! app in a child process, and clients that ask it to block.

#![allow(dead_code)] // each test crate uses its own part

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// An executable `cargo test` builds with the tests: the example app (`stall_server`), or
/// another example.
pub fn built(name: &str) -> PathBuf {
    let deps = std::env::current_exe().expect("the test's path");
    let dir = deps
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>/deps");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds it (or `cargo build --example {name}`)",
        path.display()
    );
    path
}

/// The example app running, the address it serves on, and where its probe listens.
pub struct App {
    pub child: Child,
    pub addr: String,
    pub probe: String,
}

impl App {
    /// The example as built, with no more environment.
    pub fn start() -> App {
        App::start_from(&built("stall_server"), &[])
    }

    /// The example as built, with `env` added to its environment.
    pub fn start_with(env: &[(&str, &str)]) -> App {
        App::start_from(&built("stall_server"), env)
    }

    /// The example run from `exe` (a copy of it), with `env` added.
    pub fn start_from(exe: &Path, env: &[(&str, &str)]) -> App {
        let spawn = || {
            Command::new(exe)
                .arg("0")
                .envs(env.iter().copied())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
        };
        // A copy just written may be "text file busy" for a moment: another test's child,
        // forked while the copy's file was open for writing, holds it until its own exec.
        let mut tries = 0;
        let mut child = loop {
            match spawn() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                other => break other.expect("the example starts"),
            }
        };
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        // It says where it listens, then where its probe does, once that is bound.
        let mut addr = None;
        let probe = loop {
            let line = lines
                .next()
                .expect("the example prints where it listens")
                .expect("a line");
            if let Some(at) = line.strip_prefix("listening on ") {
                addr = Some(at.trim().to_string());
            } else if line.starts_with("probe ") {
                break line;
            }
        };
        assert!(!probe.contains("not serving"), "{probe}");
        let addr = addr.expect("the example printed its address first");
        // Keep reading its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        App { child, addr, probe }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of the app at `addr` sending `requests` in turn until `stop`; counts the answers.
pub fn client(
    addr: &str,
    requests: &'static [&'static str],
    stop: Arc<AtomicBool>,
) -> Arc<AtomicU64> {
    let answers = Arc::new(AtomicU64::new(0));
    let counted = answers.clone();
    let stream = TcpStream::connect(addr).expect("the example accepts");
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut writer = stream;
        for request in requests.iter().cycle() {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let mut answer = String::new();
            if writeln!(writer, "{request}").is_err() || reader.read_line(&mut answer).is_err() {
                return;
            }
            if !answer.is_empty() {
                counted.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    answers
}
