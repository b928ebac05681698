//! Record and replay: a run recorded as it goes replays to the very report the live run
//! printed (headless and dashboard runs), a recording cut off anywhere (compressed or plain)
//! or damaged replays up to its last whole line, a bad file is an error that names it, and the
//! replay dashboard moves, pauses and steps on its keys.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::sync_channel;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyCode, KeyEvent};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

mod common;

use tokmon::detect::FindingKind;
use tokmon::record::{
    Damage, FORMAT_VERSION, ReadError, Recorder, Recording, RecordingStats, Timeline,
};
use tokmon::report::Report;
use tokmon::run::{Effect, PanicReport, RunConfig, ScenarioChoice, Update};
use tokmon::runner::{replay_headless, run_headless_recorded};
use tokmon::scenario::catalog;
use tokmon::source::{LocalSource, RecordingSource, Switcher};
use tokmon::tui::EventSource;

/// Live runs take the whole machine: one at a time.
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The built-in default demo ten times faster: phases at 0, 0.5 and 2 s, so 3 s see it
/// healthy, stuck (stalls, stacks, lag) and fixed.
fn default_demo(duration: Duration) -> RunConfig {
    let scenario = catalog::built_in("default")
        .expect("the default built-in exists")
        .expect("it parses")
        .time_scaled(10.0);
    RunConfig::new(scenario, Some(duration))
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tokmon-replay-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn json(report: &Report) -> String {
    report.to_json()
}

/// The JSON lines of a compressed recording.
fn unzip(bytes: &[u8]) -> Vec<u8> {
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut text)
        .expect("a whole gzip stream");
    text
}

/// JSON lines compressed as tokmon writes them (in one piece).
fn gzip(text: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text).expect("in memory");
    encoder.finish().expect("in memory")
}

/// Items as text, to compare two readings.
fn items_text(recording: &Recording) -> Vec<String> {
    recording.items.iter().map(|i| format!("{i:?}")).collect()
}

/// One headless run of the default demo, recorded, shared by the tests that read a recording.
struct Recorded {
    path: PathBuf,
    live: Report,
    stats: RecordingStats,
}

fn recorded() -> &'static Recorded {
    static RECORDED: OnceLock<Recorded> = OnceLock::new();
    RECORDED.get_or_init(|| {
        let _one = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let config = default_demo(Duration::from_secs(3));
        let path = scratch_dir().join("default-demo.rec");
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
        Recorded { path, live, stats }
    })
}

#[test]
fn a_replayed_report_equals_the_live_report() {
    let recorded = recorded();
    let recording = Recording::open(&recorded.path).expect("the recording reads");
    assert!(recording.complete && !recording.cut_off);
    assert!(recording.compressed && recording.damaged.is_none());
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
        .filter(|i| matches!(i, Update::Effect(e) if matches!(**e, Effect::Applied { .. })))
        .count();
    assert_eq!(applied, 2, "the size and the placement phases");
}

#[test]
fn the_recording_is_gzip_and_its_stats_say_its_size() {
    let recorded = recorded();
    let bytes = std::fs::read(&recorded.path).expect("recording");
    assert_eq!(bytes[..2], [0x1f, 0x8b], "gzip's magic bytes");
    let stats = recorded.stats;
    assert_eq!(stats.bytes, bytes.len() as u64, "{stats:?}");
    let text = unzip(&bytes);
    assert_eq!(stats.json_bytes, text.len() as u64, "{stats:?}");
    assert_eq!(
        stats.lines,
        text.iter().filter(|b| **b == b'\n').count() as u64
    );
    assert!(stats.bytes * 3 < stats.json_bytes, "{stats:?}");
    // The same lines, unpacked by hand, read the same.
    let compressed = Recording::open(&recorded.path).expect("reads");
    let plain = Recording::parse(&text, Path::new("plain.jsonl")).expect("reads");
    assert!(!plain.compressed && plain.complete && plain.damaged.is_none());
    assert_eq!(items_text(&plain), items_text(&compressed));
}

