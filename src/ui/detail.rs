//! The detail overlay: the selected group (how many, typical and worst, first and last seen),
//! every field of its worst finding with the hint wrapped in full and the stack, then its
//! latest members.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget};

use crate::detect::Finding;
use crate::detect::groups::Group;
use crate::sample::CpuUse;

use super::findings::severity_name;
use super::layout::centered;
use super::text::{fmt_clock, fmt_dur};
use super::theme::Theme;

/// Widest the box gets, so lines stay readable on a wide terminal.
const MAX_WIDTH: u16 = 100;
const LABEL: usize = 13;
/// The group's latest members listed under the stack.
const MEMBERS: usize = 5;

pub struct Detail<'a> {
    pub finding: &'a Finding,
    /// The group the finding is the worst of; `None` for an event.
    pub group: Option<&'a Group<'a>>,
    pub theme: &'a Theme,
}

/// The group's own lines: `12 stalls · typical 360 ms · worst 380 ms`, when, and whether one
/// is going on.
fn group_fields(g: &Group) -> Vec<(&'static str, String)> {
    vec![
        (
            "group",
            format!(
                "{} · typical {} · worst {} (its fields below)",
                g.counted(),
                fmt_dur(g.typical_ms),
                fmt_dur(g.worst.duration_ms)
            ),
        ),
        (
            "seen",
            format!(
                "first {} · last {}{}",
                fmt_clock(g.first_ms),
                fmt_clock(g.last_ms),
                if g.ongoing { " · one going on" } else { "" }
            ),
        ),
    ]
}

/// A member in one line: `[00:38.2] worker 0 · task 24 · 352 ms · off CPU`.
fn member(f: &Finding) -> String {
    let mut parts = Vec::new();
    if let Some(worker) = f.worker {
        parts.push(format!("worker {worker}"));
    }
    if let Some(task) = f.task_id {
        parts.push(format!("task {task}"));
    }
    parts.push(fmt_dur(f.duration_ms));
    parts.push(
        match f.cpu {
            CpuUse::On => "on CPU",
            CpuUse::Off => "off CPU",
            CpuUse::Unknown => "CPU unknown",
            CpuUse::Starved => "starved of CPU",
        }
        .into(),
    );
    if f.ongoing {
        parts.push("ongoing".into());
    }
    format!("[{}] {}", fmt_clock(f.first_seen_ms), parts.join(" · "))
}

/// What a `/proc` thread state letter means.
pub fn thread_state(state: char) -> String {
    let meaning = match state {
        'R' => "running",
        'S' => "sleeping",
        'D' => "waiting on disk, uninterruptible",
        'Z' => "zombie",
        'T' => "stopped",
        't' => "stopped by a tracer",
        'I' => "idle",
        'X' => "dead",
        _ => return state.to_string(),
    };
    format!("{state} ({meaning})")
}

fn cpu(f: &Finding) -> String {
    let ratio = f
        .cpu_ratio
        .filter(|r| r.is_finite())
        .map(|r| format!(" ({:.0}% of the time on a CPU)", r * 100.0))
        .unwrap_or_default();
    let word = match f.cpu {
        CpuUse::On => "on the CPU: computing",
        CpuUse::Off => "off the CPU: waiting",
        CpuUse::Unknown => "unknown",
        CpuUse::Starved => "starved: waiting for a CPU most of the time",
    };
    let waited = f
        .cpu_wait_ms
        .filter(|w| *w >= 1.0)
        .map(|w| format!(", {} waiting for a CPU", fmt_dur(w)))
        .unwrap_or_default();
    format!("{word}{ratio}{waited}")
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or("-".into(), |v| v.to_string())
}

/// (label, value) for every field, in reading order.
pub fn fields(f: &Finding) -> Vec<(&'static str, String)> {
    vec![
        ("kind", f.kind.label().to_string()),
        ("severity", severity_name(f.severity, false).to_string()),
        ("summary", f.summary.clone()),
        ("worker", or_dash(f.worker)),
        ("task", or_dash(f.task_id)),
        ("workload", or_dash(f.workload.as_ref())),
        (
            "spawned at",
            f.spawned_at.as_ref().map_or("-".into(), |at| {
                format!("{at} (where the task was created, not what held the worker)")
            }),
        ),
        ("duration", fmt_dur(f.duration_ms)),
        ("first seen", fmt_clock(f.first_seen_ms)),
        ("last seen", fmt_clock(f.last_seen_ms)),
        ("ongoing", if f.ongoing { "yes" } else { "no" }.to_string()),
        ("cpu", cpu(f)),
        (
            "thread state",
            f.thread_state.map_or("-".into(), thread_state),
        ),
        ("syscall", or_dash(f.syscall.as_ref())),
        (
            "blocking line",
            f.site.as_ref().map_or("-".into(), |site| {
                format!("{site} (the code that held the worker: change this)")
            }),
        ),
        ("count", f.count.to_string()),
        ("hint", f.hint.clone()),
    ]
}

