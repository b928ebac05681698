//! One seam for every source: a scenario run here, a recording, and a third source scripted
//! here (samples in uneven batches, then the other side goes away) are consumed by the same
//! headless fold and the same dashboard, which never ask what they read.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyCode, KeyEvent};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

mod common;

use tokmon::record::Recording;
use tokmon::run::{Command, Control, RunConfig, Update};
use tokmon::runner::{consume_headless, replay_headless};
use tokmon::scenario::{Knob, KnobSetting, Placement, catalog};
use tokmon::source::{Abilities, LocalSource, Origin, RecordingSource, Source, State};
use tokmon::tui::EventSource;

fn demo() -> Recording {
    Recording::open(&Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo.rec"))
        .expect("the demo recording reads")
}

/// Another process, as the next source will see one: batches of 1, 2, 3 ... updates, then it
/// disconnects. Its data comes from the demo recording, so the report it leads to is known.
struct Scripted {
    batches: VecDeque<Vec<Update>>,
    gone: bool,
    /// Set once the last batch has been handed out.
    drained: Arc<AtomicBool>,
    commands: Vec<Command>,
    /// What `finish` gives back.
    last: Vec<Update>,
}

impl Scripted {
    fn new(recording: &Recording) -> Scripted {
        let mut updates: VecDeque<Update> = recording.items.iter().cloned().collect();
        updates.push_front(Update::Begin(Box::new(recording.config.clone())));
        let mut batches = VecDeque::new();
        let mut size = 1;
        while !updates.is_empty() {
            let take = size.min(updates.len());
            batches.push_back(updates.drain(..take).collect());
            size = size % 7 + 1;
        }
        Scripted {
            batches,
            gone: false,
            drained: Arc::default(),
            commands: Vec::new(),
            last: Vec::new(),
        }
    }
}

impl Source for Scripted {
    fn origin(&self) -> Origin {
        Origin::Process {
            pid: 4242,
            program: "scripted".into(),
        }
    }

    fn abilities(&self) -> Abilities {
        Abilities::default()
    }

    fn state(&self) -> State {
        match self.gone {
            true => State::Disconnected("the app exited".into()),
            false => State::Live,
        }
    }

    fn next(&mut self, _wait: Duration) -> anyhow::Result<Vec<Update>> {
        let batch = self.batches.pop_front().unwrap_or_default();
        self.gone = self.batches.is_empty();
        self.drained.store(self.gone, Ordering::Release);
        Ok(batch)
    }

    fn command(&mut self, command: Command) -> anyhow::Result<()> {
        self.commands.push(command);
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<Vec<Update>> {
        Ok(std::mem::take(&mut self.last))
    }
}

#[test]
fn a_third_source_is_folded_headless_to_the_report_its_data_makes() {
    let recording = demo();
    let mut scripted = Scripted::new(&recording);
    let mut samples_told = 0;
    let report = consume_headless(&mut scripted, None, &AtomicBool::new(false), |_, _| {
        samples_told += 1
    })
    .expect("folds");
    assert_eq!(
        scripted.state(),
        State::Disconnected("the app exited".into())
    );
    assert_eq!(report.to_json(), replay_headless(&recording).to_json());
    assert_eq!(samples_told, recording.samples(), "told once per sample");
}

/// Presses `q` half a second after the source handed out its last batch (several frames at
/// 30 a second, however loaded the machine), or after a minute if it never does.
struct QuitWhenDrained {
    drained: Arc<AtomicBool>,
    since: Option<Instant>,
    cap: Instant,
}

impl QuitWhenDrained {
    fn new(source: &Scripted) -> QuitWhenDrained {
        QuitWhenDrained {
            drained: source.drained.clone(),
            since: None,
            cap: Instant::now() + Duration::from_secs(60),
        }
    }
}

impl EventSource for QuitWhenDrained {
    fn next(&mut self, timeout: Duration) -> std::io::Result<Option<Event>> {
        std::thread::sleep(timeout.min(Duration::from_millis(2)));
        let now = Instant::now();
        if self.since.is_none() && self.drained.load(Ordering::Acquire) {
            self.since = Some(now);
        }
        let quit = self
            .since
            .is_some_and(|since| now >= since + Duration::from_millis(500))
            || now >= self.cap;
        Ok(quit.then(|| Event::Key(KeyEvent::from(KeyCode::Char('q')))))
    }
}

#[test]
fn a_third_source_is_drawn_by_the_dashboard_and_stays_on_screen_when_it_goes_away() {
    let recording = demo();
    let mut scripted = Scripted::new(&recording);
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("terminal");
    let mut events = QuitWhenDrained::new(&scripted);
    let mut last_shown = 0;
    let report = common::dashboard(&mut terminal, &mut events, 30)
        .run(&mut scripted, None, |app| last_shown = app.model().now_ns())
        .expect("the dashboard runs");
    // Disconnected is not the end of the dashboard: the last data stays until the user quits.
    assert!(matches!(scripted.state(), State::Disconnected(_)));
    let last_sample = recording
        .items
        .iter()
        .rev()
        .find_map(|i| match i {
            Update::Sample(s) => Some(s.elapsed_ns),
            _ => None,
        })
        .expect("samples");
    assert_eq!(last_shown, last_sample, "the last sample is on screen");
    assert_eq!(report.to_json(), replay_headless(&recording).to_json());
}

#[test]
fn a_recording_source_gives_its_run_then_ends_or_rewinds_on_a_seek_back() {
    let recording = demo();
    let mut unpaced = RecordingSource::unpaced(&recording);
    assert_eq!(unpaced.origin(), Origin::Recording(recording.path.clone()));
    assert!(!unpaced.abilities().seek);
    let mut all = Vec::new();
    let mut calls = 0;
    while unpaced.state() != State::Ended {
        all.extend(unpaced.next(Duration::ZERO).expect("reads"));
        calls += 1;
    }
    assert!(matches!(all.first(), Some(Update::Begin(_))));
    assert_eq!(all.len(), recording.items.len() + 1);
    assert!(calls > 1, "a long recording comes in pieces: {calls} call");

    let mut paced = RecordingSource::paced(&recording, 64.0);
    assert!(paced.abilities().seek);
    let first = paced.next(Duration::ZERO).expect("reads");
    assert!(matches!(first.first(), Some(Update::Begin(_))));
    for _ in 0..3 {
        paced
            .command(Command::Replay(tokmon::run::ReplayCommand::Forward))
            .expect("seeks");
    }
    let ahead = paced.next(Duration::ZERO).expect("reads");
    assert!(ahead.iter().any(|u| matches!(u, Update::Sample(_))));
    paced
        .command(Command::Replay(tokmon::run::ReplayCommand::Back))
        .expect("seeks");
    let back = paced.next(Duration::ZERO).expect("reads");
    assert!(
        matches!(back.first(), Some(Update::Rewind(_))),
        "a seek back starts the run over"
    );
    match paced.state() {
        State::Replaying(status) => assert!(status.position_ns >= 19_000_000_000),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_local_source_begins_samples_turns_knobs_and_gives_its_last_sample_at_the_end() {
    let scenario = catalog::built_in("default")
        .expect("exists")
        .expect("parses");
    let config = RunConfig {
        interval: Duration::from_millis(50),
        stacks: false,
        ..RunConfig::new(scenario, None)
    };
    let mut source = LocalSource::start(config, None, None).expect("starts");
    assert_eq!(source.origin(), Origin::Scenario);
    assert!(source.abilities().knobs);
    let mut updates = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while updates
        .iter()
        .filter(|u| matches!(u, Update::Sample(_)))
        .count()
        < 3
        && Instant::now() < deadline
    {
        updates.extend(source.next(Duration::from_millis(100)).expect("samples"));
    }
    assert!(matches!(updates.first(), Some(Update::Begin(_))));
    source
        .command(Command::Control(Control::Set(KnobSetting {
            workload: "hasher".into(),
            knob: Knob::Placement(Placement::SpawnBlocking),
        })))
        .expect("applies");
    let after = source.next(Duration::ZERO).expect("effects");
    assert!(
        after.iter().any(|u| matches!(u, Update::Effect(e)
            if matches!(&**e, tokmon::run::Effect::Applied { workload, .. } if workload == "hasher"))),
        "{after:?}"
    );
    assert_eq!(source.state(), State::Live);
    let last = source.finish().expect("stops");
    assert!(last.iter().any(|u| matches!(u, Update::Sample(_))));
    assert_eq!(source.state(), State::Ended);
    // Samples come in order on the run's clock.
    let clock: Vec<u64> = updates
        .iter()
        .chain(&after)
        .chain(&last)
        .filter_map(|u| match u {
            Update::Sample(s) => Some(s.elapsed_ns),
            _ => None,
        })
        .collect();
    assert!(clock.windows(2).all(|w| w[0] <= w[1]), "{clock:?}");
}

#[test]
fn a_run_that_begins_while_the_dashboard_stops_is_the_one_reported() {
    // A switch of scenario the user quit during: the source's last updates begin another run.
    let recording = demo();
    let mut scripted = Scripted::new(&recording);
    let next = catalog::built_in("async-sleep")
        .expect("exists")
        .expect("parses");
    let sample = recording
        .items
        .iter()
        .find_map(|u| match u {
            Update::Sample(s) => Some(s.clone()),
            _ => None,
        })
        .expect("a sample");
    scripted.last = vec![
        Update::Begin(Box::new(RunConfig {
            detector: next.detector,
            scenario: next,
            ..recording.config.clone()
        })),
        Update::Sample(sample),
    ];
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
    let mut events = QuitWhenDrained::new(&scripted);
    let report = common::dashboard(&mut terminal, &mut events, 30)
        .run(&mut scripted, None, |_| {})
        .expect("the dashboard runs");
    assert_eq!(report.scenario.name, "async-sleep");
}
