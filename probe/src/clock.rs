//! The probe's clocks: a coarse one that costs a single atomic load, kept fresh by the monitor
//! thread, and the precise one read only for the one poll in [`PRECISE_EVERY`].
//!
//! Reading `Instant::now()` twice per poll costs about 80 ns here and halves a yield-heavy
//! runtime's throughput (see TOKIO-NOTES); an atomic load costs about a nanosecond. quanta's
//! `Instant::recent()` works the same way but needs an upkeep thread of its own; tokmon's
//! monitor thread already wakes every millisecond, so it keeps this clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the monitor thread advances the coarse clock (and scans for stalls).
pub const COARSE_TICK: Duration = Duration::from_millis(1);

/// One poll in this many is timed with the precise clock, for the short end of the histogram.
pub const PRECISE_EVERY: u64 = 256;

/// Polls at least this long by the coarse clock are counted one by one in the histogram; the
/// buckets below hold the sampled short polls, each counted [`PRECISE_EVERY`] times. The floor
/// of the histogram's "2ms" bucket (2048 µs), so that no bucket mixes the two kinds of count.
pub const EXACT_FROM_NS: u64 = 2_048_000;

/// Nanoseconds since the probe started, at millisecond resolution.
#[derive(Debug)]
pub struct CoarseClock {
    base: Instant,
    now_ns: AtomicU64,
}

impl CoarseClock {
    pub fn new() -> Self {
        CoarseClock {
            base: Instant::now(),
            now_ns: AtomicU64::new(0),
        }
    }

    /// The coarse time: at most one tick (plus the monitor thread's scheduling delay) behind.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.now_ns.load(Ordering::Relaxed)
    }

    /// The precise time on the same scale. About 37 ns: never on every poll.
    #[inline]
    pub fn precise_ns(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Advances the coarse time to the precise time; called by the monitor thread.
    pub fn tick(&self) -> u64 {
        let now = self.precise_ns();
        self.now_ns.fetch_max(now, Ordering::Relaxed);
        now
    }

    /// The instant the clock counts from.
    pub fn base(&self) -> Instant {
        self.base
    }
}

impl Default for CoarseClock {
    fn default() -> Self {
        CoarseClock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_counting_starts_where_a_bucket_does() {
        use crate::buckets::{bucket_floor_ns, bucket_of};
        let first_exact = bucket_of(EXACT_FROM_NS);
        assert_eq!(bucket_floor_ns(first_exact), EXACT_FROM_NS);
        assert_eq!(bucket_of(EXACT_FROM_NS - 1), first_exact - 1);
    }

    #[test]
    fn coarse_time_moves_only_on_tick() {
        let clock = CoarseClock::new();
        assert_eq!(clock.now_ns(), 0);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now_ns(), 0);
        let ticked = clock.tick();
        assert!(ticked >= 5_000_000);
        assert_eq!(clock.now_ns(), ticked);
        assert!(clock.precise_ns() >= ticked);
    }
}
