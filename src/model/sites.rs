//! Per spawn site: what the probe's site table and its long-poll records add up to. Spawns,
//! long polls and stalls are exact; polls, busy time and the histogram are the probe's
//! estimates (one poll in N timed precisely, busy time on the coarse clock).

use std::cmp::Ordering;
use std::collections::{HashMap, VecDeque};

use super::Series;
use crate::probe::buckets::bucket_floor_ns;
use crate::sample::{PollRecord, ProbeSample, SiteCounters};

/// Sites the model follows at most (the probe sends at most 4,096 and one `other` row; long
/// polls can name a few more): past it, a site's figures go to the `other` row.
pub const MAX_MODEL_SITES: usize = 8192;

/// The row of every site past the probe's (or the model's) bound.
pub const OTHER: &str = "other";

/// The time the rates are averaged over: the newest intervals that cover a second (ten at the
/// default 100 ms, one when attached with a reading every 5 s).
const RATE_WINDOW_NS: u64 = 1_000_000_000;

/// Recent long polls and stalls kept per site, for its detail.
const RECENT_POLLS: usize = 8;

/// A running stall is forgotten this long after it was last seen without its finished record
/// (lost to the probe's full queue): it stays counted.
const FORGET_AFTER_NS: u64 = 10_000_000_000;

/// One interval of a site.
#[derive(Debug, Clone, Copy, Default)]
struct Interval {
    ns: u64,
    /// The workers' time in it (its length times the workers).
    capacity_ns: u64,
    /// Its longest poll, and whether that is exact (a poll's own record) or the floor of the
    /// highest histogram bucket that grew.
    max_poll_ns: u64,
    max_poll_exact: bool,
    spawns: u64,
    polls: u64,
    /// The busy time credited to the interval (the site's `busy_ns` is the sum of these).
    busy_ns: u64,
}

impl Interval {
    /// Adds `other`'s counts and longest poll to this interval's.
    fn add(&mut self, other: &Interval) {
        self.ns += other.ns;
        self.capacity_ns += other.capacity_ns;
        self.spawns += other.spawns;
        self.polls += other.polls;
        self.busy_ns += other.busy_ns;
        (self.max_poll_ns, self.max_poll_exact) =
            (self.max_poll_ns, self.max_poll_exact).max((other.max_poll_ns, other.max_poll_exact));
    }
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
    /// Since the probe counted them: from its start when the run began with it (a scenario
    /// run; a recording of one), else since the baseline (an attachment to a running app).
    /// Exact.
    pub spawns: u64,
    /// Since the baseline. Estimated.
    pub polls: u64,
    /// Since the baseline: the sum of what each interval was credited, finished polls and the
    /// elapsed part of those still running. Estimated (coarse clock).
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
    /// The longest poll of the last second's intervals (as the rates), and whether it is exact
    /// (a long-poll record) or the floor of the highest histogram bucket that grew.
    pub max_poll_ns: u64,
    pub max_poll_exact: bool,
    /// The longest poll since the baseline, exact or not as above.
    pub longest_ns: u64,
    pub longest_exact: bool,
    /// The latest long polls and stalls, oldest first.
    pub recent: VecDeque<SitePoll>,
    intervals: VecDeque<Interval>,
    /// The highest of the site's counters in the samples so far, each counter on its own: what
    /// passes it is new.
    last: Option<SiteCounters>,
    /// Time of the site's finished polls since the baseline, as the table says.
    finished_ns: u64,
    /// The elapsed part of the site's polls running at the latest reading.
    running_ns: u64,
    /// The elapsed part of the polls running at the baseline: before the run, never credited.
    before_ns: u64,
    /// This interval's counts, while a reading is folded.
    pending: Interval,
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

    /// Busy share of the workers' time over the last second or so.
    pub fn busy_share(&self) -> f64 {
        let capacity: u64 = self.intervals.iter().map(|i| i.capacity_ns).sum();
        let busy: u64 = self.intervals.iter().map(|i| i.busy_ns).sum();
        if capacity == 0 {
            return 0.0;
        }
        busy as f64 / capacity as f64
    }

