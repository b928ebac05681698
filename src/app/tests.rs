use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};

use super::fixtures::{healthy_app, sample, stuck_app};
use super::view::{
    RECENT_STALLS_MS, SLOW_WINDOW_MS, Status, WorkerState, poll_histogram, status, worker_rows,
    workload_panels,
};
use super::*;
use crate::detect::FindingKind;
use crate::run::PanicReport;

fn press(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn with_kind(code: KeyCode, kind: KeyEventKind) -> Msg {
    Msg::Key(KeyEvent {
        code,
        modifiers: KeyModifiers::NONE,
        kind,
        state: KeyEventState::NONE,
    })
}

#[test]
fn q_esc_and_ctrl_c_quit() {
    for msg in [
        press(KeyCode::Char('q')),
        press(KeyCode::Esc),
        Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
    ] {
        let mut app = healthy_app(3);
        app.update(msg);
        assert!(app.view.should_quit);
    }
}

#[test]
fn release_and_repeat_events_are_ignored() {
    let mut app = healthy_app(3);
    app.update(with_kind(KeyCode::Char(' '), KeyEventKind::Release));
    app.update(with_kind(KeyCode::Char('q'), KeyEventKind::Repeat));
    assert!(!app.paused());
    assert!(!app.view.should_quit);
    // A press then its release toggles once.
    app.update(press(KeyCode::Char(' ')));
    app.update(with_kind(KeyCode::Char(' '), KeyEventKind::Release));
    assert!(app.paused());
}

#[test]
fn pause_freezes_the_display_while_samples_keep_coming() {
    let mut app = healthy_app(5);
    app.update(press(KeyCode::Char(' ')));
    let frozen_at = app.model().now_ns();
    app.update(Msg::Sample(Box::new(sample(5, 0.2, None))));
    app.update(Msg::Sample(Box::new(sample(6, 0.2, None))));
    assert_eq!(app.model().now_ns(), frozen_at, "the screen stays put");
    app.update(press(KeyCode::Char(' ')));
    assert!(!app.paused());
    assert_eq!(
        app.model().now_ns(),
        600_000_000,
        "the live model kept ingesting"
    );
}

#[test]
fn help_opens_and_esc_closes_it_before_quitting() {
    let mut app = healthy_app(3);
    app.update(press(KeyCode::Char('?')));
    assert!(app.view.help_open);
    app.update(press(KeyCode::Esc));
    assert!(!app.view.help_open);
    assert!(!app.view.should_quit);
    app.update(press(KeyCode::Esc));
    assert!(app.view.should_quit);
}

#[test]
fn arrows_select_workers_and_findings_and_enter_opens_the_detail() {
    let mut app = stuck_app(400);
    assert!(!app.detector().findings().is_empty());
    app.update(press(KeyCode::Down));
    app.update(press(KeyCode::Down));
    assert_eq!(app.view.selected_worker, 1, "stops at the last worker");
    app.update(press(KeyCode::Char('k')));
    assert_eq!(app.view.selected_worker, 0);
    app.update(press(KeyCode::Tab));
    assert_eq!(app.view.focus, Focus::Findings);
    app.update(press(KeyCode::End));
    let last = app.finding_entries().len() - 1;
    assert_eq!(app.view.selected_finding, last);
    app.update(press(KeyCode::Char('g')));
    assert_eq!(app.view.selected_finding, 0);
    app.update(press(KeyCode::Enter));
    assert!(app.view.detail_open);
    let newest = app.finding_entries().into_iter().next();
    assert!(newest.is_some());
    assert_eq!(app.selected_entry(), newest);
    app.update(press(KeyCode::Esc));
    assert!(!app.view.detail_open);
    assert!(!app.view.should_quit);
}

#[test]
fn enter_without_findings_opens_nothing() {
    let mut app = healthy_app(3);
    app.update(press(KeyCode::Enter));
    assert!(!app.view.detail_open);
}

#[test]
fn c_and_r_ask_the_run_and_its_answer_clears_and_resets() {
    let mut app = stuck_app(300);
    app.update(press(KeyCode::Char('c')));
    app.update(press(KeyCode::Char('r')));
    assert_eq!(app.take_commands(), vec![Command::Clear, Command::Reset]);
    assert!(!app.detector().findings().is_empty(), "not until told back");
    assert!(app.model().samples_seen > 0);
    app.update(Msg::Clear);
    assert!(app.detector().findings().is_empty());
    assert!(app.model().samples_seen > 0);
    app.update(Msg::Reset);
    assert_eq!(app.model().samples_seen, 0);
}

#[test]
fn a_stuck_worker_is_named_with_its_task_and_workload() {
    let app = stuck_app(840);
    let rows = worker_rows(&app);
    assert_eq!(rows[0].state, WorkerState::Polling);
    match &rows[1].state {
        WorkerState::Stuck {
            ms,
            task_id,
            workload,
        } => {
            assert_eq!(*ms, 840.0);
            assert_eq!(*task_id, 22);
            assert_eq!(workload.as_deref(), Some("hasher"));
        }
        other => panic!("worker 1 is {other:?}"),
    }
    match status(&app) {
        Status::Stuck { worker, ms, at, .. } => {
            assert_eq!((worker, ms), (1, 840.0));
            // Its stall's blocking line, known from the stack caught at the threshold.
            assert_eq!(at.as_deref(), Some("at src/workload/hash.rs:106"));
        }
        other => panic!("status {other:?}"),
    }
    assert_eq!(status(&healthy_app(5)), Status::Healthy);
    assert_eq!(status(&App::new(super::fixtures::info())), Status::Waiting);
}

#[test]
fn panels_show_each_workload_and_the_histogram_marks_thresholds() {
    let app = healthy_app(20);
    let panels = workload_panels(&app);
    assert_eq!(panels.len(), 2);
    assert_eq!((panels[0].id.as_str(), panels[0].kind), ("api", "echo"));
    assert_eq!(panels[1].kind, "hash");
    assert!(
        panels[1].lines[0].1.contains("MiB/s"),
        "{:?}",
        panels[1].lines
    );
    let h = poll_histogram(&app);
    assert_eq!(h.long_poll_at, Some(13)); // 10 ms: 8.2..16.4 ms
    assert_eq!(h.stall_at, Some(16)); // 100 ms: 65.5..131 ms
    assert_eq!(h.buckets.len(), 17, "up to the stall bucket");
    assert_eq!(h.buckets[0].0, "0");
}

#[test]
fn the_histogram_counts_a_running_stall_as_the_findings_do_and_marks_thresholds_inside_buckets() {
    let healthy = poll_histogram(&healthy_app(20));
    assert_eq!(healthy.running_stalls, 0);
    // 10 ms is a third of the way into 8.2..16.4 ms (log scale), 100 ms 61 % into 65.5..131.
    assert!(
        (0.25..0.4).contains(&healthy.long_poll_offset),
        "{healthy:?}"
    );
    assert!((0.55..0.7).contains(&healthy.stall_offset), "{healthy:?}");
    let app = stuck_app(840);
    let h = poll_histogram(&app);
    assert_eq!(h.running_stalls, 1, "the 840 ms poll still running");
    let finished = &app.model().poll_buckets;
    let bucket = crate::probe::buckets::bucket_of(840_000_000);
    assert_eq!(
        h.buckets[bucket].1,
        finished.get(bucket).copied().unwrap_or(0) + 1,
        "{h:?}"
    );
    assert_eq!(h.max_ms, Some(840.0));
}

#[test]
fn a_workload_panic_becomes_a_finding() {
    let report = PanicReport {
        thread: "tokmon-rt".into(),
        message: "boom".into(),
        location: Some("src/x.rs:1:1".into()),
    };
    let f = report.finding(1_500);
    assert_eq!((f.kind, f.first_seen_ms), (FindingKind::Panic, 1_500));
    assert_eq!(f.spawned_at.as_deref(), Some("src/x.rs:1:1"));
    assert!(
        f.summary.contains("on tokmon-rt at src/x.rs:1:1: boom"),
        "{}",
        f.summary
    );
}

#[test]
fn clear_and_reset_messages_act_as_their_keys() {
    let mut app = stuck_app(840);
    assert!(!app.detector().findings().is_empty());
    press_and_open_detail(&mut app);
    app.update(Msg::Clear);
    assert!(app.detector().findings().is_empty());
    assert!(!app.view.detail_open);
    assert_eq!(app.view.selected_finding, 0);
    assert!(app.model().samples_seen > 0);
    app.update(Msg::Reset);
    assert_eq!(app.model().samples_seen, 0);
    assert!(app.take_dirty());
}

fn press_and_open_detail(app: &mut App) {
    app.update(press(KeyCode::Tab));
    app.update(press(KeyCode::Enter));
    assert!(app.view.detail_open);
}

#[test]
fn a_replay_redraws_when_what_it_shows_changes() {
    let status = ReplayStatus {
        speed: 2.0,
        paused: false,
        position_ns: 42_100_000_000,
        length_ns: 300_000_000_000,
    };
    assert_eq!(status.speed_text(), "2x");
    assert_eq!(status.position_text(), "0:42 / 5:00");
    assert!(!status.at_end());
    let mut app = healthy_app(3);
    app.take_dirty();
    app.set_replay(Some(status));
    assert!(app.take_dirty(), "a replay now");
    // A new position within the same second shows nothing new.
    app.set_replay(Some(ReplayStatus {
        position_ns: 42_900_000_000,
        ..status
    }));
    assert!(!app.take_dirty());
    assert_eq!(app.view.replay.map(|r| r.position_ns), Some(42_900_000_000));
    for next in [
        ReplayStatus {
            position_ns: 43_000_000_000,
            ..status
        },
        ReplayStatus {
            speed: 0.5,
            ..status
        },
        ReplayStatus {
            paused: true,
            ..status
        },
    ] {
        app.set_replay(Some(status));
        app.take_dirty();
        app.set_replay(Some(next));
        assert!(app.take_dirty(), "{next:?}");
    }
    app.set_replay(None);
    assert!(app.take_dirty(), "live again");
    let speeds = [
        (0.5, "0.5x"),
        (0.125, "0.125x"),
        (1.0 / 64.0, "0.0156x"),
        (64.0, "64x"),
    ];
    for (speed, text) in speeds {
        assert_eq!(ReplayStatus { speed, ..status }.speed_text(), text);
    }
}

#[test]
fn a_replay_has_no_demo_keys() {
    let mut app = healthy_app(3);
    app.run.workloads = vec![(
        "api".into(),
        crate::scenario::catalog::built_in("default")
            .expect("exists")
            .expect("parses")
            .workloads[0]
            .kind
            .clone(),
    )];
    app.run.info.phase_count = 3;
    app.view.choices = vec![ScenarioChoice {
        name: "other".into(),
        title: String::new(),
    }];
    app.set_replay(Some(ReplayStatus {
        speed: 1.0,
        paused: false,
        position_ns: 0,
        length_ns: 1,
    }));
    assert!(app.knob_workload().is_none());
    assert!(app.selected_workload().is_some());
    for c in ['m', '+', '-', 'n', 's', 'w', 'W'] {
        app.update(press(KeyCode::Char(c)));
    }
    assert!(app.take_commands().is_empty());
    assert!(app.view.switcher.is_none());
    // The same keys act in a live run.
    app.set_replay(None);
    app.update(press(KeyCode::Char(' ')));
    assert!(app.paused(), "a live pause freezes the screen");
    assert!(app.take_commands().is_empty());
    app.update(press(KeyCode::Char('n')));
    assert_eq!(app.take_commands(), vec![Command::NextPhase]);
}

#[test]
fn the_knob_keys_start_on_the_workload_with_a_mistake_to_flip() {
    let scenario = crate::scenario::catalog::built_in("default")
        .expect("listed")
        .expect("parses");
    let mut app = App::for_scenario(&scenario, scenario.detector, Vec::new());
    assert_eq!(
        app.selected_workload().map(|(id, _)| id.as_str()),
        Some("hasher")
    );
    app.update(press(KeyCode::Char('m')));
    let commands = app.take_commands();
    assert!(
        matches!(&commands[..], [Command::Control(Control::Set(s))] if s.workload == "hasher"),
        "{commands:?}"
    );
}

#[test]
fn a_settings_change_is_marked_on_its_workloads_sparkline() {
    use crate::scenario::{HashSpec, Placement, WorkloadKind};
    let mut app = healthy_app(10);
    let kind = WorkloadKind::Hash(HashSpec {
        placement: Placement::SpawnBlocking,
        tasks: 2,
        size: 256 << 20,
        every: std::time::Duration::from_millis(10),
        chunk: 1 << 20,
    });
    app.update(Msg::Applied {
        workload: "hasher".into(),
        kind,
    });
    for i in 10..13 {
        app.update(Msg::Sample(Box::new(sample(i, 0.2, None))));
    }
    let panels = workload_panels(&app);
    let hasher = panels
        .iter()
        .find(|p| p.id == "hasher")
        .expect("hasher panel");
    assert_eq!(hasher.marks, vec![3], "three intervals after the change");
    let api = panels.iter().find(|p| p.id == "api").expect("api panel");
    assert!(api.marks.is_empty());
    let marks_drawn = |app: &App| {
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 48)).expect("terminal");
        terminal
            .draw(|frame| crate::ui::draw(frame, app, &crate::ui::Look::default()))
            .expect("draws");
        let buffer = terminal.backend().buffer().clone();
        buffer
            .content()
            .iter()
            .filter(|c| c.symbol() == "▲")
            .count()
    };
    let mut unmarked = app.clone();
    unmarked.run.marks.clear();
    assert_eq!(
        marks_drawn(&app),
        marks_drawn(&unmarked) + 2,
        "one mark on the hasher's sparkline, and one in its label saying what it is"
    );
}

