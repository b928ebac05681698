//! `#[tokmon_probe::test]` in a crate of its own (written to a temporary directory, depending
//! on the probe by path): `cargo test` there passes the healthy test and the allow-listed one,
//! and fails the two that block, each with a message naming the fixture's own blocking line,
//! on the CPU for the hashing one, off it in clock_nanosleep for the sleeping one.

use std::path::Path;
use std::process::Command;

mod outside;
use outside::OutsideCrate;

const BLOCKING_RS: &str = r#"
use std::hash::{DefaultHasher, Hasher};
use std::time::{Duration, Instant};

/// Hashes on the calling thread for `d`: CPU-bound work without an `.await`.
fn hash_for(d: Duration) -> u64 {
    let (started, mut hasher, mut i) = (Instant::now(), DefaultHasher::new(), 0u64);
    while started.elapsed() < d { hasher.write_u64(i); i += 1; } // the hashing line
    hasher.finish()
}

mod legacy {
    /// Known to block, kept on purpose: the allow-list names it.
    pub fn checksum() -> u64 {
        super::hash_for(std::time::Duration::from_millis(200))
    }
}

#[tokmon_probe::test]
async fn healthy() {
    let tasks: Vec<_> = (0..100u64)
        .map(|i| tokio::spawn(async move { tokio::time::sleep(Duration::from_millis(1)).await; i }))
        .collect();
    for task in tasks {
        task.await.expect("a task");
    }
}

#[tokmon_probe::test]
async fn hashes_inline() {
    std::hint::black_box(hash_for(Duration::from_millis(200)));
}

#[tokmon_probe::test]
async fn sleeps() {
    std::thread::sleep(Duration::from_millis(200)); // the sleeping line
}

#[tokmon_probe::test(allow_frames = ["blocking::legacy::"])]
async fn hashes_inline_allowed() {
    std::hint::black_box(legacy::checksum());
}
"#;

fn cargo_toml(probe: &Path) -> String {
    format!(
        r#"[package]
name = "guard_fixture"
version = "0.1.0"
edition = "2024"

[dev-dependencies]
tokmon-probe = {{ path = "{}", features = ["test"] }}
tokio = {{ version = "1.54", features = ["rt", "time"] }}

[workspace]
"#,
        probe.display()
    )
}

/// The 1-based line of `BLOCKING_RS` that holds `marker`.
fn line_of(marker: &str) -> usize {
    BLOCKING_RS
        .lines()
        .position(|l| l.contains(marker))
        .expect("the marked line")
        + 1
}

/// The output `cargo test` gave for one failed test: from its `---- name stdout ----` header
/// to the next header.
fn failure_of<'o>(out: &'o str, name: &str) -> &'o str {
    let header = format!("---- {name} stdout ----");
    let start = out
        .find(&header)
        .unwrap_or_else(|| panic!("{header} in\n{out}"));
    let rest = &out[start + header.len()..];
    let end = rest
        .find("\n---- ")
        .or_else(|| rest.find("\nfailures:"))
        .unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn blocking_tests_fail_naming_their_own_lines_and_the_rest_pass() {
    let outside = OutsideCrate::write(
        cargo_toml,
        &[("src/lib.rs", ""), ("tests/blocking.rs", BLOCKING_RS)],
    );
    let (app, target) = (outside.path(), &outside.target);
    // One test at a time: the hashing test's busy worker must not starve the healthy one's on
    // a loaded 2-core machine (the probe's own tests run guards side by side).
    let out = Command::new(env!("CARGO"))
        .args(["test", "--quiet", "--no-fail-fast", "--test", "blocking"])
        .args(["--", "--test-threads=1"])
        .current_dir(app)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}\n{stderr}");
    println!("{all}");
    assert!(!out.status.success(), "two tests fail:\n{all}");
    assert!(
        stdout.contains("test result: FAILED. 2 passed; 2 failed"),
        "healthy and allowed pass, the two others fail:\n{all}"
    );
    for name in ["healthy", "hashes_inline_allowed"] {
        assert!(
            !stdout.contains(&format!("---- {name} stdout ----")),
            "{name} passes:\n{all}"
        );
    }

    let hashing = failure_of(&stdout, "hashes_inline");
    let sleeping = failure_of(&stdout, "sleeps");
    for failure in [hashing, sleeping] {
        assert!(
            failure.contains("1 culprit blocked a worker for the stall threshold (50 ms)"),
            "{failure}"
        );
        // The body has no `.await`: one poll, counted once.
        assert!(failure.contains(" (1 poll)"), "{failure}");
        // The body's task is spawned at the test function's own name.
        assert!(
            failure.contains("task spawned at tests/blocking.rs:"),
            "{failure}"
        );
    }
    assert!(
        hashing.contains("CPU-bound work on an async worker"),
        "tokmon's hint: {hashing}"
    );
    assert!(
        sleeping.contains("std::thread::sleep in async code holds the worker"),
        "tokmon's hint: {sleeping}"
    );
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        let hash_line = format!(
            "blocking line: tests/blocking.rs:{}",
            line_of("// the hashing line")
        );
        let sleep_line = format!(
            "blocking line: tests/blocking.rs:{}",
            line_of("// the sleeping line")
        );
        assert!(hashing.contains(&hash_line), "{hash_line} in {hashing}");
        assert!(hashing.contains("), on the CPU\n"), "{hashing}");
        assert!(sleeping.contains(&sleep_line), "{sleep_line} in {sleeping}");
        assert!(
            sleeping.contains("), off the CPU, in clock_nanosleep\n"),
            "{sleeping}"
        );
    }
}
