//! Workers: one row each with its state, a busy bar, a busy sparkline and its poll figures.

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{LineGauge, Paragraph, Sparkline, Widget};

use crate::app::view::{WorkerRow, WorkerState, blocked_off_cpu, now_window, worker_rows};
use crate::app::{App, Focus};

use super::layout::Mode;
use super::text::{fit, fit_to_width, flush_right, fmt_dur, fmt_rate, fmt_share, unit};
use super::theme::Theme;

pub struct Workers<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
    pub mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Index,
    State,
    Busy,
    /// On-CPU share of the same second: beside busy, it tells computing from blocked.
    Cpu,
    /// Share of the same second runnable but waiting for a CPU (wide layout).
    CpuWait,
    Polls,
    MaxPoll,
    Queue,
    /// Where a stuck worker is stuck (wide layout).
    Task,
    /// Busy % over the last minute; in the compact layout a stuck row shows its task here.
    History,
}

fn columns(mode: Mode) -> Vec<(Col, Constraint)> {
    use Constraint::{Fill, Length};
    match mode {
        Mode::Wide => vec![
            (Col::Index, Length(4)),
            (Col::State, Length(14)),
            (Col::Busy, Length(26)),
            (Col::Cpu, Length(6)),
            (Col::CpuWait, Length(8)),
            (Col::Polls, Length(8)),
            (Col::MaxPoll, Length(9)),
            (Col::Queue, Length(6)),
            (Col::Task, Length(24)),
            (Col::History, Fill(1)),
        ],
        Mode::Compact => vec![
            (Col::Index, Length(4)),
            (Col::State, Length(12)),
            (Col::Busy, Length(12)),
            (Col::Cpu, Length(6)),
            (Col::Polls, Length(7)),
            (Col::MaxPoll, Length(8)),
            (Col::Queue, Length(5)),
            (Col::History, Fill(1)),
        ],
    }
}

fn heading(col: Col, window: &str) -> (String, Alignment) {
    let (text, align) = match col {
        Col::Index => ("  #", Alignment::Left),
        Col::State => ("state", Alignment::Left),
        Col::Busy => ("busy", Alignment::Left),
        Col::Cpu => ("on CPU", Alignment::Right),
        Col::CpuWait => ("CPU wait", Alignment::Right),
        Col::Polls => ("polls/s", Alignment::Right),
        Col::MaxPoll => ("max poll", Alignment::Right),
        Col::Queue => ("queue", Alignment::Right),
        Col::Task => ("stuck in", Alignment::Left),
        Col::History => return (format!("busy, {window}"), Alignment::Left),
    };
    (text.to_string(), align)
}

/// The first row to show so that `selected` is visible in `visible` rows.
pub fn scroll_offset(selected: usize, visible: usize, len: usize) -> usize {
    if visible == 0 || len <= visible {
        return 0;
    }
    let selected = selected.min(len - 1);
    if selected < visible {
        0
    } else {
        (selected + 1 - visible).min(len - visible)
    }
}

