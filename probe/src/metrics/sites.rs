//! Stalls and long polls per spawn site, each counted once: pure bookkeeping over what the
//! monitor reports (polls running long now, long polls that finished), with a bounded set of
//! site labels.
//!
//! A stall is a poll that ran at least the stall threshold. It is counted when the monitor first
//! sees it past the threshold, running or finished, and its seconds (the whole poll, from its
//! start) are added as they grow, so a counter read while the worker is still stuck already
//! holds most of them, and a stall shorter than a scrape interval is still counted in full when
//! its record arrives. A poll whose worker went on without it (`block_in_place`) blocks nothing
//! and is no stall.

use std::collections::HashMap;

/// Sites that get a label of their own: the first this many to stall or poll long. The rest
/// share [`OTHER`], so the exposition never grows with the number of spawn sites.
pub const MAX_SITES: usize = 50;

/// The label of every site past the first [`MAX_SITES`].
pub const OTHER: &str = "other";

/// The label of a poll whose spawn site is not known.
pub const UNKNOWN: &str = "unknown";

/// A running poll is forgotten after this many updates without a sighting or a finished record
/// (its record was lost to the probe's full long-poll queue): what it stalled stays counted.
const FORGET_AFTER_UPDATES: u64 = 100;

/// Running polls followed at once, at most: one per runtime thread in practice.
const MAX_RUNNING: usize = 4096;

/// Names one poll: the thread that ran it, its sequence number there and its start.
pub type PollKey = (Option<i32>, u64, u64);

/// One site's counters, cumulative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SiteTotals {
    pub stalls: u64,
    /// Whole durations of the stalled polls, including what the running ones have run so far.
    pub stalled_ns: u64,
    /// Long polls that finished (stalls included).
    pub long_polls: u64,
}

/// A poll the monitor saw running long, as counted so far.
#[derive(Debug, Clone, Copy)]
struct Running {
    site: usize,
    stalled: bool,
    counted_ns: u64,
    seen_at: u64,
}

/// The per-site counters and the running polls they follow.
#[derive(Debug)]
pub struct SiteCounts {
    stall_ns: u64,
    /// Labels in the order their sites first appeared; the last entry, once present, may be
    /// [`OTHER`].
    labels: Vec<String>,
    totals: Vec<SiteTotals>,
    running: HashMap<PollKey, Running>,
    updates: u64,
}

impl SiteCounts {
    /// Counts a poll of at least `stall_ns` as a stall.
    pub fn new(stall_ns: u64) -> SiteCounts {
        SiteCounts {
            stall_ns,
            labels: Vec::new(),
            totals: Vec::new(),
            running: HashMap::new(),
            updates: 0,
        }
    }

    /// A poll running for `age_ns` so far, spawned at `spawned_at` (`file:line:col`).
    pub fn running(&mut self, key: PollKey, spawned_at: Option<&str>, age_ns: u64) {
        let now = self.updates;
        let site = match self.running.get(&key) {
            Some(seen) => seen.site,
            None if self.running.len() >= MAX_RUNNING => return,
            None => self.site(spawned_at),
        };
        let stall_ns = self.stall_ns;
        let poll = self.running.entry(key).or_insert(Running {
            site,
            stalled: false,
            counted_ns: 0,
            seen_at: now,
        });
        poll.seen_at = now;
        if age_ns < stall_ns {
            return;
        }
        let totals = &mut self.totals[poll.site];
        if !poll.stalled {
            poll.stalled = true;
            totals.stalls += 1;
        }
        totals.stalled_ns += age_ns.saturating_sub(poll.counted_ns);
        poll.counted_ns = poll.counted_ns.max(age_ns);
    }

    /// A long poll that finished after `duration_ns`.
    pub fn finished(&mut self, key: PollKey, spawned_at: Option<&str>, duration_ns: u64) {
        let (site, stalled, counted_ns) = match self.running.remove(&key) {
            Some(poll) => (poll.site, poll.stalled, poll.counted_ns),
            None => (self.site(spawned_at), false, 0),
        };
        let totals = &mut self.totals[site];
        totals.long_polls += 1;
        if stalled || duration_ns >= self.stall_ns {
            if !stalled {
                totals.stalls += 1;
            }
            totals.stalled_ns += duration_ns.saturating_sub(counted_ns);
        }
    }

    /// Ends one update (one reading): running polls unseen for long are forgotten.
    pub fn end_update(&mut self) {
        self.updates += 1;
        let now = self.updates;
        self.running
            .retain(|_, poll| now - poll.seen_at <= FORGET_AFTER_UPDATES);
    }

    /// Every site label with its counters, in the order the sites appeared.
    pub fn totals(&self) -> impl Iterator<Item = (&str, SiteTotals)> {
        self.labels
            .iter()
            .map(String::as_str)
            .zip(self.totals.iter().copied())
    }

    /// The index of the label `spawned_at` counts under, added if there is room.
    fn site(&mut self, spawned_at: Option<&str>) -> usize {
        let label = site_label(spawned_at);
        if let Some(i) = self.labels.iter().position(|l| l == label) {
            return i;
        }
        let own = self.labels.iter().filter(|l| l.as_str() != OTHER).count();
        let label = if own < MAX_SITES { label } else { OTHER };
        if let Some(i) = self.labels.iter().position(|l| l == label) {
            return i;
        }
        self.labels.push(label.to_owned());
        self.totals.push(SiteTotals::default());
        self.labels.len() - 1
    }
}

