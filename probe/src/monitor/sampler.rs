//! The sampler: every interval, reads the measured runtime into a [`Reading`] and hands it to
//! the consumer without ever waiting for it.
//!
//! Runs on the monitor's plain std thread, never on the measured runtime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant};

use crate::clock::COARSE_TICK;
use crate::sample::{PollRecord, ProbeSample, Reading, RuntimeCounters, WorkerCounters};

/// Where the sampler reads its numbers: the live runtime, or scripted counters in tests.
pub trait MetricsSource {
    fn workers(&mut self) -> Vec<WorkerCounters>;
    fn runtime(&mut self) -> RuntimeCounters;
    /// The poll hooks' view, if a probe is installed; long polls since the last call.
    fn probe(&mut self) -> Option<ProbeSample> {
        None
    }
    /// A watchdog pass between samples (every tick); true asks for a sample now.
    fn scan(&mut self) -> bool {
        false
    }
    /// Sees each reading's parts as they were read, before long polls carried over from a
    /// reading not delivered join them (so each is seen once).
    fn observe(
        &mut self,
        _workers: &[WorkerCounters],
        _runtime: &RuntimeCounters,
        _probe: Option<&ProbeSample>,
    ) {
    }
}

/// What happened to a reading offered to the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// The channel was full: the reading was dropped and counted; its long polls carry over.
    Dropped,
    /// The consumer is gone: stop sampling.
    Closed,
}

/// Takes readings and delivers them.
#[derive(Debug)]
pub struct Sampler<S> {
    source: S,
    seq: u64,
    dropped: u64,
    /// Finished long polls and the worst canary lateness of readings that could not be
    /// delivered, carried into the next one so that none is lost with a dropped reading.
    undelivered_polls: Vec<PollRecord>,
    undelivered_lag_ns: u64,
}

impl<S: MetricsSource> Sampler<S> {
    pub fn new(source: S) -> Self {
        Sampler {
            source,
            seq: 0,
            dropped: 0,
            undelivered_polls: Vec::new(),
            undelivered_lag_ns: 0,
        }
    }

    /// Readings dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Reads the source once. `elapsed` is the time since the run started.
    pub fn sample(&mut self, elapsed: Duration) -> Reading {
        let workers = self.source.workers();
        let runtime = self.source.runtime();
        let mut probe = self.source.probe();
        self.source.observe(&workers, &runtime, probe.as_ref());
        if let Some(probe) = probe.as_mut() {
            let mut carried = std::mem::take(&mut self.undelivered_polls);
            carried.append(&mut probe.long_polls);
            probe.long_polls = carried;
            probe.lag_max_ns = probe
                .lag_max_ns
                .max(std::mem::take(&mut self.undelivered_lag_ns));
        }
        let sample = Reading {
            seq: self.seq,
            elapsed_ns: u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            workers,
            runtime,
            probe,
            dropped_before: self.dropped,
        };
        self.seq += 1;
        sample
    }

    /// Offers a reading to the consumer without blocking.
    pub fn deliver(&mut self, sample: Reading, tx: &SyncSender<Reading>) -> Delivery {
        match tx.try_send(sample) {
            Ok(()) => Delivery::Sent,
            Err(TrySendError::Full(sample)) => {
                self.dropped += 1;
                if let Some(probe) = sample.probe {
                    self.undelivered_polls = probe.long_polls;
                    self.undelivered_lag_ns = probe.lag_max_ns;
                }
                Delivery::Dropped
            }
            Err(TrySendError::Disconnected(_)) => Delivery::Closed,
        }
    }

    /// Samples every `interval` until `stop` is set or the consumer goes away, with a
    /// watchdog pass every [`COARSE_TICK`] in between; a pass that sees a new stall sends a
    /// sample at once. The first sample is taken at once, so the consumer has a baseline; the
    /// last one when stopping, so the totals cover the whole run.
    pub fn run(
        &mut self,
        started: Instant,
        interval: Duration,
        tx: &SyncSender<Reading>,
        stop: &AtomicBool,
    ) {
        let mut next_sample = Instant::now();
        loop {
            let stopping = stop.load(Ordering::Acquire);
            // A bug of the probe's must not end the watching, nor reach the app: a pass that
            // panics is skipped (with `panic = "abort"` nothing can be caught, so the monitor's
            // code is written not to panic at all).
            let urgent = survive(|| self.source.scan()).unwrap_or(false);
            let now = Instant::now();
            if urgent || stopping || now >= next_sample {
                let closed = survive(|| self.sample(started.elapsed()))
                    .is_some_and(|reading| self.deliver(reading, tx) == Delivery::Closed);
                if closed || stopping {
                    return;
                }
                if now >= next_sample {
                    next_sample += interval;
                    if next_sample <= now {
                        // Fell behind (a suspended process, a starved thread): skip, do not burst.
                        next_sample = now + interval;
                    }
                }
            }
            std::thread::sleep(
                COARSE_TICK.min(next_sample.saturating_duration_since(Instant::now())),
            );
        }
    }
}

