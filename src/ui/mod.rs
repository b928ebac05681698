//! Pure rendering of the dashboard from `&App`: one file a panel, one theme. Never mutates the
//! app, never touches the terminal (drawn into any ratatui backend, `TestBackend` in tests).

mod detail;
mod findings;
mod footer;
mod header;
mod help;
mod layout;
mod polls;
mod runtime;
mod sites;
mod switcher;
mod text;
pub mod theme;
mod workers;
mod workloads;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget, Wrap};

use crate::app::App;
use crate::app::view::workload_panels;
use crate::detect::groups::Entry;
pub use theme::{Look, Theme, ThemeName};

use layout::{Content, MIN_HEIGHT, MIN_WIDTH, centered};

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App, look: &Look) {
    let area = frame.area();
    Screen {
        app,
        theme: &Theme::new(*look),
    }
    .render(area, frame.buffer_mut());
}

/// The whole screen as one widget.
struct Screen<'a> {
    app: &'a App,
    theme: &'a Theme,
}

impl Widget for Screen<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (app, theme) = (self.app, self.theme);
        let panels = workload_panels(app);
        // The selected workload's panel leads with its knob keys: one line more.
        let knob_line = usize::from(workloads::selected_kind(app, &panels).is_some());
        let content = Content {
            workers: app.run.info.workers.max(app.model().workers.len()),
            workloads: panels.len(),
            workload_lines: panels.iter().map(|p| p.lines.len()).max().unwrap_or(0) + knob_line,
            workload_stack: panels.iter().map(|p| 1 + p.lines.len()).sum(),
            phase_line: app.run.info.phase_count > 0,
        };
        let Some(areas) = layout::areas(area, content) else {
            too_small(area, buf, theme);
            return;
        };
        let mode = areas.mode;
        header::Header { app, theme, mode }.render(areas.header, buf);
        workers::Workers { app, theme, mode }.render(areas.workers, buf);
        polls::Polls { app, theme, mode }.render(areas.polls, buf);
        runtime::Runtime { app, theme, mode }.render(areas.runtime, buf);
        workloads::Workloads { app, theme, mode }.render(areas.workloads, buf);
        findings::Findings { app, theme, mode }.render(areas.findings, buf);
        footer::Footer { app, theme }.render(areas.footer, buf);
        if app.view.detail_open
            && let Some(entry) = app.selected_entry()
        {
            let (finding, group) = match &entry {
                Entry::Group(g) => (g.worst, Some(g)),
                Entry::Event(e) => (*e, None),
            };
            detail::Detail {
                finding,
                group,
                theme,
            }
            .render(area, buf);
        }
        if let Some(view) = &app.view.sites {
            sites::Sites { app, view, theme }.render(area, buf);
        }
        if app.view.help_open {
            help::Help { app, theme }.render(area, buf);
        }
        if let Some((choices, highlighted)) = &app.view.switcher {
            switcher::Switcher {
                choices,
                highlighted: *highlighted,
                current: &app.run.info.name,
                theme,
            }
            .render(area, buf);
        }
    }
}

/// "terminal too small: need at least 60x15, have 50x12", centred; on two lines, or wrapped,
/// when one does not fit.
fn too_small(area: Rect, buf: &mut Buffer, theme: &Theme) {
    if area.is_empty() {
        return;
    }
    let need = format!(
        "need at least {MIN_WIDTH}x{MIN_HEIGHT}, have {}x{}",
        area.width, area.height
    );
    let one = format!("terminal too small: {need}");
    let lines: Vec<Line> = if text::width(&one) <= usize::from(area.width) {
        vec![Line::from(one)]
    } else {
        vec![Line::from("terminal too small:"), Line::from(need)]
    };
    let height = u16::try_from(lines.len()).unwrap_or(u16::MAX);
    let rect = centered(area, area.width, height);
    Paragraph::new(lines)
        .style(theme.strong)
        .centered()
        .wrap(Wrap { trim: true })
        .render(rect, buf);
}

#[cfg(test)]
mod tests;
