//! The dashboard consumer: a source's updates fed to the [`App`], drawn on the terminal at most
//! `fps` times a second, with the app's commands sent back to the source.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::Backend;

use super::{CONSUMER_TICK, Tally, Tape};
use crate::app::{App, Msg};
use crate::probe::thread_state;
use crate::record::Recorder;
use crate::report::Report;
use crate::run::{Command, Effect, RunConfig, ScenarioChoice, Update};
use crate::source::{Source, State};
use crate::tui::EventSource;
use crate::ui::{self, Look};

/// How the dashboard looks and how often it may redraw.
#[derive(Debug, Clone, Copy)]
pub struct DashboardOptions {
    pub look: Look,
    /// Frame rate cap.
    pub fps: u32,
}

/// The time between two frames at `fps` frames a second (at least one frame a second).
pub fn frame_period(fps: u32) -> Duration {
    Duration::from_secs_f64(1.0 / f64::from(fps.max(1)))
}

/// The terminal the dashboard draws on, its input and the process's stop signal.
pub struct Dashboard<'t, B: Backend> {
    pub terminal: &'t mut Terminal<B>,
    pub events: &'t mut dyn EventSource,
    pub stop: &'t AtomicBool,
    pub options: DashboardOptions,
}

/// The run on screen: its configuration and the app drawn from it.
struct OnScreen {
    config: RunConfig,
    app: App,
}

