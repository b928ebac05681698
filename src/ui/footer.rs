//! The footer: the keys, shortened and then thinned to fit the width. The demo keys (workload
//! knobs, next phase, scenario switcher) show only when they do something; a replay shows its
//! own keys (pause, step, seek, speed) instead.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use crate::app::App;
use crate::app::knobs::intensity;

use super::text::width;
use super::theme::Theme;

pub struct Footer<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
}

/// One key of the footer.
#[derive(Debug, Clone, PartialEq)]
struct Key {
    long: &'static str,
    short: &'static str,
    what: String,
    /// Lower stays longer when the footer is thinned.
    keep: u8,
}

fn key(long: &'static str, short: &'static str, what: impl Into<String>, keep: u8) -> Key {
    Key {
        long,
        short,
        what: what.into(),
        keep,
    }
}

/// The keys of a replay, in the order they are shown: its own, then the view's.
fn replay_keys(paused: bool) -> Vec<Key> {
    vec![
        key("q", "q", "quit", 0),
        key("space", "spc", if paused { "resume" } else { "pause" }, 0),
        key("./→", ".", "step", 1),
        key("[ ]", "[]", "seek 10 s", 1),
        key("< >", "<>", "speed", 2),
        key("?", "?", "help", 0),
        key("tab", "tab", "focus", 5),
        key("↑↓/jk", "jk", "select", 6),
        key("enter", "ret", "detail", 5),
        key("c", "c", "clear", 7),
        key("r", "r", "reset", 7),
    ]
}

/// The keys in the order they are shown.
fn keys(app: &App) -> Vec<Key> {
    if let Some(replay) = app.view.replay {
        return replay_keys(replay.paused);
    }
    let pause = if app.paused() { "resume" } else { "pause" };
    let mut keys = vec![
        key("q", "q", "quit", 0),
        key("space", "spc", pause, 2),
        key("?", "?", "help", 0),
        key("tab", "tab", "focus", 5),
        key("↑↓/jk", "jk", "select", 6),
        key("enter", "ret", "detail", 5),
        key("t", "t", "sites", 2),
        key("c", "c", "clear", 7),
        key("r", "r", "reset", 7),
    ];
    if let Some((_, kind)) = app.knob_workload() {
        let more = intensity(kind, true)
            .or_else(|| intensity(kind, false))
            .map_or("intensity", |k| k.key());
        if app.run.workloads.len() > 1 {
            keys.push(key("w", "w", "workload", 3));
        }
        keys.push(key("m", "m", "flip", 1));
        keys.push(key("+/-", "+-", more, 3));
    }
    if app.run.info.phase_count > 0 {
        keys.push(key("n", "n", "next phase", 1));
    }
    if !app.view.choices.is_empty() {
        keys.push(key("s", "s", "scenarios", 4));
    }
    keys
}

/// The spans of the footer for `max` cells: the full form if it fits, else tighter ones, and
/// as a last resort fewer keys, the least needed dropped first.
pub fn footer_line<'a>(app: &App, t: &Theme, max: usize) -> Line<'a> {
    let keys = keys(app);
    let form = |short: bool, sep: &'static str, shown: &[bool]| {
        let items: Vec<(String, String)> = keys
            .iter()
            .zip(shown)
            .filter(|(_, shown)| **shown)
            .map(|(k, _)| (t.s(if short { k.short } else { k.long }), k.what.clone()))
            .collect();
        let total = items
            .iter()
            .map(|(k, w)| width(k) + 1 + width(w))
            .sum::<usize>()
            + width(sep) * items.len().saturating_sub(1)
            + 1;
        (items, sep, total)
    };
    // Which keys each thinner form keeps: all, then one fewer at a time by `keep`.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(keys[i].keep), std::cmp::Reverse(i)));
    let thinned = (0..keys.len()).map(|dropped| {
        let mut shown = vec![true; keys.len()];
        for &i in order.iter().take(dropped) {
            shown[i] = false;
        }
        shown
    });
    let all = vec![true; keys.len()];
    let chosen = [(false, t.sep()), (false, "  "), (true, "  ")]
        .into_iter()
        .map(|(short, sep)| form(short, sep, &all))
        .chain(thinned.skip(1).map(|shown| form(true, "  ", &shown)))
        .find(|(_, _, total)| *total <= max);
    let Some((items, sep, _)) = chosen else {
        return Line::default();
    };
    let mut spans = vec![Span::raw(" ")];
    for (i, (key, what)) in items.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(sep, t.dim));
        }
        spans.push(Span::styled(key, t.key));
        spans.push(Span::styled(format!(" {what}"), t.text));
    }
    Line::from(spans)
}

impl Widget for Footer<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        Paragraph::new(footer_line(self.app, self.theme, usize::from(area.width)))
            .render(area, buf);
    }
}