fn replay_app() -> App {
    let mut app = healthy_app(3);
    app.set_replay(Some(ReplayStatus {
        speed: 1.0,
        paused: false,
        position_ns: 0,
        length_ns: 1,
    }));
    app
}

#[test]
fn the_replay_keys_ask_the_replay_to_move() {
    let mut app = replay_app();
    // Help open: the replay keys still move it.
    app.update(press(KeyCode::Char('?')));
    for code in [
        KeyCode::Char(' '),
        KeyCode::Char('.'),
        KeyCode::Right,
        KeyCode::Char('['),
        KeyCode::Char(']'),
        KeyCode::Char('<'),
        KeyCode::Char('>'),
    ] {
        app.update(press(code));
    }
    use crate::run::ReplayCommand::*;
    let moves = [TogglePause, Step, Step, Back, Forward, Slower, Faster];
    assert_eq!(app.take_commands(), moves.map(Command::Replay).to_vec());
    assert!(!app.paused(), "space pauses the replay, not the screen");
    assert!(app.view.help_open);
    // No chords but Ctrl-C, which quits.
    for c in [' ', '.', 'r', 'q', '?'] {
        app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::CONTROL,
        )));
    }
    assert!(app.take_commands().is_empty());
    assert!(app.view.help_open && !app.view.should_quit);
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )));
    assert!(app.view.should_quit);
    let mut app = replay_app();
    app.update(press(KeyCode::Char('c')));
    assert_eq!(app.take_commands(), vec![Command::Clear]);
    app.update(press(KeyCode::Char('q')));
    assert!(app.view.should_quit);
}

