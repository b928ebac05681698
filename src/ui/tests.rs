//! Whole screens drawn from the canned apps into a `TestBackend`, checked as text snapshots.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

use super::{Look, ThemeName, draw};
use crate::app::fixtures::{healthy_app, info, sample, stuck_app};
use crate::app::{App, Msg};
use crate::detect::event;
use crate::run::{Command, PhaseView, ReplayStatus, ScenarioChoice};
use crate::scenario::{EchoSpec, HashSpec, Placement, WorkloadKind};

fn press(app: &mut App, code: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn buffer(app: &App, look: Look, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal
        .draw(|frame| draw(frame, app, &look))
        .expect("drawing into memory");
    terminal.backend().buffer().clone()
}

/// The screen as text, one quoted line a row.
fn screen(app: &App, look: Look, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal
        .draw(|frame| draw(frame, app, &look))
        .expect("drawing into memory");
    format!("{}", terminal.backend())
}

fn dark() -> Look {
    Look::default()
}

/// The stuck run with the newest finding selected and its detail open.
fn detail_app() -> App {
    let mut app = stuck_app(840);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Enter);
    assert!(
        app.view.detail_open,
        "Enter opens the detail of the selected finding"
    );
    app
}

fn help_app() -> App {
    let mut app = stuck_app(840);
    press(&mut app, KeyCode::Char('?'));
    assert!(app.view.help_open);
    app
}

const MIB: u64 = 1024 * 1024;

/// The phases of the built-in default scenario, as its notes read.
const NOTES: [&str; 3] = [
    "Healthy: small hash jobs (8 MiB, a few ms each) run inline on the workers; the echo service answers in about a millisecond.",
    "The mistake: each job grows to 256 MiB, still inline on the async workers. Watch the workers stall and the echo p99 climb.",
    "The fix: the same 256 MiB jobs run in spawn_blocking. The workers are free again and the echo p99 falls back.",
];

fn hash(placement: Placement, size: u64) -> WorkloadKind {
    WorkloadKind::Hash(HashSpec {
        placement,
        tasks: 2,
        size,
        every: std::time::Duration::from_millis(10),
        chunk: MIB,
    })
}

fn echo() -> WorkloadKind {
    WorkloadKind::Echo(EchoSpec {
        connections: 16,
        rate: 1000,
        payload: 64,
        timeout: std::time::Duration::from_secs(1),
    })
}

fn scenarios() -> Vec<ScenarioChoice> {
    [
        (
            "default",
            "From healthy to stuck and back: CPU hashing on the async workers",
        ),
        ("async-sleep", "tokio::time::sleep in async code (the fix)"),
        (
            "blocking-pool-too-small",
            "A blocking pool too small for its load",
        ),
        (
            "blocking-sleep",
            "std::thread::sleep in async code (the mistake)",
        ),
        ("fs-async", "File I/O with tokio::fs (the fix)"),
        (
            "fs-blocking",
            "Blocking file I/O with std::fs in async code (the mistake)",
        ),
        ("hash-block-in-place", "CPU hashing in block_in_place"),
        (
            "hash-on-worker",
            "CPU hashing on the async workers (the mistake)",
        ),
        (
            "hash-spawn-blocking",
            "CPU hashing on the blocking pool (the fix)",
        ),
        (
            "hash-yield",
            "CPU hashing in chunks with yield_now (cooperative)",
        ),
        ("single-worker", "One worker, one mistake: everything stops"),
        ("spawn-storm", "Many short-lived tasks"),
        (
            "std-mutex-blocking",
            "A std::sync::Mutex held across blocking work (the mistake)",
        ),
        (
            "tokio-mutex",
            "A tokio::sync::Mutex held across an await (the fix)",
        ),
    ]
    .into_iter()
    .map(|(name, title)| ScenarioChoice {
        name: name.into(),
        title: title.into(),
    })
    .collect()
}

/// A phase begins as the runner tells it: the phase, its event, then each change it makes.
fn begin_phase(app: &mut App, index: usize, at_ms: u64, next_at_ms: Option<u64>) {
    let note = NOTES[index].to_string();
    app.update(Msg::Phase(PhaseView {
        index,
        note: note.clone(),
        next_at_ms,
    }));
    app.update(Msg::Event(event(
        at_ms,
        format!("phase {} of {}", index + 1, NOTES.len()),
        note,
    )));
}

