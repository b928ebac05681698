//! Workloads: one compact panel each with its figures and a sparkline of its p99. The panel of
//! the workload the knob keys act on is marked, and says what `m` and `+`/`-` would do (in a
//! live run: a replay has no knobs).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline, Widget};

use crate::app::App;
use crate::app::knobs::{flip, intensity};
use crate::app::view::{WorkloadPanel, workload_panels};
use crate::scenario::{HoldBy, Knob, WorkloadKind};

use super::layout::Mode;
use super::text::{column_back, fit_to_width, flush_right, truncate, width};
use super::theme::Theme;
use super::workers::scroll_offset;

/// Narrower than this, side-by-side panels give way to one stacked box.
const MIN_PANEL_WIDTH: u16 = 30;

pub struct Workloads<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
    pub mode: Mode,
}

/// The settings of the workload the knob keys act on, when it has a panel on screen.
pub fn selected_kind<'a>(app: &'a App, panels: &[WorkloadPanel]) -> Option<&'a WorkloadKind> {
    let (id, kind) = app.knob_workload()?;
    panels.iter().any(|p| p.id == *id).then_some(kind)
}

/// The value an enumerated knob sets, in words.
fn knob_value(knob: Knob) -> Option<&'static str> {
    match knob {
        Knob::Placement(p) => Some(p.name()),
        Knob::Lock(l) => Some(l.name()),
        Knob::HoldBy(h) => Some(h.name()),
        Knob::SleepMode(m) => Some(m.name()),
        Knob::FsMode(m) => Some(m.name()),
        _ => None,
    }
}

/// The workload's mistake/fix setting now, in words (what `m` flips).
fn flip_value(kind: &WorkloadKind) -> Option<&'static str> {
    match kind {
        WorkloadKind::Hash(s) => Some(s.placement.name()),
        WorkloadKind::Mutex(s) => Some(s.lock.name()),
        WorkloadKind::Sleep(s) => Some(s.mode.name()),
        WorkloadKind::Fs(s) => Some(s.mode.name()),
        WorkloadKind::Echo(_) | WorkloadKind::Spawn(_) => None,
    }
}

/// What `m` changes, in the footer's words: a lock held by sleeping changes its sleep with it
/// (`std::thread::sleep` under a std lock, `tokio::time::sleep` under a tokio one).
fn flip_key(kind: &WorkloadKind, knob: Knob) -> &'static str {
    match kind {
        WorkloadKind::Mutex(s) if s.hold_by == HoldBy::Sleep => "lock+sleep",
        _ => knob.key(),
    }
}

/// "256 MiB", "1.5 MiB", "512 KiB".
fn fmt_bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = KIB * 1024;
    const GIB: u64 = MIB * 1024;
    let (unit, name) = match n {
        n if n >= GIB => (GIB, "GiB"),
        n if n >= MIB => (MIB, "MiB"),
        n if n >= KIB => (KIB, "KiB"),
        _ => return format!("{n} B"),
    };
    if n.is_multiple_of(unit) {
        format!("{} {name}", n / unit)
    } else {
        format!("{:.1} {name}", n as f64 / unit as f64)
    }
}

/// The intensity `+`/`-` change now: "1000/s", "256 MiB", "8".
fn intensity_value(kind: &WorkloadKind) -> String {
    match kind {
        WorkloadKind::Echo(s) => format!("{}/s", s.rate),
        WorkloadKind::Spawn(s) => format!("{}/s", s.rate),
        WorkloadKind::Hash(s) => fmt_bytes(s.size),
        WorkloadKind::Fs(s) => fmt_bytes(s.size),
        WorkloadKind::Mutex(s) => s.tasks.to_string(),
        WorkloadKind::Sleep(s) => s.tasks.to_string(),
    }
}