#[test]
fn a_rebuilt_run_starts_over_and_keeps_what_the_viewer_chose() {
    let scenario = crate::scenario::catalog::built_in("default")
        .expect("listed")
        .expect("parses");
    let mut app = App::for_scenario(&scenario, scenario.detector, Vec::new());
    for i in 0..40 {
        app.update(Msg::Sample(Box::new(sample(i, 0.95, Some(i * 100)))));
    }
    assert!(!app.detector().findings().is_empty());
    app.update(press(KeyCode::Down));
    press_and_open_detail(&mut app);
    app.update(press(KeyCode::Char('?')));
    app.update(press(KeyCode::Char('w')));
    let view = app.view.clone();
    app.take_dirty();
    app.rebuild(&scenario, scenario.detector);
    assert!(app.take_dirty());
    assert_eq!(app.model().samples_seen, 0);
    assert!(app.detector().findings().is_empty());
    assert_eq!(app.run.workloads.len(), scenario.workloads.len());
    assert_eq!(
        (
            app.view.focus,
            app.view.selected_worker,
            app.view.selected_workload
        ),
        (view.focus, view.selected_worker, view.selected_workload)
    );
    assert!(app.view.help_open && app.view.detail_open);
    // A smaller run keeps the selections within it.
    let mut small = scenario.clone();
    small.runtime.workers = 1;
    small.workloads.truncate(1);
    app.view.selected_worker = 5;
    app.view.selected_workload = 5;
    app.rebuild(&small, small.detector);
    assert_eq!(
        (app.view.selected_worker, app.view.selected_workload),
        (0, 0)
    );
}