impl<B: Backend> Dashboard<'_, B>
where
    B::Error: Send + Sync + 'static,
{
    /// Draws `source` until the user quits, the source ends or the stop signal is set, writing
    /// every update to `recorder`; returns the report of the last run the source began (its
    /// live figures, not a paused screen's). Never runs on the measured runtime.
    pub fn run(
        &mut self,
        source: &mut dyn Source,
        recorder: Option<&mut Recorder>,
        mut on_frame: impl FnMut(&App),
    ) -> anyhow::Result<Report> {
        let mut tape = Tape::new(recorder);
        let mut screen: Option<OnScreen> = None;
        let result = self.drive(source, &mut tape, &mut screen, &mut on_frame);
        let finished = source.finish();
        // What the source still had goes to the recording even when the dashboard failed.
        let finished: Vec<Update> = finished?;
        for update in &finished {
            tape.write(update);
        }
        result?;
        let screen = screen.ok_or_else(|| anyhow::anyhow!("the source began no run"))?;
        // The live figures, not a paused screen's; a run that began after the screen's last
        // frame (a switch of scenario the user quit during) starts its tally afresh.
        let mut config = screen.config;
        let mut tally = Tally {
            model: screen.app.live().model.clone(),
            detector: screen.app.live().detector.clone(),
        };
        for update in finished {
            match update {
                Update::Begin(next) | Update::Rewind(next) => {
                    tally = Tally::new(&next);
                    config = *next;
                }
                Update::Sample(sample) => tally.sample(*sample),
                Update::Effect(effect) => tally.effect(*effect),
                Update::UiCpu(_) => {}
            }
        }
        Ok(tally.report(&config))
    }

    fn drive(
        &mut self,
        source: &mut dyn Source,
        tape: &mut Tape<'_>,
        screen: &mut Option<OnScreen>,
        on_frame: &mut impl FnMut(&App),
    ) -> anyhow::Result<()> {
        let period = frame_period(self.options.fps);
        let mut next_frame = Instant::now();
        let mut cpu_mark = (Instant::now(), thread_state::current_thread_cpu_ns());
        loop {
            let state = source.state();
            let quit = screen.as_ref().is_some_and(|s| s.app.view.should_quit);
            if self.stop.load(Ordering::Acquire) || quit || state == State::Ended {
                return Ok(());
            }
            for update in source.next(Duration::ZERO)? {
                tape.write(&update);
                let begun = matches!(update, Update::Begin(_));
                show(update, screen, || source.scenarios());
                if let (true, Some(screen)) = (begun, screen.as_mut()) {
                    screen.app.view.no_knobs = !source.abilities().knobs;
                }
            }
            let Some(OnScreen { app, .. }) = screen.as_mut() else {
                // Nothing has begun yet: wait for it, and let Ctrl-C, q and Esc leave.
                let event = self
                    .events
                    .next(CONSUMER_TICK)
                    .map_err(|e| anyhow::Error::new(e).context("reading terminal input"))?;
                let ctrl_c = |key: &KeyEvent| {
                    key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL)
                };
                if let Some(Event::Key(key)) = event
                    && key.kind == KeyEventKind::Press
                    && (ctrl_c(&key) || matches!(key.code, KeyCode::Char('q') | KeyCode::Esc))
                {
                    return Ok(());
                }
                continue;
            };
            match &state {
                State::Replaying(replay) => app.set_replay(Some(*replay)),
                State::Disconnected(why) => app.view.disconnected = Some(why.clone()),
                _ => {}
            }
            for command in app.take_commands() {
                let effect = match command {
                    Command::Clear => Effect::Clear,
                    Command::Reset => Effect::Reset,
                    other => {
                        source.command(other)?;
                        continue;
                    }
                };
                let update = Update::Effect(Box::new(effect));
                tape.write(&update);
                show(update, screen, Vec::new);
            }
            let Some(OnScreen { app, .. }) = screen.as_mut() else {
                continue;
            };
            let now = Instant::now();
            if now >= next_frame && app.take_dirty() {
                let look = &self.options.look;
                self.terminal
                    .draw(|frame| ui::draw(frame, app, look))
                    .map_err(|e| anyhow::Error::new(e).context("drawing the dashboard"))?;
                on_frame(app);
                next_frame = now + period;
            }
            // The dashboard's own CPU, for a run happening now (a replay shows the recorded one).
            if state == State::Live && now.duration_since(cpu_mark.0) >= Duration::from_secs(1) {
                let cpu = thread_state::current_thread_cpu_ns();
                if let (Some(before), Some(after)) = (cpu_mark.1, cpu) {
                    let share = after.saturating_sub(before) as f64
                        / now.duration_since(cpu_mark.0).as_nanos() as f64;
                    let update = Update::UiCpu(share);
                    tape.write(&update);
                    show(update, screen, Vec::new);
                }
                cpu_mark = (now, cpu);
            }
            // Wait for input until the next frame is due (or a short tick for new samples).
            let wait = next_frame
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(5), CONSUMER_TICK);
            let event = self
                .events
                .next(wait)
                .map_err(|e| anyhow::Error::new(e).context("reading terminal input"))?;
            let Some(OnScreen { app, .. }) = screen.as_mut() else {
                continue;
            };
            match event {
                Some(Event::Key(key)) => app.update(Msg::Key(key)),
                Some(Event::Resize(_, _)) => {
                    // The next draw picks up the new size; draw it now.
                    next_frame = Instant::now();
                    app.mark_dirty();
                }
                Some(_) | None => {}
            }
        }
    }
}

/// Hands one update to the app on screen (a new one when a run begins).
fn show(
    update: Update,
    screen: &mut Option<OnScreen>,
    choices: impl FnOnce() -> Vec<ScenarioChoice>,
) {
    let msg = match update {
        Update::Begin(config) => {
            let app = App::for_run(&config, choices());
            *screen = Some(OnScreen {
                config: *config,
                app,
            });
            return;
        }
        Update::Rewind(config) => {
            if let Some(screen) = screen.as_mut() {
                screen.app.rebuild(&config.scenario, config.detector);
            }
            return;
        }
        Update::Sample(sample) => Msg::Sample(sample),
        Update::UiCpu(share) => Msg::UiCpu(share),
        Update::Effect(effect) => match *effect {
            Effect::PhaseBegun(phase) => Msg::Phase(phase),
            Effect::Event(finding) | Effect::Panic { finding, .. } => Msg::Event(finding),
            Effect::Applied { workload, kind } => Msg::Applied { workload, kind },
            Effect::Clear => Msg::Clear,
            Effect::Reset => Msg::Reset,
        },
    };
    if let Some(screen) = screen.as_mut() {
        screen.app.update(msg);
    }
}
