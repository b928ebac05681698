//! The spawn-sites view: its state (sort, filter, selection, detail), its keys, and the rows it
//! shows, computed from the model without a terminal.

use crossterm::event::{KeyCode, KeyEvent};

use super::App;
use crate::model::SiteModel;
use crate::model::sites::SitePoll;

pub use crate::model::sites::SiteSort;

impl SiteSort {
    /// The key that picks this sort, and the column header it marks.
    pub const KEYS: [(char, SiteSort, &'static str); 7] = [
        ('b', SiteSort::Busy, "busy"),
        ('p', SiteSort::Polls, "polls/s"),
        ('s', SiteSort::Spawns, "spawns/s"),
        ('m', SiteSort::MaxPoll, "max poll"),
        ('l', SiteSort::LongPolls, "long"),
        ('x', SiteSort::Stalls, "stalls"),
        ('n', SiteSort::Name, "site"),
    ];

    pub fn header(self) -> &'static str {
        Self::KEYS
            .iter()
            .find(|(_, s, _)| *s == self)
            .map_or("busy", |(_, _, h)| h)
    }
}

/// The open spawn-sites view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SitesView {
    pub sort: SiteSort,
    /// Rows whose site or label contains it (case-insensitive).
    pub filter: String,
    /// `/` pressed: keys go to the filter until Enter or Esc.
    pub typing: bool,
    /// Index into the rows shown.
    pub selected: usize,
    /// The selected site's detail is open.
    pub detail: bool,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteRow {
    pub site: String,
    pub label: Option<String>,
    pub spawns_per_sec: f64,
    /// Estimated.
    pub polls_per_sec: f64,
    /// Estimated: share of the workers' time over the last second, 0..=1.
    pub busy: f64,
    /// The longest poll of the latest interval, ms; exact from the long-poll threshold up.
    pub max_poll_ms: f64,
    pub max_poll_exact: bool,
    pub long_polls: u64,
    pub stalls: u64,
}

/// The selected site's detail.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteDetail {
    pub row: SiteRow,
    /// Polls per probe bucket since the start (estimated; long ones exact).
    pub buckets: Vec<u64>,
    /// Busy % of each interval, oldest first.
    pub busy_history: Vec<u64>,
    pub recent: Vec<SitePoll>,
    /// Findings spawned from this site: (summary, when first seen, ms).
    pub findings: Vec<(String, u64)>,
    pub longest_ms: f64,
    pub spawns: u64,
    pub polls: u64,
}

fn row(s: &SiteModel) -> SiteRow {
    SiteRow {
        site: s.site.clone(),
        label: s.label.clone(),
        spawns_per_sec: s.spawns_per_sec(),
        polls_per_sec: s.polls_per_sec(),
        busy: s.busy_share(),
        max_poll_ms: s.max_poll_ns as f64 / 1e6,
        max_poll_exact: s.max_poll_exact,
        long_polls: s.long_polls,
        stalls: s.stalls,
    }
}

fn matches(s: &SiteModel, filter: &str) -> bool {
    if filter.is_empty() {
        return true;
    }
    let filter = filter.to_lowercase();
    s.site.to_lowercase().contains(&filter)
        || s.label
            .as_deref()
            .is_some_and(|l| l.to_lowercase().contains(&filter))
}

/// The sites shown, filtered and sorted, as models.
fn shown<'a>(app: &'a App, view: &SitesView) -> Vec<&'a SiteModel> {
    let mut sites: Vec<&SiteModel> = app
        .model()
        .sites
        .sites
        .iter()
        .filter(|s| matches(s, &view.filter))
        .collect();
    sites.sort_by(|a, b| view.sort.compare(*a, *b));
    sites
}

/// The rows of the open view (none when closed).
pub fn site_rows(app: &App) -> Vec<SiteRow> {
    app.view
        .sites
        .as_ref()
        .map(|view| shown(app, view).into_iter().map(row).collect())
        .unwrap_or_default()
}

/// The selected site's detail, when the view and its detail are open.
pub fn site_detail(app: &App) -> Option<SiteDetail> {
    let view = app.view.sites.as_ref()?;
    let sites = shown(app, view);
    let s = sites.get(view.selected.min(sites.len().saturating_sub(1)))?;
    let findings = app
        .detector()
        .findings()
        .iter()
        .filter(|f| f.spawned_at.as_deref() == Some(s.site.as_str()))
        .rev()
        .take(5)
        .map(|f| (f.summary.clone(), f.first_seen_ms))
        .collect();
    Some(SiteDetail {
        row: row(s),
        buckets: s.buckets.clone(),
        busy_history: s.busy.iter().map(|r| (r * 100.0).round() as u64).collect(),
        recent: s.recent.iter().rev().cloned().collect(),
        findings,
        longest_ms: s.longest_ns as f64 / 1e6,
        spawns: s.spawns,
        polls: s.polls,
    })
}

/// Keys while the view is open; true when something visible changed.
pub(super) fn handle(app: &mut App, key: KeyEvent) -> bool {
    let rows = app
        .view
        .sites
        .as_ref()
        .map_or(0, |view| shown(app, view).len());
    let Some(view) = app.view.sites.as_mut() else {
        return false;
    };
    if view.typing {
        match key.code {
            KeyCode::Enter => view.typing = false,
            KeyCode::Esc => {
                view.typing = false;
                view.filter.clear();
            }
            KeyCode::Backspace => {
                view.filter.pop();
            }
            KeyCode::Char(c) => {
                view.filter.push(c);
                view.selected = 0;
            }
            _ => return false,
        }
        return true;
    }
    if view.detail {
        match key.code {
            KeyCode::Esc | KeyCode::Enter | KeyCode::Backspace => view.detail = false,
            KeyCode::Char('q') => app.view.should_quit = true,
            _ => return false,
        }
        return true;
    }
    match key.code {
        KeyCode::Esc | KeyCode::Char('t') => app.view.sites = None,
        KeyCode::Char('q') => app.view.should_quit = true,
        KeyCode::Char('/') => view.typing = true,
        KeyCode::Enter if rows > 0 => view.detail = true,
        KeyCode::Up | KeyCode::Char('k') => view.selected = view.selected.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => {
            view.selected = (view.selected + 1).min(rows.saturating_sub(1));
        }
        KeyCode::Home | KeyCode::Char('g') => view.selected = 0,
        KeyCode::End | KeyCode::Char('G') => view.selected = rows.saturating_sub(1),
        KeyCode::Char(c) => match SiteSort::KEYS.iter().find(|(k, _, _)| *k == c) {
            Some((_, sort, _)) => {
                view.sort = *sort;
                view.selected = 0;
            }
            None => return false,
        },
        _ => return false,
    }
    true
}