/// `file:line` of a spawn site given as `file:line:col`: one label per spawn call, whatever its
/// column.
pub fn site_label(spawned_at: Option<&str>) -> &str {
    match spawned_at {
        None => UNKNOWN,
        Some(at) => match at.rsplit_once(':') {
            Some((file_line, col)) if col.bytes().all(|b| b.is_ascii_digit()) => file_line,
            _ => at,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const SITE: Option<&str> = Some("src/main.rs:42:5");

    fn key(seq: u64) -> PollKey {
        (Some(7), seq, 0)
    }

    fn only(counts: &SiteCounts) -> (&str, SiteTotals) {
        let all: Vec<_> = counts.totals().collect();
        assert_eq!(all.len(), 1, "{all:?}");
        all[0]
    }

    #[test]
    fn a_stall_seen_running_then_finished_counts_once_with_its_whole_duration() {
        let mut counts = SiteCounts::new(100 * MS);
        counts.running(key(1), SITE, 20 * MS); // a long poll, not yet a stall
        counts.end_update();
        assert_eq!(only(&counts).1, SiteTotals::default());
        counts.running(key(1), SITE, 150 * MS);
        counts.end_update();
        assert_eq!(
            only(&counts),
            (
                "src/main.rs:42",
                SiteTotals {
                    stalls: 1,
                    stalled_ns: 150 * MS,
                    long_polls: 0
                }
            )
        );
        // Still stuck: the seconds grow while the count stays.
        counts.running(key(1), SITE, 900 * MS);
        counts.end_update();
        assert_eq!(only(&counts).1.stalled_ns, 900 * MS);
        assert_eq!(only(&counts).1.stalls, 1);
        // It ends at 1.2 s: the rest of its time, and one long poll.
        counts.finished(key(1), SITE, 1_200 * MS);
        counts.end_update();
        assert_eq!(
            only(&counts).1,
            SiteTotals {
                stalls: 1,
                stalled_ns: 1_200 * MS,
                long_polls: 1
            }
        );
    }

    #[test]
    fn a_stall_never_seen_running_is_counted_in_full_when_it_finishes() {
        // Shorter than any scrape interval, and over between two readings.
        let mut counts = SiteCounts::new(100 * MS);
        counts.finished(key(3), SITE, 180 * MS);
        counts.finished(key(4), SITE, 30 * MS); // a long poll only
        assert_eq!(
            only(&counts).1,
            SiteTotals {
                stalls: 1,
                stalled_ns: 180 * MS,
                long_polls: 2
            }
        );
    }

    #[test]
    fn a_poll_seen_below_the_threshold_that_finishes_above_it_is_a_stall() {
        let mut counts = SiteCounts::new(100 * MS);
        counts.running(key(5), SITE, 60 * MS);
        counts.end_update();
        counts.finished(key(5), SITE, 140 * MS);
        assert_eq!(only(&counts).1.stalls, 1);
        assert_eq!(only(&counts).1.stalled_ns, 140 * MS);
    }

    #[test]
    fn a_finished_time_shorter_than_the_running_age_takes_nothing_back() {
        // The running age is a lower bound; a coarse final duration may read a little less.
        let mut counts = SiteCounts::new(100 * MS);
        counts.running(key(6), SITE, 500 * MS);
        counts.finished(key(6), SITE, 499 * MS);
        assert_eq!(only(&counts).1.stalled_ns, 500 * MS);
        assert_eq!(only(&counts).1.stalls, 1);
    }

    #[test]
    fn polls_on_different_threads_with_the_same_sequence_are_different_stalls() {
        let mut counts = SiteCounts::new(100 * MS);
        counts.running((Some(1), 9, 0), SITE, 200 * MS);
        counts.running((Some(2), 9, 0), SITE, 300 * MS);
        assert_eq!(only(&counts).1.stalls, 2);
        assert_eq!(only(&counts).1.stalled_ns, 500 * MS);
    }

    #[test]
    fn sites_past_the_limit_share_one_label() {
        let mut counts = SiteCounts::new(100 * MS);
        for i in 0..(MAX_SITES as u64 + 20) {
            let site = format!("src/lib.rs:{i}:1");
            counts.finished(key(i), Some(&site), 200 * MS);
        }
        counts.finished(key(1000), SITE, 200 * MS);
        counts.finished(key(1001), None, 200 * MS);
        let all: Vec<_> = counts.totals().collect();
        assert_eq!(all.len(), MAX_SITES + 1, "the first sites and `other`");
        assert_eq!(all[0].0, "src/lib.rs:0");
        let other = all.iter().find(|(l, _)| *l == OTHER).expect("other").1;
        assert_eq!(other.stalls, 22);
        // Each stall is in exactly one label.
        assert_eq!(
            all.iter().map(|(_, t)| t.stalls).sum::<u64>(),
            MAX_SITES as u64 + 22
        );
    }

    #[test]
    fn running_polls_whose_record_never_comes_are_forgotten_their_stall_kept() {
        let mut counts = SiteCounts::new(100 * MS);
        counts.running(key(8), SITE, 300 * MS);
        for _ in 0..=FORGET_AFTER_UPDATES {
            counts.end_update();
        }
        assert!(counts.running.is_empty());
        assert_eq!(only(&counts).1.stalls, 1);
        assert_eq!(only(&counts).1.stalled_ns, 300 * MS);
    }

    #[test]
    fn labels_are_file_and_line() {
        assert_eq!(site_label(Some("src/a.rs:10:3")), "src/a.rs:10");
        assert_eq!(site_label(Some("weird")), "weird");
        assert_eq!(site_label(None), UNKNOWN);
    }
}