#[test]
fn a_source_without_knobs_gets_no_knob_commands() {
    let scenario = crate::scenario::catalog::built_in("default")
        .expect("exists")
        .expect("parses");
    let mut app = App::for_scenario(&scenario, scenario.detector, Vec::new());
    app.update(press(KeyCode::Char('m')));
    assert_eq!(app.take_commands().len(), 1, "a scenario run takes knobs");
    app.view.no_knobs = true;
    assert!(app.knob_workload().is_none());
    for c in ['m', '+', '-', 'n', 's', 'w', 'W'] {
        app.update(press(KeyCode::Char(c)));
    }
    assert!(app.take_commands().is_empty());
    assert!(app.view.switcher.is_none());
    app.update(press(KeyCode::Char('c')));
    assert_eq!(
        app.take_commands(),
        vec![Command::Clear],
        "clear is the viewer's"
    );
}

#[test]
fn a_stall_that_just_ended_keeps_the_status_from_saying_healthy() {
    let mut app = stuck_app(840);
    let last = 30 + 8;
    let healthy = |app: &mut App, from: u64, n: u64| {
        for i in from..from + n {
            app.update(Msg::Sample(Box::new(sample(i, 0.2, None))));
        }
    };
    // A second after the poll ended: no worker stuck, but a stall a moment ago.
    healthy(&mut app, last + 1, 10);
    match status(&app) {
        Status::Stalling {
            count,
            here,
            worst_ms,
            who,
            at,
            since_ms,
            ago_ms,
            holds,
            fix,
        } => {
            assert!((900..=1_100).contains(&ago_ms), "a second after: {ago_ms}");
            assert_eq!(holds, None, "no long polls since");
            assert_eq!((count, here), (1, 1));
            assert!(since_ms > 0 && since_ms <= last * 100, "{since_ms}");
            assert_eq!(fix, "use spawn_blocking", "an on-CPU stall's fix");
            assert!(worst_ms >= 800.0, "{worst_ms}");
            assert_eq!(who, "hasher");
            assert_eq!(at.as_deref(), Some("at src/workload/hash.rs:106"));
        }
        other => panic!("status {other:?}"),
    }
    // Once the window has passed without one, healthy again.
    healthy(&mut app, last + 11, RECENT_STALLS_MS / 100 + 10);
    assert_eq!(status(&app), Status::Healthy);
}

