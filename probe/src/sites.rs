//! Per spawn site counters: each thread's own cells (written by that thread only, plain load +
//! store), the shared fallback for spawns from threads the runtime did not start, and the
//! monitor's sum of them into the reading's site table.
//!
//! Cells come in pages allocated the first time a thread touches a site of the page, so a
//! thread pays for the sites it runs, and at most [`locations::MAX_SITES`] + 1 of them.

use std::collections::HashSet;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ThreadSlot;
use crate::buckets::BUCKETS;
use crate::locations::{self, MAX_SITES, OTHER};
use crate::sample::SiteCounters;

/// Sites per page.
const PAGE: usize = 64;
/// Pages: every site with counters of its own, and [`OTHER`].
const PAGES: usize = (MAX_SITES + 1).div_ceil(PAGE);

/// One site's counters on one thread.
#[derive(Debug)]
pub struct SiteCell {
    pub spawns: AtomicU64,
    /// Time of the polls timed on the coarse clock or sampled (see `hooks`).
    pub busy_ns: AtomicU64,
    /// Polls per duration bucket, weighted like the thread's own.
    pub buckets: [AtomicU64; BUCKETS],
}

impl SiteCell {
    fn new() -> SiteCell {
        SiteCell {
            spawns: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    fn zero(&self) {
        for c in [&self.spawns, &self.busy_ns]
            .into_iter()
            .chain(&self.buckets)
        {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Paged site cells, allocated as sites are touched.
#[derive(Debug)]
pub struct SiteCells {
    pages: [OnceLock<Box<[SiteCell; PAGE]>>; PAGES],
}

impl Default for SiteCells {
    fn default() -> Self {
        SiteCells {
            pages: std::array::from_fn(|_| OnceLock::new()),
        }
    }
}

impl SiteCells {
    /// The cell of counter index `site`, allocating its page the first time.
    #[inline]
    pub fn cell(&self, site: usize) -> &SiteCell {
        let site = site.min(OTHER);
        let page = self.pages[site / PAGE]
            .get_or_init(|| Box::new(std::array::from_fn(|_| SiteCell::new())));
        &page[site % PAGE]
    }

    /// Zeroes every allocated cell (a slot taken by a new thread).
    pub fn zero(&self) {
        for page in self.pages.iter().filter_map(OnceLock::get) {
            page.iter().for_each(SiteCell::zero);
        }
    }

    /// Adds every allocated cell to `totals`: counter index `i` at `i` when below
    /// `totals.len() - 1`, [`OTHER`] at the last entry, others (not yet named) left out.
    fn add_to(&self, totals: &mut [Totals]) {
        let Some(other) = totals.len().checked_sub(1) else {
            return;
        };
        for (p, page) in self.pages.iter().enumerate() {
            let Some(page) = page.get() else { continue };
            for (i, cell) in page.iter().enumerate() {
                let index = p * PAGE + i;
                let at = if index == OTHER { other } else { index };
                if at < other || index == OTHER {
                    totals[at].add(cell);
                }
            }
        }
    }
}

/// Spawns from threads with no slot (the app's main thread, another runtime's): counted with
/// an atomic `fetch_add`, which only those spawns pay.
#[derive(Debug, Default)]
pub struct FallbackSpawns {
    cells: SiteCells,
}

impl FallbackSpawns {
    pub fn count(&self, site: usize) {
        self.cells.cell(site).spawns.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    spawns: u64,
    busy_ns: u64,
    buckets: [u64; BUCKETS],
}

impl Totals {
    fn add(&mut self, cell: &SiteCell) {
        self.spawns = self
            .spawns
            .wrapping_add(cell.spawns.load(Ordering::Relaxed));
        self.busy_ns = self
            .busy_ns
            .wrapping_add(cell.busy_ns.load(Ordering::Relaxed));
        for (t, c) in self.buckets.iter_mut().zip(&cell.buckets) {
            *t = t.wrapping_add(c.load(Ordering::Relaxed));
        }
    }

    fn is_zero(&self) -> bool {
        self.spawns == 0 && self.busy_ns == 0 && self.buckets.iter().all(|&b| b == 0)
    }
}

/// The monitor's side: sums the threads' cells into cumulative per-site counters. A stopped
/// thread's cells are folded into a total of their own once, before its slot can go to another
/// thread, so no count is lost or counted twice.
#[derive(Debug, Default)]
pub struct SiteCollector {
    /// Stopped threads' counts, laid out like the table: named sites, then `other`.
    retired: Vec<Totals>,
    /// Slots (address, generation) already folded.
    folded: HashSet<(usize, u64)>,
    /// `file:line:col` and label of each site id, the label read again when one came late.
    names: Vec<(String, Option<String>)>,
    /// [`locations::late_labels`] when the labels were last read.
    late_labels: u64,
}

impl SiteCollector {
    /// The site table now: one entry per site with any count, cumulative. Call it before
    /// anything releases stopped slots (`ThreadSlot::release`).
    pub fn collect(
        &mut self,
        slots: &[&'static ThreadSlot],
        fallback: &FallbackSpawns,
    ) -> (Vec<SiteCounters>, u64) {
        let known = locations::known();
        if self.names.len() < known.min(MAX_SITES) {
            let new = locations::sites_from(self.names.len());
            for site in new.into_iter().take(MAX_SITES - self.names.len()) {
                self.names.push((
                    locations::format(site.location),
                    site.label.as_deref().map(str::to_owned),
                ));
            }
        }
        let late = locations::late_labels();
        if late != self.late_labels {
            self.late_labels = late;
            for (id, (_, label)) in self.names.iter_mut().enumerate() {
                if label.is_none() {
                    *label = locations::label_of(id).as_deref().map(str::to_owned);
                }
            }
        }
        // The named sites and the `other` row, last: a few entries for most apps. Names only
        // grow, so the `other` row moves to the end as they do.
        let named = self.names.len();
        if self.retired.len() < named + 1 {
            let other = self.retired.pop().unwrap_or_default();
            self.retired.resize(named, Totals::default());
            self.retired.push(other);
        }
        let mut present = HashSet::with_capacity(slots.len());
        for slot in slots {
            let key = (std::ptr::from_ref(*slot) as usize, slot.generation());
            present.insert(key);
            if slot.stopped.load(Ordering::Acquire) && !self.folded.contains(&key) {
                slot.sites.add_to(&mut self.retired);
                self.folded.insert(key);
            }
        }
        self.folded.retain(|k| present.contains(k));
        let mut totals = self.retired.clone();
        for slot in slots {
            let key = (std::ptr::from_ref(*slot) as usize, slot.generation());
            if !self.folded.contains(&key) {
                slot.sites.add_to(&mut totals);
            }
        }
        fallback.cells.add_to(&mut totals);
        let mut table = Vec::new();
        for (id, t) in totals.iter().enumerate() {
            if t.is_zero() {
                continue;
            }
            let (site, label) = if id == named {
                (OTHER_NAME.to_owned(), None)
            } else if let Some((site, label)) = self.names.get(id) {
                (site.clone(), label.clone())
            } else {
                continue; // counted before its name was read: named next time
            };
            let mut buckets = t.buckets.to_vec();
            while buckets.last() == Some(&0) {
                buckets.pop();
            }
            table.push(SiteCounters {
                site,
                label,
                spawns: t.spawns,
                polls: t.buckets.iter().sum(),
                busy_ns: t.busy_ns,
                buckets,
            });
        }
        (table, known.saturating_sub(MAX_SITES) as u64)
    }
}

/// The name of the row of every site past the first [`MAX_SITES`].
pub const OTHER_NAME: &str = "other";
