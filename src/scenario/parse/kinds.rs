//! The workload kinds: each one's keys, limits, allowed values and how its table becomes its spec.

use toml::de::DeTable;

use super::checker::{Checker, Got, Value};
use crate::scenario::spec::{
    DEFAULT_ECHO_CONNECTIONS, DEFAULT_ECHO_PAYLOAD, DEFAULT_ECHO_RATE, DEFAULT_ECHO_TIMEOUT,
    DEFAULT_FS_EVERY, DEFAULT_FS_MODE, DEFAULT_FS_SIZE, DEFAULT_FS_TASKS, DEFAULT_HASH_CHUNK,
    DEFAULT_HASH_EVERY, DEFAULT_HASH_PLACEMENT, DEFAULT_HASH_SIZE, DEFAULT_HASH_TASKS,
    DEFAULT_MUTEX_EVERY, DEFAULT_MUTEX_HOLD, DEFAULT_MUTEX_HOLD_BY, DEFAULT_MUTEX_LOCK,
    DEFAULT_MUTEX_TASKS, DEFAULT_SLEEP_DURATION, DEFAULT_SLEEP_EVERY, DEFAULT_SLEEP_MODE,
    DEFAULT_SLEEP_TASKS, DEFAULT_SPAWN_RATE, DEFAULT_SPAWN_WORK, EchoSpec, FsMode, FsSpec,
    HashSpec, HoldBy, Knob, LockKind, MutexSpec, Placement, SleepMode, SleepSpec, SpawnSpec,
    WorkloadKind,
};

const ECHO_KEYS: &[&str] = &["connections", "rate", "payload", "timeout"];
const FS_KEYS: &[&str] = &["tasks", "mode", "size", "every"];
const HASH_KEYS: &[&str] = &["placement", "tasks", "size", "every", "chunk"];
const MUTEX_KEYS: &[&str] = &["tasks", "lock", "hold", "hold_by", "every"];
const SLEEP_KEYS: &[&str] = &["tasks", "duration", "mode", "every"];
const SPAWN_KEYS: &[&str] = &["rate", "work"];

/// The workload kinds, each with the keys it accepts besides `id` and `kind`.
pub(super) const KINDS: &[(&str, &[&str])] = &[
    ("echo", ECHO_KEYS),
    ("fs", FS_KEYS),
    ("hash", HASH_KEYS),
    ("mutex", MUTEX_KEYS),
    ("sleep", SLEEP_KEYS),
    ("spawn", SPAWN_KEYS),
];

/// The keys of each kind that can change while it runs: the knobs a phase's `set` may name.
/// Each is also a key of the kind, read by the same rule ([`Checker::knob`]) in both places.
pub(super) const KNOBS: &[(&str, &[&str])] = &[
    ("echo", &["rate"]),
    ("fs", &["mode", "size", "tasks", "every"]),
    ("hash", &["placement", "size", "tasks", "every"]),
    ("mutex", &["lock", "hold_by", "tasks", "every", "hold"]),
    ("sleep", &["mode", "tasks", "every", "duration"]),
    ("spawn", &["rate"]),
];

const MAX_TASKS: i64 = 10_000;
const MAX_RATE: i64 = 1_000_000;
const MAX_CONNECTIONS: u32 = 10_000;
const MAX_PAYLOAD: u64 = 1024 * 1024;
const MAX_FS_SIZE: u64 = 1024 * 1024 * 1024;

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
const FS_MODES: &[(&str, FsMode)] = &[("blocking", FsMode::Blocking), ("async", FsMode::Async)];

/// The keys of `kind` (one of [`KINDS`]) that can change while it runs; none for another name.
pub(super) fn knobs_of(kind: &str) -> &'static [&'static str] {
    KNOBS
        .iter()
        .find(|(name, _)| *name == kind)
        .map_or(&[], |(_, knobs)| knobs)
}

/// The keys of `kind` (one of [`KINDS`]); none for another name.
pub(super) fn keys_of(kind: &str) -> &'static [&'static str] {
    KINDS
        .iter()
        .find(|(name, _)| *name == kind)
        .map_or(&[], |(_, keys)| keys)
}