/// What the knob keys would do to `kind`, as (text, is a key) pieces, from the most words to
/// the fewest: "m: placement worker→spawn_blocking · +/-: size 256 MiB" down to
/// "m: spawn_blocking".
fn knob_forms(kind: &WorkloadKind, sep: &str) -> Vec<Vec<(String, bool)>> {
    let flip = flip(kind).map(|k| {
        let next = knob_value(k).unwrap_or("?");
        (flip_key(kind, k), flip_value(kind).unwrap_or("?"), next)
    });
    let more = intensity(kind, true)
        .or_else(|| intensity(kind, false))
        .map(|k| k.key());
    let piece = |text: String, key: bool| (text, key);
    let form = |flip_text: Option<String>, more_text: Option<String>| {
        let mut pieces = Vec::new();
        if let Some(text) = flip_text {
            pieces.push(piece("m".into(), true));
            pieces.push(piece(text, false));
        }
        if let Some(text) = more_text {
            if !pieces.is_empty() {
                pieces.push(piece(sep.into(), false));
            }
            pieces.push(piece("+/-".into(), true));
            pieces.push(piece(text, false));
        }
        pieces
    };
    let value = intensity_value(kind);
    let mut forms = vec![
        form(
            flip.map(|(key, now, next)| format!(": {key} {now}→{next}")),
            more.map(|key| format!(": {key} {value}")),
        ),
        form(
            flip.map(|(key, now, next)| format!(": {key} {now}→{next}")),
            more.map(|key| format!(": {key}")),
        ),
        form(
            flip.map(|(key, _, next)| format!(": {key}→{next}")),
            more.map(|key| format!(": {key}")),
        ),
        form(
            flip.map(|(_, _, next)| format!(": {next}")),
            more.map(|key| format!(": {key}")),
        ),
    ];
    if flip.is_some() {
        forms.push(form(flip.map(|(_, _, next)| format!(": {next}")), None));
    }
    forms.retain(|f| !f.is_empty());
    forms
}

/// The knob hints for `kind` in at most `max` cells (keys in the key style).
pub fn knob_hints<'a>(kind: &WorkloadKind, t: &Theme, max: usize) -> Line<'a> {
    let forms = knob_forms(kind, t.sep());
    let styled = |pieces: &[(String, bool)]| -> Vec<(String, Style)> {
        pieces
            .iter()
            .map(|(text, key)| (t.s(text), if *key { t.key } else { t.text }))
            .collect()
    };
    let total = |pieces: &[(String, Style)]| pieces.iter().map(|(s, _)| width(s)).sum::<usize>();
    let chosen = forms
        .iter()
        .map(|f| styled(f))
        .find(|f| total(f) <= max)
        .or_else(|| {
            // Nothing fits: the shortest form, cut.
            forms.last().map(|f| {
                let text: String = styled(f).into_iter().map(|(s, _)| s).collect();
                vec![(truncate(&text, max, t.ellipsis()), t.key)]
            })
        })
        .unwrap_or_default();
    Line::from(
        chosen
            .into_iter()
            .map(|(s, style)| Span::styled(s, style))
            .collect::<Vec<_>>(),
    )
}

impl Widget for Workloads<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        let panels = workload_panels(self.app);
        let n = u16::try_from(panels.len()).unwrap_or(u16::MAX);
        let side_by_side = self.mode == Mode::Wide && n > 0 && area.width / n >= MIN_PANEL_WIDTH;
        if side_by_side {
            let rects = Layout::horizontal(panels.iter().map(|_| Constraint::Fill(1))).split(area);
            for (panel, rect) in panels.iter().zip(rects.iter()) {
                self.render_panel(panel, *rect, buf);
            }
        } else {
            self.render_stack(&panels, area, buf);
        }
    }
}

