//! Shared by the tests that run the real binary in a pseudo-terminal.

#![allow(dead_code)] // each test crate uses its own part

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

/// `tokmon ARGS` running in a pseudo-terminal of `rows` x `cols`, its output fed into a
/// terminal emulator as it comes.
pub struct PtyRun {
    pub child: Box<dyn portable_pty::Child + Send + Sync>,
    pub writer: Box<dyn Write + Send>,
    pub screen: Arc<Mutex<vt100::Parser>>,
    // Keeps the pty open until the run ends.
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl PtyRun {
    pub fn start(args: &[&str], rows: u16, cols: u16) -> PtyRun {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("a pseudo-terminal");
        let mut command = CommandBuilder::new(env!("CARGO_BIN_EXE_tokmon"));
        command.args(args);
        command.cwd(env!("CARGO_MANIFEST_DIR"));
        command.env("TERM", "xterm-256color");
        command.env_remove("NO_COLOR");
        let child = pty.slave.spawn_command(command).expect("tokmon starts");
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().expect("reader");
        let writer = pty.master.take_writer().expect("writer");
        let screen = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
        let feed = screen.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                feed.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .process(&buffer[..n]);
            }
        });
        PtyRun {
            child,
            writer,
            screen,
            _master: pty.master,
        }
    }

    /// The text on the screen now.
    pub fn contents(&self) -> String {
        self.screen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .screen()
            .contents()
    }
}

/// Never stopped from outside: scripted keys or the run's duration end a test's dashboard.
static NO_STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The dashboard on an in-memory terminal, fed scripted `events`, at `fps` frames a second.
pub fn dashboard<'t>(
    terminal: &'t mut ratatui::Terminal<ratatui::backend::TestBackend>,
    events: &'t mut dyn tokmon::tui::EventSource,
    fps: u32,
) -> tokmon::runner::Dashboard<'t, ratatui::backend::TestBackend> {
    tokmon::runner::Dashboard {
        terminal,
        events,
        stop: &NO_STOP,
        options: tokmon::runner::DashboardOptions {
            look: tokmon::ui::Look::default(),
            fps,
        },
    }
}
