//! The header: scenario, elapsed time, runtime shape, thresholds, and the one status line
//! (with `--console`, where tokio-console can attach at its right end).
//! A replay leads the first row with a loud `REPLAY 2x` badge and its position,
//! `0:42 / 5:00`, and says `PAUSED` (or `END`) where a live pause says it.

use std::time::Duration;

use std::net::SocketAddr;

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use crate::app::App;
use crate::app::view::{Status, status};

use super::layout::Mode;
use super::text::{fit, fmt_clock, fmt_dur, truncate, width, without_directories};
use super::theme::Theme;

pub struct Header<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
    pub mode: Mode,
}

/// How loud the status line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Waiting,
    Healthy,
    /// Not stuck now, but not healthy either (stalls a moment ago).
    Warning,
    Loud,
}

/// Between the culprit and its fix; the theme makes it ASCII where asked.
const ARROW: &str = "→";

/// The status line's words and tone, from the view model.
pub fn status_text(app: &App) -> (String, Tone) {
    match status(app) {
        Status::Waiting => ("waiting for the first sample".into(), Tone::Waiting),
        Status::Healthy => ("healthy".into(), Tone::Healthy),
        Status::Stalling {
            count,
            here,
            worst_ms,
            since_ms,
            ago_ms,
            at,
            who,
            holds,
            fix,
        } => {
            // Who, where and what to change first, so that a narrow screen keeps them; then
            // the stalls counted there, of all the recent ones. A culprit that holds a worker
            // in long polls now says so first: the stalls alone would read as over.
            let place = at.map(|at| format!(" {at}")).unwrap_or_default();
            let s = if count == 1 { "" } else { "s" };
            let how_many = if here == count {
                format!("{count}")
            } else {
                format!("{here} of {count}")
            };
            // A verb, so that a warning about the last seconds does not read as a label.
            let when = match ago_ms / 1_000 {
                0 => "just now".to_string(),
                s => format!("{s}s ago"),
            };
            let stalled = format!(
                "{how_many} stall{s} since {}, worst {}",
                fmt_clock(since_ms),
                fmt_dur(worst_ms)
            );
            let text = match holds {
                // "in long polls" in the lead: with no worker STUCK, "now" alone read as a
                // stall missed (round 19).
                Some(worker) => format!(
                    "{who} ties up worker {worker} in long polls{place} {ARROW} {fix} · stalled \
                     {when}, {stalled}"
                ),
                None => format!("{who} stalled {when}{place} {ARROW} {fix} · {stalled}"),
            };
            (text, Tone::Warning)
        }
        Status::Stuck {
            worker,
            ms,
            workload,
            task_id,
            others,
            at,
            fix,
        } => {
            let task = match &workload {
                Some(_) => format!(", task {task_id}"),
                None => String::new(),
            };
            let who = workload.unwrap_or_else(|| format!("task {task_id}"));
            let place = at.map(|at| format!(" {at}")).unwrap_or_default();
            let fix = fix.map(|f| format!(" {ARROW} {f}")).unwrap_or_default();
            let mut text = format!(
                "{who} STUCK {}{place}{fix} · worker {worker}{task}",
                fmt_dur(ms)
            );
            if others > 0 {
                text.push_str(&format!(
                    " + {others} more worker{} stuck",
                    if others == 1 { "" } else { "s" }
                ));
            }
            (text, Tone::Loud)
        }
        Status::SlowPolls {
            worker,
            share,
            window_ms,
            who,
            fix,
        } => {
            let who = who.unwrap_or_else(|| "long polls".into());
            let fix = fix.map(|f| format!(" {ARROW} {f}")).unwrap_or_default();
            // The culprit and the fix first, the figures after, so that a narrow line keeps
            // what to change.
            let text = format!(
                "{who} ties up worker {worker} in long polls{fix} · {:.0}% of the last {:.0} s in \
                 polls of {} or more",
                share * 100.0,
                window_ms as f64 / 1000.0,
                threshold(app.run.info.thresholds.long_poll_threshold),
            );
            (text, Tone::Warning)
        }
        Status::Lagging { ms } => (
            format!(
                "timers fire {} late: every worker is busy or blocked",
                fmt_dur(ms)
            ),
            Tone::Warning,
        ),
        Status::QueueFull { summary } => (summary, Tone::Warning),
    }
}

