//! Record and replay: a run recorded as it goes replays to the very report the live run
//! printed (headless and dashboard runs), a recording cut off mid-line replays up to its last
//! whole line, a bad file is an error that names it, and the replay dashboard moves, pauses
//! and steps on its keys.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::sync_channel;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyCode, KeyEvent};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use tokmon::app::{PanicReport, ScenarioChoice};
use tokmon::detect::FindingKind;
use tokmon::record::{FORMAT_VERSION, Item, ReadError, Recorder, Recording, Timeline};
use tokmon::report::Report;
use tokmon::runner::{
    DashboardOptions, Effect, RunConfig, Switcher, replay_dashboard, replay_headless,
    run_dashboard_recorded, run_headless_recorded,
};
use tokmon::sampler::DEFAULT_INTERVAL;
use tokmon::scenario::catalog;
use tokmon::tui::EventSource;
use tokmon::ui::Look;

/// Live runs take the whole machine: one at a time.
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The built-in default demo ten times faster: phases at 0, 0.5 and 2 s, so 3 s see it
/// healthy, stuck (stalls, stacks, lag) and fixed.
fn default_demo(duration: Duration) -> RunConfig {
    let scenario = catalog::built_in("default")
        .expect("the default built-in exists")
        .expect("it parses")
        .time_scaled(10.0);
    RunConfig {
        detector: scenario.detector,
        scenario,
        duration: Some(duration),
        interval: DEFAULT_INTERVAL,
    }
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tokmon-replay-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn json(report: &Report) -> String {
    report.to_json()
}

/// One headless run of the default demo, recorded, shared by the tests that read a recording.
struct Recorded {
    path: PathBuf,
    live: Report,
}

fn recorded() -> &'static Recorded {
    static RECORDED: OnceLock<Recorded> = OnceLock::new();
    RECORDED.get_or_init(|| {
        let _one = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let config = default_demo(Duration::from_secs(3));
        let path = scratch_dir().join("default-demo.jsonl");
        let mut recorder = Recorder::create(&path, &config, Some(10.0)).expect("recording opens");
        let live = run_headless_recorded(
            &config,
            Some(&mut recorder),
            &AtomicBool::new(false),
            |_, _| {},
        )
        .expect("the run completes");
        let stats = recorder.finish().expect("the recording is written");
        assert!(stats.samples >= 20, "{stats:?}");
        Recorded { path, live }
    })
}

#[test]
fn a_replayed_report_equals_the_live_report() {
    let recorded = recorded();
    let recording = Recording::open(&recorded.path).expect("the recording reads");
    assert!(recording.complete && !recording.cut_off);
    assert_eq!(
        recording.config.scenario,
        default_demo(Duration::ZERO).scenario
    );
    let replayed = replay_headless(&recording);
    assert_eq!(json(&replayed), json(&recorded.live));
    // The run is worth comparing: it went through the phases and saw the workers blocked.
    let live = &recorded.live;
    assert_eq!(live.phases.len(), 3, "{:?}", live.phases);
    assert!(
        live.finding_counts.contains_key(&FindingKind::Stall)
            || live.finding_counts.contains_key(&FindingKind::LongPoll),
        "{:?}",
        live.finding_counts
    );
    assert!(live.finding_counts.contains_key(&FindingKind::Event));
    let applied = recording
        .items
        .iter()
        .filter(|i| matches!(i, Item::Effect(e) if matches!(**e, Effect::Applied { .. })))
        .count();
    assert_eq!(applied, 2, "the size and the placement phases");
}

#[test]
fn a_recording_cut_off_mid_line_replays_up_to_its_last_whole_line() {
    let bytes = std::fs::read(&recorded().path).expect("recording");
    let whole = Recording::parse(&bytes, Path::new("whole.jsonl")).expect("reads");
    // Cut inside the line that starts after 60% of the file.
    let at = bytes.len() * 6 / 10;
    let line_start = at
        + bytes[at..]
            .iter()
            .position(|b| *b == b'\n')
            .expect("a newline")
        + 1;
    let lines_before = bytes[..line_start].iter().filter(|b| **b == b'\n').count();
    let cut = &bytes[..line_start + 10];
    let path = scratch_dir().join("cut.jsonl");
    std::fs::write(&path, cut).expect("write");
    let recording = Recording::open(&path).expect("a cut-off recording still reads");
    assert!(recording.cut_off);
    assert!(!recording.complete);
    assert_eq!(
        recording.items.len(),
        lines_before - 1,
        "every whole line but the header"
    );
    let prefix: Vec<String> = whole.items[..recording.items.len()]
        .iter()
        .map(|i| format!("{i:?}"))
        .collect();
    let read: Vec<String> = recording.items.iter().map(|i| format!("{i:?}")).collect();
    assert_eq!(
        read, prefix,
        "the same items as the whole file, up to the cut"
    );
    let report = replay_headless(&recording);
    assert!(report.duration_ms > 0 && report.duration_ms < recorded().live.duration_ms);

    // Cut exactly after a line: nothing is cut off, but the end line is missing.
    let recording = Recording::parse(&bytes[..line_start], &path).expect("reads");
    assert!(!recording.cut_off && !recording.complete);
    assert_eq!(recording.items.len(), lines_before - 1);
}

