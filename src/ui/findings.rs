//! Findings: one row per culprit (kind, who, where), the most recent first, coloured by
//! severity, each with its hint; and the events between them.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use crate::app::view::finding_counts;
use crate::app::{App, Focus};
use crate::detect::groups::{Entry, Group, RECENT_MS};
use crate::detect::{Finding, FindingKind, Severity};

use super::layout::Mode;
use super::text::{fmt_clock, truncate, width, without_directories};
use super::theme::Theme;
use super::workers::scroll_offset;

pub struct Findings<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
    pub mode: Mode,
}

pub fn severity_name(severity: Severity, short: bool) -> &'static str {
    match (severity, short) {
        (Severity::Critical, false) => "CRITICAL",
        (Severity::Warning, false) => "WARNING",
        (Severity::Info, false) => "INFO",
        (Severity::Critical, true) => "CRIT",
        (Severity::Warning, true) => "WARN",
        (Severity::Info, true) => "INFO",
    }
}

impl Widget for Findings<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        let t = self.theme;
        let findings = self.app.finding_entries();
        let focused = self.app.view.focus == Focus::Findings;
        let mut title = vec![Span::styled(" Findings ", t.title)];
        let counts = finding_counts(self.app);
        if counts.is_empty() {
            title.push(Span::styled("none yet ", t.dim));
        } else {
            let text = counts.join(t.sep());
            title.push(Span::styled(t.s(&format!("{text} ")), t.strong));
        }
        let mut block = t.block(Line::from(title), focused);
        let inner = block.inner(area);
        let per = if inner.height >= 2 { 2 } else { 1 };
        // Entries surely on screen (an event without a note takes one row, the others two).
        let visible = usize::from(inner.height / per).max(1);
        let offset = scroll_offset(self.app.view.selected_finding, visible, findings.len());
        let max = usize::from(inner.width);
        let rows = usize::from(inner.height);
        let mut lines: Vec<Line> = Vec::new();
        let mut whole = 0;
        let critical: Vec<bool> = findings.iter().skip(offset).map(is_critical).collect();
        let hints = second_lines(&critical, if per == 2 { rows } else { 0 });
        for ((n, entry), hint) in findings.iter().enumerate().skip(offset).zip(hints) {
            if lines.len() >= rows {
                break;
            }
            let selected = focused && n == self.app.view.selected_finding;
            let entry = match entry {
                Entry::Group(g) => self.group(g, selected, max, hint),
                Entry::Event(e) => self.event(e, selected, max, hint),
            };
            // Whole entries only, so that the count below is what the panel shows.
            if !lines.is_empty() && lines.len() + entry.len() > rows {
                break;
            }
            whole += 1;
            lines.extend(entry);
        }
        // The rows' order, said: it is neither by time alone nor by severity alone.
        let mut caption = vec![format!(
            "last {} s by severity, then older ones by time",
            RECENT_MS / 1_000
        )];
        if findings.len() > whole && whole > 0 {
            // How to reach the rest, unless this panel has the focus (its keys are then known).
            let how = if focused { "" } else { " · tab, then ↓" };
            let range = format!(
                "{}-{} of {}{how}",
                offset + 1,
                offset + whole,
                findings.len()
            );
            caption.insert(0, range);
        }
        if findings.len() > 1 {
            block = block.title_bottom(Line::styled(
                t.s(&format!(" {} ", caption.join(" · "))),
                t.dim,
            ));
        }
        block.render(area, buf);
        if inner.is_empty() {
            return;
        }
        if findings.is_empty() {
            let text = t.s(
                "nothing yet: stalls, long polls, timer lag and blocking-pool queues show up here",
            );
            Paragraph::new(Line::styled(
                truncate(&text, usize::from(inner.width), t.ellipsis()),
                t.dim,
            ))
            .render(inner, buf);
            return;
        }
        Paragraph::new(lines).render(inner, buf);
    }
}

