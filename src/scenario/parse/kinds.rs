//! The workload kinds' keys: each one's rule, and which of them are knobs a phase can change.

use std::str::FromStr;
use std::time::Duration;

use strum::VariantNames;
use toml::de::DeTable;

use super::checker::{Checker, Value, path};
use crate::scenario::spec::{Knob, KnobDiscriminants, WorkloadKind};

const MAX_TASKS: i64 = 10_000;
const MAX_RATE: i64 = 1_000_000;
const MAX_CONNECTIONS: i64 = 10_000;
const MAX_PAYLOAD: u64 = 1024 * 1024;
const MAX_FS_SIZE: u64 = 1024 * 1024 * 1024;

/// Reads the value of one key, reporting it if bad: (checker, key, key path, value).
type Read<T> = fn(&mut Checker<'_>, &str, &str, &Value<'_>) -> Option<T>;

const TASKS: Read<u32> = |c, _, p, v| c.int(p, v, 1, MAX_TASKS);
/// A lock needs two tasks for there to be contention.
const MUTEX_TASKS: Read<u32> = |c, _, p, v| c.int(p, v, 2, MAX_TASKS);
const RATE: Read<u32> = |c, _, p, v| c.int(p, v, 1, MAX_RATE);
const CONNECTIONS: Read<u32> = |c, _, p, v| c.int(p, v, 1, MAX_CONNECTIONS);
const PAYLOAD: Read<u32> = |c, _, p, v| c.size(p, v, 1, MAX_PAYLOAD);
const SIZE: Read<u64> = |c, _, p, v| c.size(p, v, 1, u64::MAX);
const FS_SIZE: Read<u64> = |c, _, p, v| c.size(p, v, 1, MAX_FS_SIZE);
/// A pause, which may be zero.
const PAUSE: Read<Duration> = |c, _, p, v| c.duration(p, v, true);
/// A length of time, which may not.
const LENGTH: Read<Duration> = |c, _, p, v| c.duration(p, v, false);

/// One of the names of the field's enum.
fn choice<T: FromStr + VariantNames>(
    c: &mut Checker<'_>,
    key: &str,
    path: &str,
    value: &Value<'_>,
) -> Option<T> {
    c.choice(key, path, value)
}

/// Something done with each key of a kind.
trait Keys {
    /// The key `name`, with its value in the spec, its rule and, for a knob, the [`Knob`] it sets.
    fn key<T: Copy>(
        &mut self,
        name: &'static str,
        field: &mut T,
        read: Read<T>,
        knob: Option<fn(T) -> Knob>,
    );

    /// A key fixed for the whole run.
    fn fixed<T: Copy>(&mut self, name: &'static str, field: &mut T, read: Read<T>) {
        self.key(name, field, read, None);
    }

    /// A key a phase can change, named as its [`Knob`] is.
    fn knob<T: Copy>(&mut self, field: &mut T, read: Read<T>, knob: fn(T) -> Knob) {
        self.key(knob(*field).key(), field, read, Some(knob));
    }
}

/// Visits the keys of `kind` in the order of its spec's fields: the one list of each kind's keys.
fn visit(kind: &mut WorkloadKind, k: &mut impl Keys) {
    match kind {
        WorkloadKind::Echo(s) => {
            k.fixed("connections", &mut s.connections, CONNECTIONS);
            k.knob(&mut s.rate, RATE, Knob::Rate);
            k.fixed("payload", &mut s.payload, PAYLOAD);
            k.fixed("timeout", &mut s.timeout, LENGTH);
        }
        WorkloadKind::Fs(s) => {
            k.knob(&mut s.tasks, TASKS, Knob::Tasks);
            k.knob(&mut s.mode, choice, Knob::FsMode);
            k.knob(&mut s.size, FS_SIZE, Knob::Size);
            k.knob(&mut s.every, PAUSE, Knob::Every);
        }
        WorkloadKind::Hash(s) => {
            k.knob(&mut s.placement, choice, Knob::Placement);
            k.knob(&mut s.tasks, TASKS, Knob::Tasks);
            k.knob(&mut s.size, SIZE, Knob::Size);
            k.knob(&mut s.every, PAUSE, Knob::Every);
            k.fixed("chunk", &mut s.chunk, SIZE);
        }
        WorkloadKind::Mutex(s) => {
            k.knob(&mut s.tasks, MUTEX_TASKS, Knob::Tasks);
            k.knob(&mut s.lock, choice, Knob::Lock);
            k.knob(&mut s.hold, PAUSE, Knob::Hold);
            k.knob(&mut s.hold_by, choice, Knob::HoldBy);
            k.knob(&mut s.every, PAUSE, Knob::Every);
        }
        WorkloadKind::Sleep(s) => {
            k.knob(&mut s.tasks, TASKS, Knob::Tasks);
            k.knob(&mut s.duration, LENGTH, Knob::Duration);
            k.knob(&mut s.mode, choice, Knob::SleepMode);
            k.knob(&mut s.every, PAUSE, Knob::Every);
        }
        WorkloadKind::Spawn(s) => {
            k.knob(&mut s.rate, RATE, Knob::Rate);
            k.fixed("work", &mut s.work, PAUSE);
        }
    }
}