/// The built-in default demo, 3.8 s in: phase 1 began at 0 s, the presenter pressed `n` at
/// 3 s (phase 2: the jobs grew to 256 MiB), selected the hasher with `w`, and worker 1 has
/// been stuck in it for 840 ms since.
fn phased_app() -> App {
    let mut info = info();
    info.name = "default".into();
    info.title = "From healthy to stuck and back: CPU hashing on the async workers".into();
    info.source = "built-in:default".into();
    info.phase_count = NOTES.len();
    let mut app = App::new(info);
    app.run.workloads = vec![
        ("api".into(), echo()),
        ("hasher".into(), hash(Placement::Worker, 8 * MIB)),
    ];
    app.view.choices = scenarios();
    begin_phase(&mut app, 0, 0, Some(5_000));
    for i in 0..=30 {
        app.update(Msg::Sample(Box::new(sample(i, 0.2, None))));
    }
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(app.take_commands(), vec![Command::NextPhase]);
    // The runner starts phase 2 now; the later phase keeps its spacing (15 s after this one).
    begin_phase(&mut app, 1, 3_000, Some(18_000));
    app.update(Msg::Event(event(
        3_000,
        "hasher size: 8 MiB → 256 MiB".into(),
        String::new(),
    )));
    app.update(Msg::Applied {
        workload: "hasher".into(),
        kind: hash(Placement::Worker, 256 * MIB),
    });
    press(&mut app, KeyCode::Char('w'));
    assert_eq!(app.view.selected_workload, 1, "w selects the next workload");
    for k in 1..=8 {
        app.update(Msg::Sample(Box::new(sample(
            30 + k,
            0.95,
            Some(k * 100 + 40),
        ))));
    }
    app
}

/// The phased demo with the scenario switcher open, the cursor moved past the running one.
fn switcher_app() -> App {
    let mut app = phased_app();
    press(&mut app, KeyCode::Char('s'));
    assert!(app.view.switcher.is_some(), "s opens the switcher");
    for _ in 0..9 {
        press(&mut app, KeyCode::Down);
    }
    app
}

/// The phased demo after the presenter flipped the hasher to spawn_blocking: the change is
/// the newest entry of the findings log.
fn event_app() -> App {
    let mut app = phased_app();
    press(&mut app, KeyCode::Char('m'));
    assert_eq!(app.take_commands().len(), 1, "m turns the selected knob");
    app.update(Msg::Event(event(
        3_800,
        "hasher placement: worker → spawn_blocking".into(),
        String::new(),
    )));
    app.update(Msg::Applied {
        workload: "hasher".into(),
        kind: hash(Placement::SpawnBlocking, 256 * MIB),
    });
    // The next sample reports the new setting; the job already running goes on.
    let mut next = sample(39, 0.95, Some(940));
    if let Some(hasher) = next.workloads.iter_mut().find(|w| w.id == "hasher") {
        hasher.setting = "placement=spawn_blocking".into();
    }
    app.update(Msg::Sample(Box::new(next)));
    app
}

/// The phased demo with the help open: every demo key does something here.
fn demo_help_app() -> App {
    let mut app = phased_app();
    press(&mut app, KeyCode::Char('?'));
    assert!(app.view.help_open);
    app
}

/// The phased demo before its first phase began.
fn starting_app() -> App {
    let mut info = info();
    info.phase_count = 3;
    let mut app = App::new(info);
    app.run.workloads = vec![
        ("api".into(), echo()),
        ("hasher".into(), hash(Placement::Worker, 8 * MIB)),
    ];
    app.update(Msg::Sample(Box::new(sample(0, 0.2, None))));
    app
}

/// The phased demo as a replay shows it: at `speed`, 3.8 s into a 5-minute recording.
fn replay_app(speed: f64, paused: bool) -> App {
    let mut app = phased_app();
    app.set_replay(Some(ReplayStatus {
        speed,
        paused,
        position_ns: 3_800_000_000,
        length_ns: 300_000_000_000,
    }));
    app
}

/// A replay at the end of its recording.
fn replay_end_app() -> App {
    let mut app = stuck_app(840);
    app.set_replay(Some(ReplayStatus {
        speed: 0.5,
        paused: false,
        position_ns: 4_200_000_000,
        length_ns: 4_200_000_000,
    }));
    app
}