impl Widget for Workers<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        let t = self.theme;
        let rows = worker_rows(self.app);
        let focused = self.app.view.focus == Focus::Workers;
        let stuck = rows
            .iter()
            .filter(|r| matches!(r.state, WorkerState::Stuck { .. }))
            .count();
        let mut title = vec![
            Span::styled(" Workers ", t.title),
            Span::styled(format!("{} ", rows.len()), t.dim),
            // The window of every column but the sparkline, which says its own.
            Span::styled(t.s(&format!("· {} ", now_window(self.app))), t.dim),
        ];
        if stuck > 0 {
            title.push(Span::styled(format!(" {stuck} STUCK "), t.loud));
            title.push(Span::raw(" "));
        }
        let mut block = t.block(Line::from(title), focused);
        let inner = block.inner(area);
        let visible = usize::from(inner.height.saturating_sub(1));
        let offset = scroll_offset(self.app.view.selected_worker, visible, rows.len());
        let mut bottom = Vec::new();
        if rows.len() > visible && visible > 0 {
            let last = (offset + visible).min(rows.len());
            bottom.push((0, format!("rows {}-{} of {}", offset + 1, last, rows.len())));
        }
        bottom.extend(legend(&rows, self.mode, self.app));
        if !bottom.is_empty() {
            let room = usize::from(area.width).saturating_sub(4);
            block = block.title_bottom(Line::styled(
                format!(" {} ", t.s(&fit(&bottom, t.sep(), room))),
                t.dim,
            ));
        }
        block.render(area, buf);
        if inner.is_empty() {
            return;
        }
        let cols = columns(self.mode);
        let layout = Layout::horizontal(cols.iter().map(|(_, c)| *c)).spacing(1);
        let head = Rect::new(inner.x, inner.y, inner.width, 1);
        // At 80 columns, while a worker is stuck, the history column says which task holds it
        // (and the other rows leave it empty): one meaning at a time.
        let any_stuck = stuck > 0 && self.mode == Mode::Compact;
        for ((col, _), rect) in cols.iter().zip(layout.split(head).iter()) {
            let window = rows
                .first()
                .map_or("last minute", |r| r.history_window.as_str());
            let (text, align) = match col {
                Col::History if any_stuck => ("stuck in".to_string(), Alignment::Left),
                _ => heading(*col, window),
            };
            Paragraph::new(Line::styled(text, t.dim))
                .alignment(align)
                .render(*rect, buf);
        }
        if rows.is_empty() {
            let rect = Rect::new(inner.x, inner.y + 1, inner.width, inner.height - 1);
            Paragraph::new(Line::styled("  no worker seen yet", t.dim)).render(rect, buf);
            return;
        }
        for (n, row) in rows.iter().skip(offset).take(visible).enumerate() {
            let y = inner.y + 1 + u16::try_from(n).unwrap_or(u16::MAX);
            let rect = Rect::new(inner.x, y, inner.width, 1);
            let selected = focused && row.index == self.app.view.selected_worker;
            if selected {
                buf.set_style(rect, t.selected);
            }
            for ((col, _), cell) in cols.iter().zip(layout.split(rect).iter()) {
                self.render_cell(*col, row, (selected, any_stuck), *cell, buf);
            }
        }
    }
}

impl Workers<'_> {
    /// One cell of `row`; `any_stuck` says the history column holds the stuck rows' tasks.
    fn render_cell(
        &self,
        col: Col,
        row: &WorkerRow,
        (selected, any_stuck): (bool, bool),
        area: Rect,
        buf: &mut Buffer,
    ) {
        if area.is_empty() {
            return;
        }
        let t = self.theme;
        let right = |text: String, style: Style| {
            Paragraph::new(Line::styled(text, style)).alignment(Alignment::Right)
        };
        match col {
            Col::Index => {
                let pointer = if selected { t.pointer() } else { " " };
                Paragraph::new(Line::from(vec![
                    Span::raw(pointer),
                    Span::styled(format!("{:>2}", row.index), t.strong),
                ]))
                .render(area, buf);
            }
            Col::State => {
                let (text, style) = match &row.state {
                    WorkerState::Idle => ("idle".to_string(), t.dim),
                    WorkerState::Polling => ("polling".to_string(), t.text),
                    WorkerState::Stalled => ("was stuck".to_string(), t.warning),
                    WorkerState::Blocked => ("blocked".to_string(), t.warning),
                    WorkerState::Stuck { ms, .. } => (format!("STUCK {}", fmt_dur(*ms)), t.loud),
                };
                Paragraph::new(Line::styled(text, style)).render(area, buf);
            }
            Col::Busy => {
                let (filled, empty) = t.gauge_symbols();
                let stuck = matches!(row.state, WorkerState::Stuck { .. });
                // Filled as far as the figure beside it says: 99.7 % reads 100% and fills it.
                let shown = (unit(row.busy) * 100.0).round() / 100.0;
                LineGauge::default()
                    .ratio(shown)
                    .label(Line::styled(
                        format!("{:>4}", fmt_share(Some(unit(row.busy)))),
                        t.strong,
                    ))
                    .filled_symbol(filled)
                    .unfilled_symbol(empty)
                    .filled_style(if stuck { t.critical } else { t.bar })
                    .unfilled_style(t.bar_empty)
                    .render(area, buf);
            }
            Col::Cpu => {
                // Busy but off the CPU is the mark of a blocking call: say it loudly.
                let blocked = blocked_off_cpu(row.busy, row.cpu, row.cpu_wait);
                let style = if blocked { t.critical } else { t.text };
                right(fmt_share(row.cpu.map(unit)), style).render(area, buf);
            }
            Col::CpuWait => right(fmt_share(row.cpu_wait.map(unit)), t.text).render(area, buf),
            Col::Polls => right(fmt_rate(row.polls_per_sec), t.text).render(area, buf),
            Col::MaxPoll => {
                let text = if row.max_poll_ms > 0.0 {
                    fmt_dur(row.max_poll_ms)
                } else {
                    "-".into()
                };
                right(text, t.text).render(area, buf);
            }
            Col::Queue => right(row.local_queue.to_string(), t.text).render(area, buf),
            Col::Task => {
                if let Some(text) = stuck_in(row, self.mode) {
                    Paragraph::new(Line::styled(t.s(&text), t.critical)).render(area, buf);
                }
            }
            Col::History => match (self.mode, stuck_in(row, self.mode)) {
                (Mode::Compact, Some(text)) => {
                    Paragraph::new(Line::styled(t.s(&text), t.critical)).render(area, buf);
                }
                (Mode::Compact, None) if any_stuck => {}
                _ => {
                    // The whole minute, squeezed into the columns there are.
                    let history = fit_to_width(&row.busy_history, usize::from(area.width));
                    Sparkline::default()
                        .data(history.iter().copied())
                        .max(100)
                        .bar_set(t.bar_set())
                        .style(t.spark)
                        .render(flush_right(area, history.len()), buf);
                }
            },
        }
    }
}

