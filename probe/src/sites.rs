//! Per spawn site counters: each thread's own cells (written by that thread only, plain load +
//! store), the shared fallback for spawns from threads the runtime did not start, and the
//! monitor's sum of them into the reading's site table.
//!
//! Cells come in pages allocated the first time a thread touches a site of the page, so a
//! thread pays for the sites it runs, and at most [`locations::MAX_SITES`] + 1 of them.

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

/// The monitor's side: sums the threads' cells into cumulative per-site counters.
///
/// A slot's cells are never zeroed: the next thread that takes a stopped thread's slot counts
/// on from where it stopped (see `ThreadSlot::take_for_current_thread`), and slots are never
/// dropped. So the sum over every slot, running or stopped, holds each count any thread made
/// exactly once and never decreases, however threads start, stop and take slots between two
/// readings, and nothing is kept per thread here.
#[derive(Debug, Default)]
pub struct SiteCollector {
    /// `file:line:col` and label of each site id, the label read again when one came late.
    names: Vec<(String, Option<String>)>,
    /// [`locations::late_labels`] when the labels were last read.
    late_labels: u64,
}

impl SiteCollector {
    /// The site table now: one entry per site with any count, cumulative. A site counted
    /// before its name was read has its row from the first reading that knows its name, with
    /// every count since its first.
    pub fn collect(
        &mut self,
        slots: &[&'static ThreadSlot],
        fallback: &FallbackSpawns,
    ) -> (Vec<SiteCounters>, u64) {
        let known = self.read_names();
        (
            self.table(slots, fallback),
            known.saturating_sub(MAX_SITES) as u64,
        )
    }

    /// Reads the names of the sites recorded since the last call; returns how many are known.
    fn read_names(&mut self) -> usize {
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
        known
    }

    /// The table of the named sites and `other`: every slot's cells, whatever thread holds
    /// the slot or held it, and the fallback's.
    fn table(&self, slots: &[&'static ThreadSlot], fallback: &FallbackSpawns) -> Vec<SiteCounters> {
        // The named sites and the `other` row, last: a few entries for most apps.
        let named = self.names.len();
        let mut totals = vec![Totals::default(); named + 1];
        for slot in slots {
            slot.sites.add_to(&mut totals);
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
                continue; // counted before its name was read: in the next reading
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
        table
    }
}

/// The name of the row of every site past the first [`MAX_SITES`].
pub const OTHER_NAME: &str = "other";

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::panic::Location;
    use std::sync::{Barrier, mpsc};
    use std::time::Duration;

    use super::*;
    use crate::ThreadRegistry;

    /// A site of its own for the calling line: its counter index and its name.
    #[track_caller]
    fn new_site() -> (usize, String) {
        let location = Location::caller();
        let index = locations::record(location, None);
        assert!(index < OTHER, "unit tests record few sites");
        (index, locations::format(location))
    }

    /// Counts as the hooks do, on the calling thread's own slot: `n` spawns, `n` ms busy and
    /// `n` polls in bucket 3.
    fn count(slot: &ThreadSlot, site: usize, n: u64) {
        let cell = slot.sites.cell(site);
        for (c, by) in [
            (&cell.spawns, n),
            (&cell.busy_ns, n * 1_000_000),
            (&cell.buckets[3], n),
        ] {
            c.store(c.load(Ordering::Relaxed) + by, Ordering::Relaxed);
        }
    }

    /// Spawns, busy time and polls of each site in a table.
    fn figures(table: &[SiteCounters]) -> HashMap<String, (u64, u64, u64)> {
        table
            .iter()
            .map(|s| (s.site.clone(), (s.spawns, s.busy_ns, s.polls)))
            .collect()
    }

    fn expect(table: &[SiteCounters], site: &str, n: u64) {
        assert_eq!(
            figures(table).get(site).copied(),
            Some((n, n * 1_000_000, n)),
            "{site} in {table:#?}"
        );
    }

    /// A thread of `registry` that counts `n` at `site`, then stops.
    fn thread_counting(registry: &ThreadRegistry, site: usize, n: u64) {
        std::thread::scope(|s| {
            s.spawn(|| {
                count(registry.register_current(), site, n);
                registry.unregister_current();
            });
        });
    }

    #[test]
    fn a_site_first_touched_after_the_names_were_read_keeps_a_stopped_threads_counts() {
        let (registry, fallback) = (ThreadRegistry::default(), FallbackSpawns::default());
        let mut collector = SiteCollector::default();
        collector.read_names();
        // Recorded and counted after the name read, by a thread that stops before the rest of
        // the reading.
        let (site, name) = new_site();
        thread_counting(&registry, site, 7);
        let first = collector.table(&registry.snapshot(), &fallback);
        assert!(!figures(&first).contains_key(&name), "not named yet");
        let (second, _) = collector.collect(&registry.snapshot(), &fallback);
        expect(&second, &name, 7);
    }

    #[test]
    fn a_slot_taken_by_a_new_thread_before_any_reading_keeps_the_old_threads_counts() {
        let (registry, fallback) = (ThreadRegistry::default(), FallbackSpawns::default());
        let mut collector = SiteCollector::default();
        let (site, name) = new_site();
        let (counted_tx, counted_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let old = std::thread::scope(|s| {
            let registry = &registry;
            let old = s.spawn(move || {
                let slot = registry.register_current();
                count(slot, site, 5);
                counted_tx.send(()).expect("the test waits");
                stop_rx.recv().expect("the test says when");
                registry.unregister_current();
                std::ptr::from_ref(slot) as usize
            });
            counted_rx.recv().expect("counted");
            // A reading while the thread runs: its counts are in it.
            let (running, _) = collector.collect(&registry.snapshot(), &fallback);
            expect(&running, &name, 5);
            stop_tx.send(()).expect("the thread waits");
            old.join().expect("the thread ran")
        });
        // The monitor starved: no reading until the slot went to the next thread.
        std::thread::sleep(crate::threads::REUSE_AFTER + Duration::from_millis(200));
        let new = std::thread::scope(|s| {
            s.spawn(|| {
                let slot = registry.register_current();
                count(slot, site, 3);
                registry.unregister_current();
                std::ptr::from_ref(slot) as usize
            })
            .join()
            .expect("the thread ran")
        });
        assert_eq!(old, new, "the stopped thread's slot was taken again");
        let (after, _) = collector.collect(&registry.snapshot(), &fallback);
        expect(&after, &name, 8);
    }

    #[test]
    fn churning_threads_count_once_and_totals_never_go_back() {
        let (registry, fallback) = (ThreadRegistry::default(), FallbackSpawns::default());
        let mut collector = SiteCollector::default();
        let sites = [new_site(), new_site(), new_site()];
        let mut expected: HashMap<String, u64> = HashMap::new();
        let mut previous: HashMap<String, (u64, u64, u64)> = HashMap::new();
        let check = |table: &[SiteCounters],
                     previous: &mut HashMap<String, (u64, u64, u64)>,
                     round: u64| {
            let now = figures(table);
            for (site, before) in previous.iter() {
                let after: (u64, u64, u64) = now.get(site).copied().unwrap_or_default();
                assert!(
                    after.0 >= before.0 && after.1 >= before.1 && after.2 >= before.2,
                    "{site} went back at round {round}: {before:?} then {after:?}"
                );
            }
            *previous = now;
        };
        for round in 0..300u64 {
            // Two threads at a time, as a blocking pool's come and go; now and then a reading
            // while they run (a starved monitor otherwise).
            let (counted, read) = (Barrier::new(3), Barrier::new(3));
            std::thread::scope(|s| {
                for t in 0..2 {
                    let (site, _) = sites[((round + t) % 3) as usize];
                    let (registry, counted, read) = (&registry, &counted, &read);
                    s.spawn(move || {
                        count(registry.register_current(), site, 1 + round % 5 + t);
                        counted.wait();
                        read.wait();
                        registry.unregister_current();
                    });
                }
                counted.wait();
                if round % 7 == 3 {
                    let (table, _) = collector.collect(&registry.snapshot(), &fallback);
                    check(&table, &mut previous, round);
                }
                read.wait();
            });
            for t in 0..2 {
                *expected
                    .entry(sites[((round + t) % 3) as usize].1.clone())
                    .or_default() += 1 + round % 5 + t;
            }
            if round % 5 == 1 {
                let (table, _) = collector.collect(&registry.snapshot(), &fallback);
                check(&table, &mut previous, round);
            }
            // Stopped slots released at other times than readings, as when a thread stops
            // between a reading's sum and its release.
            if round % 2 == 0 {
                registry.snapshot().iter().for_each(|slot| slot.release());
            }
        }
        let (table, _) = collector.collect(&registry.snapshot(), &fallback);
        for (site, n) in &expected {
            expect(&table, site, *n);
        }
        assert!(
            registry.snapshot().len() <= 8,
            "600 threads, at most 2 at once, took {} slots",
            registry.snapshot().len()
        );
    }
}
