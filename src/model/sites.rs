//! Per spawn site: what the probe's site table and its long-poll records add up to. Spawns,
//! long polls and stalls are exact; polls, busy time and the histogram are the probe's
//! estimates (one poll in N timed precisely, busy time on the coarse clock).

use std::collections::{HashMap, VecDeque};

use super::{Series, delta};
use crate::probe::buckets::bucket_floor_ns;
use crate::sample::{PollRecord, ProbeSample, SiteCounters};

/// Sites the model follows at most (the probe sends at most 4,096 and one `other` row; long
/// polls can name a few more): past it, a site's figures go to the `other` row.
pub const MAX_MODEL_SITES: usize = 8192;

/// The row of every site past the probe's (or the model's) bound.
pub const OTHER: &str = "other";

/// Intervals the rates are averaged over: a second at the default 100 ms.
const RATE_INTERVALS: usize = 10;

/// Recent long polls and stalls kept per site, for its detail.
const RECENT_POLLS: usize = 8;

/// A running stall is forgotten after this many samples without its finished record (lost to
/// the probe's full queue): it stays counted.
const FORGET_AFTER_SAMPLES: u64 = 100;

/// One interval of a site.
#[derive(Debug, Clone, Copy, Default)]
struct Interval {
    ns: u64,
    spawns: u64,
    polls: u64,
}

/// One long poll or stall of a site, for its detail.
#[derive(Debug, Clone, PartialEq)]
pub struct SitePoll {
    pub started_ns: u64,
    pub duration_ns: u64,
    pub worker: Option<usize>,
    pub stall: bool,
    pub running: bool,
}

/// One spawn site as the samples show it.
#[derive(Debug, Clone, Default)]
pub struct SiteModel {
    /// `file:line:col`, or [`OTHER`].
    pub site: String,
    pub label: Option<String>,
    /// Since the baseline. Exact.
    pub spawns: u64,
    /// Since the baseline. Estimated.
    pub polls: u64,
    /// Since the baseline. Estimated (coarse clock).
    pub busy_ns: u64,
    /// Polls per duration bucket since the baseline (estimated, long ones exact).
    pub buckets: Vec<u64>,
    /// Finished long polls since the baseline (not those whose worker went on without them,
    /// `block_in_place`). Exact.
    pub long_polls: u64,
    /// Polls that ran the stall threshold, running or finished, each counted once. Exact.
    pub stalls: u64,
    /// Share of the workers' time (interval x workers) polling this site's tasks, per interval.
    pub busy: Series,
    /// The longest poll of the latest interval, and whether it is exact (a long-poll record)
    /// or the floor of the highest histogram bucket that grew.
    pub max_poll_ns: u64,
    pub max_poll_exact: bool,
    /// The longest poll since the baseline, exact or not as above.
    pub longest_ns: u64,
    pub longest_exact: bool,
    /// The latest long polls and stalls, oldest first.
    pub recent: VecDeque<SitePoll>,
    intervals: VecDeque<Interval>,
    /// The site's counters in the previous sample, to take deltas from.
    last: Option<SiteCounters>,
    /// Whether the site's row is in the latest sample's table.
    seen_now: bool,
}

impl SiteModel {
    fn new(site: &str) -> SiteModel {
        SiteModel {
            site: site.to_owned(),
            ..SiteModel::default()
        }
    }

    fn rate(&self, of: impl Fn(&Interval) -> u64) -> f64 {
        let ns: u64 = self.intervals.iter().map(|i| i.ns).sum();
        if ns == 0 {
            return 0.0;
        }
        self.intervals.iter().map(of).sum::<u64>() as f64 / (ns as f64 / 1e9)
    }

    /// Tasks spawned per second over the last second or so.
    pub fn spawns_per_sec(&self) -> f64 {
        self.rate(|i| i.spawns)
    }

    /// Polls per second over the last second or so (estimated).
    pub fn polls_per_sec(&self) -> f64 {
        self.rate(|i| i.polls)
    }