/// Lists the keys of a kind, each with the knob it is, if it is one.
struct Names(Vec<(&'static str, Option<Knob>)>);

impl Keys for Names {
    fn key<T: Copy>(
        &mut self,
        name: &'static str,
        field: &mut T,
        _: Read<T>,
        knob: Option<fn(T) -> Knob>,
    ) {
        self.0.push((name, knob.map(|knob| knob(*field))));
    }
}

fn names(kind: &WorkloadKind) -> Vec<(&'static str, Option<Knob>)> {
    let mut names = Names(Vec::new());
    visit(&mut kind.clone(), &mut names);
    names.0
}

/// The keys of `kind`, besides `id` and `kind`.
pub(super) fn keys_of(kind: &WorkloadKind) -> Vec<&'static str> {
    names(kind).into_iter().map(|(name, _)| name).collect()
}

/// The keys of `kind` that can change while it runs, in the order of [`Knob`]'s variants.
pub(super) fn knobs_of(kind: &WorkloadKind) -> Vec<&'static str> {
    let mut knobs: Vec<Knob> = names(kind)
        .into_iter()
        .filter_map(|(_, knob)| knob)
        .collect();
    knobs.sort_by_key(|knob| KnobDiscriminants::from(*knob));
    knobs.iter().map(Knob::key).collect()
}

/// (checker, finder, knobs read): reads into the spec each key the finder gives a path and value
/// for, and keeps the knobs read.
struct Reader<'c, 'a, F>(&'c mut Checker<'a>, F, Vec<Knob>);

impl<'v, F: Fn(&str) -> Option<(String, &'v Value<'v>)>> Keys for Reader<'_, '_, F> {
    fn key<T: Copy>(
        &mut self,
        name: &'static str,
        field: &mut T,
        read: Read<T>,
        knob: Option<fn(T) -> Knob>,
    ) {
        if let Some((path, value)) = (self.1)(name)
            && let Some(read) = read(self.0, name, &path, value)
        {
            *field = read;
            self.2.extend(knob.map(|knob| knob(read)));
        }
    }
}

impl Checker<'_> {
    /// `kind`, at its defaults, with the keys written in its workload's `table`.
    pub(super) fn kind(
        &mut self,
        mut kind: WorkloadKind,
        table: &DeTable<'_>,
        prefix: &str,
    ) -> WorkloadKind {
        let find = |key: &str| -> Option<(String, &Value<'_>)> {
            table.get(key).map(|value| (path(prefix, key), value))
        };
        visit(&mut kind, &mut Reader(self, find, Vec::new()));
        kind
    }

    /// Reads `value` as the knob `name` of `kind` (one of [`knobs_of`]), reporting it if bad.
    ///
    /// The one rule for the key, whether it is written in a `[[workload]]` or in a phase's `set`.
    pub(super) fn knob(
        &mut self,
        kind: &WorkloadKind,
        name: &str,
        path: &str,
        value: &Value<'_>,
    ) -> Option<Knob> {
        let find = |key: &str| (key == name).then(|| (path.to_string(), value));
        let mut reader = Reader(self, find, Vec::new());
        visit(&mut kind.clone(), &mut reader);
        reader.2.pop()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testing::{kind_of, one_error, parse, with_workload};
    use strum::{IntoEnumIterator, VariantNames};

    use super::{keys_of, knobs_of};
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
    fn every_kind_has_knobs_among_its_keys() {
        assert_eq!(
            WorkloadKind::VARIANTS,
            ["echo", "fs", "hash", "mutex", "sleep", "spawn"]
        );
        for kind in WorkloadKind::iter() {
            let knobs = knobs_of(&kind);
            assert!(!knobs.is_empty(), "{}", kind.name());
            for knob in knobs {
                assert!(keys_of(&kind).contains(&knob), "{}.{knob}", kind.name());
            }
        }
    }
}