fn replay_help_app() -> App {
    let mut app = replay_app(2.0, false);
    press(&mut app, KeyCode::Char('?'));
    assert!(app.view.help_open);
    app
}

/// Every canned app the checks over all screens go through.
fn all_apps() -> Vec<App> {
    vec![
        replay_app(2.0, false),
        replay_app(0.125, true),
        replay_end_app(),
        replay_help_app(),
        App::new(info()),
        healthy_app(30),
        stuck_app(840),
        help_app(),
        detail_app(),
        phased_app(),
        switcher_app(),
        event_app(),
        demo_help_app(),
        starting_app(),
    ]
}

#[test]
fn healthy_80x24() {
    insta::assert_snapshot!(screen(&healthy_app(30), dark(), 80, 24));
}

#[test]
fn healthy_160x48() {
    insta::assert_snapshot!(screen(&healthy_app(30), dark(), 160, 48));
}

#[test]
fn stuck_80x24() {
    insta::assert_snapshot!(screen(&stuck_app(840), dark(), 80, 24));
}

#[test]
fn stuck_160x48() {
    insta::assert_snapshot!(screen(&stuck_app(840), dark(), 160, 48));
}

#[test]
fn help_80x24() {
    insta::assert_snapshot!(screen(&help_app(), dark(), 80, 24));
}

#[test]
fn help_160x48() {
    insta::assert_snapshot!(screen(&help_app(), dark(), 160, 48));
}

#[test]
fn detail_80x24() {
    insta::assert_snapshot!(screen(&detail_app(), dark(), 80, 24));
}

#[test]
fn detail_160x48() {
    insta::assert_snapshot!(screen(&detail_app(), dark(), 160, 48));
}

#[test]
fn waiting_and_paused_80x24() {
    let waiting = App::new(info());
    let mut paused = stuck_app(840);
    press(&mut paused, KeyCode::Char(' '));
    assert!(paused.paused());
    insta::assert_snapshot!(format!(
        "{}\n{}",
        screen(&waiting, dark(), 80, 24),
        screen(&paused, dark(), 80, 24)
    ));
}

