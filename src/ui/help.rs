//! The help overlay: every key, and what tokmon itself costs. A replay lists its own keys
//! (pause, step, seek, speed) in place of the demo's, which act on a live run only.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget};

use crate::app::App;
use crate::app::view::runtime_view;

use super::layout::centered;
use super::text::{fmt_share, width};
use super::theme::Theme;

pub struct Help<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
}

/// Keys that change what the screen shows.
const VIEW_KEYS: [(&str, &str); 11] = [
    ("q / Esc / Ctrl-C", "quit"),
    ("space", "pause the display (the workload keeps running)"),
    ("? / F1", "open or close this help"),
    ("Tab", "switch focus between workers and findings"),
    ("↑ ↓ / k j", "select a worker or a group of findings"),
    ("g G / Home End", "select the first / the last"),
    ("Enter", "open the group: its worst, stack, members"),
    ("Esc", "close this help or the detail"),
    ("c", "clear the findings"),
    ("r", "reset the statistics"),
    ("t", "spawn sites: sort keys, / filter, Enter detail"),
];

/// Keys that move a replay.
const REPLAY_KEYS: [(&str, &str); 5] = [
    ("space", "pause or resume the replay"),
    (". / →", "step to the next sample (and pause)"),
    ("[ / ]", "seek back / forward 10 s"),
    ("< / >", "half / double the speed"),
    ("q / Esc / Ctrl-C", "quit"),
];

/// Keys of [`VIEW_KEYS`] a replay lists among its own.
const REPLAY_OWN: [&str; 2] = ["q / Esc / Ctrl-C", "space"];

/// Keys that change the run: the presenter's.
const DEMO_KEYS: [(&str, &str); 5] = [
    ("w / W", "select the next / previous workload"),
    ("m", "flip its setting: the mistake ↔ the fix"),
    ("+ / -", "raise / lower its rate, size or tasks"),
    ("n", "start the next phase now"),
    ("s", "switch to another scenario"),
];

impl Widget for Help<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let app = self.app;
        let view = runtime_view(app);
        let key_width = VIEW_KEYS
            .iter()
            .chain(DEMO_KEYS.iter())
            .chain(REPLAY_KEYS.iter())
            .map(|(k, _)| width(k))
            .max()
            .unwrap_or(0);
        // A demo key that does nothing in this run (no workloads to turn, no phases, no
        // other scenarios) is shown dimmed.
        let idle = |key: &str| -> Option<&'static str> {
            let idle = match key {
                "w / W" | "m" | "+ / -" => app.run.workloads.is_empty(),
                "n" => app.run.info.phase_count == 0,
                "s" => app.view.choices.is_empty(),
                _ => false,
            };
            idle.then_some("not in this run")
        };
        let entry = |key: &str, what: &'static str, dimmed: bool, why: Option<&'static str>| {
            let mut spans = vec![
                Span::styled(
                    format!(" {:<key_width$}  ", t.s(key)),
                    if dimmed { t.dim } else { t.key },
                ),
                Span::styled(t.s(what), if dimmed { t.dim } else { t.text }),
            ];
            if let Some(why) = why {
                spans.push(Span::styled(format!(" ({why})"), t.dim));
            }
            Line::from(spans)
        };
        let replay = app.view.replay.is_some();
        let mut lines: Vec<Line> = Vec::new();
        if replay {
            lines.push(Line::styled(" replay: move through the recording", t.title));
            lines.extend(
                REPLAY_KEYS
                    .iter()
                    .map(|(key, what)| entry(key, what, false, None)),
            );
            lines.push(Line::default());
        }
        lines.push(Line::styled(" view", t.title));
        lines.extend(
            VIEW_KEYS
                .iter()
                .filter(|(key, _)| !(replay && REPLAY_OWN.contains(key)))
                .map(|(key, what)| entry(key, what, false, None)),
        );
        lines.push(Line::default());
        if replay {
            // The demo keys change a live run: one dimmed line says where they went.
            lines.push(Line::from(vec![
                Span::styled(" demo keys", t.title),
                Span::styled(
                    t.s(" (w m + - n s): not in a replay, they change a live run"),
                    t.dim,
                ),
            ]));
        } else {
            // When none applies, the heading says so once rather than every line.
            let none = DEMO_KEYS.iter().all(|(key, _)| idle(key).is_some());
            let mut heading = vec![Span::styled(" demo: change the run", t.title)];
            if none {
                heading.push(Span::styled(" (not in this run)", t.dim));
            }
            lines.push(Line::from(heading));
            lines.extend(DEMO_KEYS.iter().map(|(key, what)| {
                let why = idle(key);
                entry(key, what, why.is_some(), if none { None } else { why })
            }));
        }
        lines.push(Line::default());
        lines.push(Line::from(vec![
            Span::styled(" tokmon's own cost: ", t.dim),
            Span::styled(
                t.s(&format!(
                    "monitor thread {} · ui thread {} of one core",
                    fmt_share(view.monitor_cpu),
                    fmt_share(view.ui_cpu)
                )),
                t.strong,
            ),
        ]));
        let content_width = lines.iter().map(Line::width).max().unwrap_or(0) + 1;
        let w = u16::try_from(content_width + 2).unwrap_or(u16::MAX);
        let h = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
        let rect = centered(area, w, h);
        if rect.is_empty() {
            return;
        }
        Clear.render(rect, buf);
        let block = t
            .block(Line::styled(" Help: keys ", t.title), true)
            .title_bottom(Line::styled(" ? or Esc closes ", t.dim).right_aligned());
        Paragraph::new(lines).block(block).render(rect, buf);
    }
}