/// The last three parts of a long path: the crate and file, not the registry.
fn short_path(file: &str) -> String {
    let parts: Vec<&str> = file.split('/').collect();
    if parts.len() <= 4 {
        return file.to_string();
    }
    format!("…/{}", parts[parts.len() - 3..].join("/"))
}

impl Widget for Detail<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let f = self.finding;
        let w = area.width.saturating_sub(4).min(MAX_WIDTH);
        let value_width = usize::from(w).saturating_sub(LABEL + 5).max(8);
        let mut lines: Vec<Line> = Vec::new();
        // A group of one is its finding: no group lines.
        let many = self.group.filter(|g| g.members.len() > 1);
        let group = many.map(group_fields).unwrap_or_default();
        for (label, value) in group.into_iter().chain(fields(f)) {
            let style = match label {
                "severity" | "kind" | "summary" | "group" => t.severity(f.severity),
                "hint" => t.strong,
                _ => t.text,
            };
            let value = t.s(&value);
            let wrapped = textwrap::wrap(&value, value_width);
            for (i, part) in wrapped.iter().enumerate() {
                let label = if i == 0 { label } else { "" };
                lines.push(Line::from(vec![
                    Span::styled(format!(" {label:<LABEL$} "), t.dim),
                    Span::styled(part.to_string(), style),
                ]));
            }
        }
        if !f.stack.is_empty() {
            lines.push(Line::from(Span::styled(
                t.s(&format!(
                    " {:<LABEL$} innermost first; ▶ marks the blocking line",
                    "stack"
                )),
                t.dim,
            )));
            // As many frames as fit beside a few members, the site always among them.
            let members = self.group.map_or(0, |g| g.members.len());
            let keep = if members > 1 {
                members.min(MEMBERS) + 1
            } else {
                0
            };
            let room = usize::from(area.height.saturating_sub(4))
                .saturating_sub(lines.len() + keep)
                .max(3);
            let site_at = f
                .stack
                .iter()
                .position(|fr| fr.app && fr.file.is_some())
                .unwrap_or(0);
            let first = site_at.saturating_sub(room.saturating_sub(2));
            for (i, frame) in f.stack.iter().enumerate().skip(first).take(room) {
                let at = match (&frame.file, frame.line) {
                    (Some(file), Some(line)) => format!("  {}:{line}", short_path(file)),
                    _ => String::new(),
                };
                let mark = if i == site_at && frame.app {
                    "▶"
                } else {
                    " "
                };
                let inl = if frame.inlined { " (inlined)" } else { "" };
                let text = t.s(&format!("{mark} {}{inl}{at}", frame.function));
                let style = if i == site_at && frame.app {
                    t.strong
                } else if frame.app {
                    t.text
                } else {
                    t.dim
                };
                let text: String = text
                    .chars()
                    .take(usize::from(w).saturating_sub(4))
                    .collect();
                lines.push(Line::from(Span::styled(format!("  {text}"), style)));
            }
        }
        if let Some(g) = many {
            let room = usize::from(area.height.saturating_sub(4)).saturating_sub(lines.len());
            if room >= 2 {
                lines.push(Line::from(Span::styled(
                    format!(" {:<LABEL$} the latest first", "members"),
                    t.dim,
                )));
                let shown = g.members.iter().rev().take((room - 1).min(MEMBERS));
                lines.extend(
                    shown.map(|m| Line::from(Span::styled(format!("  {}", member(m)), t.text))),
                );
            }
        }
        let h = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
        let rect = centered(area, w, h);
        if rect.is_empty() {
            return;
        }
        Clear.render(rect, buf);
        let block = t
            .block(Line::styled(" Finding detail ", t.title), true)
            .title_bottom(Line::styled(" Esc or Enter closes ", t.dim).right_aligned());
        Paragraph::new(lines).block(block).render(rect, buf);
    }
}