#[test]
fn no_percentile_of_the_poll_histogram_is_shown_above_the_longest_poll() {
    // Every poll in one bucket (16.4..32.8 ms): the bucket's ceiling is above the longest poll
    // seen (its floor, as no long poll was listed), and the percentiles may not say more.
    let mut app = App::new(super::fixtures::info());
    for i in 0..10 {
        let mut s = sample(i, 0.2, None);
        if let Some(probe) = s.probe.as_mut() {
            for w in &mut probe.workers {
                w.buckets.iter_mut().for_each(|b| *b = 0);
                // Enough sampled short polls to show percentiles, far fewer than long ones.
                w.buckets[0] = i * 32 * 256;
                w.buckets[14] = i * 100_000;
            }
        }
        app.update(Msg::Sample(Box::new(s)));
    }
    let h = poll_histogram(&app);
    let max = h.max_ms.expect("a longest poll");
    for p in [h.p50_ms, h.p99_ms] {
        let p = p.expect("a percentile");
        assert!(
            p <= max,
            "percentile {p} ms above the longest poll {max} ms"
        );
    }
}

#[test]
fn long_polls_taking_a_share_of_a_worker_turn_the_status_but_a_lone_one_does_not() {
    use super::fixtures::long_poll;
    let run = |every: u64, ms: u64| {
        let mut app = App::new(super::fixtures::info());
        for i in 0..60 {
            let mut s = sample(i, 0.2, None);
            if i % every == 0
                && let Some(probe) = s.probe.as_mut()
            {
                probe.long_polls.push(long_poll(ms));
            }
            app.update(Msg::Sample(Box::new(s)));
        }
        app
    };
    // A 30 ms poll in every 100 ms interval: 30 % of worker 0.
    match status(&run(1, 30)) {
        Status::SlowPolls {
            worker,
            share,
            window_ms,
            ..
        } => {
            assert_eq!(worker, 0);
            assert!((0.25..=0.35).contains(&share), "{share}");
            assert_eq!(window_ms, SLOW_WINDOW_MS);
        }
        other => panic!("status {other:?}"),
    }
    // One 11 ms poll in 6 s is no alarm.
    assert_eq!(status(&run(1000, 11)), Status::Healthy);
}