impl Findings<'_> {
    /// The group's line, its culprit and blocking line first where a narrow panel cannot cut
    /// them off, and its hint's line below when `hint` is set.
    fn group<'a>(&self, g: &Group, selected: bool, max: usize, hint: bool) -> Vec<Line<'a>> {
        let f = g.worst;
        let t = self.theme;
        let short = self.mode == Mode::Compact;
        let pointer = if selected { t.pointer() } else { " " };
        // When the group was last seen: the order of the rows, and "now" for one going on.
        let stamp = format!("[{}]", fmt_clock(g.last_ms));
        let severity = format!(
            "{:<w$}",
            severity_name(g.severity, short),
            w = if short { 4 } else { 8 }
        );
        // A narrow row names the kind in its count ("3 stalls") and keeps to who, where, how
        // many and the worst; "ongoing" only where it fits whole.
        let kind = if short {
            String::new()
        } else {
            format!("{} ", f.kind.label())
        };
        let head = format!("{pointer}{stamp} {severity} {kind}");
        // A narrow row names what the line was calling only where the whole row still fits,
        // its paths dropping their directories before it gives up the call; else the
        // shortest form, cut.
        let mut summary = if short {
            let (called, plain) = (g.brief(true), g.brief(false));
            // With the call, then without it; each with its full path, then its file alone.
            let forms = [
                called.clone(),
                without_directories(&called),
                plain.clone(),
                without_directories(&plain),
            ];
            forms
                .iter()
                .find(|text| width(&head) + width(text) <= max)
                .or_else(|| forms.iter().min_by_key(|text| width(text)))
                .cloned()
                .unwrap_or_default()
        } else {
            g.summary()
        };
        if g.ongoing && (!short || width(&head) + width(&summary) + 10 <= max) {
            summary.push_str(" (ongoing)");
        }
        let summary = truncate(
            &t.s(&summary),
            max.saturating_sub(width(&head)),
            t.ellipsis(),
        );
        let sev = t.severity(g.severity);
        let (head_style, text_style, hint_style) = if selected {
            (t.selected, t.selected, t.selected)
        } else {
            (sev, sev, t.dim)
        };
        let mut lines = vec![Line::from(vec![
            Span::styled(
                format!("{pointer}{stamp} "),
                if selected { t.selected } else { t.dim },
            ),
            Span::styled(format!("{severity} {kind}"), head_style),
            Span::styled(summary, text_style),
        ])];
        if hint {
            let indent = " ".repeat(width(&stamp) + 2);
            let lead = format!("{indent}{} ", t.arrow());
            let room = max.saturating_sub(width(&lead));
            // The fix is the point of the row: where the hint does not fit, its few words come
            // first, so that the cut takes the explanation and not the advice.
            let hint = match fix_of(f) {
                Some(fix) if width(&f.hint) > room && short => format!("{fix} · Enter: why"),
                Some(fix) if width(&f.hint) > room => format!("{fix} · {}", f.hint),
                _ => f.hint.clone(),
            };
            lines.push(Line::from(vec![
                Span::styled(lead, hint_style),
                Span::styled(truncate(&t.s(&hint), room, t.ellipsis()), hint_style),
            ]));
        }
        if selected {
            lines = lines.into_iter().map(|l| l.style(t.selected)).collect();
        }
        lines
    }

    /// A change the presenter made: "[00:12.4] EVENT ▸ hasher placement: worker → spawn_blocking",
    /// with the phase's note below (no line when there is none).
    fn event<'a>(&self, f: &Finding, selected: bool, max: usize, hint: bool) -> Vec<Line<'a>> {
        let t = self.theme;
        let short = self.mode == Mode::Compact;
        let pointer = if selected { t.pointer() } else { " " };
        let stamp = format!("[{}]", fmt_clock(f.first_seen_ms));
        let tag = format!(
            "{:<w$}{} ",
            "EVENT",
            t.event_mark(),
            w = if short { 6 } else { 9 }
        );
        let head = format!("{pointer}{stamp} {tag}");
        let summary = truncate(
            &t.s(&f.summary),
            max.saturating_sub(width(&head)),
            t.ellipsis(),
        );
        let (stamp_style, text_style, note_style) = if selected {
            (t.selected, t.selected, t.selected)
        } else {
            (t.dim, t.event, t.info)
        };
        let mut lines = vec![Line::from(vec![
            Span::styled(format!("{pointer}{stamp} "), stamp_style),
            Span::styled(tag, text_style),
            Span::styled(summary, text_style),
        ])];
        let note = f.hint.split_whitespace().collect::<Vec<_>>().join(" ");
        if hint && !note.is_empty() {
            let lead = " ".repeat(width(&head));
            let text = truncate(&t.s(&note), max.saturating_sub(width(&lead)), t.ellipsis());
            lines.push(Line::from(vec![
                Span::styled(lead, note_style),
                Span::styled(text, note_style),
            ]));
        }
        if selected {
            lines = lines.into_iter().map(|l| l.style(t.selected)).collect();
        }
        lines
    }
}

