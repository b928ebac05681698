//! The presenter's knobs: what the flip and intensity keys change on a workload. Pure.

use crate::scenario::FsMode;
use strum::VariantArray;

use crate::scenario::{Knob, LockKind, Placement, SleepMode, WorkloadKind};

/// The mistake/fix switch of a workload: the next hash placement, the other lock, the other
/// sleep or file mode. `None` for kinds without one (echo, spawn).
pub fn flip(kind: &WorkloadKind) -> Option<Knob> {
    Some(match kind {
        WorkloadKind::Hash(s) => {
            let all = Placement::VARIANTS;
            let at = all.iter().position(|p| *p == s.placement).unwrap_or(0);
            Knob::Placement(all[(at + 1) % all.len()])
        }
        WorkloadKind::Mutex(s) => Knob::Lock(match s.lock {
            LockKind::Std => LockKind::Tokio,
            LockKind::Tokio => LockKind::Std,
        }),
        WorkloadKind::Sleep(s) => Knob::SleepMode(match s.mode {
            SleepMode::Blocking => SleepMode::Async,
            SleepMode::Async => SleepMode::Blocking,
        }),
        WorkloadKind::Fs(s) => Knob::FsMode(match s.mode {
            FsMode::Blocking => FsMode::Async,
            FsMode::Async => FsMode::Blocking,
        }),
        WorkloadKind::Echo(_) | WorkloadKind::Spawn(_) => return None,
    })
}

const MIB: u64 = 1024 * 1024;

/// One step up (`up`) or down in a workload's intensity: rate for echo and spawn, bytes per
/// job for hash and fs, loops for mutex and sleep. `None` when already at the limit.
pub fn intensity(kind: &WorkloadKind, up: bool) -> Option<Knob> {
    let scale = |v: u64, min: u64, max: u64| -> Option<u64> {
        let next = if up { v.saturating_mul(2) } else { v / 2 };
        let next = next.clamp(min, max);
        (next != v).then_some(next)
    };
    let step = |v: u32, min: u32, max: u32| -> Option<u32> {
        let next = if up {
            v.saturating_add(1)
        } else {
            v.saturating_sub(1)
        };
        let next = next.clamp(min, max);
        (next != v).then_some(next)
    };
    let rate = |r: u32| {
        scale(u64::from(r), 1, 1_000_000).map(|r| Knob::Rate(u32::try_from(r).unwrap_or(u32::MAX)))
    };
    match kind {
        WorkloadKind::Echo(s) => rate(s.rate),
        WorkloadKind::Spawn(s) => rate(s.rate),
        WorkloadKind::Hash(s) => scale(s.size, MIB, 4096 * MIB).map(Knob::Size),
        WorkloadKind::Fs(s) => scale(s.size, MIB / 16, 1024 * MIB).map(Knob::Size),
        WorkloadKind::Mutex(s) => step(s.tasks, 2, 64).map(Knob::Tasks),
        WorkloadKind::Sleep(s) => step(s.tasks, 1, 64).map(Knob::Tasks),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{EchoSpec, HashSpec, HoldBy, MutexSpec};
    use std::time::Duration;

    fn hash(placement: Placement) -> WorkloadKind {
        WorkloadKind::Hash(HashSpec {
            placement,
            tasks: 2,
            size: 256 * MIB,
            every: Duration::from_millis(10),
            chunk: MIB,
        })
    }

    #[test]
    fn flip_cycles_the_placement_and_toggles_the_rest() {
        assert_eq!(
            flip(&hash(Placement::Worker)),
            Some(Knob::Placement(Placement::SpawnBlocking))
        );
        assert_eq!(
            flip(&hash(Placement::Yield)),
            Some(Knob::Placement(Placement::Worker))
        );
        let mutex = WorkloadKind::Mutex(MutexSpec {
            tasks: 8,
            lock: LockKind::Std,
            hold: Duration::from_millis(20),
            hold_by: HoldBy::Sleep,
            every: Duration::from_millis(10),
        });
        assert_eq!(flip(&mutex), Some(Knob::Lock(LockKind::Tokio)));
        let echo = WorkloadKind::Echo(EchoSpec {
            connections: 1,
            rate: 1000,
            payload: 64,
            timeout: Duration::from_secs(1),
        });
        assert_eq!(flip(&echo), None);
    }

    #[test]
    fn intensity_doubles_and_halves_within_limits() {
        assert_eq!(
            intensity(&hash(Placement::Worker), true),
            Some(Knob::Size(512 * MIB))
        );
        assert_eq!(
            intensity(&hash(Placement::Worker), false),
            Some(Knob::Size(128 * MIB))
        );
        let echo = |rate| {
            WorkloadKind::Echo(EchoSpec {
                connections: 1,
                rate,
                payload: 64,
                timeout: Duration::from_secs(1),
            })
        };
        assert_eq!(intensity(&echo(1), false), None, "already at the minimum");
        assert_eq!(intensity(&echo(1000), true), Some(Knob::Rate(2000)));
    }
}
