//! Readings for a client that asked for a longer interval than the probe's: the probe's own
//! readings folded into one per the client's interval, so that nothing of the period is lost.
//!
//! The probe samples at its own interval whoever is attached: that cadence is what watching
//! costs the app, and a client does not change it. A client asking for a longer interval gets
//! it rounded to a multiple of the probe's (never below it); each reading it gets has the
//! newest counters and snapshot (cumulative counters, gauges, the polls running now) and,
//! concatenated, the finished long polls of every reading folded into it, with the worst lag.
//! A poll that has just become a stall sends the folded reading at once, as the probe's own
//! early reading does for a client at the probe's interval.

use std::time::Duration;

use crate::sample::{PollRecord, Reading};

/// The longest interval a client gets; a client asking for more gets this.
pub(super) const MAX_INTERVAL: Duration = Duration::from_secs(60);

/// Finished long polls one folded reading carries at most: as many as the probe's own queue
/// holds for one reading. Past it, polls are left out and counted in `long_polls_dropped`.
const MAX_FOLDED_POLLS: usize = 4096;

/// The folded long polls' estimated encoded size at most, so that a folded reading with the
/// site table stays well under a client's queue (512 KiB), which takes a message whole or not.
const MAX_FOLDED_BYTES: usize = 192 * 1024;

/// The interval a client gets when it asks for `asked` of a probe sampling every `own`: the
/// nearest multiple of `own`, at least `own` and at most [`MAX_INTERVAL`] (or `own`, if that is
/// longer); `own` when it asks for nothing.
pub(super) fn effective_interval(asked: Option<Duration>, own: Duration) -> Duration {
    let (Some(asked), own_ns) = (asked, own.as_nanos()) else {
        return own;
    };
    if own_ns == 0 {
        return own;
    }
    let most = (MAX_INTERVAL.as_nanos() / own_ns).max(1);
    let multiple = asked
        .as_nanos()
        .saturating_add(own_ns / 2)
        .checked_div(own_ns)
        .unwrap_or(1)
        .clamp(1, most);
    u64::try_from(own_ns.saturating_mul(multiple)).map_or(own, Duration::from_nanos)
}

/// One client served at a multiple of the probe's interval, and what it has not had yet.
#[derive(Debug)]
pub(super) struct Paced {
    pub(super) id: u64,
    every_ns: u64,
    /// A reading this much before the client's time is on time: the probe's readings come on
    /// its own grid, each a little late or early.
    slack_ns: u64,
    /// The elapsed time of the last reading sent; `None` before the first, which goes at once
    /// so that the client has a baseline.
    last_sent_ns: Option<u64>,
    pending: Option<Reading>,
    /// The estimated encoded size of the pending reading's long polls.
    pending_bytes: usize,
    /// Long polls the caps left out over the attachment: added to each reading's cumulative
    /// `long_polls_dropped`, so that the client counts them as lost.
    left_out: u64,
}

impl Paced {
    /// Client `id`, served every `every` by a probe sampling every `own`.
    pub(super) fn new(id: u64, every: Duration, own: Duration) -> Paced {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Paced {
            id,
            every_ns: ns(every),
            slack_ns: ns(own) / 2,
            last_sent_ns: None,
            pending: None,
            pending_bytes: 0,
            left_out: 0,
        }
    }

    /// Folds `reading` into what the client has not had; returns the folded reading when it is
    /// due: the client's interval has passed since the last one, or `stall` says that a poll
    /// has just crossed the stall threshold.
    pub(super) fn fold(&mut self, reading: Reading, stall: bool) -> Option<Reading> {
        let elapsed = reading.elapsed_ns;
        self.merge(reading);
        let due = stall
            || self.last_sent_ns.is_none_or(|last| {
                elapsed.saturating_sub(last).saturating_add(self.slack_ns) >= self.every_ns
            });
        if due {
            self.last_sent_ns = Some(elapsed);
            self.take()
        } else {
            None
        }
    }

    /// What the client has not had, now (the runtime shut down: the last readings go whole).
    pub(super) fn take(&mut self) -> Option<Reading> {
        self.pending_bytes = 0;
        self.pending.take()
    }