#[test]
fn a_worker_busy_all_second_but_idle_in_its_last_interval_is_not_shown_idle() {
    let mut app = App::new(super::fixtures::info());
    for i in 0..20 {
        app.update(Msg::Sample(Box::new(sample(i, 1.0, None))));
    }
    // The last interval adds no busy time: the live figure of that one interval is 0.
    let mut last = sample(20, 1.0, None);
    let before = sample(19, 1.0, None);
    if let (Some(probe), Some(was)) = (last.probe.as_mut(), before.probe.as_ref()) {
        for (w, b) in probe.workers.iter_mut().zip(&was.workers) {
            w.busy_ns = b.busy_ns;
        }
    }
    app.update(Msg::Sample(Box::new(last)));
    let row = &worker_rows(&app)[0];
    assert_eq!(row.state, WorkerState::Polling, "{row:?}");
    assert!((0.85..=0.95).contains(&row.busy), "{row:?}");
    assert_eq!(row.history_window, "since start");
}

#[test]
fn percentiles_wait_for_enough_sampled_short_polls() {
    // Early in a run: long polls (counted one by one) and a handful of sampled short ones.
    let mut app = App::new(super::fixtures::info());
    for i in 0..10 {
        let mut s = sample(i, 0.2, None);
        if let Some(probe) = s.probe.as_mut() {
            for w in &mut probe.workers {
                w.buckets.iter_mut().for_each(|b| *b = 0);
                w.buckets[0] = i * 256;
                w.buckets[14] = i * 3;
            }
        }
        app.update(Msg::Sample(Box::new(s)));
    }
    let h = poll_histogram(&app);
    assert_eq!(
        h.warming,
        Some(18),
        "9 sampled polls on each of two workers"
    );
    assert_eq!((h.p50_ms, h.p99_ms), (None, None));
    assert!(
        h.max_ms.is_some(),
        "the longest poll is a fact, shown at once"
    );
}