fn threshold(d: Duration) -> String {
    fmt_dur(d.as_secs_f64() * 1000.0)
}

impl Widget for Header<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        let t = self.theme;
        let info = &self.app.run.info;
        let model = self.app.model();
        let elapsed = format!("elapsed {}", fmt_clock(model.now_ns() / 1_000_000));
        let dropped = model.samples_dropped;
        let ge = t.s("≥");
        let stall = format!("stall {ge} {}", threshold(info.thresholds.stall_threshold));
        let long = format!(
            "long poll {ge} {}",
            threshold(info.thresholds.long_poll_threshold)
        );
        let lag = format!("lag {ge} {}", threshold(info.thresholds.lag_threshold));
        let workers = format!(
            "{} worker{}",
            info.workers,
            if info.workers == 1 { "" } else { "s" }
        );
        let cap = format!("blocking cap {}", info.max_blocking_threads);
        let dropped_text = format!("{dropped} samples dropped");
        let dropped_style = if dropped > 0 { t.warning } else { t.dim };

        // A replay's badge and position lead the first row, whatever follows them.
        let lead = replay_lead(self.app, t);
        let lead_width = lead.iter().map(|s| s.width()).sum::<usize>();
        let led = |line: Line<'static>| -> Line<'static> {
            let mut spans = lead.clone();
            spans.extend(line.spans);
            Line::from(spans)
        };
        let status_row = match self.mode {
            Mode::Wide => {
                // Row 0: what runs, and for how long.
                let room = usize::from(area.width).saturating_sub(width(&elapsed) + 2 + lead_width);
                let title = led(title_line(self.app, t, room));
                line_lr(buf, row(area, 0), title, Line::styled(elapsed, t.strong));
                // Row 1: its shape and the thresholds.
                let shape = fit(
                    &[
                        (0, workers),
                        (1, cap),
                        (0, stall),
                        (0, long),
                        (1, lag),
                        (2, format!("from {}", info.source)),
                    ],
                    t.sep(),
                    usize::from(area.width).saturating_sub(width(&dropped_text) + 2),
                );
                line_lr(
                    buf,
                    row(area, 1),
                    Line::styled(t.s(&shape), t.dim),
                    Line::styled(dropped_text, dropped_style),
                );
                // Row 2, in a scripted demo: the phase and its note.
                if info.phase_count > 0 {
                    let phase_row = row(area, 2);
                    let line = phase_line(self.app, t, usize::from(phase_row.width));
                    Paragraph::new(line).render(phase_row, buf);
                    3
                } else {
                    2
                }
            }
            Mode::Compact if info.phase_count > 0 => {
                // A scripted demo: the phase line takes the title's row; the clock stays.
                let mut segments = vec![(0, fmt_clock(model.now_ns() / 1_000_000))];
                if dropped > 0 {
                    segments.push((1, format!("{dropped} dropped")));
                }
                let right = fit(&segments, t.sep(), usize::from(area.width) / 4);
                let room = usize::from(area.width).saturating_sub(width(&right) + 2 + lead_width);
                line_lr(
                    buf,
                    row(area, 0),
                    led(phase_line(self.app, t, room)),
                    Line::styled(t.s(&right), if dropped > 0 { t.warning } else { t.dim }),
                );
                1
            }
            Mode::Compact => {
                let mut segments = vec![
                    (2, workers),
                    (3, stall),
                    (4, format!("cap {}", info.max_blocking_threads)),
                ];
                if dropped > 0 {
                    segments.push((1, format!("{dropped} dropped")));
                }
                segments.push((0, fmt_clock(model.now_ns() / 1_000_000)));
                let right = fit(&segments, t.sep(), usize::from(area.width) / 2);
                let room = usize::from(area.width).saturating_sub(width(&right) + 2 + lead_width);
                let title = led(title_line(self.app, t, room));
                line_lr(
                    buf,
                    row(area, 0),
                    title,
                    Line::styled(t.s(&right), if dropped > 0 { t.warning } else { t.dim }),
                );
                1
            }
        };
        self.render_status(buf, row(area, status_row));
    }
}