fn error_of(name: &str, bytes: &[u8]) -> String {
    let path = scratch_dir().join(name);
    std::fs::write(&path, bytes).expect("write");
    let error = Recording::open(&path).expect_err("refused");
    let text = error.to_string();
    assert!(
        text.contains(&path.display().to_string()),
        "names the file: {text}"
    );
    text
}

#[test]
fn a_bad_file_is_an_error_that_names_it() {
    let bytes = std::fs::read(&recorded().path).expect("recording");
    let text = String::from_utf8(bytes).expect("utf-8");

    // Another format version.
    let newer = text.replacen(
        &format!("\"format_version\":{FORMAT_VERSION},"),
        "\"format_version\":999,",
        1,
    );
    assert_ne!(newer, text);
    let message = error_of("newer.jsonl", newer.as_bytes());
    assert!(
        message.contains(":1: recording format version 999"),
        "{message}"
    );
    assert!(message.contains("newer tokmon"), "{message}");

    // Garbage, an empty file, a header cut off, a bad line in the middle, a missing file.
    let message = error_of("garbage.jsonl", b"\x00\x01 this is not a recording\n");
    assert!(message.contains(":1: not a tokmon recording"), "{message}");
    let message = error_of("other-json.jsonl", b"{\"type\":\"something\"}\n");
    assert!(message.contains(":1: not a tokmon recording"), "{message}");
    let message = error_of("empty.jsonl", b"");
    assert!(message.contains("empty"), "{message}");
    let message = error_of("header-cut.jsonl", &text.as_bytes()[..40]);
    assert!(
        message.contains("cut off inside its first line"),
        "{message}"
    );
    let mut lines: Vec<&str> = text.lines().collect();
    lines[4] = "{\"type\":\"s\",\"seq\":";
    let message = error_of(
        "bad-line.jsonl",
        format!("{}\n", lines.join("\n")).as_bytes(),
    );
    assert!(message.contains("bad-line.jsonl:5: "), "{message}");
    lines[4] = "{\"type\":\"teleport\"}";
    let message = error_of(
        "unknown-line.jsonl",
        format!("{}\n", lines.join("\n")).as_bytes(),
    );
    assert!(message.contains("unknown-line.jsonl:5: "), "{message}");
    assert!(message.contains("teleport"), "{message}");

    let missing = scratch_dir().join("no-such-recording.jsonl");
    let error = Recording::open(&missing).expect_err("missing");
    assert!(matches!(error, ReadError::Open { .. }));
    let message = error.to_string();
    assert!(
        message.contains("no-such-recording.jsonl: cannot read the recording"),
        "{message}"
    );
}

/// Keys at given times after the first call, then nothing.
struct Script {
    started: Option<Instant>,
    keys: Vec<(Duration, KeyEvent)>,
}

impl Script {
    fn new(keys: &[(u64, KeyCode)]) -> Script {
        Script {
            started: None,
            keys: keys
                .iter()
                .rev()
                .map(|(ms, code)| (Duration::from_millis(*ms), KeyEvent::from(*code)))
                .collect(),
        }
    }
}

impl EventSource for Script {
    fn next(&mut self, timeout: Duration) -> std::io::Result<Option<Event>> {
        let started = *self.started.get_or_insert_with(Instant::now);
        match self.keys.last() {
            Some((at, _)) if started.elapsed() >= *at => {
                Ok(self.keys.pop().map(|(_, key)| Event::Key(key)))
            }
            Some((at, _)) => {
                std::thread::sleep(timeout.min(at.saturating_sub(started.elapsed())));
                Ok(None)
            }
            None => {
                std::thread::sleep(timeout);
                Ok(None)
            }
        }
    }
}

fn screen_text(terminal: &Terminal<TestBackend>) -> String {
    let buffer = terminal.backend().buffer();
    let mut text = String::new();
    for y in 0..buffer.area.height {
        for x in 0..buffer.area.width {
            text.push_str(buffer[(x, y)].symbol());
        }
        text.push('\n');
    }
    text
}

