//! The sampler: every interval, reads the measured runtime and the workloads' counters into a
//! [`Sample`] and hands it to the consumer without ever waiting for it.
//!
//! Runs on a plain std thread (started by the runner), never on the measured runtime.

mod attribution;
mod live;
pub mod stacks;
mod watch;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant};

pub use live::LiveSource;

use crate::probe::clock::COARSE_TICK;
use crate::sample::{
    LatencyBuckets, PollRecord, ProbeSample, RuntimeCounters, SAMPLE_FORMAT_VERSION, Sample,
    WorkerCounters, WorkloadCounters,
};

/// Where the sampler reads its numbers: the live runtime, or scripted counters in tests.
pub trait MetricsSource {
    fn workers(&mut self) -> Vec<WorkerCounters>;
    fn runtime(&mut self) -> RuntimeCounters;
    /// Each workload's counters; the latency part holds what was recorded since the last call.
    fn workloads(&mut self) -> Vec<WorkloadCounters>;
    /// The poll hooks' view, if a probe is installed; long polls since the last call.
    fn probe(&mut self) -> Option<ProbeSample> {
        None
    }
    /// A watchdog pass between samples (every tick); true asks for a sample now.
    fn scan(&mut self) -> bool {
        false
    }
}

/// What happened to a sample offered to the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// The channel was full: the sample was dropped and counted; its latencies carry over.
    Dropped,
    /// The consumer is gone: stop sampling.
    Closed,
}

/// Turns readings into samples and delivers them.
#[derive(Debug)]
pub struct Sampler<S> {
    source: S,
    seq: u64,
    dropped: u64,
    /// Latencies of samples that could not be delivered, merged into the next one so that no
    /// recorded latency is lost with a dropped sample.
    undelivered: Vec<LatencyBuckets>,
    /// The same for finished long polls and the worst canary lateness.
    undelivered_polls: Vec<PollRecord>,
    undelivered_lag_ns: u64,
}

impl<S: MetricsSource> Sampler<S> {
    pub fn new(source: S) -> Self {
        Sampler {
            source,
            seq: 0,
            dropped: 0,
            undelivered: Vec::new(),
            undelivered_polls: Vec::new(),
            undelivered_lag_ns: 0,
        }
    }

    /// Samples dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Reads the source once. `elapsed` is the time since the run started.
    pub fn sample(&mut self, elapsed: Duration) -> Sample {
        let workers = self.source.workers();
        let runtime = self.source.runtime();
        let mut workloads = self.source.workloads();
        for (workload, carried) in workloads.iter_mut().zip(self.undelivered.drain(..)) {
            workload.latency.merge(&carried);
        }
        let mut probe = self.source.probe();
        if let Some(probe) = probe.as_mut() {
            let mut carried = std::mem::take(&mut self.undelivered_polls);
            carried.append(&mut probe.long_polls);
            probe.long_polls = carried;
            probe.lag_max_ns = probe
                .lag_max_ns
                .max(std::mem::take(&mut self.undelivered_lag_ns));
        }
        let sample = Sample {
            format_version: SAMPLE_FORMAT_VERSION,
            seq: self.seq,
            elapsed_ns: u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            workers,
            runtime,
            workloads,
            probe,
            dropped_before: self.dropped,
        };
        self.seq += 1;
        sample
    }

    /// Offers a sample to the consumer without blocking.
    pub fn deliver(&mut self, sample: Sample, tx: &SyncSender<Sample>) -> Delivery {
        match tx.try_send(sample) {
            Ok(()) => Delivery::Sent,
            Err(TrySendError::Full(sample)) => {
                self.dropped += 1;
                self.undelivered = sample.workloads.into_iter().map(|w| w.latency).collect();
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
        tx: &SyncSender<Sample>,
        stop: &AtomicBool,
    ) {
        let mut next_sample = Instant::now();
        loop {
            let stopping = stop.load(Ordering::Acquire);
            let urgent = self.source.scan();
            let now = Instant::now();
            if urgent || stopping || now >= next_sample {
                let sample = self.sample(started.elapsed());
                if self.deliver(sample, tx) == Delivery::Closed || stopping {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::SchedCounters;
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
        fn workloads(&mut self) -> Vec<WorkloadCounters> {
            vec![WorkloadCounters {
                id: "w".into(),
                ops: self.reads,
                errors: 0,
                timeouts: 0,
                bytes: 0,
                latency: LatencyBuckets {
                    micros: vec![(100, 1)],
                },
                sched: SchedCounters::default(),
                setting: String::new(),
            }]
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
        assert_eq!(b.workloads[0].ops, 2);
        assert_eq!(b.format_version, SAMPLE_FORMAT_VERSION);
    }

    #[test]
    fn a_full_channel_drops_and_counts_but_keeps_latencies() {
        let (tx, rx) = sync_channel(1);
        let mut sampler = Sampler::new(FakeSource { reads: 0 });
        let first = sampler.sample(Duration::ZERO);
        assert_eq!(sampler.deliver(first, &tx), Delivery::Sent);
        let second = sampler.sample(Duration::from_millis(100));
        assert_eq!(sampler.deliver(second, &tx), Delivery::Dropped);
        assert_eq!(sampler.dropped(), 1);
        assert_eq!(rx.recv().expect("first").seq, 0);
        let third = sampler.sample(Duration::from_millis(200));
        // The dropped sample's latency rides along with the next one.
        assert_eq!(third.workloads[0].latency.count(), 2);
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
}