/// Where each line's sync flush ends in a compressed recording: a sync flush ends with an
/// empty stored block, `00 00 ff ff`.
fn flush_ends(bytes: &[u8]) -> Vec<usize> {
    bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == [0, 0, 0xff, 0xff])
        .map(|(i, _)| i + 4)
        .collect()
}

#[test]
fn a_compressed_recording_cut_anywhere_replays_up_to_its_last_whole_line() {
    let bytes = std::fs::read(&recorded().path).expect("recording");
    let path = Path::new("cut.rec");
    let whole = Recording::parse(&bytes, path).expect("reads");
    let whole_items = items_text(&whole);
    // The header, the items, the end line.
    let lines = whole.items.len() + 2;
    let ends = flush_ends(&bytes);
    assert_eq!(ends.len(), lines, "one sync flush a line");

    // What a file cut at `cut` reads as: the items of its whole lines, the same as the whole
    // file's; `None` when even the header is not whole.
    let read = |cut: usize| -> Option<Recording> {
        match Recording::parse(&bytes[..cut], path) {
            Ok(recording) => {
                let read = items_text(&recording);
                assert_eq!(read, whole_items[..read.len()], "cut at {cut}");
                assert!(recording.compressed);
                assert_eq!(
                    recording.damaged,
                    Some(Damage::EndsEarly),
                    "cut at {cut}: the trailer is missing"
                );
                Some(recording)
            }
            Err(e) => {
                let message = e.to_string();
                assert!(
                    message.contains("cut.rec:1: not a tokmon recording")
                        && message.contains("cut off inside its first line"),
                    "cut at {cut}: {message}"
                );
                assert!(
                    cut < ends[0],
                    "cut at {cut}: the header was whole: {message}"
                );
                None
            }
        }
    };
    // Cut right after a line's flush: every line up to it, nothing cut off.
    for (i, end) in ends.iter().enumerate() {
        let recording = read(*end).expect("the header is whole");
        assert_eq!(recording.items.len(), i.min(lines - 2), "cut at {end}");
        assert!(!recording.cut_off, "cut at {end}");
        assert_eq!(recording.complete, i == lines - 1, "cut at {end}");
    }
    // Cut anywhere else: every line whose flush came before the cut, perhaps the line being
    // cut if its newline made it; never an error once the header is whole.
    let mut cuts: Vec<usize> = (1..bytes.len()).step_by(37).collect();
    cuts.extend(ends.iter().flat_map(|e| [e - 5, e - 1, e + 1, e + 7]));
    cuts.retain(|cut| *cut < bytes.len());
    let mut before = 0;
    cuts.sort_unstable();
    for cut in cuts {
        let flushed = ends.partition_point(|e| *e <= cut);
        match read(cut) {
            Some(recording) => {
                let n = recording.items.len();
                let low = flushed.saturating_sub(1).min(lines - 2);
                assert!(
                    (low..=flushed.min(lines - 2)).contains(&n),
                    "cut at {cut}: {n} items after {flushed} flushed lines"
                );
                assert!(n >= before, "cut at {cut}: fewer items than a shorter cut");
                before = n;
            }
            None => assert_eq!(flushed, 0),
        }
    }
    // A file cut at 60% replays as far as it goes.
    let at = bytes.len() * 6 / 10;
    let cut = read(at).expect("reads");
    assert!(!cut.complete);
    let report = replay_headless(&cut);
    assert!(report.duration_ms > 0 && report.duration_ms < recorded().live.duration_ms);
    // Through a file, as `tokmon replay` reads it.
    let file = scratch_dir().join("cut.rec");
    std::fs::write(&file, &bytes[..at]).expect("write");
    let opened = Recording::open(&file).expect("a cut-off recording still reads");
    assert_eq!(items_text(&opened), items_text(&cut));
}