#[test]
fn too_small_50x12() {
    let text = screen(&stuck_app(840), dark(), 50, 12);
    assert!(
        text.contains("terminal too small") && text.contains("have 50x12"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn ascii_80x24_has_only_ascii() {
    let look = Look {
        theme: ThemeName::Dark,
        ascii: true,
    };
    for app in all_apps() {
        for (w, h) in [(80, 24), (160, 48), (60, 15)] {
            let buf = buffer(&app, look, w, h);
            for cell in buf.content() {
                assert!(
                    cell.symbol().is_ascii(),
                    "{w}x{h}: non-ASCII {:?} in\n{}",
                    cell.symbol(),
                    screen(&app, look, w, h)
                );
            }
        }
    }
    insta::assert_snapshot!(screen(&stuck_app(840), look, 80, 24));
}

#[test]
fn mono_has_no_colour() {
    let look = Look {
        theme: ThemeName::Mono,
        ascii: false,
    };
    for app in all_apps() {
        for (w, h) in [(80, 24), (160, 48)] {
            let buf = buffer(&app, look, w, h);
            for cell in buf.content() {
                assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{w}x{h}");
            }
        }
    }
}

#[test]
fn every_theme_draws_the_same_text() {
    let app = stuck_app(840);
    let dark = screen(&app, dark(), 80, 24);
    for theme in [ThemeName::Light, ThemeName::Mono] {
        let look = Look {
            theme,
            ascii: false,
        };
        assert_eq!(screen(&app, look, 80, 24), dark, "{theme:?}");
    }
}

#[test]
fn the_stuck_worker_is_named_in_the_loud_status_line() {
    let app = stuck_app(840);
    for (w, h) in [(80, 24), (160, 48)] {
        let buf = buffer(&app, dark(), w, h);
        let text = screen(&app, dark(), w, h);
        assert!(
            text.contains("hasher STUCK 840 ms at src/workload/hash.rs:106 → use spawn_blocking"),
            "{text}"
        );
        // The status row is painted red.
        let row = (0..h).find(|&y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                .contains("hasher STUCK 840 ms")
        });
        let y = row.expect("a status row");
        assert_eq!(buf[(0, y)].bg, Color::Red);
        assert_eq!(buf[(w - 1, y)].bg, Color::Red);
    }
}

#[test]
fn no_size_panics() {
    let apps = all_apps();
    let looks = [
        dark(),
        Look {
            theme: ThemeName::Mono,
            ascii: true,
        },
    ];
    for app in &apps {
        for look in looks {
            for w in 1..=20 {
                for h in 1..=8 {
                    let _ = buffer(app, look, w, h);
                }
            }
            for (w, h) in [
                (59, 15),
                (60, 14),
                (60, 15),
                (61, 16),
                (70, 20),
                (119, 33),
                (120, 34),
                (200, 60),
                (400, 15),
            ] {
                let _ = buffer(app, look, w, h);
            }
        }
    }
}

/// Twelve workers (one stuck) and a dozen findings: more than 80x24 shows at once.
fn crowded_app() -> App {
    use crate::run::PanicReport;
    let mut info = info();
    info.workers = 12;
    let mut app = App::new(info);
    for i in 0..40 {
        let stuck = (i >= 35).then(|| (i - 35) * 100 + 100);
        let mut s = sample(i, 0.5, stuck);
        if let Some(first) = s.workers.first().cloned() {
            s.workers = vec![first; 12];
        }
        if let Some(probe) = s.probe.as_mut() {
            if let Some(first) = probe.workers.first().cloned() {
                probe.workers = vec![first; 12];
            }
            for p in &mut probe.in_flight {
                p.worker = Some(11);
            }
        }
        app.update(Msg::Sample(Box::new(s)));
    }
    for k in 0..10 {
        let report = PanicReport {
            thread: format!("tokio-runtime-worker-{k}"),
            message: "index out of bounds: the len is 3 but the index is 7".into(),
            // Ten places: ten groups to scroll through.
            location: Some(format!("src/workload/echo.rs:{}:9", 40 + k)),
        };
        app.update(Msg::Event(report.finding(app.model().now_ns() / 1_000_000)));
    }
    app
}

#[test]
fn crowded_screens_scroll_to_the_selection() {
    let mut app = crowded_app();
    press(&mut app, KeyCode::End);
    assert_eq!(app.view.selected_worker, 11);
    let workers = screen(&app, dark(), 80, 24);
    assert!(workers.contains("▶11  STUCK"), "{workers}");
    press(&mut app, KeyCode::Tab);
    for _ in 0..5 {
        press(&mut app, KeyCode::Char('j'));
    }
    assert_eq!(app.view.selected_finding, 5);
    let findings = screen(&app, dark(), 80, 24);
    insta::assert_snapshot!(format!("{workers}\n{findings}"));
}

#[test]
fn phased_160x48() {
    insta::assert_snapshot!(screen(&phased_app(), dark(), 160, 48));
}

#[test]
fn phased_80x24() {
    insta::assert_snapshot!(screen(&phased_app(), dark(), 80, 24));
}

#[test]
fn switcher_160x48() {
    insta::assert_snapshot!(screen(&switcher_app(), dark(), 160, 48));
}

#[test]
fn event_in_the_findings_log_160x48() {
    insta::assert_snapshot!(screen(&event_app(), dark(), 160, 48));
}

#[test]
fn help_with_demo_keys_80x24() {
    insta::assert_snapshot!(screen(&demo_help_app(), dark(), 80, 24));
}

#[test]
fn the_phase_line_reads_from_the_back_of_the_room() {
    let app = phased_app();
    let wide = screen(&app, dark(), 160, 48);
    assert!(
        wide.contains(" phase 2/3  next in 14.2 s · The mistake: each job grows to 256 MiB"),
        "{wide}"
    );
    let compact = screen(&app, dark(), 80, 24);
    assert!(
        compact.contains(" phase 2/3  next in 14.2 s · The mistake:"),
        "{compact}"
    );
    // The stuck status stays on screen next to the phase line.
    for text in [&wide, &compact] {
        assert!(text.contains("hasher STUCK 840 ms"), "{text}");
    }
    // "phase 2/3" stands out: reversed in every theme, coloured where there are colours.
    for theme in [ThemeName::Dark, ThemeName::Light, ThemeName::Mono] {
        let look = Look {
            theme,
            ascii: false,
        };
        for (w, h) in [(160, 48), (80, 24)] {
            let buf = buffer(&app, look, w, h);
            let (x, y) = find(&buf, "phase 2/3").expect("the phase badge");
            let cell = &buf[(x, y)];
            let reversed = cell.modifier.contains(Modifier::REVERSED);
            assert!(
                reversed || cell.bg != Color::Reset,
                "{theme:?} {w}x{h}: {cell:?}"
            );
            assert!(cell.modifier.contains(Modifier::BOLD), "{theme:?}");
        }
    }
}

#[test]
fn the_last_phase_and_the_start_say_so() {
    let mut app = phased_app();
    begin_phase(&mut app, 2, 3_800, None);
    let text = screen(&app, dark(), 160, 48);
    assert!(
        text.contains(" phase 3/3  last phase · The fix: the same 256 MiB jobs"),
        "{text}"
    );
    let text = screen(&starting_app(), dark(), 80, 24);
    assert!(text.contains(" phase -/3  starting"), "{text}");
    let text = screen(&healthy_app(30), dark(), 160, 48);
    assert!(!text.contains("phase"), "no phase line without phases");
}

#[test]
fn the_selected_workload_is_marked_and_shows_its_knobs() {
    let mut app = phased_app();
    let wide = screen(&app, dark(), 160, 48);
    assert!(wide.contains("╭ ▶ hasher hash placement=worker "), "{wide}");
    assert!(
        wide.contains("m: placement worker→spawn_blocking · +/-: size 256 MiB"),
        "{wide}"
    );
    assert!(wide.contains("╭ api echo rate=1000/s "), "{wide}");
    let compact = screen(&app, dark(), 80, 24);
    assert!(
        compact.contains("│▶ hasher hash placement=worker"),
        "{compact}"
    );
    assert!(
        compact.contains("╰ m: placement worker→spawn_blocking · +/-: size ╯"),
        "{compact}"
    );
    // The smallest screen has a line for one workload: the selected one, whose knobs the
    // border names.
    let tiny = screen(&app, dark(), 60, 15);
    assert!(tiny.contains("│▶ hasher throughput"), "{tiny}");
    assert!(tiny.contains("╰ m: spawn_blocking · +/-: size ─"), "{tiny}");
    // W goes back to the echo workload: no flip there, only its rate.
    press(&mut app, KeyCode::Char('W'));
    let wide = screen(&app, dark(), 160, 48);
    assert!(wide.contains("╭ ▶ api echo rate=1000/s "), "{wide}");
    assert!(wide.contains("+/-: rate 1000/s"), "{wide}");
    assert!(!wide.contains("m: "), "{wide}");
    let ascii = Look {
        theme: ThemeName::Dark,
        ascii: true,
    };
    let text = screen(&phased_app(), ascii, 160, 48);
    assert!(text.contains("+ > hasher hash placement=worker "), "{text}");
    assert!(
        text.contains("m: placement worker->spawn_blocking"),
        "{text}"
    );
}

#[test]
fn events_stand_out_in_the_findings_log() {
    let app = event_app();
    for (w, h) in [(160, 48), (80, 24)] {
        let text = screen(&app, dark(), w, h);
        assert!(
            text.contains("EVENT ") && text.contains("▸ hasher placement: worker → spawn_blocking"),
            "{text}"
        );
        let buf = buffer(&app, dark(), w, h);
        let (x, y) = find(&buf, "EVENT").expect("an event tag");
        assert_eq!(buf[(x, y)].fg, Color::LightBlue, "{w}x{h}");
        // A change has no note: the row below is the next entry's, or empty.
        let next = (0..w).map(|x| buf[(x, y + 1)].symbol()).collect::<String>();
        let border = next.contains('╰');
        let inside = next.trim_matches(|c: char| c == '│' || c == '┃').trim();
        assert!(
            border || inside.is_empty() || inside.starts_with('['),
            "{next}"
        );
    }
}

#[test]
fn the_footer_keeps_the_demo_keys_when_thinned() {
    let app = phased_app();
    let compact = screen(&app, dark(), 80, 24);
    let footer = compact.lines().last().expect("a footer row");
    for key in ["q quit", "? help", "m flip", "n next phase"] {
        assert!(footer.contains(key), "{footer}");
    }
    let wide = screen(&app, dark(), 160, 48);
    let footer = wide.lines().last().expect("a footer row");
    for key in [
        "w workload",
        "m flip",
        "+/- size",
        "n next phase",
        "s scenarios",
    ] {
        assert!(footer.contains(key), "{footer}");
    }
    // Without phases, workloads or other scenarios, no demo key is offered.
    let plain = screen(&stuck_app(840), dark(), 160, 48);
    let footer = plain.lines().last().expect("a footer row");
    for key in [" flip", "next phase", "scenarios"] {
        assert!(!footer.contains(key), "{footer}");
    }
}

#[test]
fn the_switcher_lists_every_scenario_and_keeps_the_highlight_in_view() {
    let app = switcher_app();
    let text = screen(&app, dark(), 160, 48);
    assert!(text.contains("↑↓ choose · enter run · esc close"), "{text}");
    let running = text
        .lines()
        .find(|l| l.contains("  default  "))
        .expect("the running scenario listed");
    assert!(
        running.contains("From healthy to stuck and back") && running.contains("(running)"),
        "{running}"
    );
    assert_eq!(text.matches(" (running)").count(), 1, "{text}");
    // 80x24 has room for all fourteen, the highlighted one reversed.
    let buf = buffer(&app, dark(), 80, 24);
    let (x, y) = find(&buf, "▶ hash-yield").expect("the highlighted scenario");
    assert_eq!(buf[(x, y)].bg, Color::Blue);
    // A short terminal shows fewer rows: the highlighted one scrolls into view.
    let mut app = app;
    for _ in 0..3 {
        press(&mut app, KeyCode::Down);
    }
    let small = screen(&app, dark(), 70, 15);
    assert!(small.contains("▶ std-mutex-blocking"), "{small}");
    assert!(small.contains(" 3-13 of 14 "), "{small}");
    assert!(!small.contains("  default  "), "{small}");
}

/// Where `needle` starts on screen.
fn find(buf: &Buffer, needle: &str) -> Option<(u16, u16)> {
    let area = buf.area;
    (area.top()..area.bottom()).find_map(|y| {
        let cells: Vec<&str> = (area.left()..area.right())
            .map(|x| buf[(x, y)].symbol())
            .collect();
        let row: String = cells.concat();
        let at = row.find(needle)?;
        // A byte offset into the row: count the cells before it.
        let mut bytes = 0;
        let x = cells.iter().position(|c| {
            let here = bytes;
            bytes += c.len();
            here >= at
        })?;
        Some((area.left() + u16::try_from(x).ok()?, y))
    })
}

#[test]
fn replay_160x48() {
    insta::assert_snapshot!(screen(&replay_app(2.0, false), dark(), 160, 48));
}

#[test]
fn replay_80x24() {
    insta::assert_snapshot!(screen(&replay_app(2.0, true), dark(), 80, 24));
}

#[test]
fn replay_help_80x24() {
    insta::assert_snapshot!(screen(&replay_help_app(), dark(), 80, 24));
}

#[test]
fn a_replay_shows_its_badge_its_position_and_its_keys() {
    let app = replay_app(2.0, false);
    for (w, h) in [(160, 48), (80, 24), (60, 15)] {
        let text = screen(&app, dark(), w, h);
        let top = text.lines().next().expect("a first row");
        assert!(top.contains(" REPLAY 2x  0:03 / 5:00 "), "{w}x{h}: {text}");
        assert!(!text.contains("PAUSED"), "{w}x{h}: {text}");
        // The badge is loud: coloured, or reversed where there are no colours.
        for (theme, loud) in [
            (ThemeName::Dark, (Color::Black, Color::LightMagenta)),
            (ThemeName::Light, (Color::White, Color::Magenta)),
        ] {
            let look = Look {
                theme,
                ascii: false,
            };
            let buf = buffer(&app, look, w, h);
            let (x, y) = find(&buf, "REPLAY").expect("the badge");
            assert_eq!((buf[(x, y)].fg, buf[(x, y)].bg), loud, "{theme:?} {w}x{h}");
        }
        let mono = Look {
            theme: ThemeName::Mono,
            ascii: false,
        };
        let buf = buffer(&app, mono, w, h);
        let (x, y) = find(&buf, "REPLAY").expect("the badge");
        assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED), "{w}x{h}");
    }
    // The footer has the replay's keys, not the demo's (they change a live run); the workload
    // panels offer no knobs.
    let wide = screen(&app, dark(), 160, 48);
    let footer = wide.lines().last().expect("a footer row");
    for key in [
        "q quit",
        "space pause",
        "./→ step",
        "[ ] seek 10 s",
        "< > speed",
        "? help",
    ] {
        assert!(footer.contains(key), "{footer}");
    }
    for key in [" flip", "+/-", "next phase", "scenarios", "workload"] {
        assert!(!footer.contains(key), "{footer}");
    }
    assert!(!wide.contains("m: placement"), "{wide}");
    assert!(!wide.contains("▶ hasher"), "{wide}");
    let compact = screen(&app, dark(), 80, 24);
    let footer = compact.lines().last().expect("a footer row");
    for key in [
        "q quit",
        "pause",
        ". step",
        "[] seek 10 s",
        "<> speed",
        "? help",
    ] {
        assert!(footer.contains(key), "{footer}");
    }
    assert!(!compact.contains("m: placement"), "{compact}");
    // ASCII says the same in ASCII.
    let ascii = Look {
        theme: ThemeName::Dark,
        ascii: true,
    };
    let text = screen(&app, ascii, 160, 48);
    assert!(text.contains("./-> step"), "{text}");
}