    fn merge(&mut self, mut newest: Reading) {
        let older = self.pending.take().and_then(|reading| reading.probe);
        if let Some(probe) = newest.probe.as_mut() {
            let (mut polls, lag_ns) = match older {
                Some(older) => (older.long_polls, older.lag_max_ns),
                None => {
                    self.pending_bytes = 0;
                    (Vec::new(), 0)
                }
            };
            for poll in probe.long_polls.drain(..) {
                let size = estimated_size(&poll);
                if polls.len() >= MAX_FOLDED_POLLS
                    || self.pending_bytes.saturating_add(size) > MAX_FOLDED_BYTES
                {
                    self.left_out = self.left_out.saturating_add(1);
                } else {
                    self.pending_bytes += size;
                    polls.push(poll);
                }
            }
            probe.long_polls = polls;
            probe.lag_max_ns = probe.lag_max_ns.max(lag_ns);
            probe.long_polls_dropped = probe.long_polls_dropped.saturating_add(self.left_out);
        }
        self.pending = Some(newest);
    }
}

/// A generous guess at a poll record's encoded size (postcard: varints, strings as bytes).
fn estimated_size(poll: &PollRecord) -> usize {
    let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    64 + text(&poll.workload)
        + text(&poll.spawned_at)
        + text(&poll.syscall)
        + poll.captured.as_ref().map_or(0, |c| c.addresses.len() * 10)
}

/// Says which readings show a stall the previous one did not: those go to paced clients at once.
#[derive(Debug)]
pub(super) struct NewStalls {
    threshold_ns: u64,
    /// The polls (thread, poll number) stalled and running in the previous reading.
    stalled: Vec<(Option<i32>, u64)>,
}

impl NewStalls {
    pub(super) fn new(threshold_ns: u64) -> NewStalls {
        NewStalls {
            threshold_ns,
            stalled: Vec::new(),
        }
    }