#[test]
fn the_replay_dashboard_plays_seeks_pauses_and_steps() {
    let recording = Recording::open(&recorded().path).expect("reads");
    let end_ns = match recording.items.iter().rev().find_map(|i| match i {
        Item::Sample(s) => Some(s.elapsed_ns),
        _ => None,
    }) {
        Some(ns) => ns,
        None => panic!("samples"),
    };
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("terminal");
    // Play 400 ms at 4x, pause; seek to the end; back to the start; step twice; quit.
    let mut events = Script::new(&[
        (400, KeyCode::Char(' ')),
        (600, KeyCode::Char(']')),
        (800, KeyCode::Char('[')),
        (1000, KeyCode::Char('.')),
        (1100, KeyCode::Right),
        (1300, KeyCode::Char('<')),
        (1400, KeyCode::Char('q')),
    ]);
    let options = DashboardOptions {
        look: Look::default(),
        fps: 30,
    };
    let mut seen: Vec<(u64, bool, f64, u64)> = Vec::new();
    let mut badge_seen = false;
    let started = Instant::now();
    replay_dashboard(
        &recording,
        &mut terminal,
        &mut events,
        &AtomicBool::new(false),
        options,
        4.0,
        |app, player| {
            seen.push((
                player.clock_ns(),
                player.paused(),
                player.speed(),
                app.model().now_ns(),
            ));
            badge_seen |= app.info.title.starts_with("REPLAY ");
        },
    )
    .expect("the replay runs");
    assert!(started.elapsed() < Duration::from_secs(10), "q quit");
    assert!(badge_seen);
    let screen = screen_text(&terminal);
    assert!(screen.contains("REPLAY 2x PAUSED"), "{screen}");
    // Playing at 4x: well into the recording after 400 ms, on the samples' own clock.
    let playing = seen
        .iter()
        .filter(|s| !s.1)
        .map(|s| s.3)
        .max()
        .expect("frames");
    assert!(playing >= 500_000_000, "{seen:?}");
    // `]` reached the end, `[` went back to the start (the app rebuilt), `.` and → stepped
    // one sample each.
    assert!(seen.iter().any(|s| s.3 == end_ns), "{seen:?}");
    let last = seen.last().expect("frames");
    assert!(last.1, "paused");
    assert_eq!(last.2, 2.0, "4x halved");
    let steps: Vec<u64> = recording
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Sample(s) => Some(s.elapsed_ns),
            _ => None,
        })
        .take(2)
        .collect();
    assert_eq!(
        last.3, steps[1],
        "two steps from the start: the second sample"
    );
}

#[test]
fn a_recorded_dashboard_run_replays_to_its_report() {
    let _one = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let config = default_demo(Duration::from_secs(3));
    let path = scratch_dir().join("dashboard.jsonl");
    let mut recorder = Recorder::create(&path, &config, Some(10.0)).expect("recording opens");
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    // Clear the findings and reset the statistics on the way: both change the report; and a
    // workload task panics after them.
    let mut events = Script::new(&[(1500, KeyCode::Char('c')), (2200, KeyCode::Char('r'))]);
    let (panic_tx, panic_rx) = sync_channel(1);
    let panicker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(2500));
        panic_tx.send(PanicReport {
            thread: "tokio-runtime-worker".into(),
            message: "boom".into(),
            location: Some("src/workload/echo.rs:1:1".into()),
        })
    });
    let live = run_dashboard_recorded(
        &config,
        Some(&mut recorder),
        &mut terminal,
        &mut events,
        &panic_rx,
        &AtomicBool::new(false),
        DashboardOptions {
            look: Look::default(),
            fps: 15,
        },
        None,
        |_| {},
    )
    .expect("the dashboard runs");
    panicker.join().expect("joined").expect("sent");
    recorder.finish().expect("written");
    assert!(
        live.finding_counts.contains_key(&FindingKind::Panic),
        "{:?}",
        live.finding_counts
    );
    let recording = Recording::open(&path).expect("reads");
    let told = |wanted: fn(&Effect) -> bool| {
        recording
            .items
            .iter()
            .any(|i| matches!(i, Item::Effect(e) if wanted(e)))
    };
    assert!(
        told(|e| matches!(e, Effect::Clear)),
        "the clear is recorded"
    );
    assert!(
        told(|e| matches!(e, Effect::Reset)),
        "the reset is recorded"
    );
    assert!(
        recording.items.iter().any(|i| matches!(i, Item::UiCpu(_))),
        "the UI's CPU share is recorded"
    );
    assert_eq!(json(&replay_headless(&recording)), json(&live));
}

