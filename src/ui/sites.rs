//! The spawn-sites view (`t`): one row per spawn site, busiest first, with sort keys, a `/`
//! filter, and Enter for a site's detail (its poll histogram, busy history, recent long polls
//! and findings). Drawn over the dashboard, like the help.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget};

use crate::app::App;
use crate::app::sites::{SiteDetail, SiteRow, SiteSort, SitesView, site_detail, site_rows};
use crate::app::view::now_window;
use crate::probe::buckets::{bucket_ceiling_ns, bucket_floor_ns};

use super::text::{
    fit_to_width, fmt_clock, fmt_count, fmt_dur, fmt_rate, fmt_share, truncate, width,
};
use super::theme::Theme;
use super::workers::scroll_offset;

/// Widths of the figure columns: spawns/s, ~polls/s, ~busy, max poll, long, stalls.
const COLUMNS: [usize; 6] = [9, 9, 7, 10, 6, 7];

pub struct Sites<'a> {
    pub app: &'a App,
    pub view: &'a SitesView,
    pub theme: &'a Theme,
}

impl Widget for Sites<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let rect = Rect {
            x: area.x + 1,
            y: area.y + 1,
            width: area.width.saturating_sub(2),
            height: area.height.saturating_sub(2),
        };
        if rect.width < 20 || rect.height < 5 {
            return;
        }
        Clear.render(rect, buf);
        let inner = usize::from(rect.width.saturating_sub(2));
        let visible = usize::from(rect.height.saturating_sub(2));
        let other = self.app.model().sites.other_sites;
        // The window of the rates, the busy share and the longest poll.
        let now = now_window(self.app);
        let lines = if self.view.detail {
            match site_detail(self.app) {
                Some(detail) => detail_lines(&detail, &now, t, inner),
                None => vec![Line::styled(" no site selected", t.dim)],
            }
        } else {
            let rows = site_rows(self.app);
            table_lines(&rows, self.view, other, &now, t, inner, visible)
        };
        let hint = if self.view.detail {
            " esc back "
        } else if self.view.typing {
            " type to filter · enter keep · esc clear "
        } else {
            " b p s m l x n sort · / filter · ↑↓ select · enter detail · esc close "
        };
        let block = t
            .block(Line::styled(" Spawn sites ", t.title), true)
            .title_bottom(Line::styled(t.s(hint), t.dim).right_aligned());
        Paragraph::new(lines).block(block).render(rect, buf);
    }
}

fn pad_left(text: &str, w: usize) -> String {
    format!("{:>w$}", text, w = w.max(width(text)))
}

fn table_lines<'a>(
    rows: &[SiteRow],
    view: &SitesView,
    other: u64,
    now: &str,
    t: &Theme,
    inner: usize,
    visible: usize,
) -> Vec<Line<'a>> {
    let figures: usize = COLUMNS.iter().sum();
    let name_width = inner.saturating_sub(figures + 2).max(10);
    let filter = if view.typing || !view.filter.is_empty() {
        let cursor = if view.typing { "_" } else { "" };
        format!(" · filter: {}{cursor}", view.filter)
    } else {
        String::new()
    };
    let mut lines = vec![Line::styled(
        t.s(&format!(
            " sorted by {}{filter} · ~ estimated · busy: share of the workers' time · {now}; \
             long, stalls: since start",
            view.sort.header()
        )),
        t.dim,
    )];
    let mark = |sort: SiteSort, name: &str| {
        if view.sort == sort {
            format!("{name}{}", t.s("▼"))
        } else {
            name.to_owned()
        }
    };
    let headers = [
        mark(SiteSort::Spawns, "spawns/s"),
        mark(SiteSort::Polls, "~polls/s"),
        mark(SiteSort::Busy, "~busy"),
        mark(SiteSort::MaxPoll, "max poll"),
        mark(SiteSort::LongPolls, "long"),
        mark(SiteSort::Stalls, "stalls"),
    ];
    let mut head = format!(
        "  {:<name_width$}",
        truncate(
            &mark(SiteSort::Name, "site [label]"),
            name_width,
            t.ellipsis()
        )
    );
    for (h, w) in headers.iter().zip(COLUMNS) {
        head.push_str(&pad_left(h, w));
    }
    lines.push(Line::styled(head, t.strong));
    if rows.is_empty() {
        lines.push(Line::styled(
            if view.filter.is_empty() {
                " no spawn site yet (the probe's site table is empty)"
            } else {
                " no site matches the filter"
            },
            t.dim,
        ));
        return lines;
    }
    let room = visible.saturating_sub(lines.len() + usize::from(other > 0));
    let selected = view.selected.min(rows.len() - 1);
    let offset = scroll_offset(selected, room, rows.len());
    for (i, row) in rows.iter().enumerate().skip(offset).take(room) {
        let named = |site: &str| match &row.label {
            Some(label) => format!("{site} [{label}]"),
            None => site.to_owned(),
        };
        // Narrow: the file, line and label before the directories.
        let mut name = named(&row.site);
        if width(&name) > name_width {
            name = named(row.site.rsplit('/').next().unwrap_or(&row.site));
        }
        let figures = [
            fmt_rate(row.spawns_per_sec),
            fmt_rate(row.polls_per_sec),
            fmt_share(Some(row.busy)),
            t.s(&max_poll(row)),
            fmt_count(row.long_polls),
            fmt_count(row.stalls),
        ];
        let pointer = if i == selected { t.pointer() } else { " " };
        let mut text = format!(
            "{pointer} {:<name_width$}",
            truncate(&t.s(&name), name_width, t.ellipsis())
        );
        for (f, w) in figures.iter().zip(COLUMNS) {
            text.push_str(&pad_left(f, w));
        }
        let style = if i == selected {
            t.selected
        } else if row.stalls > 0 {
            t.warning
        } else {
            t.text
        };
        let pad = inner.saturating_sub(width(&text));
        lines.push(Line::styled(format!("{text}{}", " ".repeat(pad)), style));
    }
    if other > 0 {
        lines.push(Line::styled(
            format!(" {other} sites past the probe's bound are counted in the `other` row"),
            t.dim,
        ));
    }
    lines
}

