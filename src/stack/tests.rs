use super::*;
use std::time::Duration;

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
fn paths_are_shortened_to_tokmons_crate_root() {
    assert_eq!(
        tokmon_probe::symbolize::shorten(format!("{CRATE_ROOT}/src/workload/hash.rs"), CRATE_ROOT),
        "src/workload/hash.rs"
    );
}

/// The probe's tests cover how the blocking site is chosen; tokmon's wrapper adds only that
/// its own stack module is never the site.
#[test]
fn tokmons_own_stack_module_is_never_the_blocking_site() {
    let frames = vec![
        frame("tokmon::stack::x", Some("src/stack/mod.rs"), true),
        frame(
            "tokmon::workload::hash::run",
            Some("src/workload/hash.rs"),
            true,
        ),
    ];
    let site = blocking_site(&frames).expect("an app frame");
    assert_eq!(site.site().as_deref(), Some("src/workload/hash.rs:7"));
    assert!(blocking_site(&frames[..1]).is_none());
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn captures_a_sleeping_thread_and_finds_its_function() {
    use std::sync::mpsc;

    /// Sleeps until the test is done with it, however late a loaded machine lets it look.
    #[inline(never)]
    fn stack_unit_test_sleeper(ready: mpsc::Sender<i32>, done: mpsc::Receiver<()>) {
        ready
            .send(rustix::thread::gettid().as_raw_nonzero().get())
            .expect("receiver alive");
        while done.try_recv() == Err(mpsc::TryRecvError::Empty) {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::hint::black_box(());
    }

    assert!(supported());
    let (tx, rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let sleeper = std::thread::spawn(move || stack_unit_test_sleeper(tx, done_rx));
    let tid = rx.recv().expect("sleeper started");
    std::thread::sleep(Duration::from_millis(50));
    let raw = capture(tid, None, Duration::from_secs(2)).expect("capture");
    let frames = symbolize(&raw);
    let text: Vec<String> = frames.iter().map(ToString::to_string).collect();
    assert!(
        frames
            .iter()
            .any(|f| f.function.contains("stack_unit_test_sleeper")),
        "{text:#?}"
    );
    println!("{raw:?}\n{text:#?}");
    let ours = frames
        .iter()
        .find(|f| f.function.contains("stack_unit_test_sleeper"))
        .expect("found above");
    assert_eq!(ours.file.as_deref(), Some("src/stack/tests.rs"));
    assert!(ours.app);
    // This module's own files are never the blocking site.
    assert!(blocking_site(&frames).is_none(), "{text:#?}");
    drop(done_tx);
    sleeper.join().expect("sleeper");
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn a_thread_that_does_not_exist_is_a_clean_error() {
    let err = capture(i32::MAX - 7, None, Duration::from_millis(100)).expect_err("no such thread");
    assert_eq!(err, CaptureError::NoSuchThread { tid: i32::MAX - 7 });
}