/// "task 22 in hasher" for a stuck worker; "hasher, task 22" where the column is narrow, so
/// that a cut takes the number and not the name.
fn stuck_in(row: &WorkerRow, mode: Mode) -> Option<String> {
    match &row.state {
        WorkerState::Stuck {
            task_id, workload, ..
        } => Some(match (workload, mode) {
            (Some(w), Mode::Wide) => format!("task {task_id} in {w}"),
            (Some(w), Mode::Compact) => format!("{w}, task {task_id}"),
            (None, _) => format!("task {task_id}"),
        }),
        _ => None,
    }
}

/// What the words of the rows mean, said under them: "busy" counts a worker held by a sleep or
/// a lock, and the two states a newcomer cannot guess are defined when a row shows them.
fn legend(rows: &[WorkerRow], mode: Mode, app: &App) -> Vec<(u8, String)> {
    let stall = fmt_dur(app.run.info.thresholds.stall_threshold.as_secs_f64() * 1000.0);
    let shows = |state: &WorkerState| rows.iter().any(|r| &r.state == state);
    let wide = mode == Mode::Wide;
    let mut legend = vec![(
        3,
        if wide {
            "busy = on CPU + CPU wait (no CPU free) + waiting in a call".to_string()
        } else {
            "busy: in polls, on or off CPU".to_string()
        },
    )];
    if rows
        .iter()
        .any(|r| matches!(r.state, WorkerState::Stuck { .. }))
    {
        legend.push((
            0,
            if wide {
                "STUCK N ms: in one poll so far".into()
            } else {
                "STUCK: in one poll, so far".into()
            },
        ));
    }
    if shows(&WorkerState::Blocked) {
        legend.push((
            1,
            if wide {
                "blocked: busy ≥ 50%, mostly off CPU (a lock, a sleep, I/O)".into()
            } else {
                "blocked: busy ≥ 50%, off CPU".into()
            },
        ));
    }
    if shows(&WorkerState::Stalled) {
        legend.push((
            2,
            if wide {
                format!("was stuck: a poll ≥ {stall}, {}", now_window(app))
            } else {
                format!("was stuck: a poll ≥ {stall}, last s")
            },
        ));
    }
    legend
}

#[cfg(test)]
mod tests {
    use super::scroll_offset;

    #[test]
    fn the_selected_row_stays_visible() {
        assert_eq!(scroll_offset(0, 3, 10), 0);
        assert_eq!(scroll_offset(2, 3, 10), 0);
        assert_eq!(scroll_offset(3, 3, 10), 1);
        assert_eq!(scroll_offset(9, 3, 10), 7);
        assert_eq!(scroll_offset(50, 3, 10), 7);
        assert_eq!(scroll_offset(5, 0, 10), 0);
        assert_eq!(scroll_offset(5, 10, 3), 0);
    }
}