fn spark(values: &[u64], w: usize, t: &Theme) -> String {
    let set = t.bar_set();
    let levels = [
        set.empty,
        set.one_eighth,
        set.one_quarter,
        set.three_eighths,
        set.half,
        set.five_eighths,
        set.three_quarters,
        set.seven_eighths,
        set.full,
    ];
    fit_to_width(values, w)
        .iter()
        .map(|&v| levels[usize::try_from(v.min(100) * 8 / 100).unwrap_or(8)])
        .collect()
}

/// A site's longest poll of the window: `-` for none, `≥` where only a histogram bucket
/// says it.
fn max_poll(row: &SiteRow) -> String {
    if row.max_poll_ms <= 0.0 {
        "-".to_owned()
    } else if row.max_poll_exact {
        fmt_dur(row.max_poll_ms)
    } else {
        format!("≥{}", fmt_dur(row.max_poll_ms))
    }
}

fn detail_lines<'a>(d: &SiteDetail, now: &str, t: &Theme, inner: usize) -> Vec<Line<'a>> {
    let r = &d.row;
    let mut lines = vec![Line::from(vec![
        Span::styled(format!(" {}", t.s(&r.site)), t.strong),
        Span::styled(
            r.label
                .as_ref()
                .map_or(String::new(), |l| format!("  [{}]", t.s(l))),
            t.text,
        ),
    ])];
    lines.push(Line::styled(
        format!(
            " {now}: {} spawns/s · ~{} polls/s · ~{} busy · longest poll {}",
            fmt_rate(r.spawns_per_sec),
            fmt_rate(r.polls_per_sec),
            fmt_share(Some(r.busy)),
            t.s(&max_poll(r))
        ),
        t.text,
    ));
    lines.push(Line::styled(
        format!(
            " since the start: {} spawns · ~{} polls · {} long poll{} · {} stall{} · longest poll {}",
            fmt_count(d.spawns),
            fmt_count(d.polls),
            r.long_polls,
            if r.long_polls == 1 { "" } else { "s" },
            r.stalls,
            if r.stalls == 1 { "" } else { "s" },
            fmt_dur(d.longest_ms)
        ),
        t.text,
    ));
    lines.push(Line::from(""));
    let spark_width = inner.saturating_sub(16).min(100);
    lines.push(Line::from(vec![
        Span::styled(" ~busy history ", t.strong),
        Span::styled(spark(&d.busy_history, spark_width, t), t.spark),
    ]));
    lines.push(Line::from(""));
    lines.push(Line::styled(
        " poll durations since the start (~ short ones from a 1-in-256 sample; 2 ms up exact)",
        t.strong,
    ));
    let total: u64 = d.buckets.iter().sum();
    if total == 0 {
        lines.push(Line::styled("   none timed yet", t.dim));
    }
    let bar_width = inner.saturating_sub(30).min(50);
    let most = d.buckets.iter().copied().max().unwrap_or(1).max(1);
    for (i, &n) in d.buckets.iter().enumerate().filter(|(_, n)| **n > 0) {
        let from = fmt_dur(bucket_floor_ns(i) as f64 / 1e6);
        let to = bucket_ceiling_ns(i).map_or("up".to_owned(), |c| fmt_dur(c as f64 / 1e6));
        let bar = usize::try_from(n.saturating_mul(bar_width as u64) / most)
            .unwrap_or(0)
            .max(1);
        lines.push(Line::from(vec![
            Span::styled(format!("   {:>18} ", t.s(&format!("{from}–{to}"))), t.text),
            Span::styled(t.s(&"█".repeat(bar)), t.bar),
            Span::styled(format!(" {}", fmt_count(n)), t.dim),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(" recent long polls and stalls", t.strong));
    if d.recent.is_empty() {
        lines.push(Line::styled("   none", t.dim));
    }
    for p in &d.recent {
        let what = if p.stall { "stall" } else { "long poll" };
        let worker = p
            .worker
            .map_or(String::new(), |w| format!(" on worker {w}"));
        let running = if p.running { " (running)" } else { "" };
        lines.push(Line::styled(
            format!(
                "   [{}] {what} {}{worker}{running}",
                fmt_clock(p.started_ns / 1_000_000),
                fmt_dur(p.duration_ns as f64 / 1e6)
            ),
            if p.stall { t.warning } else { t.text },
        ));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(" recent findings", t.strong));
    if d.findings.is_empty() {
        lines.push(Line::styled("   none", t.dim));
    }
    for (summary, at) in &d.findings {
        let text = format!("   [{}] {summary}", fmt_clock(*at));
        lines.push(Line::styled(
            truncate(&t.s(&text), inner, t.ellipsis()),
            t.text,
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use crate::app::fixtures::stuck_app;
    use crate::app::{App, Msg};
    use crate::ui::{Look, draw};

    fn press(app: &mut App, code: KeyCode) {
        app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    }

    fn screen(app: &App, width: u16, height: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
        terminal
            .draw(|frame| draw(frame, app, &Look::default()))
            .expect("drawing into memory");
        format!("{}", terminal.backend())
    }

    #[test]
    fn the_busiest_site_leads_and_the_keys_sort_filter_and_open_it() {
        let mut app = stuck_app(840);
        press(&mut app, KeyCode::Char('t'));
        let rows = crate::app::sites::site_rows(&app);
        assert_eq!(rows[0].site, "src/workload/hash.rs:27:13", "busiest first");
        assert_eq!(rows[0].stalls, 1, "the running stall counted once");
        insta::assert_snapshot!("sites_160x48", screen(&app, 160, 48));
        insta::assert_snapshot!("sites_80x24", screen(&app, 80, 24));
        // Sorted by spawns: the echo server's site.
        press(&mut app, KeyCode::Char('s'));
        assert_eq!(
            crate::app::sites::site_rows(&app)[0].site,
            "src/workload/echo.rs:51:9"
        );
        // Sorted by name: A to Z, whatever their figures.
        press(&mut app, KeyCode::Char('n'));
        let names: Vec<String> = crate::app::sites::site_rows(&app)
            .into_iter()
            .map(|r| r.site)
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert!(names.len() > 1 && names == sorted, "{names:?}");
        // Filtered by label.
        press(&mut app, KeyCode::Char('/'));
        for c in "HASH".chars() {
            press(&mut app, KeyCode::Char(c));
        }
        press(&mut app, KeyCode::Enter);
        let rows = crate::app::sites::site_rows(&app);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].label.as_deref(), Some("hasher"));
        press(&mut app, KeyCode::Enter);
        let detail = crate::app::sites::site_detail(&app).expect("the detail");
        assert!(detail.recent.iter().any(|p| p.stall && p.running));
        assert!(
            !detail.findings.is_empty(),
            "the stall's finding names this site"
        );
        insta::assert_snapshot!("site_detail_120x40", screen(&app, 120, 40));
        press(&mut app, KeyCode::Esc);
        press(&mut app, KeyCode::Esc);
        assert!(app.view.sites.is_none());
    }
}
