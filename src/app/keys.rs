//! Keys to state changes. Only presses count: some terminals also send releases and repeats.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::{App, Focus};
use crate::run::{Command, ReplayCommand};

/// Applies one key; true when something visible changed.
pub(super) fn handle(app: &mut App, key: KeyEvent) -> bool {
    if key.kind != KeyEventKind::Press {
        return false;
    }
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        app.view.should_quit = true;
        return true;
    }
    // The spawn-sites view takes its keys (sort letters, the filter) before anything else.
    if app.view.sites.is_some() && !app.view.help_open && super::sites::handle(app, key) {
        return true;
    }
    if app.view.replay.is_some() {
        // The replay keys move the recording whatever is open. The demo keys and the chords
        // act on a live run: a replay has nothing for them to turn.
        let command = match key.code {
            _ if key.modifiers.contains(KeyModifiers::CONTROL) => return false,
            KeyCode::Char('w' | 'W' | 'm' | '+' | '=' | '-' | 'n' | 's') => return false,
            KeyCode::Char(' ') => Some(ReplayCommand::TogglePause),
            KeyCode::Char('.') | KeyCode::Right => Some(ReplayCommand::Step),
            KeyCode::Char('[') => Some(ReplayCommand::Back),
            KeyCode::Char(']') => Some(ReplayCommand::Forward),
            KeyCode::Char('<') => Some(ReplayCommand::Slower),
            KeyCode::Char('>') => Some(ReplayCommand::Faster),
            _ => None,
        };
        if let Some(command) = command {
            app.commands.push(Command::Replay(command));
            return true;
        }
    }
    if app.view.no_knobs
        && matches!(
            key.code,
            KeyCode::Char('w' | 'W' | 'm' | '+' | '=' | '-' | 'n' | 's')
        )
    {
        return false;
    }
    if let Some((choices, at)) = app.view.switcher.as_mut() {
        match key.code {
            KeyCode::Esc | KeyCode::Char('s') => app.view.switcher = None,
            KeyCode::Up | KeyCode::Char('k') => *at = at.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                *at = (*at + 1).min(choices.len().saturating_sub(1))
            }
            KeyCode::Enter => {
                if let Some(choice) = choices.get(*at) {
                    app.commands
                        .push(Command::SwitchScenario(choice.name.clone()));
                }
                app.view.switcher = None;
            }
            KeyCode::Char('q') => app.view.should_quit = true,
            _ => return false,
        }
        return true;
    }
    // An open overlay takes Esc (and `?` for help) first.
    if app.view.help_open {
        if matches!(key.code, KeyCode::Esc | KeyCode::Char('?') | KeyCode::F(1)) {
            app.view.help_open = false;
            return true;
        }
    } else if app.view.detail_open
        && matches!(key.code, KeyCode::Esc | KeyCode::Enter | KeyCode::Backspace)
    {
        app.view.detail_open = false;
        return true;
    }
    match key.code {
        KeyCode::Char('q') | KeyCode::Esc => app.view.should_quit = true,
        KeyCode::Char(' ') => app.toggle_pause(),
        KeyCode::Char('?') | KeyCode::F(1) => {
            app.view.help_open = !app.view.help_open;
        }
        KeyCode::Tab | KeyCode::BackTab => {
            app.view.focus = match app.view.focus {
                Focus::Workers => Focus::Findings,
                Focus::Findings => Focus::Workers,
            };
        }
        KeyCode::Up | KeyCode::Char('k') => move_selection(app, -1),
        KeyCode::Down | KeyCode::Char('j') => move_selection(app, 1),
        KeyCode::Home | KeyCode::Char('g') => move_selection(app, isize::MIN),
        KeyCode::End | KeyCode::Char('G') => move_selection(app, isize::MAX),
        KeyCode::Enter => {
            if app.selected_entry().is_some() {
                app.view.focus = Focus::Findings;
                app.view.detail_open = true;
            }
        }
        // The run hears of a clear or reset (a recording keeps it) and tells it back.
        KeyCode::Char('c') => app.commands.push(Command::Clear),
        KeyCode::Char('r') => app.commands.push(Command::Reset),
        KeyCode::Char('w') if !app.run.workloads.is_empty() => {
            app.view.selected_workload = (app.view.selected_workload + 1) % app.run.workloads.len();
        }
        KeyCode::Char('W') if !app.run.workloads.is_empty() => {
            app.view.selected_workload = (app.view.selected_workload + app.run.workloads.len() - 1)
                % app.run.workloads.len();
        }
        KeyCode::Char('m') => app.turn(super::knobs::flip),
        KeyCode::Char('+') | KeyCode::Char('=') => app.turn(|k| super::knobs::intensity(k, true)),
        KeyCode::Char('-') => app.turn(|k| super::knobs::intensity(k, false)),
        KeyCode::Char('n') if app.run.info.phase_count > 0 => app.commands.push(Command::NextPhase),
        KeyCode::Char('t') => app.view.sites = Some(super::sites::SitesView::default()),
        KeyCode::Char('s') if !app.view.choices.is_empty() => {
            let at = app
                .view
                .choices
                .iter()
                .position(|c| c.name == app.run.info.name)
                .unwrap_or(0);
            app.view.switcher = Some((app.view.choices.clone(), at));
        }
        _ => return false,
    }
    true
}

fn move_selection(app: &mut App, by: isize) {
    let (current, len) = match app.view.focus {
        Focus::Workers => (app.view.selected_worker, app.run.info.workers),
        Focus::Findings => (app.view.selected_finding, app.finding_count()),
    };
    if len == 0 {
        return;
    }
    let next = current
        .saturating_add_signed(by.clamp(-(len as isize), len as isize))
        .min(len - 1);
    match app.view.focus {
        Focus::Workers => app.view.selected_worker = next,
        Focus::Findings => app.view.selected_finding = next,
    }
}
