//! A workload's settings as a recording stores them: [`WorkloadKind`] mirrored in plain serde
//! data (durations in nanoseconds, modes by their scenario-file names).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::scenario::{
    EchoSpec, FsMode, FsSpec, HashSpec, HoldBy, LockKind, MutexSpec, Placement, SleepMode,
    SleepSpec, SpawnSpec, WorkloadKind,
};

/// One workload's settings in force, tagged by its `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SettingsRecord {
    Echo {
        connections: u32,
        rate: u32,
        payload: u32,
        timeout_ns: u64,
    },
    Hash {
        placement: String,
        tasks: u32,
        size: u64,
        every_ns: u64,
        chunk: u64,
    },
    Mutex {
        tasks: u32,
        lock: String,
        hold_ns: u64,
        hold_by: String,
        every_ns: u64,
    },
    Sleep {
        tasks: u32,
        duration_ns: u64,
        mode: String,
        every_ns: u64,
    },
    Spawn {
        rate: u32,
        work_ns: u64,
    },
    Fs {
        tasks: u32,
        mode: String,
        size: u64,
        every_ns: u64,
    },
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn named<T: Copy>(
    all: &[T],
    name_of: fn(T) -> &'static str,
    name: &str,
    what: &str,
) -> Result<T, String> {
    all.iter()
        .copied()
        .find(|v| name_of(*v) == name)
        .ok_or_else(|| format!("unknown {what} `{name}`"))
}

// Every variant of each mode, for reading names back. The matches make a new variant a
// compile error here rather than a name that silently fails to read.
const LOCKS: [LockKind; 2] = [LockKind::Std, LockKind::Tokio];
const HOLD_BYS: [HoldBy; 2] = [HoldBy::Sleep, HoldBy::Spin];
const SLEEP_MODES: [SleepMode; 2] = [SleepMode::Blocking, SleepMode::Async];
const FS_MODES: [FsMode; 2] = [FsMode::Blocking, FsMode::Async];

#[allow(dead_code)]
fn every_variant_is_listed(p: Placement, l: LockKind, h: HoldBy, s: SleepMode, f: FsMode) {
    match p {
        Placement::Worker
        | Placement::SpawnBlocking
        | Placement::BlockInPlace
        | Placement::Yield => {}
    }
    match l {
        LockKind::Std | LockKind::Tokio => {}
    }
    match h {
        HoldBy::Sleep | HoldBy::Spin => {}
    }
    match s {
        SleepMode::Blocking | SleepMode::Async => {}
    }
    match f {
        FsMode::Blocking | FsMode::Async => {}
    }
}

impl From<&WorkloadKind> for SettingsRecord {
    fn from(kind: &WorkloadKind) -> Self {
        match kind {
            WorkloadKind::Echo(s) => SettingsRecord::Echo {
                connections: s.connections,
                rate: s.rate,
                payload: s.payload,
                timeout_ns: ns(s.timeout),
            },
            WorkloadKind::Hash(s) => SettingsRecord::Hash {
                placement: s.placement.name().to_string(),
                tasks: s.tasks,
                size: s.size,
                every_ns: ns(s.every),
                chunk: s.chunk,
            },
            WorkloadKind::Mutex(s) => SettingsRecord::Mutex {
                tasks: s.tasks,
                lock: s.lock.name().to_string(),
                hold_ns: ns(s.hold),
                hold_by: s.hold_by.name().to_string(),
                every_ns: ns(s.every),
            },
            WorkloadKind::Sleep(s) => SettingsRecord::Sleep {
                tasks: s.tasks,
                duration_ns: ns(s.duration),
                mode: s.mode.name().to_string(),
                every_ns: ns(s.every),
            },
            WorkloadKind::Spawn(s) => SettingsRecord::Spawn {
                rate: s.rate,
                work_ns: ns(s.work),
            },
            WorkloadKind::Fs(s) => SettingsRecord::Fs {
                tasks: s.tasks,
                mode: s.mode.name().to_string(),
                size: s.size,
                every_ns: ns(s.every),
            },
        }
    }
}

impl SettingsRecord {
    /// The settings back, or what is wrong with them.
    pub fn to_kind(&self) -> Result<WorkloadKind, String> {
        let d = Duration::from_nanos;
        Ok(match self {
            SettingsRecord::Echo {
                connections,
                rate,
                payload,
                timeout_ns,
            } => WorkloadKind::Echo(EchoSpec {
                connections: *connections,
                rate: *rate,
                payload: *payload,
                timeout: d(*timeout_ns),
            }),
            SettingsRecord::Hash {
                placement,
                tasks,
                size,
                every_ns,
                chunk,
            } => WorkloadKind::Hash(HashSpec {
                placement: named(&Placement::ALL, Placement::name, placement, "placement")?,
                tasks: *tasks,
                size: *size,
                every: d(*every_ns),
                chunk: *chunk,
            }),
            SettingsRecord::Mutex {
                tasks,
                lock,
                hold_ns,
                hold_by,
                every_ns,
            } => WorkloadKind::Mutex(MutexSpec {
                tasks: *tasks,
                lock: named(&LOCKS, LockKind::name, lock, "lock")?,
                hold: d(*hold_ns),
                hold_by: named(&HOLD_BYS, HoldBy::name, hold_by, "hold_by")?,
                every: d(*every_ns),
            }),
            SettingsRecord::Sleep {
                tasks,
                duration_ns,
                mode,
                every_ns,
            } => WorkloadKind::Sleep(SleepSpec {
                tasks: *tasks,
                duration: d(*duration_ns),
                mode: named(&SLEEP_MODES, SleepMode::name, mode, "sleep mode")?,
                every: d(*every_ns),
            }),
            SettingsRecord::Spawn { rate, work_ns } => WorkloadKind::Spawn(SpawnSpec {
                rate: *rate,
                work: d(*work_ns),
            }),
            SettingsRecord::Fs {
                tasks,
                mode,
                size,
                every_ns,
            } => WorkloadKind::Fs(FsSpec {
                tasks: *tasks,
                mode: named(&FS_MODES, FsMode::name, mode, "fs mode")?,
                size: *size,
                every: d(*every_ns),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{ScenarioSource, catalog};

    #[test]
    fn every_built_in_workload_round_trips() {
        let mut kinds = 0;
        for (name, text) in catalog::BUILT_IN {
            let scenario =
                crate::scenario::parse_str(text, ScenarioSource::BuiltIn(name.to_string()))
                    .expect("built-in parses");
            for workload in &scenario.workloads {
                let record = SettingsRecord::from(&workload.kind);
                let json = serde_json::to_string(&record).expect("serializes");
                let back: SettingsRecord = serde_json::from_str(&json).expect("reads back");
                assert_eq!(back.to_kind(), Ok(workload.kind.clone()), "{json}");
                kinds += 1;
            }
        }
        assert!(kinds > 10);
    }

    #[test]
    fn an_unknown_mode_is_an_error() {
        let record = SettingsRecord::Fs {
            tasks: 1,
            mode: "psychic".into(),
            size: 1,
            every_ns: 0,
        };
        assert_eq!(
            record.to_kind(),
            Err("unknown fs mode `psychic`".to_string())
        );
    }
}