impl Header<'_> {
    fn render_status(&self, buf: &mut Buffer, area: Rect) {
        if area.is_empty() {
            return;
        }
        let t = self.theme;
        let (text, tone) = status_text(self.app);
        let style = match tone {
            Tone::Waiting => t.waiting,
            Tone::Healthy => t.healthy,
            Tone::Warning => t.warning,
            Tone::Loud => t.loud,
        };
        let wide = self.mode == Mode::Wide;
        let badge = match self.app.view.replay {
            _ if self.app.view.disconnected.is_some() => {
                if wide {
                    " DISCONNECTED: the app went away; q quits "
                } else {
                    " DISCONNECTED "
                }
            }
            Some(replay) if replay.paused => {
                if wide {
                    " PAUSED: space resumes, . steps "
                } else {
                    " PAUSED "
                }
            }
            Some(replay) if replay.at_end() => {
                if wide {
                    " END OF THE RECORDING: [ goes back "
                } else {
                    " END "
                }
            }
            _ if self.app.paused() => {
                if wide {
                    " PAUSED: space resumes "
                } else {
                    " PAUSED "
                }
            }
            _ => "",
        };
        // With `--console`, the right end says where tokio-console can attach, when the status
        // and no badge need the room.
        let console = console_note(self.app.run.info.console, self.mode).filter(|note| {
            badge.is_empty() && width(note) + 4 + width(&text) < usize::from(area.width)
        });
        let right = console.as_deref().unwrap_or(badge);
        let room = usize::from(area.width).saturating_sub(width(right) + 1);
        let mark = match tone {
            Tone::Loud => t.s(" !! "),
            Tone::Healthy => t.s(" ok "),
            Tone::Warning => t.s(" !  "),
            Tone::Waiting => " .. ".into(),
        };
        // Where the lead (who, where, the fix) does not fit whole, its paths give up their
        // directories before the fix gives up its words: `at mutex.rs:58 → use tokio::…`.
        let max = room.saturating_sub(4);
        let text = match text.split(" · ").next() {
            Some(lead) if width(lead) > max => without_directories(&text),
            _ => text,
        };
        let line = Line::from(vec![
            Span::raw(mark),
            Span::raw(t.s(&whole_parts(&text, max, t.ellipsis()))),
        ]);
        // A stuck worker paints the whole row; otherwise only the words are coloured.
        let line_style = if tone == Tone::Loud {
            style
        } else {
            Style::new()
        };
        buf.set_style(area, line_style);
        Paragraph::new(line.style(style)).render(area, buf);
        if !badge.is_empty() {
            Paragraph::new(Line::styled(badge, t.paused))
                .alignment(Alignment::Right)
                .render(area, buf);
        } else if let Some(note) = console {
            Paragraph::new(Line::styled(note, t.dim))
                .alignment(Alignment::Right)
                .render(area, buf);
        }
    }
}

/// As many whole " · " parts of the status as fit, in order: a part cut in the middle (`3 of 4
/// stall…`) reads as a broken number. Only a first part wider than the line is cut.
fn whole_parts(text: &str, max: usize, ellipsis: &str) -> String {
    let parts: Vec<(u8, String)> = text
        .split(" · ")
        .enumerate()
        .map(|(i, part)| (u8::try_from(i).unwrap_or(u8::MAX), part.to_string()))
        .collect();
    match parts.first() {
        Some((_, first)) if width(first) > max => truncate(first, max, ellipsis),
        _ => fit(&parts, " · ", max),
    }
}

/// `tokio-console at 127.0.0.1:6669 ` while `--console` serves it.
fn console_note(addr: Option<SocketAddr>, mode: Mode) -> Option<String> {
    let addr = addr?;
    Some(match mode {
        Mode::Wide => format!("tokio-console at {addr} "),
        Mode::Compact => format!("console {addr} "),
    })
}

