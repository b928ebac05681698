//! Runtime: tasks, global queue, timer lag, blocking pool, and what tokmon itself costs.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use crate::app::App;
use crate::app::view::{RuntimeView, now_window, runtime_view};
use crate::report::fmt_ms_brief;

use super::layout::Mode;
use super::text::{fit, fmt_dur, fmt_share};
use super::theme::Theme;

pub struct Runtime<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
    pub mode: Mode,
}

impl Runtime<'_> {
    fn lag_style(&self, view: &RuntimeView) -> Style {
        let limit = self.app.run.info.thresholds.lag_threshold.as_secs_f64() * 1000.0;
        if view.lag_ms >= limit {
            self.theme.warning
        } else {
            self.theme.text
        }
    }

    fn blocking(view: &RuntimeView) -> String {
        format!(
            "{} threads, {} idle, queue {} / cap {}",
            view.blocking_threads, view.blocking_idle, view.blocking_queue, view.blocking_cap
        )
    }

    /// The blocking pool in a few words: its idle threads and queue only when there are any.
    fn blocking_brief(view: &RuntimeView) -> String {
        let mut text = format!(
            "blocking threads {}/{}",
            view.blocking_threads, view.blocking_cap
        );
        if view.blocking_idle > 0 || view.blocking_queue > 0 {
            text.push_str(&format!(
                " idle {} queue {}",
                view.blocking_idle, view.blocking_queue
            ));
        }
        text
    }
}

impl Widget for Runtime<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        let t = self.theme;
        let view = runtime_view(self.app);
        let queue_style = |n: u64| if n > 0 { t.warning } else { t.text };
        match self.mode {
            Mode::Wide => {
                let block = t.block(Line::styled(" Runtime ", t.title), false);
                let inner = block.inner(area);
                block.render(area, buf);
                let label = |text: &str| Span::styled(format!("{text:<16}"), t.dim);
                let lines = vec![
                    Line::from(vec![
                        label("alive tasks"),
                        Span::styled(view.alive_tasks.to_string(), t.strong),
                    ]),
                    Line::from(vec![
                        label("global queue"),
                        Span::styled(
                            view.global_queue.to_string(),
                            queue_style(view.global_queue),
                        ),
                    ]),
                    Line::from(vec![
                        label("timer lag"),
                        Span::styled(fmt_dur(view.lag_ms), self.lag_style(&view)),
                        Span::styled(format!(" (worst of the {})", now_window(self.app)), t.dim),
                    ]),
                    Line::from(vec![
                        label("blocking pool"),
                        Span::styled(Self::blocking(&view), queue_style(view.blocking_queue)),
                    ]),
                    Line::default(),
                    Line::styled("tokmon's own cost, share of one core", t.dim),
                    Line::from(vec![
                        label("  monitor"),
                        Span::styled(fmt_share(view.monitor_cpu), t.text),
                    ]),
                    Line::from(vec![
                        label("  ui"),
                        Span::styled(fmt_share(view.ui_cpu), t.text),
                    ]),
                ];
                Paragraph::new(lines).render(inner, buf);
            }
            Mode::Compact => {
                let text = fit(
                    &[
                        (0, format!("tasks {}", view.alive_tasks)),
                        // An empty global queue goes before the rest but tokmon's own cost; a
                        // queue with tasks in it stays.
                        (
                            if view.global_queue > 0 { 1 } else { 3 },
                            format!("global queue {}", view.global_queue),
                        ),
                        (
                            0,
                            format!(
                                "timer lag {}, {}",
                                fmt_ms_brief(view.lag_ms),
                                now_window(self.app).replace("last second", "last 1 s")
                            ),
                        ),
                        (2, Self::blocking_brief(&view)),
                        (
                            4,
                            format!(
                                "tokmon cpu {} + ui {}",
                                fmt_share(view.monitor_cpu),
                                fmt_share(view.ui_cpu)
                            ),
                        ),
                    ],
                    t.sep(),
                    usize::from(area.width).saturating_sub(10),
                );
                let line = Line::from(vec![
                    Span::styled(" runtime ", t.title),
                    Span::styled(t.s(&text), t.text),
                ]);
                Paragraph::new(line).render(area, buf);
            }
        }
    }
}
