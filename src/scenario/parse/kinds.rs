//! The workload kinds: each one's keys, limits, allowed values and how its table becomes its spec.

use std::time::Duration;

use toml::de::DeTable;

use super::checker::Checker;
use crate::scenario::spec::{
    DEFAULT_ECHO_CONNECTIONS, DEFAULT_ECHO_PAYLOAD, DEFAULT_ECHO_RATE, DEFAULT_ECHO_TIMEOUT,
    DEFAULT_HASH_CHUNK, DEFAULT_HASH_EVERY, DEFAULT_HASH_PLACEMENT, DEFAULT_HASH_SIZE,
    DEFAULT_HASH_TASKS, DEFAULT_MUTEX_EVERY, DEFAULT_MUTEX_HOLD, DEFAULT_MUTEX_HOLD_BY,
    DEFAULT_MUTEX_LOCK, DEFAULT_MUTEX_TASKS, DEFAULT_SLEEP_DURATION, DEFAULT_SLEEP_EVERY,
    DEFAULT_SLEEP_MODE, DEFAULT_SLEEP_TASKS, DEFAULT_SPAWN_RATE, DEFAULT_SPAWN_WORK, EchoSpec,
    HashSpec, HoldBy, LockKind, MutexSpec, Placement, SleepMode, SleepSpec, SpawnSpec,
    WorkloadKind,
};

const ECHO_KEYS: &[&str] = &["connections", "rate", "payload", "timeout"];
const HASH_KEYS: &[&str] = &["placement", "tasks", "size", "every", "chunk"];
const MUTEX_KEYS: &[&str] = &["tasks", "lock", "hold", "hold_by", "every"];
const SLEEP_KEYS: &[&str] = &["tasks", "duration", "mode", "every"];
const SPAWN_KEYS: &[&str] = &["rate", "work"];

/// The workload kinds, each with the keys it accepts besides `id` and `kind`.
pub(super) const KINDS: &[(&str, &[&str])] = &[
    ("echo", ECHO_KEYS),
    ("hash", HASH_KEYS),
    ("mutex", MUTEX_KEYS),
    ("sleep", SLEEP_KEYS),
    ("spawn", SPAWN_KEYS),
];

const MAX_TASKS: u32 = 10_000;
const MAX_RATE: u32 = 1_000_000;
const MAX_CONNECTIONS: u32 = 10_000;
const MAX_PAYLOAD: u64 = 1024 * 1024;

const PLACEMENTS: &[(&str, Placement)] = &[
    ("worker", Placement::Worker),
    ("spawn_blocking", Placement::SpawnBlocking),
    ("block_in_place", Placement::BlockInPlace),
    ("yield", Placement::Yield),
];
const LOCKS: &[(&str, LockKind)] = &[("std", LockKind::Std), ("tokio", LockKind::Tokio)];
const HOLD_BYS: &[(&str, HoldBy)] = &[("sleep", HoldBy::Sleep), ("spin", HoldBy::Spin)];
const SLEEP_MODES: &[(&str, SleepMode)] = &[
    ("blocking", SleepMode::Blocking),
    ("async", SleepMode::Async),
];

