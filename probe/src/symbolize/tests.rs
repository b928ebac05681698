//! The symbolizer's classification and a real capture named in this process.

use super::*;

fn frame(function: &str, file: Option<&str>, app: bool) -> Frame {
    Frame {
        address: 0x1000,
        function: function.to_string(),
        file: file.map(str::to_string),
        line: Some(7),
        inlined: false,
        app,
    }
}

#[test]
fn shortens_paths_inside_the_root_only() {
    assert_eq!(
        shorten("/home/me/app/src/workload/hash.rs".into(), "/home/me/app"),
        "src/workload/hash.rs"
    );
    assert_eq!(
        shorten("/home/me/application/src/main.rs".into(), "/home/me/app"),
        "/home/me/application/src/main.rs"
    );
    assert_eq!(
        shorten("/elsewhere/src/main.rs".into(), "/home/me/app"),
        "/elsewhere/src/main.rs"
    );
}

#[test]
fn shortens_registry_dependencies_to_their_crate_and_version() {
    assert_eq!(
        shorten(
            "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/sha2-0.11.1/src/block_api.rs"
                .into(),
            "/home/me/app"
        ),
        "sha2-0.11.1/src/block_api.rs"
    );
    // A CARGO_HOME elsewhere, another registry.
    assert_eq!(
        shorten(
            "/opt/cargo/registry/src/my-registry-0123abcd/tokio-1.54.1/src/runtime/park.rs".into(),
            "/home/me/app"
        ),
        "tokio-1.54.1/src/runtime/park.rs"
    );
    // The standard library and anything else stay as they are.
    for file in [
        "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/thread/mod.rs",
        "/usr/src/registry/src/",
        "/elsewhere/src/main.rs",
    ] {
        assert_eq!(shorten(file.into(), "/home/me/app"), file);
    }
    // Inside the root wins, even for a root in the registry.
    assert_eq!(
        shorten(
            "/c/registry/src/index-1/app-1.0.0/src/main.rs".into(),
            "/c/registry/src/index-1/app-1.0.0"
        ),
        "src/main.rs"
    );
}

#[test]
fn classifies_std_dependencies_the_probe_and_libc_as_not_app() {
    assert!(is_app(
        Some("src/workload/hash.rs"),
        "tokmon::workload::hash::run"
    ));
    assert!(is_app(
        Some("/home/me/project/src/main.rs"),
        "project::main"
    ));
    assert!(!is_app(
        Some("/rustc/abc/library/std/src/thread/mod.rs"),
        "std::thread::sleep"
    ));
    assert!(!is_app(
        Some(
            "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.1/src/runtime/park.rs"
        ),
        "tokio::runtime::park::Inner::park"
    ));
    assert!(!is_app(None, "read"));
    assert!(!is_app(Some("/somewhere/tokio/src/lib.rs"), "tokio::spawn"));
    // The probe by path (not from the registry) is still not the app.
    assert!(!is_app(
        Some("/work/tokmon/probe/src/guard/mod.rs"),
        "tokmon_probe::guard::run_test::{{closure}}"
    ));
}

#[test]
fn a_frame_withheld_for_its_file_is_told_from_an_unknown_one() {
    let why = withheld_function(0x55d0, "app: replaced since the app started");
    assert!(is_withheld(&why), "{why}");
    assert!(!is_withheld(&unknown(0x55d0).function));
    assert!(!is_withheld("?? (libc.so.6)"));
    assert!(!is_withheld("clock_nanosleep (libc.so.6)"));
}

#[test]
fn blocking_site_is_the_first_app_frame_outside_the_skipped_files() {
    let frames = vec![
        frame("read", None, false),
        frame("tokmon::stack::x", Some("src/stack/mod.rs"), true),
        frame(
            "std::io::Read::read",
            Some("/rustc/x/library/std/src/io/mod.rs"),
            false,
        ),
        frame(
            "tokmon::workload::hash::run",
            Some("src/workload/hash.rs"),
            true,
        ),
        frame("tokmon::runner::run", Some("src/runner.rs"), true),
    ];
    let site = blocking_site(&frames, &["src/stack/"]).expect("an app frame");
    assert_eq!(site.site().as_deref(), Some("src/workload/hash.rs:7"));
    assert!(blocking_site(&frames[..3], &["src/stack/"]).is_none());
    assert_eq!(
        blocking_site(&frames, &[]).and_then(Frame::site).as_deref(),
        Some("src/stack/mod.rs:7")
    );
    assert_eq!(
        frames[3].to_string(),
        "tokmon::workload::hash::run at src/workload/hash.rs:7"
    );
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn names_a_sleeping_threads_own_function_and_line() {
    use std::sync::mpsc;
    use std::time::Duration;

    /// Sleeps until the test is done with it, however late a loaded machine lets it look.
    #[inline(never)]
    fn symbolize_unit_test_sleeper(ready: mpsc::Sender<i32>, done: mpsc::Receiver<()>) {
        ready
            .send(rustix::thread::gettid().as_raw_nonzero().get())
            .expect("receiver alive");
        while done.try_recv() == Err(mpsc::TryRecvError::Empty) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::hint::black_box(());
    }

    let (tx, rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let sleeper = std::thread::spawn(move || symbolize_unit_test_sleeper(tx, done_rx));
    let tid = rx.recv().expect("sleeper started");
    std::thread::sleep(Duration::from_millis(50));
    let raw = crate::stack::capture(tid, None, Duration::from_secs(2)).expect("capture");
    let frames = symbolize(&raw, env!("CARGO_MANIFEST_DIR"));
    let text: Vec<String> = frames.iter().map(ToString::to_string).collect();
    let ours = frames
        .iter()
        .find(|f| f.function.contains("symbolize_unit_test_sleeper"))
        .unwrap_or_else(|| panic!("{text:#?}"));
    assert_eq!(ours.file.as_deref(), Some("src/symbolize/tests.rs"));
    // The probe's own functions are never the app's, wherever its files are.
    assert!(!ours.app, "{text:#?}");
    assert!(
        frames
            .iter()
            .any(|f| f.function.starts_with("std::") && f.function.ends_with("::sleep") && !f.app),
        "{text:#?}"
    );
    // The sleep's innermost frames are libc's (no debug info there): named from its symbol
    // table, with the library's name.
    assert!(
        frames.iter().any(|f| f.function.ends_with("(libc.so.6)")
            && !f.function.starts_with("??")
            && f.function.len() > "(libc.so.6)".len() + 1
            && !f.app),
        "{text:#?}"
    );
    drop(done_tx);
    sleeper.join().expect("sleeper");
}