    /// Busy share over the last second or so.
    pub fn busy_share(&self) -> f64 {
        self.busy.recent_mean(RATE_INTERVALS).unwrap_or(0.0)
    }

    fn note(&mut self, poll: SitePoll) {
        if self.recent.len() == RECENT_POLLS {
            self.recent.pop_front();
        }
        self.recent.push_back(poll);
    }
}

/// Every site, and the stalls being followed.
#[derive(Debug, Clone)]
pub struct SitesModel {
    pub sites: Vec<SiteModel>,
    index: HashMap<String, usize>,
    /// Spawn sites the probe counts in its `other` row.
    pub other_sites: u64,
    /// A poll running at least this long is a stall.
    pub stall_threshold_ns: u64,
    /// Stalls counted while running: (tid, seq, started) -> the sample they were last seen in.
    running_stalls: HashMap<(Option<i32>, u64, u64), u64>,
    samples: u64,
    /// The previous counters of the sites folded into the `other` row (as many as the probe
    /// sends rows, at most).
    overflow_last: HashMap<String, SiteCounters>,
}

impl Default for SitesModel {
    fn default() -> Self {
        SitesModel::new(
            u64::try_from(crate::probe::DEFAULT_STALL_THRESHOLD.as_nanos()).unwrap_or(u64::MAX),
        )
    }
}

impl SitesModel {
    pub fn new(stall_threshold_ns: u64) -> SitesModel {
        SitesModel {
            sites: Vec::new(),
            index: HashMap::new(),
            other_sites: 0,
            stall_threshold_ns,
            running_stalls: HashMap::new(),
            samples: 0,
            overflow_last: HashMap::new(),
        }
    }

    /// The site named `name`, made if new (past the bound: the `other` row).
    fn site_mut(&mut self, name: &str) -> &mut SiteModel {
        let i = match self.index.get(name) {
            Some(&i) => i,
            None if self.sites.len() < MAX_MODEL_SITES || name == OTHER => {
                self.sites.push(SiteModel::new(name));
                self.index.insert(name.to_owned(), self.sites.len() - 1);
                self.sites.len() - 1
            }
            None => return self.site_mut(OTHER),
        };
        &mut self.sites[i]
    }

    /// The baseline's table: deltas count from it.
    pub fn baseline(&mut self, now: &ProbeSample) {
        for counters in &now.sites {
            if !self.index.contains_key(&counters.site)
                && self.sites.len() >= MAX_MODEL_SITES
                && counters.site != OTHER
            {
                self.overflow_last
                    .insert(counters.site.clone(), counters.clone());
                continue;
            }
            let site = self.site_mut(&counters.site);
            site.label.clone_from(&counters.label);
            site.last = Some(counters.clone());
        }
    }

