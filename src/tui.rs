//! The only code that touches the real terminal: entering and leaving raw mode and the
//! alternate screen, a guard that always restores them, the panic hook, and terminal events.

use std::io::{self, IsTerminal, Stdout};
use std::sync::mpsc::SyncSender;
use std::thread::ThreadId;
use std::time::Duration;

use crossterm::event::{self, Event};
use crossterm::{cursor, execute, terminal};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::run::PanicReport;

/// Where the dashboard reads terminal events from; tests give scripted events instead.
pub trait EventSource {
    /// The next event, waiting at most `timeout`; `None` when nothing came.
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Event>>;
}

/// Events from the real terminal, read on a thread of their own. crossterm's reader can spin
/// inside `poll` once the terminal has gone away (a closed tmux pane, a dropped SSH session);
/// on its own thread that cannot stop the dashboard from seeing the stop signal and leaving.
#[derive(Debug)]
pub struct TerminalEvents {
    events: std::sync::mpsc::Receiver<io::Result<Event>>,
}

impl TerminalEvents {
    pub fn start() -> io::Result<TerminalEvents> {
        let (tx, events) = std::sync::mpsc::sync_channel(256);
        std::thread::Builder::new()
            .name("tokmon-input".into())
            .spawn(move || {
                loop {
                    let event = event::read();
                    let failed = event.is_err();
                    if tx.send(event).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(TerminalEvents { events })
    }
}

impl EventSource for TerminalEvents {
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Event>> {
        match self.events.recv_timeout(timeout) {
            Ok(event) => event.map(Some),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the terminal input closed",
            )),
        }
    }
}

/// Restores the terminal when dropped: raw mode off, alternate screen left, cursor shown.
#[derive(Debug)]
pub struct TerminalGuard {
    _private: (),
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts stdout into raw mode on the alternate screen and returns a terminal to draw on, with
/// the guard that undoes it. Fails with a clear message when stdout is not a terminal.
pub fn enter() -> anyhow::Result<(Terminal<CrosstermBackend<Stdout>>, TerminalGuard)> {
    if !io::stdout().is_terminal() {
        anyhow::bail!(
            "standard output is not a terminal, and the live dashboard needs one; \
             run with --headless for a report instead (e.g. `tokmon run --headless --duration 10s`)"
        );
    }
    terminal::enable_raw_mode()?;
    // From here on, leaving in any way (error, panic, drop) restores the terminal.
    let guard = TerminalGuard { _private: () };
    execute!(io::stdout(), terminal::EnterAlternateScreen, cursor::Hide)?;
    let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    Ok((terminal, guard))
}

/// Leaves raw mode and the alternate screen and shows the cursor; safe to call twice.
pub fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(io::stdout(), terminal::LeaveAlternateScreen, cursor::Show);
}

/// While the dashboard runs: a panic on the UI thread restores the terminal first, then
/// reports as usual; a panic on any other thread (a workload task: the runtime catches it and
/// goes on) is sent to the dashboard as a finding instead of being printed over the screen.
/// Returns a guard that puts the previous hook back.
pub fn install_panic_hook(ui_thread: ThreadId, panics: SyncSender<PanicReport>) -> PanicHookGuard {
    let previous = std::sync::Arc::new(std::panic::take_hook());
    let chained = previous.clone();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        if thread.id() == ui_thread {
            restore();
            chained(info);
            return;
        }
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        let report = PanicReport {
            thread: thread.name().unwrap_or("unnamed").to_string(),
            message,
            location: info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column())),
        };
        let _ = panics.try_send(report);
    }));
    PanicHookGuard {
        previous: Some(previous),
    }
}

/// A panic hook, as `std::panic::take_hook` returns it.
type PanicHook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Puts the panic hook that was there before the dashboard back.
pub struct PanicHookGuard {
    previous: Option<std::sync::Arc<PanicHook>>,
}

impl std::fmt::Debug for PanicHookGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PanicHookGuard")
    }
}

impl Drop for PanicHookGuard {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            let _ = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| previous(info)));
        }
    }
}