/// Runs one pass of the monitor, `None` if it panicked.
fn survive<T>(pass: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(pass)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;

    /// Scripted counters: each read advances by a fixed step.
    struct FakeSource {
        reads: u64,
    }

    impl MetricsSource for FakeSource {
        fn workers(&mut self) -> Vec<WorkerCounters> {
            self.reads += 1;
            vec![WorkerCounters {
                busy_ns: self.reads * 50_000_000,
                polls: self.reads * 10,
                ..WorkerCounters::default()
            }]
        }
        fn runtime(&mut self) -> RuntimeCounters {
            RuntimeCounters::default()
        }
        fn probe(&mut self) -> Option<ProbeSample> {
            Some(ProbeSample {
                long_polls: vec![long_poll(self.reads)],
                ..ProbeSample::default()
            })
        }
    }

    #[test]
    fn samples_are_numbered_and_carry_cumulative_counters() {
        let mut sampler = Sampler::new(FakeSource { reads: 0 });
        let a = sampler.sample(Duration::from_millis(0));
        let b = sampler.sample(Duration::from_millis(100));
        assert_eq!((a.seq, b.seq), (0, 1));
        assert_eq!(b.elapsed_ns, 100_000_000);
        assert_eq!(b.workers[0].polls, 20);
    }

    #[test]
    fn a_full_channel_drops_and_counts_but_keeps_long_polls() {
        let (tx, rx) = sync_channel(1);
        let mut sampler = Sampler::new(FakeSource { reads: 0 });
        let first = sampler.sample(Duration::ZERO);
        assert_eq!(sampler.deliver(first, &tx), Delivery::Sent);
        let second = sampler.sample(Duration::from_millis(100));
        assert_eq!(sampler.deliver(second, &tx), Delivery::Dropped);
        assert_eq!(sampler.dropped(), 1);
        assert_eq!(rx.recv().expect("first").seq, 0);
        let third = sampler.sample(Duration::from_millis(200));
        // The dropped reading's long poll rides along with the next one.
        let polls = &third.probe.as_ref().expect("probe part").long_polls;
        assert_eq!(polls.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(third.dropped_before, 1);
        assert_eq!(third.seq, 2);
        assert_eq!(sampler.deliver(third, &tx), Delivery::Sent);
        drop(rx);
        let fourth = sampler.sample(Duration::from_millis(300));
        assert_eq!(sampler.deliver(fourth, &tx), Delivery::Closed);
    }

    #[test]
    fn run_stops_when_asked_and_sends_a_final_sample() {
        let (tx, rx) = sync_channel(64);
        let stop = AtomicBool::new(true);
        let mut sampler = Sampler::new(FakeSource { reads: 0 });
        sampler.run(Instant::now(), Duration::from_millis(1), &tx, &stop);
        assert_eq!(rx.try_iter().count(), 1);
    }

    fn long_poll(seq: u64) -> PollRecord {
        PollRecord {
            worker: Some(0),
            task_id: 1,
            seq,
            duration_ns: 20_000_000,
            ..PollRecord::default()
        }
    }

    /// Panics on its second scan.
    struct FaultySource {
        scans: u64,
    }

    impl MetricsSource for FaultySource {
        fn workers(&mut self) -> Vec<WorkerCounters> {
            Vec::new()
        }
        fn runtime(&mut self) -> RuntimeCounters {
            RuntimeCounters::default()
        }
        fn scan(&mut self) -> bool {
            self.scans += 1;
            assert!(self.scans != 2, "a bug in one watchdog pass");
            self.scans == 3
        }
    }

    #[test]
    fn a_pass_that_panics_does_not_end_the_watching() {
        let (tx, rx) = sync_channel(64);
        let stop = AtomicBool::new(false);
        let mut sampler = Sampler::new(FaultySource { scans: 0 });
        std::thread::scope(|s| {
            s.spawn(|| sampler.run(Instant::now(), Duration::from_secs(3600), &tx, &stop));
            // The first reading at once, the second asked by the third scan, after the panic.
            for _ in 0..2 {
                rx.recv_timeout(Duration::from_secs(30)).expect("a reading");
            }
            stop.store(true, Ordering::Release);
        });
    }
}