#[test]
fn a_handful_of_jobs_is_counted_not_given_percentiles() {
    let mut app = App::new(super::fixtures::info());
    for i in 0..30 {
        let mut s = sample(i, 0.5, None);
        if let Some(hasher) = s.workloads.iter_mut().find(|w| w.id == "hasher") {
            // A job every half second, each 130 ms.
            hasher.ops = i / 5;
            hasher.latency.micros = match i % 5 {
                0 => vec![(130_000, 1)],
                _ => vec![],
            };
        }
        app.update(Msg::Sample(Box::new(s)));
    }
    let panels = workload_panels(&app);
    let hasher = panels.iter().find(|p| p.id == "hasher").expect("hasher");
    let (_, job) = &hasher.lines[1];
    assert!(
        job == "2 finished in the last second · longest 130 ms",
        "{job}"
    );
    let api = panels.iter().find(|p| p.id == "api").expect("api");
    assert!(api.lines[1].1.starts_with("p50 "), "{:?}", api.lines);
}

#[test]
fn echo_answers_above_the_rate_sent_say_why() {
    let answered = |per_sample: u64| {
        let mut app = App::new(super::fixtures::info());
        for i in 0..30 {
            let mut s = sample(i, 0.5, None);
            if let Some(api) = s.workloads.iter_mut().find(|w| w.id == "api") {
                api.ops = i * per_sample; // a sample every 100 ms, sent at rate=1000/s
            }
            app.update(Msg::Sample(Box::new(s)));
        }
        let panels = workload_panels(&app);
        let api = panels.iter().find(|p| p.id == "api").expect("api");
        api.lines[0].clone()
    };
    assert_eq!(answered(100), ("answered/s".into(), "1000".into()));
    assert_eq!(answered(90), ("answered/s".into(), "900".into()));
    assert_eq!(answered(101), ("answered/s".into(), "1010".into()));
    assert_eq!(
        answered(110),
        ("answered/s".into(), "1100 · late ones catching up".into())
    );
}

#[test]
fn the_status_leads_with_the_line_that_stalled_most_not_the_worst_stall() {
    use crate::detect::{Finding, FindingKind, Severity};
    let stall = |ms: f64, site: Option<&str>| Finding {
        duration_ms: ms,
        site: site.map(Into::into),
        spawned_at: Some("src/main.rs:10:5".into()),
        ..Finding::new(FindingKind::Stall, Severity::Critical, 1_000)
    };
    let (a, b, c, d) = (
        stall(150.0, Some("src/main.rs:54")),
        stall(120.0, Some("src/main.rs:54")),
        stall(900.0, Some("src/main.rs:58")),
        stall(130.0, None),
    );
    let pick = |all: &[&Finding]| {
        super::view::where_to_look(all, |_| true).map(|g| (g.place.clone(), g.count))
    };
    let at = |line: &str| Some(format!("src/main.rs:{line}"));
    // Two at line 54 beat one worse at 58; the unnamed one joins its culprit's largest line.
    assert_eq!(pick(&[&a, &b, &c, &d]), Some((at("54"), 3)));
    assert_eq!(pick(&[&c, &d]), Some((at("58"), 2)));
    // Without any line, by spawn site.
    assert_eq!(pick(&[&d, &stall(400.0, None)]).map(|p| p.1), Some(2));
    assert_eq!(pick(&[]), None);
    // Stalls whose stacks were not caught count where the findings panel puts them: with the
    // line of the same syscall, so the status names the line its rows count most at.
    let waiting = |ms: f64, site: Option<&str>, call: &str| Finding {
        syscall: Some(call.into()),
        ..stall(ms, site)
    };
    let (e, f) = (
        waiting(150.0, Some("src/main.rs:54"), "clock_nanosleep"),
        waiting(120.0, Some("src/main.rs:54"), "clock_nanosleep"),
    );
    let g = waiting(110.0, Some("src/main.rs:58"), "futex");
    let uncaught: Vec<Finding> = (0..3).map(|_| waiting(101.0, None, "futex")).collect();
    let mut all = vec![&e, &f, &g];
    all.extend(uncaught.iter());
    assert_eq!(pick(&all), Some((at("58"), 4)));
    // A stall caught at its line long ago and a recent one whose stack was not: the recent one
    // is placed where the panel puts it, at the old one's line.
    let old = Finding {
        last_seen_ms: 500,
        ..waiting(120.0, Some("src/main.rs:58"), "futex")
    };
    let new = Finding {
        last_seen_ms: 12_000,
        ..waiting(101.0, None, "futex")
    };
    let picked = super::view::where_to_look(&[&old, &new], |f| f.last_seen_ms >= 2_000)
        .expect("the recent stall's group");
    assert_eq!(picked.lead().site, at("58"));
    assert!(super::view::where_to_look(&[&old], |f| f.last_seen_ms >= 2_000).is_none());
}