#[test]
fn a_damaged_compressed_recording_replays_up_to_the_damage() {
    let bytes = std::fs::read(&recorded().path).expect("recording");
    let whole = items_text(&Recording::parse(&bytes, Path::new("whole.rec")).expect("reads"));
    let ends = flush_ends(&bytes);
    let path = Path::new("damaged.rec");
    // A line's flush ends with an empty stored block, `00 00 ff ff`; spoil its `ff ff` and the
    // data goes bad right after that line: every line up to it reads, none after.
    for line in [1, ends.len() / 3, ends.len() * 2 / 3, ends.len() - 2] {
        let mut damaged = bytes.clone();
        let at = ends[line] - 2;
        damaged[at..at + 2].copy_from_slice(&[0, 0]);
        let recording = Recording::parse(&damaged, path).expect("the lines before it read");
        assert!(
            matches!(recording.damaged, Some(Damage::Corrupt(_))),
            "{:?}",
            recording.damaged
        );
        let message = recording.damaged.as_ref().map(ToString::to_string);
        assert!(
            message
                .as_deref()
                .is_some_and(|m| m.starts_with("the compressed data is damaged (")),
            "{message:?}"
        );
        // Lines 0..line came whole before it (line 0 is the header).
        assert_eq!(
            items_text(&recording),
            whole[..line],
            "damage after line {line}"
        );
        assert!(!recording.cut_off && !recording.complete);
    }
    // Bytes garbled anywhere past the header: the lines flushed before them read as they were
    // (what decodes after them may be garbage, left out, or, rarely, a wrong value that still
    // reads: gzip checks the whole stream only).
    for at in [
        ends[1] + 3,
        bytes.len() / 3,
        bytes.len() * 6 / 10,
        bytes.len() - 12,
    ] {
        let mut damaged = bytes.clone();
        for b in &mut damaged[at..at + 8] {
            *b ^= 0x5a;
        }
        let recording = Recording::parse(&damaged, path).expect("the lines before it read");
        assert!(recording.damaged.is_some(), "damage at {at}");
        let intact = ends.partition_point(|e| *e <= at).saturating_sub(1);
        let read = items_text(&recording);
        assert!(read.len() >= intact, "damage at {at}: {} items", read.len());
        assert_eq!(read[..intact], whole[..intact], "damage at {at}");
    }
}