    /// Closes the pending interval into the rate window, which keeps the newest intervals that
    /// cover [`RATE_WINDOW_NS`].
    fn push_interval(&mut self) {
        self.intervals.push_back(self.pending);
        self.pending = Interval::default();
        let mut covered: u64 = self.intervals.iter().map(|i| i.ns).sum();
        while let Some(oldest) = self.intervals.front() {
            covered -= oldest.ns;
            if covered < RATE_WINDOW_NS {
                break;
            }
            self.intervals.pop_front();
        }
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
    /// Stalls counted while running: (tid, seq, started) -> when they were last seen (the
    /// time folded so far).
    running_stalls: HashMap<(Option<i32>, u64, u64), u64>,
    /// The intervals' time folded so far.
    folded_ns: u64,
    /// The highest counters of the sites folded into the `other` row (as many as the probe
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
            folded_ns: 0,
            overflow_last: HashMap::new(),
        }
    }

    /// Whether a site not followed yet would go past the bound.
    fn overflows(&self, name: &str) -> bool {
        !self.index.contains_key(name) && self.sites.len() >= MAX_MODEL_SITES && name != OTHER
    }

    /// The index of the site named `name`, made if new (past the bound: the `other` row's).
    fn row(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let name = if self.overflows(name) { OTHER } else { name };
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.sites.push(SiteModel::new(name));
        self.index.insert(name.to_owned(), self.sites.len() - 1);
        self.sites.len() - 1
    }

    /// The site named `name`, made if new (past the bound: the `other` row).
    fn site_mut(&mut self, name: &str) -> &mut SiteModel {
        let i = self.row(name);
        &mut self.sites[i]
    }

    /// The baseline's table: polls and busy time count from it. `began_ns` is the baseline's
    /// time when the probe began counting with the run (its first reading: a scenario run, an
    /// app attached to as it started): the spawns it counted are then the run's, made in the
    /// `began_ns` before the baseline. Otherwise (an app attached to later) they came before
    /// the run, and spawns count from the baseline too.
    pub fn baseline(&mut self, now: &ProbeSample, began_ns: Option<u64>) {
        for site in &mut self.sites {
            site.pending = Interval::default();
        }
        self.take_table(now, Some(began_ns.is_some()));
        self.take_running(now);
        for site in &mut self.sites {
            // Polls already running: their part so far is before the run.
            site.before_ns = site.running_ns;
            if let Some(ns) = began_ns
                && site.pending.spawns > 0
            {
                site.pending.ns = ns;
                site.push_interval();
            }
        }
    }

    /// Folds one interval of `interval_ns` on `workers` workers.
    pub fn fold(&mut self, now: &ProbeSample, interval_ns: u64, workers: usize) {
        self.folded_ns += interval_ns;
        self.other_sites = now.sites_other;
        for site in &mut self.sites {
            site.pending = Interval::default();
        }
        self.take_table(now, None);
        self.take_running(now);
        if interval_ns > 0 {
            let capacity = interval_ns.saturating_mul(workers.max(1) as u64);
            for site in &mut self.sites {
                // What the table and the running polls say the site has been busy, less what
                // was credited already: a poll's running part is credited while it runs, and
                // only the rest of it when its whole time reaches the table. Never negative,
                // never more than the workers had; a poll that ends shorter than it was
                // credited (or moved off its worker) owes nothing until the site catches up.
                let owed = (site.finished_ns + site.running_ns)
                    .saturating_sub(site.before_ns + site.busy_ns);
                let busy = owed.min(capacity);
                site.busy_ns += busy;
                site.busy.push(busy as f64 / capacity as f64);
                site.pending.ns = interval_ns;
                site.pending.capacity_ns = capacity;
                site.pending.busy_ns = busy;
            }
        }
        for poll in now.in_flight.iter().filter(|p| !p.worker_moved) {
            self.fold_poll(poll);
        }
        for poll in &now.long_polls {
            self.fold_poll(poll);
        }
        for site in &mut self.sites {
            let this = site.pending;
            if this.max_poll_ns > site.longest_ns
                || (this.max_poll_exact && this.max_poll_ns == site.longest_ns)
            {
                site.longest_ns = this.max_poll_ns;
                site.longest_exact = this.max_poll_exact;
            }
            match site.intervals.back_mut() {
                // A reading at the same instant as the last adds to its interval.
                Some(newest) if interval_ns == 0 => newest.add(&this),
                _ => site.push_interval(),
            }
            (site.max_poll_ns, site.max_poll_exact) = site
                .intervals
                .iter()
                .map(|i| (i.max_poll_ns, i.max_poll_exact))
                .max()
                .unwrap_or_default();
        }
        let now = self.folded_ns;
        self.running_stalls
            .retain(|_, seen| now.saturating_sub(*seen) < FORGET_AFTER_NS);
    }

    /// Takes the reading's table: what each site did since the previous reading, into its
    /// totals and its pending interval. At the baseline (`Some(spawns_too)`) only the counters
    /// are kept, and the spawns counted too when `spawns_too`.
    ///
    /// The table's counters are cumulative, but an older probe's could go back (a stopped
    /// thread's counts lost, and found again or not): no reset, so only what passes the
    /// highest figure seen is new, and nothing is counted twice.
    fn take_table(&mut self, now: &ProbeSample, baseline: Option<bool>) {
        let zero = SiteCounters::default();
        for counters in &now.sites {
            let overflow = self.overflows(&counters.site);
            let previous = if overflow {
                self.overflow_last.get(&counters.site).cloned()
            } else {
                None
            };
            let site = self.site_mut(&counters.site);
            if counters.label.is_some() && !overflow {
                site.label.clone_from(&counters.label);
            }
            let before = match (overflow, baseline) {
                (_, Some(_)) => &zero,
                (true, None) => previous.as_ref().unwrap_or(&zero),
                (false, None) => site.last.as_ref().unwrap_or(&zero),
            };
            let spawns = counters.spawns.saturating_sub(before.spawns);
            if baseline.is_none_or(|spawns_too| spawns_too) {
                site.spawns += spawns;
                site.pending.spawns += spawns;
            }
            if baseline.is_none() {
                let polls = counters.polls.saturating_sub(before.polls);
                site.polls += polls;
                site.pending.polls += polls;
                // A running poll's time is never in the table: it only grows.
                site.finished_ns += counters.busy_ns.saturating_sub(before.busy_ns);
                if site.buckets.len() < counters.buckets.len() {
                    site.buckets.resize(counters.buckets.len(), 0);
                }
                for (i, &n) in counters.buckets.iter().enumerate() {
                    let added = n.saturating_sub(before.buckets.get(i).copied().unwrap_or(0));
                    site.buckets[i] += added;
                    if added > 0 {
                        site.pending.max_poll_ns = site.pending.max_poll_ns.max(bucket_floor_ns(i));
                    }
                }
            }
            let highest = highest(before, counters);
            if overflow {
                self.overflow_last.insert(counters.site.clone(), highest);
            } else {
                site.last = Some(highest);
            }
        }
    }

    /// The elapsed part of the polls running now, per site: each to the row its whole time
    /// will reach in the table when it ends (a site past the probe's bound: `other`). A
    /// reading without a table (an older recording) credits none.
    fn take_running(&mut self, now: &ProbeSample) {
        for site in &mut self.sites {
            site.running_ns = 0;
        }
        if now.sites.is_empty() || now.in_flight.is_empty() {
            return;
        }
        let in_table: std::collections::HashSet<&str> =
            now.sites.iter().map(|s| s.site.as_str()).collect();
        for poll in now.in_flight.iter().filter(|p| !p.worker_moved) {
            let name = poll
                .spawned_at
                .as_deref()
                .filter(|s| in_table.contains(s))
                .unwrap_or(OTHER);
            let site = self.site_mut(name);
            site.running_ns = site.running_ns.saturating_add(poll.duration_ns);
        }
    }

    fn fold_poll(&mut self, poll: &PollRecord) {
        let name = poll.spawned_at.as_deref().unwrap_or(OTHER).to_owned();
        let key = (poll.tid, poll.seq, poll.started_ns);
        let stall = !poll.worker_moved && poll.duration_ns >= self.stall_threshold_ns;
        let newly_stalled = stall && !self.running_stalls.contains_key(&key);
        if poll.running {
            if stall {
                self.running_stalls.insert(key, self.folded_ns);
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
            let pending = &mut site.pending;
            if poll.duration_ns >= pending.max_poll_ns {
                pending.max_poll_ns = poll.duration_ns;
                pending.max_poll_exact = true;
            }
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
        sites.sort_by(|a, b| SiteSort::Busy.compare(*a, *b));
        sites
    }
}

/// Each of `now`'s counters at its highest of `before` and `now`.
fn highest(before: &SiteCounters, now: &SiteCounters) -> SiteCounters {
    let mut buckets = now.buckets.clone();
    if buckets.len() < before.buckets.len() {
        buckets.resize(before.buckets.len(), 0);
    }
    for (b, &was) in buckets.iter_mut().zip(&before.buckets) {
        *b = (*b).max(was);
    }
    SiteCounters {
        site: now.site.clone(),
        label: now.label.clone(),
        spawns: now.spawns.max(before.spawns),
        polls: now.polls.max(before.polls),
        busy_ns: now.busy_ns.max(before.busy_ns),
        buckets,
    }
}

/// What a site table is sorted by. One order per key, which the view, the model and the report
/// all use: highest first (the name: A to Z), ties by busy share, then by name, so that equal
/// rows keep their places from one frame to the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SiteSort {
    #[default]
    Busy,
    Polls,
    Spawns,
    MaxPoll,
    LongPolls,
    Stalls,
    Name,
}

