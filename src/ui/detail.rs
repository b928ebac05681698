//! The detail overlay: every field of the selected finding, the hint wrapped in full.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget};

use crate::detect::Finding;
use crate::sample::CpuUse;

use super::findings::severity_name;
use super::layout::centered;
use super::text::{fmt_clock, fmt_dur};
use super::theme::Theme;

/// Widest the box gets, so lines stay readable on a wide terminal.
const MAX_WIDTH: u16 = 100;
const LABEL: usize = 13;

pub struct Detail<'a> {
    pub finding: &'a Finding,
    pub theme: &'a Theme,
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
    };
    format!("{word}{ratio}")
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or("-".into(), |v| v.to_string())
}

/// (label, value) for every field, in reading order.
pub fn fields(f: &Finding) -> Vec<(&'static str, String)> {
    vec![
        ("kind", f.kind.name().to_string()),
        ("severity", severity_name(f.severity, false).to_string()),
        ("summary", f.summary.clone()),
        ("worker", or_dash(f.worker)),
        ("task", or_dash(f.task_id)),
        ("workload", or_dash(f.workload.as_ref())),
        ("spawned at", or_dash(f.spawned_at.as_ref())),
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
        ("blocking site", or_dash(f.site.as_ref())),
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
        for (label, value) in fields(f) {
            let style = match label {
                "severity" | "kind" | "summary" => t.severity(f.severity),
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
                    " {:<LABEL$} innermost first; ▶ marks the blocking site",
                    "stack"
                )),
                t.dim,
            )));
            // As many frames as fit, the site always among them.
            let room = usize::from(area.height.saturating_sub(4)).saturating_sub(lines.len());
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