#[test]
fn a_plain_recording_cut_off_mid_line_replays_up_to_its_last_whole_line() {
    let bytes = unzip(&std::fs::read(&recorded().path).expect("recording"));
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
    assert!(!recording.compressed && recording.damaged.is_none());
    assert_eq!(
        recording.items.len(),
        lines_before - 1,
        "every whole line but the header"
    );
    let read = items_text(&recording);
    assert_eq!(
        read,
        items_text(&whole)[..read.len()],
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
    let compressed = std::fs::read(&recorded().path).expect("recording");
    let text = String::from_utf8(unzip(&compressed)).expect("utf-8");

    // Another format version, compressed or plain.
    let version = format!("\"format_version\":{FORMAT_VERSION},");
    let newer = text.replacen(&version, "\"format_version\":999,", 1);
    assert_ne!(newer, text);
    for (name, bytes) in [
        ("newer.jsonl", newer.as_bytes().to_vec()),
        ("newer.rec", gzip(newer.as_bytes())),
    ] {
        let message = error_of(name, &bytes);
        assert!(
            message.contains(":1: recording format version 999"),
            "{message}"
        );
        assert!(message.contains("newer tokmon"), "{message}");
    }
    // A recording of tokmon 0.1 before compression: plain, format 1.
    let older = text.replacen(&version, "\"format_version\":1,", 1);
    let message = error_of("older.jsonl", older.as_bytes());
    assert!(
        message.contains(&format!(
            ":1: recording format version 1; this tokmon ({}) reads version {FORMAT_VERSION}",
            env!("CARGO_PKG_VERSION")
        )),
        "{message}"
    );
    assert!(
        message.contains("older tokmon: record it again"),
        "{message}"
    );

    // A compressed file cut inside its gzip header, or inside its first line.
    for cut in [5, 40] {
        let message = error_of("compressed-cut.rec", &compressed[..cut]);
        assert!(
            message
                .contains(":1: not a tokmon recording: the file was cut off inside its first line"),
            "{message}"
        );
    }
    // Compressed garbage, and an empty compressed file.
    let message = error_of(
        "compressed-garbage.rec",
        &gzip(b"\x00\x01 not a recording\n"),
    );
    assert!(message.contains(":1: not a tokmon recording"), "{message}");
    let message = error_of("compressed-empty.rec", &gzip(b""));
    assert!(message.contains("empty"), "{message}");
    // A bad line in a whole compressed file is an error, as in a plain one.
    let mut lines: Vec<&str> = text.lines().collect();
    lines[4] = "{\"type\":\"teleport\"}";
    let message = error_of(
        "bad-line.rec",
        &gzip(format!("{}\n", lines.join("\n")).as_bytes()),
    );
    assert!(message.contains("bad-line.rec:5: "), "{message}");
    assert!(message.contains("teleport"), "{message}");

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
        Update::Sample(s) => Some(s.elapsed_ns),
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
    let mut seen: Vec<(u64, bool, f64, u64)> = Vec::new();
    let mut badge_seen = false;
    let started = Instant::now();
    common::dashboard(&mut terminal, &mut events, 30)
        .run(&mut RecordingSource::paced(&recording, 4.0), None, |app| {
            // The replay's state reaches the app in its replay status.
            let Some(replay) = app.view.replay else {
                return;
            };
            badge_seen = true;
            seen.push((
                replay.position_ns,
                replay.paused,
                replay.speed,
                app.model().now_ns(),
            ));
        })
        .expect("the replay runs");
    assert!(started.elapsed() < Duration::from_secs(10), "q quit");
    assert!(badge_seen);
    let screen = screen_text(&terminal);
    assert!(
        screen.contains("REPLAY 2x") && screen.contains("PAUSED"),
        "{screen}"
    );
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
            Update::Sample(s) => Some(s.elapsed_ns),
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
    let path = scratch_dir().join("dashboard.rec");
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
    let live = common::dashboard(&mut terminal, &mut events, 15)
        .run(
            &mut LocalSource::start(config.clone(), None, Some(&panic_rx)).expect("starts"),
            Some(&mut recorder),
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
            .any(|i| matches!(i, Update::Effect(e) if wanted(e)))
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
        recording
            .items
            .iter()
            .any(|i| matches!(i, Update::UiCpu(_))),
        "the UI's CPU share is recorded"
    );
    assert_eq!(json(&replay_headless(&recording)), json(&live));
}

#[test]
fn the_command_line_records_and_replays() {
    let _one = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch_dir();
    let recording = dir.join("cli.rec");
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
    let config = RunConfig::new(first, Some(Duration::from_millis(1500)));
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
    let path = scratch_dir().join("switch.rec");
    let mut recorder = Recorder::create(&path, &config, None).expect("recording opens");
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    // Open the switcher, move to the second scenario, start it; it runs its 1.5 s.
    let mut events = Script::new(&[
        (700, KeyCode::Char('s')),
        (800, KeyCode::Down),
        (900, KeyCode::Enter),
    ]);
    let (_panic_tx, panic_rx) = sync_channel(1);
    let mut source =
        LocalSource::start(config.clone(), Some(&switcher), Some(&panic_rx)).expect("starts");
    let live = common::dashboard(&mut terminal, &mut events, 15)
        .run(&mut source, Some(&mut recorder), |_| {})
        .expect("the dashboard runs");
    recorder.finish().expect("written");
    assert_eq!(live.scenario.name, "tokio-mutex");
    let recording = Recording::open(&path).expect("reads");
    assert_eq!(recording.config.scenario.name, "async-sleep");
    let switched = recording.items.iter().position(|i| match i {
        Update::Begin(next) => next.scenario.name == "tokio-mutex",
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
        stacks: true,
        console: None,
    };
    let path = dir.join("mine.rec");
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