#[test]
fn a_paused_replay_says_so_where_a_live_pause_does() {
    let paused = replay_app(0.125, true);
    let wide = screen(&paused, dark(), 160, 48);
    assert!(wide.contains(" REPLAY 0.125x "), "{wide}");
    assert!(wide.contains(" PAUSED: space resumes, . steps "), "{wide}");
    let footer = wide.lines().last().expect("a footer row");
    assert!(footer.contains("space resume"), "{footer}");
    let compact = screen(&paused, dark(), 80, 24);
    assert!(compact.contains(" PAUSED "), "{compact}");
    // The live pause's badge sits on the same row.
    let mut live = stuck_app(840);
    press(&mut live, KeyCode::Char(' '));
    let row_of = |text: &str| text.lines().position(|l| l.contains(" PAUSED"));
    let mut replayed = stuck_app(840);
    replayed.set_replay(paused.view.replay);
    assert_eq!(
        row_of(&screen(&replayed, dark(), 160, 48)),
        row_of(&screen(&live, dark(), 160, 48))
    );
    // At the end of the recording.
    let end = screen(&replay_end_app(), dark(), 160, 48);
    assert!(end.contains(" REPLAY 0.5x  0:04 / 0:04 "), "{end}");
    assert!(end.contains(" END OF THE RECORDING: [ goes back "), "{end}");
    assert!(screen(&replay_end_app(), dark(), 80, 24).contains(" END "));
}