    /// Whether `reading` shows a stall, running or finished, that was not running stalled in
    /// the reading before.
    pub(super) fn check(&mut self, reading: &Reading) -> bool {
        let Some(probe) = &reading.probe else {
            return false;
        };
        let threshold = self.threshold_ns;
        let key = |poll: &PollRecord| (poll.tid, poll.seq);
        let new = probe
            .in_flight
            .iter()
            .chain(&probe.long_polls)
            .filter(|poll| poll.duration_ns >= threshold)
            .any(|poll| !self.stalled.contains(&key(poll)));
        self.stalled.clear();
        self.stalled.extend(
            probe
                .in_flight
                .iter()
                .filter(|poll| poll.duration_ns >= threshold)
                .map(key),
        );
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::ProbeSample;

    const MS: u64 = 1_000_000;

    fn poll(seq: u64, duration_ns: u64, running: bool) -> PollRecord {
        PollRecord {
            worker: Some(0),
            task_id: seq,
            spawned_at: Some("src/main.rs:1:1".into()),
            tid: Some(7),
            seq,
            duration_ns,
            running,
            ..PollRecord::default()
        }
    }

    /// Reading `seq` at `seq` × 100 ms, with `long_polls` finished since the one before.
    fn reading(seq: u64, long_polls: Vec<PollRecord>, in_flight: Vec<PollRecord>) -> Reading {
        Reading {
            seq,
            elapsed_ns: seq * 100 * MS,
            workers: Vec::new(),
            runtime: Default::default(),
            probe: Some(ProbeSample {
                in_flight,
                long_polls,
                long_polls_dropped: 2,
                lag_max_ns: if seq == 3 { 50 * MS } else { MS },
                ..ProbeSample::default()
            }),
            dropped_before: seq / 5,
        }
    }

    #[test]
    fn an_asked_interval_is_rounded_to_a_multiple_of_the_probes_and_never_below_it() {
        let own = Duration::from_millis(100);
        let ms = Duration::from_millis;
        assert_eq!(effective_interval(None, own), own);
        assert_eq!(effective_interval(Some(Duration::ZERO), own), own);
        assert_eq!(effective_interval(Some(ms(10)), own), own);
        assert_eq!(effective_interval(Some(ms(149)), own), own);
        assert_eq!(effective_interval(Some(ms(150)), own), ms(200));
        assert_eq!(effective_interval(Some(ms(1000)), own), ms(1000));
        assert_eq!(effective_interval(Some(ms(1040)), own), ms(1000));
        assert_eq!(effective_interval(Some(Duration::MAX), own), MAX_INTERVAL);
        let slow = Duration::from_secs(90);
        assert_eq!(effective_interval(Some(ms(10)), slow), slow);
    }

    #[test]
    fn a_client_at_ten_times_the_interval_gets_every_long_poll_once_and_the_newest_counters() {
        let mut paced = Paced::new(1, Duration::from_secs(1), Duration::from_millis(100));
        let mut sent = Vec::new();
        for seq in 0..=30 {
            let polls = (0..seq % 3)
                .map(|i| poll(seq * 10 + i, 20 * MS, false))
                .collect();
            if let Some(folded) = paced.fold(reading(seq, polls, Vec::new()), false) {
                sent.push(folded);
            }
        }
        let seqs: Vec<u64> = sent.iter().map(|r| r.seq).collect();
        assert_eq!(
            seqs,
            [0, 10, 20, 30],
            "the first at once, then one a second"
        );
        let mut polls: Vec<u64> = sent
            .iter()
            .flat_map(|r| r.probe.as_ref().map(|p| p.long_polls.clone()))
            .flatten()
            .map(|p| p.seq)
            .collect();
        let expected: Vec<u64> = (0..=30)
            .flat_map(|seq: u64| (0..seq % 3).map(move |i| seq * 10 + i))
            .collect();
        assert_eq!(polls, expected, "each long poll once, in order");
        polls.dedup();
        assert_eq!(polls.len(), expected.len());
        let second = &sent[1];
        let probe = second.probe.as_ref().expect("probe");
        assert_eq!(
            probe.lag_max_ns,
            50 * MS,
            "the worst lag of the folded readings"
        );
        assert_eq!(probe.long_polls_dropped, 2, "nothing left out by the fold");
        assert_eq!(second.dropped_before, 2, "cumulative counts are the newest");
    }

    #[test]
    fn a_new_stall_goes_at_once_and_the_cadence_goes_on_from_it() {
        let mut paced = Paced::new(1, Duration::from_secs(1), Duration::from_millis(100));
        let mut stalls = NewStalls::new(100 * MS);
        let mut sent = Vec::new();
        for seq in 0..=20 {
            // Poll 99 runs long from reading 3, stalled from reading 4, done by reading 8.
            let in_flight = match seq {
                3 => vec![poll(99, 60 * MS, true)],
                4..=7 => vec![poll(99, (seq - 2) * 50 * MS, true)],
                _ => Vec::new(),
            };
            let done = if seq == 8 {
                vec![poll(99, 320 * MS, false)]
            } else {
                Vec::new()
            };
            let reading = reading(seq, done, in_flight);
            let stall = stalls.check(&reading);
            if let Some(folded) = paced.fold(reading, stall) {
                sent.push(folded.seq);
            }
        }
        assert_eq!(
            sent,
            [0, 4, 14],
            "the stall at once; not again while it runs or ends"
        );
    }

    #[test]
    fn the_fold_is_capped_and_what_it_leaves_out_is_counted() {
        let mut paced = Paced::new(1, Duration::from_secs(60), Duration::from_millis(100));
        assert!(
            paced
                .fold(reading(0, Vec::new(), Vec::new()), false)
                .is_some()
        );
        let per_reading = 1000;
        for seq in 1..=10 {
            let polls = (0..per_reading).map(|i| poll(seq * 10_000 + i, 20 * MS, false));
            assert!(
                paced
                    .fold(reading(seq, polls.collect(), Vec::new()), false)
                    .is_none()
            );
        }
        let folded = paced.take().expect("pending");
        let probe = folded.probe.expect("probe");
        let kept = probe.long_polls.len() as u64;
        assert!(kept > 0 && kept <= MAX_FOLDED_POLLS as u64, "{kept}");
        assert_eq!(kept + probe.long_polls_dropped - 2, 10 * per_reading);
        assert!(paced.take().is_none(), "nothing held after it went");
    }
}