impl Checker<'_> {
    /// The settings of a workload whose kind is `name`, one of [`KINDS`].
    pub(super) fn kind(&mut self, name: &str, t: &DeTable<'_>, p: &str) -> WorkloadKind {
        // The fixed keys first, with every knob at its default ...
        let mut kind = match name {
            "echo" => WorkloadKind::Echo(self.echo(t, p)),
            "fs" => WorkloadKind::Fs(FsSpec {
                tasks: DEFAULT_FS_TASKS,
                mode: DEFAULT_FS_MODE,
                size: DEFAULT_FS_SIZE,
                every: DEFAULT_FS_EVERY,
            }),
            "hash" => WorkloadKind::Hash(self.hash(t, p)),
            "mutex" => WorkloadKind::Mutex(MutexSpec {
                tasks: DEFAULT_MUTEX_TASKS,
                lock: DEFAULT_MUTEX_LOCK,
                hold: DEFAULT_MUTEX_HOLD,
                hold_by: DEFAULT_MUTEX_HOLD_BY,
                every: DEFAULT_MUTEX_EVERY,
            }),
            "sleep" => WorkloadKind::Sleep(SleepSpec {
                tasks: DEFAULT_SLEEP_TASKS,
                duration: DEFAULT_SLEEP_DURATION,
                mode: DEFAULT_SLEEP_MODE,
                every: DEFAULT_SLEEP_EVERY,
            }),
            "spawn" => WorkloadKind::Spawn(SpawnSpec {
                rate: DEFAULT_SPAWN_RATE,
                work: self
                    .field(t, p, "work", |c, p, v| c.duration(p, v, true))
                    .or(DEFAULT_SPAWN_WORK),
            }),
            other => unreachable!("KINDS has no kind {other}"),
        };
        // ... then the knobs, read as a phase's `set` reads them.
        for &key in knobs_of(name) {
            if let Got::Good(knob, _) = self.field(t, p, key, |c, p, v| c.knob(name, key, p, v)) {
                kind = kind
                    .with(knob)
                    .unwrap_or_else(|| unreachable!("{name} has no knob {key}"));
            }
        }
        kind
    }

    /// Reads `value` as the knob `key` of kind `kind` (listed in [`KNOBS`]), reporting it if bad.
    ///
    /// The one rule for the key, whether it is written in a `[[workload]]` or in a phase's `set`.
    pub(super) fn knob(
        &mut self,
        kind: &str,
        key: &str,
        path: &str,
        value: &Value<'_>,
    ) -> Option<Knob> {
        let (c, v) = (self, value);
        match (kind, key) {
            ("hash", "placement") => c.choice(path, v, key, PLACEMENTS).map(Knob::Placement),
            ("mutex", "lock") => c.choice(path, v, key, LOCKS).map(Knob::Lock),
            ("mutex", "hold_by") => c.choice(path, v, key, HOLD_BYS).map(Knob::HoldBy),
            ("sleep", "mode") => c.choice(path, v, key, SLEEP_MODES).map(Knob::SleepMode),
            ("fs", "mode") => c.choice(path, v, key, FS_MODES).map(Knob::FsMode),
            ("echo" | "spawn", "rate") => c.int(path, v, 1, MAX_RATE).map(Knob::Rate),
            ("hash", "size") => c.size(path, v, 1, u64::MAX).map(Knob::Size),
            ("fs", "size") => c.size(path, v, 1, MAX_FS_SIZE).map(Knob::Size),
            // A lock needs two tasks for there to be contention.
            ("mutex", "tasks") => c.int(path, v, 2, MAX_TASKS).map(Knob::Tasks),
            ("hash" | "sleep" | "fs", "tasks") => c.int(path, v, 1, MAX_TASKS).map(Knob::Tasks),
            ("hash" | "mutex" | "sleep" | "fs", "every") => {
                c.duration(path, v, true).map(Knob::Every)
            }
            ("mutex", "hold") => c.duration(path, v, true).map(Knob::Hold),
            ("sleep", "duration") => c.duration(path, v, false).map(Knob::Duration),
            _ => unreachable!("KNOBS gives {kind} no knob {key}"),
        }
    }

    fn echo(&mut self, t: &DeTable<'_>, p: &str) -> EchoSpec {
        let payload = self
            .field(t, p, "payload", |c, p, v| c.size(p, v, 1, MAX_PAYLOAD))
            .or(u64::from(DEFAULT_ECHO_PAYLOAD));
        EchoSpec {
            connections: self
                .field(t, p, "connections", |c, p, v| {
                    c.int(p, v, 1, i64::from(MAX_CONNECTIONS))
                })
                .or(DEFAULT_ECHO_CONNECTIONS),
            rate: DEFAULT_ECHO_RATE,
            payload: u32::try_from(payload).expect("payload is checked to be at most 1 MiB"),
            timeout: self
                .field(t, p, "timeout", |c, p, v| c.duration(p, v, false))
                .or(DEFAULT_ECHO_TIMEOUT),
        }
    }

    fn hash(&mut self, t: &DeTable<'_>, p: &str) -> HashSpec {
        HashSpec {
            placement: DEFAULT_HASH_PLACEMENT,
            tasks: DEFAULT_HASH_TASKS,
            size: DEFAULT_HASH_SIZE,
            every: DEFAULT_HASH_EVERY,
            chunk: self
                .field(t, p, "chunk", |c, p, v| c.size(p, v, 1, u64::MAX))
                .or(DEFAULT_HASH_CHUNK),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testing::{kind_of, one_error, parse, with_workload};
    use super::{KINDS, KNOBS, keys_of};
    use crate::scenario::spec::{
        DetectorSpec, EchoSpec, FsMode, FsSpec, HashSpec, HoldBy, LockKind, MutexSpec, Placement,
        RuntimeSpec, SleepMode, SleepSpec, SpawnSpec, WorkloadKind,
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
        assert_eq!(
            kind_of("fs", ""),
            WorkloadKind::Fs(FsSpec {
                tasks: 2,
                mode: FsMode::Blocking,
                size: 4 * 1024 * 1024,
                every: Duration::from_millis(20),
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
        assert_eq!(
            kind_of(
                "fs",
                "tasks = 3\nmode = \"async\"\nsize = \"64KiB\"\nevery = \"0s\""
            ),
            WorkloadKind::Fs(FsSpec {
                tasks: 3,
                mode: FsMode::Async,
                size: 64 * 1024,
                every: Duration::ZERO,
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
            ("fs", "tasks", 1, 10_000),
            ("fs", "size", 1, 1 << 30),
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

    #[test]
    fn fs_sizes_stop_at_one_gibibyte_and_modes_are_listed() {
        kind_of("fs", "size = \"1GiB\"");
        let error = one_error(&with_workload("fs", "size = \"2GiB\""));
        assert_eq!(
            error.message,
            "must be at most 1073741824 bytes (1GiB), got \"2GiB\" (2147483648 bytes)"
        );
        let error = one_error(&with_workload("fs", "size = 0"));
        assert_eq!(
            error.message,
            "must be at least 1 byte, got 0 (allowed range: 1..=1073741824 bytes)"
        );
        let error = one_error(&with_workload("fs", "mode = \"direct\""));
        assert_eq!(error.key.as_deref(), Some("workload[1].mode"));
        assert_eq!(
            error.message,
            "unknown mode \"direct\"; allowed: blocking, async"
        );
        let error = one_error(&with_workload("fs", "every = \"-1ms\""));
        assert_eq!(error.message, "must be 0 or more, got \"-1ms\"");
    }

    #[test]
    fn fs_keys_follow_the_rules_of_every_kind() {
        let error = one_error(&with_workload("fs", "chunk = 4096"));
        assert_eq!(
            error.message,
            "not allowed for kind \"fs\" (it is a key of hash); keys allowed for fs: \
             id, kind, tasks, mode, size, every"
        );
        let error = one_error(&with_workload("fs", "sise = 1"));
        assert_eq!(
            error.message,
            "unknown key (did you mean \"size\"?); keys allowed for kind \"fs\": \
             id, kind, tasks, mode, size, every"
        );
        let error = one_error(&with_workload("echo", "mode = \"async\""));
        assert!(
            error.message.contains("(it is a key of fs, sleep)"),
            "{error}"
        );
    }

    #[test]
    fn every_knob_is_a_key_of_its_kind_and_every_kind_has_knobs() {
        let kinds: Vec<&str> = KINDS.iter().map(|(name, _)| *name).collect();
        let with_knobs: Vec<&str> = KNOBS.iter().map(|(name, _)| *name).collect();
        assert_eq!(kinds, with_knobs);
        for (kind, knobs) in KNOBS {
            for knob in *knobs {
                assert!(keys_of(kind).contains(knob), "{kind}.{knob}");
            }
        }
    }
}