#[test]
fn a_busy_worker_off_the_cpu_is_blocked_and_one_computing_is_polling() {
    let run = |cpu_share: Option<f64>| {
        let mut app = App::new(super::fixtures::info());
        for i in 1..=20 {
            let mut s = sample(i, 0.9, None);
            if let Some(probe) = s.probe.as_mut() {
                for w in &mut probe.workers {
                    w.cpu_ns = cpu_share.map(|c| (w.busy_ns as f64 * c) as u64);
                }
            }
            app.update(Msg::Sample(Box::new(s)));
        }
        worker_rows(&app)[0].state.clone()
    };
    assert_eq!(run(Some(0.02)), WorkerState::Blocked, "busy 90%, CPU 2%");
    assert_eq!(run(Some(0.95)), WorkerState::Polling, "busy 90%, CPU 86%");
    assert_eq!(run(None), WorkerState::Polling, "no CPU time: no verdict");
}

#[test]
fn a_stall_without_a_caught_stack_is_placed_at_its_spawn_site_said_as_such() {
    let mut app = App::new(super::fixtures::info());
    for i in 0..30 {
        app.update(Msg::Sample(Box::new(sample(i, 0.2, None))));
    }
    let mut stuck = sample(30, 0.9, Some(300));
    if let Some(probe) = stuck.probe.as_mut() {
        for poll in &mut probe.in_flight {
            poll.captured = None;
            poll.stack = None;
        }
    }
    app.update(Msg::Sample(Box::new(stuck)));
    match status(&app) {
        Status::Stuck { at, .. } => assert_eq!(
            at.as_deref(),
            Some("(spawned at src/workload/hash.rs:27:13)"),
            "a spawn site is not the blocking line"
        ),
        other => panic!("status {other:?}"),
    }
}

#[test]
fn a_full_sparkline_says_the_time_it_spans() {
    use crate::model::{Model, SERIES_LEN, Series};
    let spanning = |interval_s: f64| {
        let mut model = Model::new();
        let mut series = Series::default();
        for _ in 0..SERIES_LEN {
            model.intervals_s.push(interval_s);
            series.push(1.0);
        }
        super::view::window(&series, &model)
    };
    assert_eq!(spanning(0.1), "last minute");
    // Attached with `--interval 1s`, the same 600 values are ten minutes.
    assert_eq!(spanning(1.0), "last 10 min");
    // Samples sent early at stalls: fewer seconds than a minute.
    assert_eq!(spanning(0.075), "last 45 s");
    assert_eq!(
        super::view::window(&Series::default(), &Model::new()),
        "since start"
    );
}

#[test]
fn a_worker_waiting_for_a_cpu_is_not_blocked_by_its_own_code() {
    use super::view::blocked_off_cpu;
    // Busy 90 %: 2 % on a CPU, the rest in a call (a lock, a sleep): blocked.
    assert!(blocked_off_cpu(0.9, Some(0.02), Some(0.0)));
    // Busy 90 %: 30 % on a CPU, 60 % runnable waiting for one (an overloaded machine): not.
    assert!(!blocked_off_cpu(0.9, Some(0.3), Some(0.6)));
    // Without the threads' CPU time, no verdict; without their wait, the CPU time decides.
    assert!(!blocked_off_cpu(0.9, None, None));
    assert!(blocked_off_cpu(0.9, Some(0.02), None));
    // Idle most of the second: not blocked, whatever the CPU says.
    assert!(!blocked_off_cpu(0.3, Some(0.0), Some(0.0)));
}