    /// Folds one interval of `interval_ns` on `workers` workers.
    pub fn fold(&mut self, now: &ProbeSample, interval_ns: u64, workers: usize) {
        self.samples += 1;
        self.other_sites = now.sites_other;
        for site in &mut self.sites {
            site.seen_now = false;
            site.max_poll_ns = 0;
            site.max_poll_exact = false;
        }
        for counters in &now.sites {
            let zero = SiteCounters::default();
            let overflow = !self.index.contains_key(&counters.site)
                && self.sites.len() >= MAX_MODEL_SITES
                && counters.site != OTHER;
            let previous = if overflow {
                self.overflow_last
                    .insert(counters.site.clone(), counters.clone())
            } else {
                None
            };
            let site = self.site_mut(&counters.site);
            site.seen_now = true;
            if counters.label.is_some() && !overflow {
                site.label.clone_from(&counters.label);
            }
            let before = if overflow {
                previous.as_ref().unwrap_or(&zero)
            } else {
                site.last.as_ref().unwrap_or(&zero)
            };
            let spawns = delta(before.spawns, counters.spawns);
            let polls = delta(before.polls, counters.polls);
            // Like a worker's: a running poll's time is never in the table, so no take-back.
            let busy = delta(before.busy_ns, counters.busy_ns);
            site.spawns += spawns;
            site.polls += polls;
            site.busy_ns += busy;
            if site.buckets.len() < counters.buckets.len() {
                site.buckets.resize(counters.buckets.len(), 0);
            }
            for (i, &n) in counters.buckets.iter().enumerate() {
                let added = delta(before.buckets.get(i).copied().unwrap_or(0), n);
                site.buckets[i] += added;
                if added > 0 {
                    site.max_poll_ns = site.max_poll_ns.max(bucket_floor_ns(i));
                }
            }
            if interval_ns > 0 && !overflow {
                let capacity = interval_ns as f64 * workers.max(1) as f64;
                site.busy.push((busy as f64 / capacity).clamp(0.0, 1.0));
                if site.intervals.len() == RATE_INTERVALS {
                    site.intervals.pop_front();
                }
                site.intervals.push_back(Interval {
                    ns: interval_ns,
                    spawns,
                    polls,
                });
            }
            if !overflow {
                site.last = Some(counters.clone());
            }
        }
        if interval_ns > 0 {
            // A site absent from this reading's table (the table holds every site with a
            // count, so one absent has none yet): nothing this interval.
            for site in self.sites.iter_mut().filter(|s| !s.seen_now) {
                site.busy.push(0.0);
                if site.intervals.len() == RATE_INTERVALS {
                    site.intervals.pop_front();
                }
                site.intervals.push_back(Interval {
                    ns: interval_ns,
                    ..Interval::default()
                });
            }
        }
        for poll in now.in_flight.iter().filter(|p| !p.worker_moved) {
            self.fold_poll(poll);
        }
        for poll in &now.long_polls {
            self.fold_poll(poll);
        }
        for site in &mut self.sites {
            if site.max_poll_ns > site.longest_ns
                || (site.max_poll_exact && site.max_poll_ns == site.longest_ns)
            {
                site.longest_ns = site.max_poll_ns;
                site.longest_exact = site.max_poll_exact;
            }
        }
        let samples = self.samples;
        self.running_stalls
            .retain(|_, seen| samples.saturating_sub(*seen) < FORGET_AFTER_SAMPLES);
    }

    fn fold_poll(&mut self, poll: &PollRecord) {
        let name = poll.spawned_at.as_deref().unwrap_or(OTHER).to_owned();
        let key = (poll.tid, poll.seq, poll.started_ns);
        let stall = !poll.worker_moved && poll.duration_ns >= self.stall_threshold_ns;
        let newly_stalled = stall && !self.running_stalls.contains_key(&key);
        if poll.running {
            if stall {
                self.running_stalls.insert(key, self.samples);
            }
        } else {
            self.running_stalls.remove(&key);
        }
        let site = self.site_mut(&name);
        if site.label.is_none() {
            site.label.clone_from(&poll.workload);
        }
        if newly_stalled {
            site.stalls += 1;
        }
        if !poll.running && !poll.worker_moved {
            site.long_polls += 1;
        }
        if !poll.worker_moved {
            site.max_poll_ns = site.max_poll_ns.max(poll.duration_ns);
            site.max_poll_exact = true;
        }
        let entry = SitePoll {
            started_ns: poll.started_ns,
            duration_ns: poll.duration_ns,
            worker: poll.worker,
            stall,
            running: poll.running,
        };
        // A running poll's entry is updated in place until its finished record replaces it.
        match site
            .recent
            .iter_mut()
            .find(|p| p.started_ns == entry.started_ns && p.worker == entry.worker)
        {
            Some(p) => *p = entry,
            None if poll.running && !stall => {}
            None => site.note(entry),
        }
    }

    /// The sites sorted by busy share over the last second, highest first.
    pub fn by_busy(&self) -> Vec<&SiteModel> {
        let mut sites: Vec<&SiteModel> = self.sites.iter().collect();
        sites.sort_by(|a, b| {
            b.busy_share()
                .total_cmp(&a.busy_share())
                .then(a.site.cmp(&b.site))
        });
        sites
    }
}