/// Which of the entries (from the first shown; `critical` says which are stalls) get a second
/// line (the fix, a phase's note) in `rows` rows. Where every entry fits on one line: each
/// critical one while the critical ones after it keep their first line (a stall's fix beats a
/// warning's row, which then scrolls), and the others while every entry after them keeps its
/// first line and every critical one its fix. A longer list scrolls, two lines an entry.
fn second_lines(critical: &[bool], rows: usize) -> Vec<bool> {
    if rows < 2 {
        return vec![false; critical.len()];
    }
    if critical.len() > rows {
        return vec![true; critical.len()];
    }
    let mut used = 0;
    let mut hints = Vec::with_capacity(critical.len());
    for (n, &crit) in critical.iter().enumerate() {
        let after = critical.len() - n - 1;
        let critical_after = critical[n + 1..].iter().filter(|c| **c).count();
        let hint = if crit {
            used + 2 + critical_after <= rows
        } else {
            // Every entry after keeps its first line, and each stall after its fix.
            used + 2 + after + critical_after <= rows
        };
        used += 1 + usize::from(hint);
        hints.push(hint);
    }
    hints
}

/// A group of critical findings (stalls), whose fix a narrow panel keeps first.
fn is_critical(entry: &Entry<'_>) -> bool {
    matches!(entry, Entry::Group(g) if g.severity == Severity::Critical)
}

/// The few words of a stall's or long poll's fix; other kinds have none of their own.
fn fix_of(f: &Finding) -> Option<String> {
    matches!(f.kind, FindingKind::Stall | FindingKind::LongPoll).then(|| f.fix())
}

#[cfg(test)]
mod tests {
    use super::second_lines;

    #[test]
    fn a_narrow_panel_keeps_every_stalls_fix_before_a_warnings_row() {
        // Two stalls' groups, lag, long polls in five rows: both fixes, the last row scrolls.
        let shown = second_lines(&[true, true, false, false], 5);
        assert_eq!(shown, [true, true, false, false]);
        // Room for all: every second line.
        assert_eq!(second_lines(&[true, false, false], 6), [true, true, true]);
        // One stall and three warnings in five rows: the stall's fix, every row.
        assert_eq!(
            second_lines(&[true, false, false, false], 5),
            [true, false, false, false]
        );
        // More entries than rows: two lines an entry, the list scrolls.
        assert_eq!(second_lines(&[false; 7], 5), [true; 7]);
        // One row: no second lines.
        assert_eq!(second_lines(&[true, true], 1), [false, false]);
        // A warning on top does not push the stalls' rows out.
        assert_eq!(second_lines(&[false, true, true], 3), [false, false, false]);
        assert_eq!(second_lines(&[false, true, true], 4), [false, true, false]);
    }
}