/// A site's figures as a table sorts them: the view's (the last second) or the report's (the
/// run).
pub trait SiteFigures {
    fn name(&self) -> &str;
    /// Share of the workers' time, 0..=1.
    fn busy(&self) -> f64;
    fn polls_per_sec(&self) -> f64;
    fn spawns_per_sec(&self) -> f64;
    fn max_poll_ns(&self) -> u64;
    fn long_polls(&self) -> u64;
    fn stalls(&self) -> u64;
}

impl SiteFigures for SiteModel {
    fn name(&self) -> &str {
        &self.site
    }
    fn busy(&self) -> f64 {
        self.busy_share()
    }
    fn polls_per_sec(&self) -> f64 {
        SiteModel::polls_per_sec(self)
    }
    fn spawns_per_sec(&self) -> f64 {
        SiteModel::spawns_per_sec(self)
    }
    fn max_poll_ns(&self) -> u64 {
        self.max_poll_ns
    }
    fn long_polls(&self) -> u64 {
        self.long_polls
    }
    fn stalls(&self) -> u64 {
        self.stalls
    }
}

impl SiteSort {
    /// The order of this key.
    pub fn compare<S: SiteFigures + ?Sized>(self, a: &S, b: &S) -> Ordering {
        let first = match self {
            SiteSort::Busy => Ordering::Equal,
            SiteSort::Polls => b.polls_per_sec().total_cmp(&a.polls_per_sec()),
            SiteSort::Spawns => b.spawns_per_sec().total_cmp(&a.spawns_per_sec()),
            SiteSort::MaxPoll => b.max_poll_ns().cmp(&a.max_poll_ns()),
            SiteSort::LongPolls => b.long_polls().cmp(&a.long_polls()),
            SiteSort::Stalls => b.stalls().cmp(&a.stalls()),
            SiteSort::Name => return a.name().cmp(b.name()),
        };
        first
            .then_with(|| b.busy().total_cmp(&a.busy()))
            .then_with(|| a.name().cmp(b.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::CpuUse;

    const MS: u64 = 1_000_000;
    const HASH: &str = "src/hash.rs:40:9";

    fn counters(site: &str, spawns: u64, busy_ms: u64) -> SiteCounters {
        SiteCounters {
            site: site.to_owned(),
            label: Some("hasher".to_owned()),
            spawns,
            polls: 0,
            busy_ns: busy_ms * MS,
            buckets: Vec::new(),
        }
    }

    fn poll(site: &str, ms: u64, running: bool, worker_moved: bool) -> PollRecord {
        PollRecord {
            worker: Some(0),
            task_id: 7,
            workload: None,
            spawned_at: Some(site.to_owned()),
            tid: Some(100),
            seq: 11,
            started_ns: 40 * MS,
            duration_ns: ms * MS,
            running,
            cpu_ratio: None,
            cpu: CpuUse::On,
            cpu_wait_ns: None,
            thread_state: None,
            syscall: None,
            worker_moved,
            captured: None,
            stack: None,
        }
    }

    fn reading(table: Vec<SiteCounters>, running: Vec<PollRecord>) -> ProbeSample {
        let (in_flight, long_polls) = running.into_iter().partition(|p| p.running);
        ProbeSample {
            in_flight,
            long_polls,
            sites: table,
            ..ProbeSample::default()
        }
    }

    /// Busy ns credited to each interval the site holds, oldest first.
    fn credited(site: &SiteModel) -> Vec<u64> {
        site.intervals.iter().map(|i| i.busy_ns / MS).collect()
    }

    fn hash(model: &SitesModel) -> &SiteModel {
        model
            .sites
            .iter()
            .find(|s| s.site == HASH)
            .expect("the hash site")
    }

    #[test]
    fn a_poll_is_credited_while_it_runs_and_only_its_rest_when_it_ends() {
        let mut model = SitesModel::new(100 * MS);
        // The probe's first reading, 5 ms into the run: two tasks spawned, none polled long.
        model.baseline(&reading(vec![counters(HASH, 2, 0)], vec![]), Some(5 * MS));
        // One poll runs over three intervals of 100 ms (2 workers: 200 ms of worker time
        // each), then ends 290 ms long and its whole time reaches the table.
        let samples = [
            reading(
                vec![counters(HASH, 2, 0)],
                vec![poll(HASH, 60, true, false)],
            ),
            reading(
                vec![counters(HASH, 2, 0)],
                vec![poll(HASH, 160, true, false)],
            ),
            reading(
                vec![counters(HASH, 2, 0)],
                vec![poll(HASH, 260, true, false)],
            ),
            reading(
                vec![counters(HASH, 2, 290)],
                vec![poll(HASH, 290, false, false)],
            ),
            reading(vec![counters(HASH, 2, 290)], vec![]),
        ];
        for (i, sample) in samples.iter().enumerate() {
            model.fold(sample, 100 * MS, 2);
            let site = hash(&model);
            // The run so far is the sum of its intervals, within the workers' time.
            let sum: u64 = site.intervals.iter().map(|i| i.busy_ns).sum();
            assert_eq!(site.busy_ns, sum, "after interval {i}");
            assert!(site.busy_ns <= 2 * 100 * MS * (i as u64 + 1));
        }
        let site = hash(&model);
        // The baseline's interval (spawns, no busy), then 60, 100, 100, the rest 30, nothing.
        assert_eq!(credited(site), vec![0, 60, 100, 100, 30, 0]);
        assert_eq!(site.busy_ns, 290 * MS);
        let shares: Vec<f64> = site.busy.iter().collect();
        assert_eq!(shares, vec![0.3, 0.5, 0.5, 0.15, 0.0]);
        assert_eq!((site.stalls, site.long_polls), (1, 1));
        // Spawned before the first reading: in the run's total and in its first second.
        assert_eq!(site.spawns, 2);
        let expected = 2.0 / 0.505;
        assert!(
            (site.spawns_per_sec() - expected).abs() < 1e-9,
            "{}",
            site.spawns_per_sec()
        );
    }

    #[test]
    fn a_poll_credited_longer_than_it_ended_is_not_taken_back_nor_counted_again() {
        let mut model = SitesModel::new(100 * MS);
        model.baseline(&reading(vec![counters(HASH, 1, 0)], vec![]), Some(MS));
        // Credited 150 ms while running; it ends at 140 ms on the coarse clock (then moves
        // nothing back), and the site's next 10 ms settle the difference before more counts.
        model.fold(
            &reading(
                vec![counters(HASH, 1, 0)],
                vec![poll(HASH, 150, true, false)],
            ),
            100 * MS,
            2,
        );
        model.fold(
            &reading(
                vec![counters(HASH, 1, 140)],
                vec![poll(HASH, 140, false, false)],
            ),
            100 * MS,
            2,
        );
        model.fold(&reading(vec![counters(HASH, 1, 170)], vec![]), 100 * MS, 2);
        let site = hash(&model);
        assert_eq!(credited(site), vec![0, 150, 0, 20]);
        assert_eq!(site.busy_ns, 170 * MS);
        // A running poll whose worker went on without it (`block_in_place`) holds none.
        model.fold(
            &reading(
                vec![counters(HASH, 1, 170)],
                vec![poll(HASH, 500, true, true)],
            ),
            100 * MS,
            2,
        );
        assert_eq!(credited(hash(&model)).last(), Some(&0));
    }

    #[test]
    fn an_interval_is_never_credited_more_than_the_workers_had() {
        let mut model = SitesModel::new(100 * MS);
        model.baseline(&reading(vec![counters(HASH, 1, 0)], vec![]), Some(MS));
        // An urgent reading 2 ms after the last one sees a poll 50 ms in: 4 ms of worker
        // time now, the rest over the next intervals.
        model.fold(
            &reading(
                vec![counters(HASH, 1, 0)],
                vec![poll(HASH, 50, true, false)],
            ),
            2 * MS,
            2,
        );
        model.fold(
            &reading(
                vec![counters(HASH, 1, 0)],
                vec![poll(HASH, 60, true, false)],
            ),
            10 * MS,
            2,
        );
        model.fold(
            &reading(
                vec![counters(HASH, 1, 80)],
                vec![poll(HASH, 80, false, false)],
            ),
            100 * MS,
            2,
        );
        let site = hash(&model);
        assert_eq!(credited(site), vec![0, 4, 20, 56]);
        assert_eq!(site.busy.iter().next(), Some(1.0));
    }

    #[test]
    fn a_poll_running_at_the_baseline_counts_from_it_and_so_do_an_attachments_spawns() {
        let mut model = SitesModel::new(100 * MS);
        // Attached to an app that ran before: its spawns so far, and the 400 ms its poll had
        // run, were before the run.
        model.baseline(
            &reading(
                vec![counters(HASH, 5000, 900)],
                vec![poll(HASH, 400, true, false)],
            ),
            None,
        );
        model.fold(
            &reading(
                vec![counters(HASH, 5001, 900)],
                vec![poll(HASH, 500, true, false)],
            ),
            100 * MS,
            2,
        );
        model.fold(
            &reading(
                vec![counters(HASH, 5001, 1450)],
                vec![poll(HASH, 550, false, false)],
            ),
            100 * MS,
            2,
        );
        let site = hash(&model);
        assert_eq!(credited(site), vec![100, 50]);
        assert_eq!(site.spawns, 1);
    }

    #[test]
    fn a_running_poll_of_a_site_past_the_probes_bound_is_the_other_rows() {
        let mut model = SitesModel::new(100 * MS);
        let table = |busy| vec![counters(HASH, 1, 0), counters(OTHER, 9, busy)];
        model.baseline(&reading(table(0), vec![]), Some(MS));
        // The probe names the poll's site, but counts its time under `other` when it ends.
        let far = "src/far.rs:1:1";
        model.fold(
            &reading(table(0), vec![poll(far, 50, true, false)]),
            100 * MS,
            2,
        );
        model.fold(
            &reading(table(70), vec![poll(far, 70, false, false)]),
            100 * MS,
            2,
        );
        let other = model.sites.iter().find(|s| s.site == OTHER).expect("other");
        assert_eq!(credited(other), vec![0, 50, 20]);
    }

    /// A table row with `n` spawns, `n` polls (all in bucket 3) and `n` ms busy.
    fn counted(site: &str, n: u64) -> SiteCounters {
        SiteCounters {
            polls: n,
            buckets: vec![0, 0, 0, n],
            ..counters(site, n, n)
        }
    }

    /// Spawns, polls, bucket 3 and finished ms of a site.
    fn totals(site: &SiteModel) -> (u64, u64, u64, u64) {
        (
            site.spawns,
            site.polls,
            site.buckets[3],
            site.finished_ns / MS,
        )
    }

    #[test]
    fn a_site_total_that_goes_back_is_not_counted_again() {
        // An older probe could lose a stopped thread's counts: its totals went back, then on.
        let mut model = SitesModel::new(100 * MS);
        model.baseline(&reading(vec![counted(HASH, 0)], vec![]), Some(MS));
        for n in [10, 4, 13, 13, 20] {
            model.fold(&reading(vec![counted(HASH, n)], vec![]), 100 * MS, 2);
        }
        // 10, then nothing new until past 10, then the 10 more that reach 20: 20 of each.
        assert_eq!(totals(hash(&model)), (20, 20, 20, 20));
        let spawned: Vec<u64> = hash(&model).intervals.iter().map(|i| i.spawns).collect();
        assert_eq!(spawned, vec![10, 0, 3, 0, 7]);
    }

    #[test]
    fn a_site_past_the_models_bound_that_goes_back_is_not_counted_again() {
        let mut model = SitesModel::new(100 * MS);
        let filler: Vec<SiteCounters> = (0..MAX_MODEL_SITES)
            .map(|i| counted(&format!("src/filler.rs:{i}:1"), 0))
            .collect();
        let table = |n| {
            let mut table = filler.clone();
            table.push(counted(HASH, n));
            table
        };
        model.baseline(&reading(table(0), vec![]), Some(MS));
        for n in [10, 4, 13] {
            model.fold(&reading(table(n), vec![]), 100 * MS, 2);
        }
        let other = model.sites.iter().find(|s| s.site == OTHER).expect("other");
        assert_eq!(totals(other), (13, 13, 13, 13));
    }

    #[test]
    fn rates_cover_a_second_of_intervals_whatever_their_length() {
        // 100 ms readings: the newest ten are the window.
        let mut model = SitesModel::new(100 * MS);
        model.baseline(&reading(vec![counters(HASH, 0, 0)], vec![]), None);
        for n in 1..=20 {
            model.fold(
                &reading(vec![counters(HASH, n, n * 10)], vec![]),
                100 * MS,
                2,
            );
        }
        let site = &model.sites[0];
        assert_eq!(site.intervals.len(), 10);
        assert!((site.spawns_per_sec() - 10.0).abs() < 1e-9);
        assert!((site.busy_share() - 0.05).abs() < 1e-9);
        // A reading every 5 s (`attach --interval 5s`): the newest one is the window, not the
        // last fifty seconds.
        let mut model = SitesModel::new(100 * MS);
        model.baseline(&reading(vec![counters(HASH, 0, 0)], vec![]), None);
        for (n, busy) in [(50, 5_000), (50, 5_000), (60, 6_000)] {
            model.fold(
                &reading(vec![counters(HASH, n, busy)], vec![]),
                5_000 * MS,
                2,
            );
        }
        let site = &model.sites[0];
        assert_eq!(site.intervals.len(), 1);
        assert!((site.spawns_per_sec() - 2.0).abs() < 1e-9);
        assert!((site.busy_share() - 0.1).abs() < 1e-9);
    }

    #[test]
    fn the_longest_poll_is_the_last_seconds_not_the_last_readings() {
        let mut model = SitesModel::new(100 * MS);
        let table = vec![counters(HASH, 1, 0)];
        model.baseline(&reading(table.clone(), vec![]), None);
        model.fold(
            &reading(table.clone(), vec![poll(HASH, 300, false, false)]),
            100 * MS,
            2,
        );
        for _ in 0..9 {
            model.fold(&reading(table.clone(), vec![]), 100 * MS, 2);
        }
        let site = &model.sites[0];
        assert_eq!((site.max_poll_ns, site.max_poll_exact), (300 * MS, true));
        model.fold(&reading(table.clone(), vec![]), 100 * MS, 2);
        let site = &model.sites[0];
        assert_eq!(site.max_poll_ns, 0, "a second later");
        assert_eq!(site.longest_ns, 300 * MS, "the run's longest stays");
    }

    #[test]
    fn a_running_stall_whose_end_was_lost_is_forgotten_after_ten_seconds_not_samples() {
        let mut model = SitesModel::new(100 * MS);
        let table = vec![counters(HASH, 1, 0)];
        model.baseline(&reading(table.clone(), vec![]), None);
        let stuck = || reading(table.clone(), vec![poll(HASH, 150, true, false)]);
        model.fold(&stuck(), 1_000 * MS, 2);
        assert_eq!(model.sites[0].stalls, 1);
        // Nine seconds of readings without it: still known, so seeing it again adds nothing.
        for _ in 0..9 {
            model.fold(&reading(table.clone(), vec![]), 1_000 * MS, 2);
        }
        model.fold(&stuck(), 1_000 * MS, 2);
        assert_eq!(model.sites[0].stalls, 1);
        // Ten seconds without it (ten readings, not a hundred): forgotten, counted anew.
        for _ in 0..10 {
            model.fold(&reading(table.clone(), vec![]), 1_000 * MS, 2);
        }
        model.fold(&stuck(), 1_000 * MS, 2);
        assert_eq!(model.sites[0].stalls, 2);
    }

    #[test]
    fn every_sort_key_orders_the_same_way_everywhere() {
        let site = |name: &str, busy: f64, stalls: u64| {
            let mut s = SiteModel::new(name);
            s.pending = Interval {
                ns: 100 * MS,
                capacity_ns: 200 * MS,
                busy_ns: (busy * 200.0) as u64 * MS,
                ..Interval::default()
            };
            s.push_interval();
            s.stalls = stalls;
            s
        };
        let (a, b, c) = (
            site("b.rs", 0.5, 1),
            site("a.rs", 0.5, 0),
            site("c.rs", 0.9, 1),
        );
        let mut rows = [&a, &b, &c];
        rows.sort_by(|x, y| SiteSort::Busy.compare(*x, *y));
        let names: Vec<&str> = rows.iter().map(|s| s.site.as_str()).collect();
        assert_eq!(names, ["c.rs", "a.rs", "b.rs"], "ties by name");
        rows.sort_by(|x, y| SiteSort::Stalls.compare(*x, *y));
        let names: Vec<&str> = rows.iter().map(|s| s.site.as_str()).collect();
        assert_eq!(names, ["c.rs", "b.rs", "a.rs"], "ties by busy");
        rows.sort_by(|x, y| SiteSort::Name.compare(*x, *y));
        let names: Vec<&str> = rows.iter().map(|s| s.site.as_str()).collect();
        assert_eq!(names, ["a.rs", "b.rs", "c.rs"]);
    }
}