#[test]
fn the_help_of_a_replay_lists_its_keys() {
    let app = replay_help_app();
    for (w, h) in [(160, 48), (80, 24)] {
        let text = screen(&app, dark(), w, h);
        for what in [
            "replay: move through the recording",
            "pause or resume the replay",
            "step to the next sample (and pause)",
            "seek back / forward 10 s",
            "half / double the speed",
            "select a worker or a group of findings",
            "not in a replay",
        ] {
            assert!(text.contains(what), "{w}x{h}: {what} in {text}");
        }
        assert!(!text.contains("flip its setting"), "{text}");
        assert!(!text.contains("the workload keeps running"), "{text}");
    }
}

#[test]
fn the_header_says_where_tokio_console_attaches_when_the_run_serves_it() {
    let mut app = healthy_app(30);
    let wide = |app: &App| screen(app, dark(), 160, 48);
    assert!(!wide(&app).contains("tokio-console"));
    app.run.info.console = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 6669)));
    assert!(
        wide(&app).contains("tokio-console at 127.0.0.1:6669"),
        "{}",
        wide(&app)
    );
    assert!(screen(&app, dark(), 80, 24).contains("console 127.0.0.1:6669"));
}

/// Three stalls of the hasher at one line, each 300-500 ms with a healthy second between.
fn three_stalls_app() -> App {
    let mut app = healthy_app(10);
    let mut i = 10;
    for ms in [300, 500, 400] {
        for k in 0..=ms / 100 {
            app.update(Msg::Sample(Box::new(sample(i, 0.95, Some(k * 100)))));
            i += 1;
        }
        for _ in 0..10 {
            app.update(Msg::Sample(Box::new(sample(i, 0.2, None))));
            i += 1;
        }
    }
    app
}

