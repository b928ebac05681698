//! The dashboard loop on a real run, drawn into a `TestBackend`: it keeps drawing while every
//! worker of the measured runtime is blocked, and quits on `q`.

use std::sync::atomic::AtomicBool;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use tokmon::app::view::{Status, status};
use tokmon::run::RunConfig;
use tokmon::runner::{Dashboard, DashboardOptions};
use tokmon::scenario::{ScenarioSource, parse_str};
use tokmon::source::LocalSource;
use tokmon::tui::EventSource;
use tokmon::ui::Look;

/// Both workers sleep with `std::thread::sleep` back to back: the runtime is blocked for the
/// whole run.
const ALL_BLOCKED: &str = r#"
title = "every worker blocked"
[runtime]
workers = 2
[[workload]]
id = "sleeper"
kind = "sleep"
tasks = 2
duration = "5s"
mode = "blocking"
every = "0ms"
"#;

/// No input until `quit_at`, then `q`.
struct QuitLater {
    quit_at: Instant,
}

impl EventSource for QuitLater {
    fn next(&mut self, timeout: Duration) -> std::io::Result<Option<Event>> {
        if Instant::now() >= self.quit_at {
            return Ok(Some(Event::Key(KeyEvent::new(
                KeyCode::Char('q'),
                KeyModifiers::NONE,
            ))));
        }
        std::thread::sleep(timeout.min(self.quit_at.saturating_duration_since(Instant::now())));
        Ok(None)
    }
}

#[test]
fn keeps_drawing_while_every_worker_is_blocked_and_quits_on_q() {
    let scenario = parse_str(ALL_BLOCKED, ScenarioSource::BuiltIn("all-blocked".into()))
        .expect("valid scenario");
    // A 30 s cap; `q` ends it much sooner.
    let config = RunConfig::new(scenario, Some(Duration::from_secs(30)));
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("test terminal");
    let started = Instant::now();
    // Frames drawn from 1 s in (both workers surely stuck by then) to the end at 4 s.
    let window_from = started + Duration::from_secs(1);
    let mut events = QuitLater {
        quit_at: started + Duration::from_secs(4),
    };
    let (_panic_tx, panic_rx) = sync_channel(1);
    let stop = AtomicBool::new(false);
    let options = DashboardOptions {
        look: Look::default(),
        fps: 15,
    };
    let mut frames_in_window = 0u32;
    let mut stuck_seen = false;
    let mut source =
        LocalSource::start(config.clone(), None, Some(&panic_rx)).expect("the run starts");
    let mut dashboard = Dashboard {
        terminal: &mut terminal,
        events: &mut events,
        stop: &stop,
        options,
    };
    let report = dashboard
        .run(&mut source, None, |app| {
            if Instant::now() >= window_from {
                frames_in_window += 1;
                stuck_seen |= matches!(status(app), Status::Stuck { others: 1, .. });
            }
        })
        .expect("dashboard runs");
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(15),
        "q ended the run: {elapsed:?}"
    );
    // About 3 s in the window at a sample every 100 ms: ~30 frames; at least 5 a second.
    assert!(
        frames_in_window >= 15,
        "only {frames_in_window} frames in 3 s with every worker blocked"
    );
    assert!(stuck_seen, "the status named both workers stuck");
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.workload.as_deref() == Some("sleeper"))
    );
}
