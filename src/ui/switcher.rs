//! The scenario switcher: a centred list of the scenarios, the highlighted one reversed, the
//! running one tagged; scrolls to keep the highlighted one in view.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget};

use crate::run::ScenarioChoice;

use super::layout::centered;
use super::text::{truncate, width};
use super::theme::Theme;
use super::workers::scroll_offset;

/// Widest the box gets, so a long title does not stretch it across a wide terminal.
const MAX_WIDTH: u16 = 110;
const RUNNING: &str = " (running)";

pub struct Switcher<'a> {
    pub choices: &'a [ScenarioChoice],
    pub highlighted: usize,
    /// The scenario running now.
    pub current: &'a str,
    pub theme: &'a Theme,
}

impl Widget for Switcher<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let hint = t.s(" ↑↓ choose · enter run · esc close ");
        let name_width = self
            .choices
            .iter()
            .map(|c| width(&c.name))
            .max()
            .unwrap_or(0);
        let title_width = self
            .choices
            .iter()
            .map(|c| {
                width(&c.title)
                    + if c.name == self.current {
                        width(RUNNING)
                    } else {
                        0
                    }
            })
            .max()
            .unwrap_or(0);
        // "▶ name  title (running) "
        let content = 2 + name_width + 2 + title_width + 1;
        let w = u16::try_from(content.max(width(&hint) + 2) + 2)
            .unwrap_or(u16::MAX)
            .min(MAX_WIDTH)
            .min(area.width.saturating_sub(4));
        let len = self.choices.len().max(1);
        let h = u16::try_from(len + 2)
            .unwrap_or(u16::MAX)
            .min(area.height.saturating_sub(2));
        let rect = centered(area, w, h);
        if rect.is_empty() {
            return;
        }
        let inner_width = usize::from(rect.width.saturating_sub(2));
        let visible = usize::from(rect.height.saturating_sub(2));
        let offset = scroll_offset(self.highlighted, visible, self.choices.len());
        let mut block = t
            .block(Line::styled(" Switch scenario ", t.title), true)
            .title_bottom(Line::styled(hint, t.dim).right_aligned());
        if self.choices.len() > visible && visible > 0 {
            let last = (offset + visible).min(self.choices.len());
            block = block.title(
                Line::styled(
                    format!(" {}-{} of {} ", offset + 1, last, self.choices.len()),
                    t.dim,
                )
                .right_aligned(),
            );
        }
        let mut lines: Vec<Line> = Vec::new();
        if self.choices.is_empty() {
            lines.push(Line::styled(" no scenarios to switch to", t.dim));
        }
        for (i, choice) in self.choices.iter().enumerate().skip(offset).take(visible) {
            let highlighted = i == self.highlighted;
            let running = choice.name == self.current;
            let pointer = if highlighted { t.pointer() } else { " " };
            let name = format!(
                "{pointer} {:<name_width$}  ",
                truncate(&t.s(&choice.name), name_width, t.ellipsis())
            );
            let tag = if running { RUNNING } else { "" };
            let room = inner_width.saturating_sub(width(&name) + width(tag));
            let title = truncate(&t.s(&choice.title), room, t.ellipsis());
            let pad = inner_width.saturating_sub(width(&name) + width(&title) + width(tag));
            let line = if highlighted {
                Line::styled(format!("{name}{title}{tag}{}", " ".repeat(pad)), t.selected)
            } else {
                Line::from(vec![
                    Span::styled(name, if running { t.strong } else { t.key }),
                    Span::styled(title, t.text),
                    Span::styled(tag, t.dim),
                ])
            };
            lines.push(line);
        }
        Clear.render(rect, buf);
        Paragraph::new(lines).block(block).render(rect, buf);
    }
}