#[test]
fn stalls_of_one_culprit_are_one_row_and_enter_opens_its_members() {
    let mut app = three_stalls_app();
    let text = screen(&app, dark(), 160, 48);
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("CRITICAL stall"))
        .collect();
    assert_eq!(rows.len(), 1, "one row for the culprit:\n{text}");
    assert!(
        rows[0].contains("hasher at src/workload/hash.rs:106 in update(): 3 stalls since 00:0"),
        "{}",
        rows[0]
    );
    press(&mut app, KeyCode::Tab);
    let at = app
        .finding_entries()
        .iter()
        .position(|e| matches!(e, crate::detect::groups::Entry::Group(g) if g.count == 3))
        .expect("the stall group");
    for _ in 0..at {
        press(&mut app, KeyCode::Down);
    }
    press(&mut app, KeyCode::Enter);
    let detail = screen(&app, dark(), 160, 48);
    assert!(
        detail.contains("3 stalls · typical 400 ms · worst 500 ms"),
        "{detail}"
    );
    assert!(detail.contains("the latest first"), "{detail}");
    let members = detail
        .lines()
        .filter(|l| l.contains("] worker 1 · task 22 ·"))
        .count();
    assert_eq!(members, 3, "{detail}");
}

#[test]
fn a_stall_that_ended_a_moment_ago_is_just_now_then_seconds_ago() {
    let mut app = stuck_app(840);
    let text = |app: &App| super::header::status_text(app).0;
    app.update(Msg::Sample(Box::new(sample(39, 0.2, None))));
    let now = text(&app);
    assert!(
        now.starts_with("hasher stalled just now at src/workload/hash.rs:106"),
        "{now}"
    );
    for i in 40..60 {
        app.update(Msg::Sample(Box::new(sample(i, 0.2, None))));
    }
    let later = text(&app);
    assert!(later.starts_with("hasher stalled 2s ago at "), "{later}");
}