impl Workloads<'_> {
    /// The knob keys act on this panel's workload.
    fn selected(&self, panel: &WorkloadPanel) -> bool {
        self.app
            .knob_workload()
            .is_some_and(|(id, _)| *id == panel.id)
    }

    /// "api echo rate=1000/s"; "▶ hasher hash placement=worker" highlighted when selected.
    fn heading<'a>(&self, panel: &WorkloadPanel) -> Vec<Span<'a>> {
        let t = self.theme;
        if self.selected(panel) {
            return vec![Span::styled(
                t.s(&format!(
                    "{} {} {} {}",
                    t.pointer(),
                    panel.id,
                    panel.kind,
                    panel.setting
                )),
                t.selected,
            )];
        }
        vec![
            Span::styled(t.s(&panel.id), t.strong),
            Span::styled(format!(" {} ", panel.kind), t.dim),
            Span::styled(t.s(&panel.setting), t.dim),
        ]
    }

    fn figure<'a>(&self, label: &str, value: &str, label_width: usize, max: usize) -> Line<'a> {
        let t = self.theme;
        let label = format!("{:<label_width$} ", t.s(label));
        let value = truncate(&t.s(value), max.saturating_sub(width(&label)), t.ellipsis());
        Line::from(vec![
            Span::styled(label, t.dim),
            Span::styled(value, t.text),
        ])
    }

    fn sparkline(&self, panel: &WorkloadPanel, area: Rect, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        // The whole minute, squeezed into the columns there are.
        let columns = usize::from(area.width);
        let spark = fit_to_width(&panel.spark, columns);
        Sparkline::default()
            .data(spark.iter().copied())
            .bar_set(self.theme.bar_set())
            .style(self.theme.spark)
            .render(flush_right(area, spark.len()), buf);
        // The moments the settings changed, on the bottom row: before on the left, after on
        // the right.
        let mark = self.theme.s("▲");
        for offset in &panel.marks {
            let back = column_back(panel.spark.len(), columns, *offset);
            let Ok(back) = u16::try_from(back) else {
                continue;
            };
            if back >= area.width {
                continue;
            }
            let x = area.right() - 1 - back;
            if let Some(cell) = buf.cell_mut((x, area.bottom() - 1)) {
                cell.set_symbol(&mark).set_style(self.theme.event);
            }
        }
    }

    /// One boxed panel: the knob keys when selected, the figures, then the sparkline in the
    /// rows left.
    fn render_panel(&self, panel: &WorkloadPanel, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let selected = self.selected(panel);
        let mut title = vec![Span::raw(" ")];
        title.extend(self.heading(panel));
        title.push(Span::raw(" "));
        // A mark on the sparkline says what it is.
        let marked = if panel.marks.is_empty() {
            ""
        } else {
            " · ▲ setting changed"
        };
        let block = t.block(Line::from(title), false).title_bottom(Line::styled(
            t.s(&format!(" {}{marked} ", panel.spark_label)),
            t.dim,
        ));
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.is_empty() {
            return;
        }
        let max = usize::from(inner.width);
        let label_width = panel.lines.iter().map(|(l, _)| width(l)).max().unwrap_or(0);
        let mut lines: Vec<Line> = Vec::new();
        if selected && let Some((_, kind)) = self.app.knob_workload() {
            lines.push(knob_hints(kind, t, max));
        }
        lines.extend(
            panel
                .lines
                .iter()
                .map(|(l, v)| self.figure(l, v, label_width, max)),
        );
        let shown = u16::try_from(lines.len())
            .unwrap_or(u16::MAX)
            .min(inner.height.saturating_sub(1).max(1));
        lines.truncate(usize::from(shown));
        let [text, spark] =
            Layout::vertical([Constraint::Length(shown), Constraint::Fill(1)]).areas(inner);
        Paragraph::new(lines).render(text, buf);
        self.sparkline(panel, spark, buf);
    }

    /// All workloads in one box, as many lines each as fit; the selected workload's knob keys
    /// on the bottom border.
    fn render_stack(&self, panels: &[WorkloadPanel], area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let mut block = t.block(Line::styled(" Workloads ", t.title), false);
        if let Some(kind) = selected_kind(self.app, panels) {
            let room = usize::from(area.width).saturating_sub(4);
            let mut hints = knob_hints(kind, t, room);
            if hints.width() > 0 {
                hints.spans.insert(0, Span::raw(" "));
                hints.spans.push(Span::raw(" "));
                block = block.title_bottom(hints);
            }
        }
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.is_empty() {
            return;
        }
        if panels.is_empty() {
            // An attached app runs no workloads of tokmon's: its tasks show in the workers,
            // poll durations and findings, by spawn site.
            let text = if self.app.run.info.workloads.is_empty() {
                "no workloads of tokmon's here: the app's tasks are in the findings, by spawn site"
            } else {
                "no workload reported yet"
            };
            Paragraph::new(Line::styled(text, t.dim))
                .wrap(ratatui::widgets::Wrap { trim: true })
                .render(inner, buf);
            return;
        }
        let rows = usize::from(inner.height);
        let each = (rows / panels.len()).max(1);
        let max = usize::from(inner.width);
        let label_width = panels
            .iter()
            .flat_map(|p| p.lines.iter().map(|(l, _)| width(l)))
            .max()
            .unwrap_or(0);
        // One line each and still too many: scroll so the selected one is in view.
        let selected = panels.iter().position(|p| self.selected(p)).unwrap_or(0);
        let skip = if each == 1 {
            scroll_offset(selected, rows, panels.len())
        } else {
            0
        };
        let mut y = inner.y;
        for panel in panels.iter().skip(skip) {
            if y >= inner.bottom() {
                break;
            }
            let row = |y: u16| Rect::new(inner.x, y, inner.width, 1);
            let heading = self.heading(panel);
            let heading_width: usize = heading.iter().map(|s| s.width()).sum();
            if each >= 2 {
                // A heading with a short sparkline, then the figures indented.
                Paragraph::new(Line::from(heading)).render(row(y), buf);
                let spark_x = u16::try_from(heading_width + 2).unwrap_or(u16::MAX);
                if inner.width > spark_x + 6 {
                    let w = (inner.width - spark_x).min(24);
                    self.sparkline(panel, Rect::new(inner.right() - w, y, w, 1), buf);
                }
                y += 1;
                for (label, value) in panel.lines.iter().take(each - 1) {
                    if y >= inner.bottom() {
                        break;
                    }
                    let line = self.figure(label, value, label_width, max.saturating_sub(2));
                    Paragraph::new(line).render(
                        Rect::new(inner.x + 2, y, inner.width.saturating_sub(2), 1),
                        buf,
                    );
                    y += 1;
                }
            } else {
                // One line: the id, then the first figure.
                let id = if self.selected(panel) {
                    Span::styled(t.s(&format!("{} {}", t.pointer(), panel.id)), t.selected)
                } else {
                    Span::styled(t.s(&panel.id), t.strong)
                };
                let used = id.width() + 1;
                let mut spans = vec![id, Span::raw(" ")];
                if let Some((label, value)) = panel.lines.first() {
                    spans.extend(self.figure(label, value, 0, max.saturating_sub(used)).spans);
                }
                Paragraph::new(Line::from(spans)).render(row(y), buf);
                y += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::scenario::{EchoSpec, HashSpec, MutexSpec, Placement};
    use crate::ui::Look;

    const MIB: u64 = 1024 * 1024;

    fn text(line: &Line) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    fn hash() -> WorkloadKind {
        WorkloadKind::Hash(HashSpec {
            placement: Placement::Worker,
            tasks: 2,
            size: 256 * MIB,
            every: Duration::from_millis(10),
            chunk: MIB,
        })
    }

    #[test]
    fn knob_hints_say_what_m_and_plus_minus_do_and_shrink_to_fit() {
        let t = Theme::new(Look::default());
        assert_eq!(
            text(&knob_hints(&hash(), &t, 200)),
            "m: placement worker→spawn_blocking · +/-: size 256 MiB"
        );
        assert_eq!(
            text(&knob_hints(&hash(), &t, 47)),
            "m: placement worker→spawn_blocking · +/-: size"
        );
        assert_eq!(
            text(&knob_hints(&hash(), &t, 30)),
            "m: spawn_blocking · +/-: size"
        );
        assert_eq!(text(&knob_hints(&hash(), &t, 8)), "m: spaw…");
        let echo = WorkloadKind::Echo(EchoSpec {
            connections: 1,
            rate: 1000,
            payload: 64,
            timeout: Duration::from_secs(1),
        });
        assert_eq!(text(&knob_hints(&echo, &t, 200)), "+/-: rate 1000/s");
        let mutex = WorkloadKind::Mutex(MutexSpec {
            tasks: 8,
            lock: crate::scenario::LockKind::Std,
            hold: Duration::from_millis(20),
            hold_by: crate::scenario::HoldBy::Sleep,
            every: Duration::from_millis(10),
        });
        // Held by sleeping, the flip changes the sleep with the lock; held by spinning, only
        // the lock.
        assert_eq!(
            text(&knob_hints(&mutex, &t, 200)),
            "m: lock+sleep std→tokio · +/-: tasks 8"
        );
        let spinning = match mutex {
            WorkloadKind::Mutex(spec) => WorkloadKind::Mutex(MutexSpec {
                hold_by: crate::scenario::HoldBy::Spin,
                ..spec
            }),
            other => other,
        };
        assert_eq!(
            text(&knob_hints(&spinning, &t, 200)),
            "m: lock std→tokio · +/-: tasks 8"
        );
        let ascii = Theme::new(Look {
            ascii: true,
            ..Look::default()
        });
        assert!(text(&knob_hints(&hash(), &ascii, 200)).is_ascii());
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(fmt_bytes(256 * MIB), "256 MiB");
        assert_eq!(fmt_bytes(MIB + MIB / 2), "1.5 MiB");
        assert_eq!(fmt_bytes(4096 * MIB), "4 GiB");
        assert_eq!(fmt_bytes(64 * 1024), "64 KiB");
    }
}
