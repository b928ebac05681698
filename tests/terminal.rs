//! The real binary in a pseudo-terminal, as a user runs it: the dashboard appears, and `q` or
//! SIGTERM leaves the terminal as it was (main screen, cursor shown) with exit code 0.

#![cfg(target_os = "linux")]

use std::io::Write;
use std::time::{Duration, Instant};

mod common;

const ROWS: u16 = 48;
const COLS: u16 = 160;

type Session = common::PtyRun;

fn start() -> Session {
    common::PtyRun::start(&["run", "hash-on-worker"], ROWS, COLS)
}

impl Session {
    /// Waits (capped) until the screen shows the dashboard's worker rows.
    fn wait_for_dashboard(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.contents();
            let on_alt = self
                .screen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .screen()
                .alternate_screen();
            if on_alt && text.contains("hasher") && text.to_lowercase().contains("worker") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no dashboard after 30 s; screen:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_exit(&mut self) -> portable_pty::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // Let the reader thread take in the last bytes.
                std::thread::sleep(Duration::from_millis(300));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "tokmon did not exit; screen:\n{}",
                self.contents()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn assert_terminal_restored(&self) {
        let parser = self.screen.lock().unwrap_or_else(|p| p.into_inner());
        let screen = parser.screen();
        assert!(!screen.alternate_screen(), "still on the alternate screen");
        assert!(!screen.hide_cursor(), "cursor still hidden");
    }
}

#[test]
fn q_quits_and_restores_the_terminal() {
    let mut session = start();
    session.wait_for_dashboard();
    session.writer.write_all(b"q").expect("type q");
    session.writer.flush().expect("flush");
    let status = session.wait_exit();
    assert!(
        status.success(),
        "exit status {status:?}; screen:\n{}",
        session.contents()
    );
    session.assert_terminal_restored();
    // The report follows on the main screen.
    assert!(
        session.contents().contains("Findings"),
        "{}",
        session.contents()
    );
}

#[test]
fn sigterm_ends_the_run_and_restores_the_terminal() {
    let mut session = start();
    session.wait_for_dashboard();
    let pid = session.child.process_id().expect("pid");
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).expect("pid fits"))
        .expect("non-zero pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("send SIGTERM");
    let status = session.wait_exit();
    assert!(
        status.success(),
        "exit status {status:?}; screen:\n{}",
        session.contents()
    );
    session.assert_terminal_restored();
}