#[test]
fn the_command_line_records_and_replays() {
    let _one = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir();
    let recording = dir.join("cli.jsonl");
    let live = dir.join("cli-live.json");
    let tokmon = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tokmon"));
        command.current_dir(env!("CARGO_MANIFEST_DIR"));
        command
    };
    let output = tokmon()
        .args([
            "run",
            "scenarios/blocking-sleep.toml",
            "--headless",
            "--duration",
            "2s",
        ])
        .args(["--format", "json", "--quiet", "--out"])
        .arg(&live)
        .arg("--record")
        .arg(&recording)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = tokmon()
        .arg("replay")
        .arg(&recording)
        .args(["--headless", "--format", "json"])
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let live = std::fs::read_to_string(&live).expect("live report");
    assert_eq!(String::from_utf8_lossy(&output.stdout), live);

    let missing = dir.join("nothing-here.jsonl");
    let output = tokmon()
        .arg("replay")
        .arg(&missing)
        .arg("--headless")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nothing-here.jsonl: cannot read the recording"),
        "{stderr}"
    );
}

#[test]
fn a_switch_of_scenario_on_the_dashboard_is_recorded_and_replayed() {
    let _one = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let load = |name: &str| -> anyhow::Result<tokmon::scenario::Scenario> {
        Ok(catalog::built_in(name).ok_or_else(|| anyhow::anyhow!("no {name}"))??)
    };
    let first = load("async-sleep").expect("built-in");
    let config = RunConfig {
        detector: first.detector,
        scenario: first,
        duration: Some(Duration::from_millis(1500)),
        interval: DEFAULT_INTERVAL,
    };
    let switcher = Switcher {
        choices: ["async-sleep", "tokio-mutex"]
            .iter()
            .map(|name| ScenarioChoice {
                name: (*name).into(),
                title: String::new(),
            })
            .collect(),
        load: &load,
    };
    let path = scratch_dir().join("switch.jsonl");
    let mut recorder = Recorder::create(&path, &config, None).expect("recording opens");
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    // Open the switcher, move to the second scenario, start it; it runs its 1.5 s.
    let mut events = Script::new(&[
        (700, KeyCode::Char('s')),
        (800, KeyCode::Down),
        (900, KeyCode::Enter),
    ]);
    let (_panic_tx, panic_rx) = sync_channel(1);
    let live = run_dashboard_recorded(
        &config,
        Some(&mut recorder),
        &mut terminal,
        &mut events,
        &panic_rx,
        &AtomicBool::new(false),
        DashboardOptions {
            look: Look::default(),
            fps: 15,
        },
        Some(&switcher),
        |_| {},
    )
    .expect("the dashboard runs");
    recorder.finish().expect("written");
    assert_eq!(live.scenario.name, "tokio-mutex");
    let recording = Recording::open(&path).expect("reads");
    assert_eq!(recording.config.scenario.name, "async-sleep");
    let switched = recording.items.iter().position(|i| match i {
        Item::Session(next) => next.scenario.name == "tokio-mutex",
        _ => false,
    });
    let switched = switched.expect("the switch is recorded");
    assert!(switched > 0);
    // The second run's clock goes on after the first's on the replay's timeline.
    let timeline = Timeline::of(&recording.items);
    assert!(timeline.end_ns() > 1_500_000_000, "{}", timeline.end_ns());
    assert_eq!(json(&replay_headless(&recording)), json(&live));
}

#[test]
fn a_scenario_file_is_recorded_as_its_text_and_checked() {
    let dir = scratch_dir();
    let file = dir.join("mine.toml");
    let text = "title = \"mine\"\n[[workload]]\nid = \"nap\"\nkind = \"sleep\"\nmode = \"async\"\nevery = \"300ms\"\n";
    std::fs::write(&file, text).expect("write");
    let scenario = tokmon::scenario::load_file(&file).expect("valid");
    let mut detector = scenario.detector;
    detector.stall_threshold = Duration::from_millis(250);
    let config = RunConfig {
        detector,
        scenario: scenario.clone(),
        duration: None,
        interval: Duration::from_millis(250),
    };
    let path = dir.join("mine.jsonl");
    Recorder::create(&path, &config, Some(3.0))
        .expect_err("the run's scenario is not scaled: the recording would not match");
    let scaled = RunConfig {
        scenario: scenario.time_scaled(3.0),
        ..config.clone()
    };
    let recorder = Recorder::create(&path, &scaled, Some(3.0)).expect("opens");
    recorder.finish().expect("written");
    // The file may change or go after the run: the recording has its text.
    std::fs::remove_file(&file).expect("removed");
    let recording = Recording::open(&path).expect("reads");
    assert_eq!(recording.config.scenario, scaled.scenario);
    assert_eq!(recording.config.detector, detector);
    assert_eq!(recording.config.interval, Duration::from_millis(250));
    assert!(recording.items.is_empty() && recording.complete);

    // A file changed between loading and recording is refused: the replay would differ.
    std::fs::write(&file, text.replace("300ms", "200ms")).expect("write");
    let error = Recorder::create(&path, &config, None).expect_err("refused");
    assert!(
        format!("{error:#}").contains("changed since it was loaded"),
        "{error:#}"
    );
}