#[test]
fn a_culprit_of_recent_stalls_that_holds_a_worker_now_says_so_first() {
    use crate::app::fixtures::long_poll;
    let mut app = stuck_app(840);
    let text = |app: &App| super::header::status_text(app).0;
    let feed = |app: &mut App, from: u64, ms: u64| {
        // Five seconds of them: the long polls' window.
        for i in from..from + 51 {
            let mut s = sample(i, 0.8, None);
            if let Some(probe) = s.probe.as_mut() {
                let mut held = long_poll(ms);
                held.workload = Some("hasher".into());
                probe.long_polls.push(held);
            }
            app.update(Msg::Sample(Box::new(s)));
        }
    };
    // Its long polls take 60 % of worker 0 now: the stalls are not over.
    feed(&mut app, 39, 60);
    let status = text(&app);
    assert!(
        status.starts_with("hasher ties up worker 0 in long polls at src/workload/hash.rs:106 → "),
        "{status}"
    );
    assert!(
        status.contains(" · stalled 5s ago, 1 stall since "),
        "{status}"
    );
    // A fifth of its time is not holding it: the stalls speak alone.
    let mut app = stuck_app(840);
    feed(&mut app, 39, 20);
    let status = text(&app);
    assert!(status.starts_with("hasher stalled 5s ago at "), "{status}");
}

#[test]
fn the_long_poll_warning_puts_its_fix_before_its_figures() {
    use crate::app::fixtures::long_poll;
    let mut app = App::new(info());
    for i in 0..60 {
        let mut s = sample(i, 0.2, None);
        if let Some(probe) = s.probe.as_mut() {
            probe.long_polls.push(long_poll(30));
        }
        app.update(Msg::Sample(Box::new(s)));
    }
    let (text, _) = super::header::status_text(&app);
    let (lead, figures) = text.split_once(" · ").expect("the lead, then the figures");
    assert_eq!(
        lead,
        "api ties up worker 0 in long polls → use spawn_blocking"
    );
    assert!(
        figures.ends_with("% of the last 5 s in polls of 10 ms or more"),
        "{figures}"
    );
    // At 80 columns the lead, with its fix, is what the line keeps.
    let narrow = screen(&app, dark(), 80, 24);
    assert!(narrow.contains(lead), "{narrow}");
}