/// A replay's lead on the first row: the loud ` REPLAY 2x ` badge and ` 0:42 / 5:00 `; nothing
/// in a live run.
fn replay_lead(app: &App, t: &Theme) -> Vec<Span<'static>> {
    let Some(replay) = app.view.replay else {
        return Vec::new();
    };
    vec![
        Span::styled(format!(" REPLAY {} ", replay.speed_text()), t.replay),
        Span::styled(format!(" {} ", replay.position_text()), t.strong),
        Span::raw(" "),
    ]
}

/// The phase line of a scripted demo, cut to `room` cells:
/// "` phase 2/3 ` next in 12.4 s · The mistake: each job grows to 256 MiB, …".
pub fn phase_line<'a>(app: &App, t: &Theme, room: usize) -> Line<'a> {
    let count = app.run.info.phase_count;
    let now_ms = app.model().now_ns() / 1_000_000;
    let (badge, when, note) = match &app.run.phase {
        Some(p) => {
            let when = match p.next_at_ms {
                Some(at) => format!("next in {:.1} s", at.saturating_sub(now_ms) as f64 / 1000.0),
                None => "last phase".to_string(),
            };
            let note = p.note.split_whitespace().collect::<Vec<_>>().join(" ");
            (
                format!(" phase {}/{} ", p.index + 1, count.max(p.index + 1)),
                when,
                note,
            )
        }
        None => (
            format!(" phase -/{count} "),
            "starting".to_string(),
            String::new(),
        ),
    };
    let mut spans = vec![Span::styled(truncate(&badge, room, ""), t.phase)];
    let mut left = room.saturating_sub(width(&badge));
    let when = format!(" {when}");
    if left > 0 {
        spans.push(Span::styled(truncate(&when, left, ""), t.text));
    }
    left = left.saturating_sub(width(&when));
    let sep = t.sep();
    // A note cut to a few letters says nothing: it shows when a word or two fit.
    if !note.is_empty() && left >= width(sep) + 12 {
        spans.push(Span::styled(sep, t.dim));
        spans.push(Span::styled(
            truncate(&t.s(&note), left - width(sep), t.ellipsis()),
            t.strong,
        ));
    }
    Line::from(spans)
}

/// "tokmon  <title>  [<name>]" when the title fits whole, else "tokmon <name>": a title cut
/// mid-word ("A std::sync::M…") says less than the scenario's name.
fn title_line<'a>(app: &App, t: &Theme, room: usize) -> Line<'a> {
    let head = "tokmon ";
    let name = format!("  [{}]", app.run.info.name);
    let title = t.s(&app.run.info.title);
    let title_room = room.saturating_sub(width(head) + width(&name));
    let mut spans = vec![Span::styled(head, t.title)];
    if width(&title) <= title_room {
        spans.push(Span::styled(title, t.strong));
        spans.push(Span::styled(t.s(&name), t.dim));
    } else {
        spans.push(Span::styled(
            truncate(
                &t.s(&app.run.info.name),
                room.saturating_sub(width(head)),
                t.ellipsis(),
            ),
            t.strong,
        ));
    }
    Line::from(spans)
}

fn row(area: Rect, index: u16) -> Rect {
    if index >= area.height {
        return Rect::new(area.x, area.y, area.width, 0);
    }
    Rect::new(area.x, area.y + index, area.width, 1)
}

/// One row with `left` flush left and `right` flush right (the right one wins a collision).
fn line_lr(buf: &mut Buffer, area: Rect, left: Line<'_>, right: Line<'_>) {
    if area.is_empty() {
        return;
    }
    Paragraph::new(left).render(area, buf);
    Paragraph::new(right)
        .alignment(Alignment::Right)
        .render(area, buf);
}

#[cfg(test)]
mod tests {
    use super::whole_parts;

    #[test]
    fn the_status_keeps_whole_parts_and_cuts_only_a_first_part_too_wide() {
        let text = "locker at src/m.rs:54 → use tokio::sync::Mutex · 3 of 4 stalls since 00:01.7";
        assert_eq!(whole_parts(text, 200, "…"), text);
        assert_eq!(
            whole_parts(text, 60, "…"),
            "locker at src/m.rs:54 → use tokio::sync::Mutex"
        );
        assert_eq!(whole_parts(text, 12, "…"), "locker at s…");
    }
}