impl Checker<'_> {
    /// The settings of a workload whose kind is `name`, one of [`KINDS`].
    pub(super) fn kind(&mut self, name: &str, t: &DeTable<'_>, p: &str) -> WorkloadKind {
        match name {
            "echo" => WorkloadKind::Echo(self.echo(t, p)),
            "hash" => WorkloadKind::Hash(self.hash(t, p)),
            "mutex" => WorkloadKind::Mutex(self.mutex(t, p)),
            "sleep" => WorkloadKind::Sleep(self.sleep(t, p)),
            "spawn" => WorkloadKind::Spawn(self.spawn(t, p)),
            other => unreachable!("KINDS has no kind {other}"),
        }
    }

    fn echo(&mut self, t: &DeTable<'_>, p: &str) -> EchoSpec {
        let payload = self
            .field(t, p, "payload", |c, p, v| c.size(p, v, 1, MAX_PAYLOAD))
            .or(u64::from(DEFAULT_ECHO_PAYLOAD));
        EchoSpec {
            connections: self.count(
                t,
                p,
                "connections",
                1,
                MAX_CONNECTIONS,
                DEFAULT_ECHO_CONNECTIONS,
            ),
            rate: self.count(t, p, "rate", 1, MAX_RATE, DEFAULT_ECHO_RATE),
            payload: u32::try_from(payload).expect("payload is checked to be at most 1 MiB"),
            timeout: self.positive_duration(t, p, "timeout", DEFAULT_ECHO_TIMEOUT),
        }
    }

    fn hash(&mut self, t: &DeTable<'_>, p: &str) -> HashSpec {
        HashSpec {
            placement: self
                .field(t, p, "placement", |c, p, v| {
                    c.choice(p, v, "placement", PLACEMENTS)
                })
                .or(DEFAULT_HASH_PLACEMENT),
            tasks: self.count(t, p, "tasks", 1, MAX_TASKS, DEFAULT_HASH_TASKS),
            size: self
                .field(t, p, "size", |c, p, v| c.size(p, v, 1, u64::MAX))
                .or(DEFAULT_HASH_SIZE),
            every: self.pause(t, p, "every", DEFAULT_HASH_EVERY),
            chunk: self
                .field(t, p, "chunk", |c, p, v| c.size(p, v, 1, u64::MAX))
                .or(DEFAULT_HASH_CHUNK),
        }
    }

    fn mutex(&mut self, t: &DeTable<'_>, p: &str) -> MutexSpec {
        MutexSpec {
            tasks: self.count(t, p, "tasks", 2, MAX_TASKS, DEFAULT_MUTEX_TASKS),
            lock: self
                .field(t, p, "lock", |c, p, v| c.choice(p, v, "lock", LOCKS))
                .or(DEFAULT_MUTEX_LOCK),
            hold: self.pause(t, p, "hold", DEFAULT_MUTEX_HOLD),
            hold_by: self
                .field(t, p, "hold_by", |c, p, v| {
                    c.choice(p, v, "hold_by", HOLD_BYS)
                })
                .or(DEFAULT_MUTEX_HOLD_BY),
            every: self.pause(t, p, "every", DEFAULT_MUTEX_EVERY),
        }
    }

    fn sleep(&mut self, t: &DeTable<'_>, p: &str) -> SleepSpec {
        SleepSpec {
            tasks: self.count(t, p, "tasks", 1, MAX_TASKS, DEFAULT_SLEEP_TASKS),
            duration: self.positive_duration(t, p, "duration", DEFAULT_SLEEP_DURATION),
            mode: self
                .field(t, p, "mode", |c, p, v| c.choice(p, v, "mode", SLEEP_MODES))
                .or(DEFAULT_SLEEP_MODE),
            every: self.pause(t, p, "every", DEFAULT_SLEEP_EVERY),
        }
    }

    fn spawn(&mut self, t: &DeTable<'_>, p: &str) -> SpawnSpec {
        SpawnSpec {
            rate: self.count(t, p, "rate", 1, MAX_RATE, DEFAULT_SPAWN_RATE),
            work: self.pause(t, p, "work", DEFAULT_SPAWN_WORK),
        }
    }

    // ---- Field shorthands ---------------------------------------------------------------------

    /// An integer in `min..=max` that fits a u32.
    fn count(
        &mut self,
        t: &DeTable<'_>,
        p: &str,
        key: &str,
        min: u32,
        max: u32,
        default: u32,
    ) -> u32 {
        self.field(t, p, key, |c, p, v| {
            c.int(p, v, i64::from(min), i64::from(max))
        })
        .or(default)
    }

    /// A duration greater than zero.
    fn positive_duration(
        &mut self,
        t: &DeTable<'_>,
        p: &str,
        key: &str,
        default: Duration,
    ) -> Duration {
        self.field(t, p, key, |c, p, v| c.duration(p, v, false))
            .or(default)
    }

    /// A duration that may be zero.
    fn pause(&mut self, t: &DeTable<'_>, p: &str, key: &str, default: Duration) -> Duration {
        self.field(t, p, key, |c, p, v| c.duration(p, v, true))
            .or(default)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testing::{kind_of, one_error, parse, with_workload};
    use crate::scenario::spec::{
        DetectorSpec, EchoSpec, HashSpec, HoldBy, LockKind, MutexSpec, Placement, RuntimeSpec,
        SleepMode, SleepSpec, SpawnSpec, WorkloadKind,
    };

    #[test]
    fn every_kind_gets_its_defaults() {
        assert_eq!(
            kind_of("echo", ""),
            WorkloadKind::Echo(EchoSpec {
                connections: 16,
                rate: 1000,
                payload: 64,
                timeout: Duration::from_secs(1),
            })
        );
        assert_eq!(
            kind_of("hash", ""),
            WorkloadKind::Hash(HashSpec {
                placement: Placement::Worker,
                tasks: 2,
                size: 64 * 1024 * 1024,
                every: Duration::from_millis(100),
                chunk: 1024 * 1024,
            })
        );
        assert_eq!(
            kind_of("mutex", ""),
            WorkloadKind::Mutex(MutexSpec {
                tasks: 8,
                lock: LockKind::Std,
                hold: Duration::from_millis(20),
                hold_by: HoldBy::Sleep,
                every: Duration::from_millis(10),
            })
        );
        assert_eq!(
            kind_of("sleep", ""),
            WorkloadKind::Sleep(SleepSpec {
                tasks: 2,
                duration: Duration::from_millis(200),
                mode: SleepMode::Blocking,
                every: Duration::from_millis(100),
            })
        );
        assert_eq!(
            kind_of("spawn", ""),
            WorkloadKind::Spawn(SpawnSpec {
                rate: 1000,
                work: Duration::from_micros(10),
            })
        );
    }

    #[test]
    fn every_key_is_read() {
        assert_eq!(
            kind_of(
                "echo",
                "connections = 3\nrate = 7\npayload = \"1KiB\"\ntimeout = \"250ms\""
            ),
            WorkloadKind::Echo(EchoSpec {
                connections: 3,
                rate: 7,
                payload: 1024,
                timeout: Duration::from_millis(250),
            })
        );
        assert_eq!(
            kind_of(
                "hash",
                "placement = \"yield\"\ntasks = 4\nsize = \"1MiB\"\nevery = \"0s\"\nchunk = 4096"
            ),
            WorkloadKind::Hash(HashSpec {
                placement: Placement::Yield,
                tasks: 4,
                size: 1024 * 1024,
                every: Duration::ZERO,
                chunk: 4096,
            })
        );
        assert_eq!(
            kind_of(
                "mutex",
                "tasks = 2\nlock = \"tokio\"\nhold = \"1ms\"\nhold_by = \"spin\"\nevery = \"0ms\""
            ),
            WorkloadKind::Mutex(MutexSpec {
                tasks: 2,
                lock: LockKind::Tokio,
                hold: Duration::from_millis(1),
                hold_by: HoldBy::Spin,
                every: Duration::ZERO,
            })
        );
        assert_eq!(
            kind_of(
                "sleep",
                "tasks = 1\nduration = \"1s\"\nmode = \"async\"\nevery = \"1m\""
            ),
            WorkloadKind::Sleep(SleepSpec {
                tasks: 1,
                duration: Duration::from_secs(1),
                mode: SleepMode::Async,
                every: Duration::from_secs(60),
            })
        );
        assert_eq!(
            kind_of("spawn", "rate = 5\nwork = \"0s\""),
            WorkloadKind::Spawn(SpawnSpec {
                rate: 5,
                work: Duration::ZERO,
            })
        );
        let text = "title = \"t\"\n[runtime]\nworkers = 3\nmax_blocking_threads = 9\n\
                    [detector]\nstall_threshold = \"1s\"\nlong_poll_threshold = \"999ms\"\n\
                    lag_threshold = \"1ms\"\n[[workload]]\nid = \"w\"\nkind = \"spawn\"\n";
        let scenario = parse(text).expect("valid");
        assert_eq!(
            scenario.runtime,
            RuntimeSpec {
                workers: 3,
                max_blocking_threads: 9
            }
        );
        assert_eq!(
            scenario.detector,
            DetectorSpec {
                stall_threshold: Duration::from_secs(1),
                long_poll_threshold: Duration::from_millis(999),
                lag_threshold: Duration::from_millis(1),
            }
        );
    }

    #[test]
    fn integer_ranges_accept_their_bounds_and_reject_one_beyond() {
        const RANGES: &[(&str, &str, i64, i64)] = &[
            ("echo", "connections", 1, 10_000),
            ("echo", "rate", 1, 1_000_000),
            ("echo", "payload", 1, 1_048_576),
            ("hash", "tasks", 1, 10_000),
            ("mutex", "tasks", 2, 10_000),
            ("sleep", "tasks", 1, 10_000),
            ("spawn", "rate", 1, 1_000_000),
        ];
        for &(kind, key, min, max) in RANGES {
            for good in [min, max] {
                kind_of(kind, &format!("{key} = {good}"));
            }
            for bad in [min - 1, max + 1, -1] {
                let error = one_error(&with_workload(kind, &format!("{key} = {bad}")));
                assert_eq!(
                    error.key.as_deref(),
                    Some(format!("workload[1].{key}").as_str())
                );
                assert!(error.message.contains(&format!("got {bad}")), "{error}");
                let bound = if bad > max {
                    format!("at most {max}")
                } else {
                    format!("at least {min}")
                };
                assert!(error.message.contains(&bound), "{error}");
            }
        }
    }
}
