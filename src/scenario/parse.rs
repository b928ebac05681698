//! TOML text -> validated [`Scenario`], collecting every error with its position and key path.
//!
//! The text is parsed into toml's spanned document tree ([`DeTable`]), never through serde
//! derives: every key and value keeps its byte span, so each rule is checked by hand and every
//! broken rule in a file is reported, each at its own line and column.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{ScenarioError, ScenarioErrors};
use super::spec::{
    DEFAULT_MAX_BLOCKING_THREADS, DetectorSpec, EchoSpec, HashSpec, HoldBy, LockKind,
    MIN_DEFAULT_WORKERS, MutexSpec, Placement, RuntimeSpec, Scenario, ScenarioSource, SleepMode,
    SleepSpec, SpawnSpec, WorkloadKind, WorkloadSpec,
};

// ---- Keys -------------------------------------------------------------------------------------

const TOP_KEYS: &[&str] = &[
    "name",
    "title",
    "description",
    "runtime",
    "detector",
    "workload",
];
const TOP_KEYS_SHOWN: &str = "name, title, description, [runtime], [detector], [[workload]]";
const RUNTIME_KEYS: &[&str] = &["workers", "max_blocking_threads"];
const DETECTOR_KEYS: &[&str] = &["stall_threshold", "long_poll_threshold", "lag_threshold"];
/// Keys every workload has, whatever its kind.
const WORKLOAD_KEYS: &[&str] = &["id", "kind"];

const ECHO_KEYS: &[&str] = &["connections", "rate", "payload", "timeout"];
const HASH_KEYS: &[&str] = &["placement", "tasks", "size", "every", "chunk"];
const MUTEX_KEYS: &[&str] = &["tasks", "lock", "hold", "hold_by", "every"];
const SLEEP_KEYS: &[&str] = &["tasks", "duration", "mode", "every"];
const SPAWN_KEYS: &[&str] = &["rate", "work"];

/// The workload kinds, each with the keys it accepts besides `id` and `kind`.
const KINDS: &[(&str, &[&str])] = &[
    ("echo", ECHO_KEYS),
    ("hash", HASH_KEYS),
    ("mutex", MUTEX_KEYS),
    ("sleep", SLEEP_KEYS),
    ("spawn", SPAWN_KEYS),
];

// ---- Ranges and defaults ----------------------------------------------------------------------

const MAX_WORKERS: i64 = 1024;
const MAX_TASKS: u32 = 10_000;
const MAX_RATE: u32 = 1_000_000;
const MAX_CONNECTIONS: u32 = 10_000;
const MAX_PAYLOAD: u64 = 1024 * 1024;

const MIB: u64 = 1024 * 1024;

const ECHO_CONNECTIONS: u32 = 16;
const ECHO_RATE: u32 = 1000;
const ECHO_PAYLOAD: u64 = 64;
const ECHO_TIMEOUT: Duration = Duration::from_secs(1);

const HASH_PLACEMENT: Placement = Placement::Worker;
const HASH_TASKS: u32 = 2;
const HASH_SIZE: u64 = 64 * MIB;
const HASH_EVERY: Duration = Duration::from_millis(100);
const HASH_CHUNK: u64 = MIB;

const MUTEX_TASKS: u32 = 8;
const MUTEX_LOCK: LockKind = LockKind::Std;
const MUTEX_HOLD: Duration = Duration::from_millis(20);
const MUTEX_HOLD_BY: HoldBy = HoldBy::Sleep;
const MUTEX_EVERY: Duration = Duration::from_millis(10);

const SLEEP_TASKS: u32 = 2;
const SLEEP_DURATION: Duration = Duration::from_millis(200);
const SLEEP_MODE: SleepMode = SleepMode::Blocking;
const SLEEP_EVERY: Duration = Duration::from_millis(100);

const SPAWN_RATE: u32 = 1000;
const SPAWN_WORK: Duration = Duration::from_micros(10);

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

const DURATION_HINT: &str =
    "write a number and a unit: ns, us, ms, s, m, h (e.g. \"100ms\", \"1s\", \"250us\")";
const SIZE_HINT: &str = "write a number of bytes (e.g. 65536) or a number and a unit: B, KiB, MiB, GiB \
     (powers of 1024) or KB, MB, GB (powers of 1000), e.g. \"64KiB\", \"256MiB\"";

// ---- Entry points -----------------------------------------------------------------------------

/// Parses and validates scenario text. `source` names the text in errors and gives the default name.
///
/// On failure, returns every error found, in file order (a TOML syntax error is reported alone).
pub fn parse_str(text: &str, source: ScenarioSource) -> Result<Scenario, ScenarioErrors> {
    let mut checker = Checker::new(source.to_string(), text);
    let scenario = match DeTable::parse(text) {
        Ok(root) => checker.scenario(root.get_ref(), &source),
        Err(error) => {
            checker.syntax_error(&error);
            None
        }
    };
    checker.finish(scenario)
}

/// Reads and validates a scenario file; an unreadable file gives one error naming it.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioErrors> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        ScenarioError::whole_file(path.display().to_string(), format!("cannot read: {error}"))
    })?;
    parse_str(&text, ScenarioSource::File(path.to_path_buf()))
}

/// Worker threads when a scenario does not say: the CPUs, at least [`MIN_DEFAULT_WORKERS`].
fn default_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(MIN_DEFAULT_WORKERS, NonZeroUsize::get);
    cpus.clamp(
        MIN_DEFAULT_WORKERS,
        usize::try_from(MAX_WORKERS).unwrap_or(usize::MAX),
    )
}

// ---- The checker ------------------------------------------------------------------------------

type Value<'i> = Spanned<DeValue<'i>>;

/// A field's outcome: absent (use the default), present but invalid (already reported), or good.
enum Got<T> {
    Absent,
    Bad,
    Good(T, Range<usize>),
}

impl<T> Got<T> {
    fn or(self, default: T) -> T {
        match self {
            Got::Good(value, _) => value,
            Got::Absent | Got::Bad => default,
        }
    }

    fn or_else_default(self, default: impl FnOnce() -> T) -> T {
        match self {
            Got::Good(value, _) => value,
            Got::Absent | Got::Bad => default(),
        }
    }
}

/// Walks the document, collecting errors.
struct Checker<'t> {
    file: String,
    text: &'t str,
    /// Byte offset where each line starts.
    line_starts: Vec<usize>,
    errors: Vec<ScenarioError>,
}

impl<'t> Checker<'t> {
    fn new(file: String, text: &'t str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Checker {
            file,
            text,
            line_starts,
            errors: Vec::new(),
        }
    }

    fn finish(mut self, scenario: Option<Scenario>) -> Result<Scenario, ScenarioErrors> {
        match scenario {
            Some(scenario) if self.errors.is_empty() => Ok(scenario),
            _ => {
                if self.errors.is_empty() {
                    // Every path that yields no scenario reports why; keep a message regardless.
                    self.errors
                        .push(ScenarioError::whole_file(self.file, "invalid scenario"));
                }
                // Stable: errors at one spot keep the order they were found in.
                self.errors.sort_by_key(|e| (e.line, e.column));
                Err(ScenarioErrors(self.errors))
            }
        }
    }

    /// 1-based line and column (in characters) of a byte offset, and that line's text.
    fn position(&self, offset: usize) -> (usize, usize, String) {
        let offset = offset.min(self.text.len());
        let index = self
            .line_starts
            .partition_point(|&start| start <= offset)
            .saturating_sub(1);
        let start = self.line_starts.get(index).copied().unwrap_or(0);
        let end = self
            .line_starts
            .get(index + 1)
            .map_or(self.text.len(), |next| next - 1);
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |before| before.chars().count())
            + 1;
        let line = self.text.get(start..end).unwrap_or_default();
        (index + 1, column, line.trim_end_matches('\r').to_string())
    }

    /// An error at a span, shown with its source line.
    fn error_at(&mut self, span: Range<usize>, key: Option<String>, message: impl Into<String>) {
        let (line, column, source) = self.position(span.start);
        self.errors.push(ScenarioError {
            file: self.file.clone(),
            line,
            column,
            key,
            message: message.into(),
            source_line: Some(source),
        });
    }

    /// An error about something missing from the top level: it has no place but the file's start.
    fn error_at_top(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(ScenarioError {
            file: self.file.clone(),
            line: 1,
            column: 1,
            key: Some(key.to_string()),
            message: message.into(),
            source_line: None,
        });
    }

    fn syntax_error(&mut self, error: &toml::de::Error) {
        // toml's messages may span lines ("invalid string\nexpected ..."); keep ours on one.
        let message = error
            .message()
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let message = format!("invalid TOML: {message}");
        match error.span() {
            Some(span) => self.error_at(span, None, message),
            None => self
                .errors
                .push(ScenarioError::whole_file(&self.file, message)),
        }
    }

    /// Reports every key of `table` not in `allowed`.
    fn unknown_keys(&mut self, table: &DeTable<'_>, prefix: &str, allowed: &[&str], shown: &str) {
        for key in table.keys() {
            let name: &str = key.get_ref();
            if !allowed.contains(&name) {
                let message = format!(
                    "unknown key{}; allowed {shown}",
                    did_you_mean(key.get_ref(), allowed.iter().copied())
                );
                self.error_at(key.span(), Some(path(prefix, key.get_ref())), message);
            }
        }
    }

    /// Looks up `key` and reads it with `read`, which reports a bad value and returns `None`.
    fn field<T>(
        &mut self,
        table: &DeTable<'_>,
        prefix: &str,
        key: &str,
        read: impl FnOnce(&mut Self, &str, &Value<'_>) -> Option<T>,
    ) -> Got<T> {
        match table.get(key) {
            None => Got::Absent,
            Some(value) => match read(self, &path(prefix, key), value) {
                Some(read) => Got::Good(read, value.span()),
                None => Got::Bad,
            },
        }
    }

    // ---- The document -------------------------------------------------------------------------

    fn scenario(&mut self, root: &DeTable<'_>, source: &ScenarioSource) -> Option<Scenario> {
        self.unknown_keys(
            root,
            "",
            TOP_KEYS,
            &format!("at the top level: {TOP_KEYS_SHOWN}"),
        );

        let name = match self.field(root, "", "name", Self::non_empty_string) {
            Got::Good(name, _) => name,
            Got::Absent | Got::Bad => default_name(source),
        };
        let title = match self.field(root, "", "title", Self::non_empty_string) {
            Got::Good(title, _) => title,
            Got::Bad => String::new(),
            Got::Absent => {
                self.error_at_top(
                    "title",
                    "missing required key; add one line saying what the scenario shows, \
                     e.g. title = \"Blocking sleep on a worker thread\"",
                );
                String::new()
            }
        };
        let description = self
            .field(root, "", "description", |c, p, v| {
                c.string(p, v).map(str::to_string)
            })
            .or(String::new());

        let runtime = match self.sub_table(root, "runtime") {
            Some(table) => self.runtime(table),
            None => self.runtime(&DeTable::new()),
        };
        let detector = match self.sub_table(root, "detector") {
            Some(table) => self.detector(table),
            None => DetectorSpec::default(),
        };
        let workloads = self.workloads(root);

        Some(Scenario {
            name,
            title,
            description,
            source: source.clone(),
            runtime,
            detector,
            workloads,
        })
    }

    fn runtime(&mut self, table: &DeTable<'_>) -> RuntimeSpec {
        let p = "runtime";
        self.unknown_keys(
            table,
            p,
            RUNTIME_KEYS,
            &format!("in [runtime]: {}", RUNTIME_KEYS.join(", ")),
        );
        let workers = self
            .field(table, p, "workers", |c, p, v| c.int(p, v, 1, MAX_WORKERS))
            .or_else_default(default_workers);
        let max_blocking = self
            .field(table, p, "max_blocking_threads", |c, p, v| {
                c.int(p, v, 1, i64::MAX)
            })
            .or_else_default(|| DEFAULT_MAX_BLOCKING_THREADS);
        RuntimeSpec {
            workers,
            max_blocking_threads: max_blocking,
        }
    }

    fn detector(&mut self, table: &DeTable<'_>) -> DetectorSpec {
        let p = "detector";
        self.unknown_keys(
            table,
            p,
            DETECTOR_KEYS,
            &format!("in [detector]: {}", DETECTOR_KEYS.join(", ")),
        );
        let defaults = DetectorSpec::default();
        let stall = self.field(table, p, "stall_threshold", |c, p, v| {
            c.duration(p, v, false)
        });
        let long_poll = self.field(table, p, "long_poll_threshold", |c, p, v| {
            c.duration(p, v, false)
        });
        let lag = self.field(table, p, "lag_threshold", |c, p, v| c.duration(p, v, false));

        // A long poll is a finished poll shorter than a stall: the thresholds must keep that order.
        match (&stall, &long_poll) {
            (Got::Bad, _) | (_, Got::Bad) => {}
            (_, Got::Good(long, span)) => {
                let (limit, note) = match &stall {
                    Got::Good(limit, _) => (*limit, ""),
                    Got::Absent | Got::Bad => (defaults.stall_threshold, ", the default"),
                };
                if *long >= limit {
                    self.error_at(
                        span.clone(),
                        Some("detector.long_poll_threshold".into()),
                        format!(
                            "must be less than stall_threshold ({}{note}), got {}",
                            show_duration(limit),
                            show_duration(*long)
                        ),
                    );
                }
            }
            (Got::Good(limit, span), Got::Absent) => {
                if *limit <= defaults.long_poll_threshold {
                    self.error_at(
                        span.clone(),
                        Some("detector.stall_threshold".into()),
                        format!(
                            "must be greater than long_poll_threshold ({}, the default), got {}; \
                             set long_poll_threshold lower too",
                            show_duration(defaults.long_poll_threshold),
                            show_duration(*limit)
                        ),
                    );
                }
            }
            (Got::Absent, Got::Absent) => {}
        }

        DetectorSpec {
            stall_threshold: stall.or(defaults.stall_threshold),
            long_poll_threshold: long_poll.or(defaults.long_poll_threshold),
            lag_threshold: lag.or(defaults.lag_threshold),
        }
    }

    fn workloads(&mut self, root: &DeTable<'_>) -> Vec<WorkloadSpec> {
        let Some(value) = root.get("workload") else {
            self.error_at_top(
                "workload",
                "no workloads; add at least one [[workload]] table with an id and a kind \
                 (echo, hash, mutex, sleep or spawn)",
            );
            return Vec::new();
        };
        let DeValue::Array(items) = value.get_ref() else {
            let message = match value.get_ref() {
                DeValue::Table(_) => {
                    "expected an array of tables: write [[workload]] (two brackets), got a table"
                        .to_string()
                }
                other => format!(
                    "expected an array of tables ([[workload]]), got {}",
                    describe(other)
                ),
            };
            self.error_at(value.span(), Some("workload".into()), message);
            return Vec::new();
        };
        if items.is_empty() {
            self.error_at(
                value.span(),
                Some("workload".into()),
                "no workloads; add at least one [[workload]] table with an id and a kind",
            );
        }

        let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
        let mut workloads = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let prefix = format!("workload[{}]", index + 1);
            let DeValue::Table(table) = item.get_ref() else {
                self.error_at(
                    item.span(),
                    Some(prefix),
                    format!(
                        "expected a table with an id and a kind, got {}",
                        describe(item.get_ref())
                    ),
                );
                continue;
            };
            if let Some(workload) = self.workload(table, item.span(), &prefix, index, &mut seen) {
                workloads.push(workload);
            }
        }
        workloads
    }

    fn workload(
        &mut self,
        table: &DeTable<'_>,
        span: Range<usize>,
        prefix: &str,
        index: usize,
        seen: &mut HashMap<String, (usize, usize)>,
    ) -> Option<WorkloadSpec> {
        let id = match self.field(table, prefix, "id", Self::id) {
            Got::Good(id, span) => {
                let line = self.position(span.start).0;
                if let Some((first, first_line)) = seen.get(&id) {
                    self.error_at(
                        span,
                        Some(path(prefix, "id")),
                        format!(
                            "duplicate id \"{id}\": workload[{first}] (line {first_line}) already \
                             uses it; ids must be unique"
                        ),
                    );
                } else {
                    seen.insert(id.clone(), (index + 1, line));
                }
                Some(id)
            }
            Got::Bad => None,
            Got::Absent => {
                self.error_at(
                    span.clone(),
                    Some(path(prefix, "id")),
                    "missing required key; every workload needs a unique id \
                     (letters, digits, '_' and '-'), e.g. id = \"api\"",
                );
                None
            }
        };

        let kind_names: Vec<&str> = KINDS.iter().map(|(name, _)| *name).collect();
        let kind_options: Vec<(&str, (&str, &[&str]))> = KINDS
            .iter()
            .map(|&(name, keys)| (name, (name, keys)))
            .collect();
        let kind = match self.field(table, prefix, "kind", |c, p, v| {
            c.choice(p, v, "kind", &kind_options)
        }) {
            Got::Good(kind, _) => Some(kind),
            Got::Bad => None,
            Got::Absent => {
                self.error_at(
                    span,
                    Some(path(prefix, "kind")),
                    format!("missing required key; allowed: {}", kind_names.join(", ")),
                );
                None
            }
        };

        // Keys: those of the workload's kind, or, when the kind is unknown, those of any kind.
        for key in table.keys() {
            let name: &str = key.get_ref();
            if WORKLOAD_KEYS.contains(&name) {
                continue;
            }
            let owners: Vec<&str> = KINDS
                .iter()
                .filter(|(_, keys)| keys.contains(&name))
                .map(|(kind, _)| *kind)
                .collect();
            let message = match kind {
                Some((kind_name, keys)) if !keys.contains(&name) => {
                    let allowed = [WORKLOAD_KEYS, keys].concat().join(", ");
                    if owners.is_empty() {
                        format!(
                            "unknown key{}; keys allowed for kind \"{kind_name}\": {allowed}",
                            did_you_mean(name, WORKLOAD_KEYS.iter().chain(keys.iter()).copied())
                        )
                    } else {
                        format!(
                            "not allowed for kind \"{kind_name}\" (it is a key of {}); \
                             keys allowed for {kind_name}: {allowed}",
                            owners.join(", ")
                        )
                    }
                }
                None if owners.is_empty() => {
                    let by_kind: Vec<String> = KINDS
                        .iter()
                        .map(|(kind, keys)| format!("{kind}: {}", keys.join(", ")))
                        .collect();
                    format!(
                        "unknown key{}; allowed: id, kind and the keys of the kind ({})",
                        did_you_mean(
                            name,
                            WORKLOAD_KEYS
                                .iter()
                                .chain(KINDS.iter().flat_map(|(_, keys)| keys.iter()))
                                .copied()
                        ),
                        by_kind.join("; ")
                    )
                }
                _ => continue,
            };
            self.error_at(key.span(), Some(path(prefix, name)), message);
        }

        let (kind_name, _) = kind?;
        let kind = match kind_name {
            "echo" => WorkloadKind::Echo(self.echo(table, prefix)),
            "hash" => WorkloadKind::Hash(self.hash(table, prefix)),
            "mutex" => WorkloadKind::Mutex(self.mutex(table, prefix)),
            "sleep" => WorkloadKind::Sleep(self.sleep(table, prefix)),
            "spawn" => WorkloadKind::Spawn(self.spawn(table, prefix)),
            other => unreachable!("KINDS has no kind {other}"),
        };
        Some(WorkloadSpec { id: id?, kind })
    }

    fn echo(&mut self, t: &DeTable<'_>, p: &str) -> EchoSpec {
        let payload = self
            .field(t, p, "payload", |c, p, v| c.size(p, v, 1, MAX_PAYLOAD))
            .or(ECHO_PAYLOAD);
        EchoSpec {
            connections: self.count(t, p, "connections", 1, MAX_CONNECTIONS, ECHO_CONNECTIONS),
            rate: self.count(t, p, "rate", 1, MAX_RATE, ECHO_RATE),
            payload: u32::try_from(payload).expect("payload is checked to be at most 1 MiB"),
            timeout: self.positive_duration(t, p, "timeout", ECHO_TIMEOUT),
        }
    }

    fn hash(&mut self, t: &DeTable<'_>, p: &str) -> HashSpec {
        HashSpec {
            placement: self
                .field(t, p, "placement", |c, p, v| {
                    c.choice(p, v, "placement", PLACEMENTS)
                })
                .or(HASH_PLACEMENT),
            tasks: self.count(t, p, "tasks", 1, MAX_TASKS, HASH_TASKS),
            size: self
                .field(t, p, "size", |c, p, v| c.size(p, v, 1, u64::MAX))
                .or(HASH_SIZE),
            every: self.pause(t, p, "every", HASH_EVERY),
            chunk: self
                .field(t, p, "chunk", |c, p, v| c.size(p, v, 1, u64::MAX))
                .or(HASH_CHUNK),
        }
    }

    fn mutex(&mut self, t: &DeTable<'_>, p: &str) -> MutexSpec {
        MutexSpec {
            tasks: self.count(t, p, "tasks", 2, MAX_TASKS, MUTEX_TASKS),
            lock: self
                .field(t, p, "lock", |c, p, v| c.choice(p, v, "lock", LOCKS))
                .or(MUTEX_LOCK),
            hold: self.pause(t, p, "hold", MUTEX_HOLD),
            hold_by: self
                .field(t, p, "hold_by", |c, p, v| {
                    c.choice(p, v, "hold_by", HOLD_BYS)
                })
                .or(MUTEX_HOLD_BY),
            every: self.pause(t, p, "every", MUTEX_EVERY),
        }
    }

    fn sleep(&mut self, t: &DeTable<'_>, p: &str) -> SleepSpec {
        SleepSpec {
            tasks: self.count(t, p, "tasks", 1, MAX_TASKS, SLEEP_TASKS),
            duration: self.positive_duration(t, p, "duration", SLEEP_DURATION),
            mode: self
                .field(t, p, "mode", |c, p, v| c.choice(p, v, "mode", SLEEP_MODES))
                .or(SLEEP_MODE),
            every: self.pause(t, p, "every", SLEEP_EVERY),
        }
    }

    fn spawn(&mut self, t: &DeTable<'_>, p: &str) -> SpawnSpec {
        SpawnSpec {
            rate: self.count(t, p, "rate", 1, MAX_RATE, SPAWN_RATE),
            work: self.pause(t, p, "work", SPAWN_WORK),
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

    // ---- Value readers: each reports a bad value and returns None ------------------------------

    fn wrong_type(&mut self, key: &str, value: &Value<'_>, expected: &str) {
        let message = format!("expected {expected}, got {}", describe(value.get_ref()));
        self.error_at(value.span(), Some(key.to_string()), message);
    }

    /// The table under `key` of the top level; `None` when absent or not a table (reported).
    fn sub_table<'v, 'i>(&mut self, root: &'v DeTable<'i>, key: &str) -> Option<&'v DeTable<'i>> {
        let value = root.get(key)?;
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.wrong_type(key, value, &format!("a table ([{key}])"));
                None
            }
        }
    }

    fn string<'v>(&mut self, key: &str, value: &'v Value<'_>) -> Option<&'v str> {
        match value.get_ref() {
            DeValue::String(text) => Some(text),
            _ => {
                self.wrong_type(key, value, "a string");
                None
            }
        }
    }

    fn non_empty_string(&mut self, key: &str, value: &Value<'_>) -> Option<String> {
        let text = self.string(key, value)?;
        if text.trim().is_empty() {
            self.error_at(value.span(), Some(key.to_string()), "must not be empty");
            return None;
        }
        Some(text.to_string())
    }

    fn id(&mut self, key: &str, value: &Value<'_>) -> Option<String> {
        let id = self.non_empty_string(key, value)?;
        if !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            self.error_at(
                value.span(),
                Some(key.to_string()),
                format!(
                    "may contain only ASCII letters, digits, '_' and '-', got \"{}\"",
                    id.escape_debug()
                ),
            );
            return None;
        }
        Some(id)
    }

    /// An integer in `min..=max`, converted to the caller's type (which must hold that range).
    fn int<T: TryFrom<i64>>(
        &mut self,
        key: &str,
        value: &Value<'_>,
        min: i64,
        max: i64,
    ) -> Option<T> {
        let range = if max == i64::MAX {
            format!("at least {min}")
        } else {
            format!("{min}..={max}")
        };
        let DeValue::Integer(integer) = value.get_ref() else {
            self.wrong_type(key, value, &format!("an integer ({range})"));
            return None;
        };
        let number = i128::from_str_radix(integer.as_str(), integer.radix()).ok();
        let message = match number {
            Some(n) if n < i128::from(min) => format!("must be at least {min}, got {n}"),
            Some(n) if n > i128::from(max) => format!("must be at most {max}, got {n}"),
            Some(n) => {
                return i64::try_from(n).ok().and_then(|n| T::try_from(n).ok());
            }
            None => format!("integer out of range, got {integer}"),
        };
        let message = if max == i64::MAX {
            message
        } else {
            format!("{message} (allowed range: {range})")
        };
        self.error_at(value.span(), Some(key.to_string()), message);
        None
    }

    /// A duration string such as "100ms"; zero only if `allow_zero`.
    fn duration(&mut self, key: &str, value: &Value<'_>, allow_zero: bool) -> Option<Duration> {
        let text = match value.get_ref() {
            DeValue::String(text) => text,
            DeValue::Integer(integer) => {
                let example = match integer.as_str().parse::<u64>() {
                    Ok(n) if integer.radix() == 10 => format!("\"{n}ms\" or \"{n}s\""),
                    _ => "\"100ms\"".to_string(),
                };
                self.error_at(
                    value.span(),
                    Some(key.to_string()),
                    format!(
                        "a duration needs a unit: write it as a string, e.g. {example}, not a bare number"
                    ),
                );
                return None;
            }
            DeValue::Float(_) => {
                self.error_at(
                    value.span(),
                    Some(key.to_string()),
                    "a duration needs a unit: write it as a string, e.g. \"100ms\" or \"1.5s\", \
                     not a bare number",
                );
                return None;
            }
            _ => {
                self.wrong_type(key, value, "a duration string such as \"100ms\"");
                return None;
            }
        };
        if text.trim_start().starts_with('-') {
            let bound = if allow_zero {
                "0 or more"
            } else {
                "greater than 0"
            };
            self.error_at(
                value.span(),
                Some(key.to_string()),
                format!("must be {bound}, got \"{}\"", text.escape_debug()),
            );
            return None;
        }
        let duration = match humantime::parse_duration(text) {
            Ok(duration) => duration,
            Err(error) => {
                let reason = match error {
                    humantime::DurationError::UnknownUnit { unit, .. } if unit.is_empty() => {
                        "no unit".to_string()
                    }
                    humantime::DurationError::UnknownUnit { unit, .. } => {
                        format!("unknown unit \"{}\"", unit.escape_debug())
                    }
                    humantime::DurationError::Empty => "empty".to_string(),
                    humantime::DurationError::NumberOverflow => "too large".to_string(),
                    _ => "not a number and a unit".to_string(),
                };
                self.error_at(
                    value.span(),
                    Some(key.to_string()),
                    format!(
                        "invalid duration \"{}\" ({reason}); {DURATION_HINT}",
                        text.escape_debug()
                    ),
                );
                return None;
            }
        };
        if !allow_zero && duration.is_zero() {
            self.error_at(
                value.span(),
                Some(key.to_string()),
                format!("must be greater than 0, got \"{}\"", text.escape_debug()),
            );
            return None;
        }
        Some(duration)
    }

    /// A byte count: a non-negative integer or a string such as "64KiB"; in `min..=max`.
    fn size(&mut self, key: &str, value: &Value<'_>, min: u64, max: u64) -> Option<u64> {
        let (given, shown): (i128, String) = match value.get_ref() {
            DeValue::Integer(integer) => {
                let Ok(n) = i128::from_str_radix(integer.as_str(), integer.radix()) else {
                    self.error_at(
                        value.span(),
                        Some(key.to_string()),
                        format!("integer out of range, got {integer}"),
                    );
                    return None;
                };
                (n, n.to_string())
            }
            DeValue::String(text) => match text.trim().parse::<bytesize::ByteSize>() {
                Ok(size) => (
                    i128::from(size.0),
                    format!("\"{}\" ({} {})", text.escape_debug(), size.0, bytes(size.0)),
                ),
                Err(_) => {
                    self.error_at(
                        value.span(),
                        Some(key.to_string()),
                        format!("invalid size \"{}\"; {SIZE_HINT}", text.escape_debug()),
                    );
                    return None;
                }
            },
            _ => {
                self.wrong_type(
                    key,
                    value,
                    "a size: an integer number of bytes or a string such as \"64KiB\"",
                );
                return None;
            }
        };
        let message = if given < i128::from(min) {
            let range = if max == u64::MAX {
                String::new()
            } else {
                format!(" (allowed range: {min}..={max} bytes)")
            };
            format!("must be at least {min} {}, got {shown}{range}", bytes(min))
        } else if given > i128::from(max) {
            format!("must be at most {max} bytes ({}), got {shown}", iec(max))
        } else {
            return u64::try_from(given).ok();
        };
        self.error_at(value.span(), Some(key.to_string()), message);
        None
    }

    /// One of a fixed set of strings.
    fn choice<T: Copy>(
        &mut self,
        key: &str,
        value: &Value<'_>,
        what: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        let DeValue::String(text) = value.get_ref() else {
            self.wrong_type(
                key,
                value,
                &format!("a string, one of: {}", names.join(", ")),
            );
            return None;
        };
        if let Some((_, found)) = options.iter().find(|(name, _)| *name == &**text) {
            return Some(*found);
        }
        self.error_at(
            value.span(),
            Some(key.to_string()),
            format!(
                "unknown {what} \"{}\"{}; allowed: {}",
                text.escape_debug(),
                did_you_mean(text, names.iter().copied()),
                names.join(", ")
            ),
        );
        None
    }
}

// ---- Helpers ----------------------------------------------------------------------------------

/// `prefix.key`, or just `key` at the top level.
fn path(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn default_name(source: &ScenarioSource) -> String {
    match source {
        ScenarioSource::BuiltIn(name) => name.clone(),
        ScenarioSource::File(path) => path.file_stem().map_or_else(
            || "scenario".to_string(),
            |stem| stem.to_string_lossy().into_owned(),
        ),
    }
}

fn bytes(n: u64) -> &'static str {
    if n == 1 { "byte" } else { "bytes" }
}

/// `n` bytes in the largest binary unit that divides it exactly, e.g. "1MiB".
fn iec(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    UNITS
        .iter()
        .find(|(unit, _)| n >= *unit && n.is_multiple_of(*unit))
        .map_or_else(
            || format!("{n}B"),
            |(unit, name)| format!("{}{name}", n / unit),
        )
}

fn show_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// A value for "got ...": its type, and the value itself when it is short.
fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(text) => format!("string \"{}\"", text.escape_debug()),
        DeValue::Integer(integer) => format!("integer {integer}"),
        DeValue::Float(float) => format!("float {float}"),
        DeValue::Boolean(flag) => format!("boolean {flag}"),
        DeValue::Datetime(datetime) => format!("datetime {datetime}"),
        DeValue::Array(_) => "an array".to_string(),
        DeValue::Table(_) => "a table".to_string(),
    }
}

/// " (did you mean `x`?)" when one candidate is a near miss of `word`, else "".
fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let word = word.to_ascii_lowercase();
    let limit = if word.chars().count() <= 4 { 1 } else { 2 };
    // A prefix either way ("hashing" for "hash", "conn" for "connections") counts as close.
    let prefix = |candidate: &str| {
        word.len().min(candidate.len()) >= 3
            && (word.starts_with(candidate) || candidate.starts_with(word.as_str()))
    };
    candidates
        .into_iter()
        .map(|candidate| {
            let distance = if prefix(candidate) {
                0
            } else {
                edit_distance(&word, candidate)
            };
            (distance, candidate)
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map_or_else(String::new, |(_, candidate)| {
            format!(" (did you mean \"{candidate}\"?)")
        })
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioErrors> {
        parse_str(text, ScenarioSource::File(PathBuf::from("dir/test.toml")))
    }

    fn with_workload(kind: &str, extra: &str) -> String {
        format!("title = \"t\"\n[[workload]]\nid = \"w\"\nkind = \"{kind}\"\n{extra}\n")
    }

    fn kind_of(kind: &str, extra: &str) -> WorkloadKind {
        let text = with_workload(kind, extra);
        let mut scenario = parse(&text).unwrap_or_else(|e| panic!("{text}\n{e}"));
        scenario.workloads.remove(0).kind
    }

    fn errors(text: &str) -> Vec<ScenarioError> {
        match parse(text) {
            Ok(scenario) => panic!("expected errors for\n{text}\ngot {scenario:#?}"),
            Err(errors) => errors.0,
        }
    }

    fn one_error(text: &str) -> ScenarioError {
        let mut errors = errors(text);
        assert_eq!(errors.len(), 1, "{}", ScenarioErrors(errors.clone()));
        errors.remove(0)
    }

    #[test]
    fn a_minimal_scenario_gets_every_default() {
        let scenario =
            parse("title = \"t\"\n[[workload]]\nid = \"w\"\nkind = \"spawn\"\n").expect("valid");
        assert_eq!(scenario.name, "test");
        assert_eq!(scenario.title, "t");
        assert_eq!(scenario.description, "");
        assert_eq!(
            scenario.source,
            ScenarioSource::File(PathBuf::from("dir/test.toml"))
        );
        assert!(scenario.runtime.workers >= MIN_DEFAULT_WORKERS);
        assert_eq!(scenario.runtime.workers, default_workers());
        assert_eq!(
            scenario.runtime.max_blocking_threads,
            DEFAULT_MAX_BLOCKING_THREADS
        );
        assert_eq!(scenario.detector, DetectorSpec::default());
        assert_eq!(scenario.workloads.len(), 1);
        assert_eq!(scenario.workloads[0].id, "w");
    }

    #[test]
    fn names_come_from_the_key_the_file_stem_or_the_built_in() {
        let body = "[[workload]]\nid = \"w\"\nkind = \"spawn\"\n";
        let named = parse(&format!("name = \"mine\"\ntitle = \"t\"\n{body}")).expect("valid");
        assert_eq!(named.name, "mine");
        let built_in = parse_str(
            &format!("title = \"t\"\n{body}"),
            ScenarioSource::BuiltIn("default".into()),
        )
        .expect("valid");
        assert_eq!(built_in.name, "default");
    }

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

    #[test]
    fn runtime_ranges() {
        let text = |body: &str| {
            format!(
                "title = \"t\"\n[runtime]\n{body}\n[[workload]]\nid = \"w\"\nkind = \"spawn\"\n"
            )
        };
        for good in ["workers = 1", "workers = 1024", "max_blocking_threads = 1"] {
            parse(&text(good)).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for (bad, says) in [
            (
                "workers = 0",
                "must be at least 1, got 0 (allowed range: 1..=1024)",
            ),
            (
                "workers = 1025",
                "must be at most 1024, got 1025 (allowed range: 1..=1024)",
            ),
            (
                "workers = 2.5",
                "expected an integer (1..=1024), got float 2.5",
            ),
            ("max_blocking_threads = 0", "must be at least 1, got 0"),
        ] {
            let error = one_error(&text(bad));
            assert_eq!(error.message, says, "{bad}");
        }
    }

    #[test]
    fn durations_take_humantime_strings() {
        for (text, expected) in [
            ("100ms", Duration::from_millis(100)),
            ("1s", Duration::from_secs(1)),
            ("250us", Duration::from_micros(250)),
            ("1m", Duration::from_secs(60)),
            ("1s 500ms", Duration::from_millis(1500)),
            ("2h", Duration::from_secs(7200)),
        ] {
            let WorkloadKind::Sleep(sleep) = kind_of("sleep", &format!("duration = \"{text}\""))
            else {
                panic!("a sleep workload");
            };
            assert_eq!(sleep.duration, expected, "{text}");
        }
    }

    #[test]
    fn zero_durations_only_where_allowed() {
        kind_of("sleep", "every = \"0s\"");
        kind_of("mutex", "hold = \"0ms\"");
        kind_of("spawn", "work = \"0\"");
        let error = one_error(&with_workload("sleep", "duration = \"0s\""));
        assert_eq!(error.message, "must be greater than 0, got \"0s\"");
        let error = one_error(&with_workload("echo", "timeout = \"0ms\""));
        assert_eq!(error.key.as_deref(), Some("workload[1].timeout"));
        let error = one_error(&with_workload("sleep", "every = \"-5ms\""));
        assert_eq!(error.message, "must be 0 or more, got \"-5ms\"");
        let error = one_error(&with_workload("sleep", "duration = \"-5ms\""));
        assert_eq!(error.message, "must be greater than 0, got \"-5ms\"");
    }

    #[test]
    fn a_bare_integer_duration_says_to_write_a_unit() {
        let error = one_error(&with_workload("sleep", "duration = 100"));
        assert_eq!(error.key.as_deref(), Some("workload[1].duration"));
        assert!(error.message.contains("needs a unit"), "{error}");
        assert!(error.message.contains("\"100ms\""), "{error}");
    }

    #[test]
    fn bad_duration_strings_name_the_problem() {
        let error = one_error(&with_workload("sleep", "duration = \"5 parsecs\""));
        assert!(
            error
                .message
                .starts_with("invalid duration \"5 parsecs\" (unknown unit \"parsecs\");"),
            "{error}"
        );
        let error = one_error(&with_workload("sleep", "duration = \"100\""));
        assert!(error.message.contains("(no unit)"), "{error}");
    }

    #[test]
    fn sizes_take_integers_and_unit_strings() {
        for (text, expected) in [
            ("4096", 4096),
            ("\"64KiB\"", 65_536),
            ("\"64 KiB\"", 65_536),
            ("\"1MiB\"", 1_048_576),
            ("\"1KB\"", 1000),
            ("\"1.5KiB\"", 1536),
            ("\"256MiB\"", 268_435_456),
        ] {
            let WorkloadKind::Hash(hash) = kind_of("hash", &format!("size = {text}")) else {
                panic!("a hash workload");
            };
            assert_eq!(hash.size, expected, "{text}");
        }
    }

    #[test]
    fn bad_sizes_are_rejected() {
        for (bad, says) in [
            (
                "size = \"64 kilobytes\"",
                "invalid size \"64 kilobytes\"; write",
            ),
            ("size = 0", "must be at least 1 byte, got 0"),
            ("size = -1", "must be at least 1 byte, got -1"),
            (
                "size = \"0B\"",
                "must be at least 1 byte, got \"0B\" (0 bytes)",
            ),
            ("size = 1.5", "expected a size"),
            ("chunk = true", "expected a size"),
        ] {
            let error = one_error(&with_workload("hash", bad));
            assert!(error.message.starts_with(says), "{bad}: {error}");
        }
        let error = one_error(&with_workload("echo", "payload = \"2MiB\""));
        assert!(
            error.message.starts_with("must be at most 1048576 bytes"),
            "{error}"
        );
    }

    #[test]
    fn enum_values_list_what_is_allowed() {
        for placement in Placement::ALL {
            let WorkloadKind::Hash(hash) =
                kind_of("hash", &format!("placement = \"{}\"", placement.name()))
            else {
                panic!("a hash workload");
            };
            assert_eq!(hash.placement, placement);
        }
        let error = one_error(&with_workload("hash", "placement = \"thread\""));
        assert_eq!(
            error.message,
            "unknown placement \"thread\"; allowed: worker, spawn_blocking, block_in_place, yield"
        );
        let error = one_error(&with_workload("mutex", "lock = \"parking_lot\""));
        assert_eq!(
            error.message,
            "unknown lock \"parking_lot\"; allowed: std, tokio"
        );
        let error = one_error(&with_workload("ech", ""));
        assert_eq!(
            error.message,
            "unknown kind \"ech\" (did you mean \"echo\"?); allowed: echo, hash, mutex, sleep, spawn"
        );
    }

    #[test]
    fn a_value_error_points_at_the_value() {
        let text = "title = \"t\"\n\n[[workload]]\nid = \"w\"\nkind = \"echo\"\n  rate = 0\n";
        let error = one_error(text);
        assert_eq!((error.line, error.column), (6, 10));
        assert_eq!(error.source_line.as_deref(), Some("  rate = 0"));
        assert_eq!(
            error.to_string(),
            "dir/test.toml:6:10: workload[1].rate: must be at least 1, got 0 (allowed range: 1..=1000000)\n    6 |   rate = 0\n      |          ^"
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "title = \"t\"\nworkload = [{ id = \"é\", kind = \"echo\", rate = 0 }]\n";
        let errors = errors(text);
        let rate = errors
            .iter()
            .find(|e| e.key.as_deref() == Some("workload[1].rate"))
            .expect("a rate error");
        assert_eq!((rate.line, rate.column), (2, 47));
    }

    #[test]
    fn an_unknown_key_points_at_the_key_and_lists_the_allowed() {
        let text = "title = \"t\"\n[detector]\nstall_treshold = \"1s\"\n[[workload]]\nid = \"w\"\nkind = \"spawn\"\n";
        let error = one_error(text);
        assert_eq!((error.line, error.column), (3, 1));
        assert_eq!(error.key.as_deref(), Some("detector.stall_treshold"));
        assert_eq!(
            error.message,
            "unknown key (did you mean \"stall_threshold\"?); allowed in [detector]: \
             stall_threshold, long_poll_threshold, lag_threshold"
        );
    }

    #[test]
    fn a_key_of_another_kind_names_both_kinds() {
        let error = one_error(&with_workload("echo", "placement = \"worker\""));
        assert_eq!(
            error.message,
            "not allowed for kind \"echo\" (it is a key of hash); keys allowed for echo: \
             id, kind, connections, rate, payload, timeout"
        );
    }

    #[test]
    fn the_long_poll_threshold_must_be_below_the_stall_threshold() {
        let text = |body: &str| {
            format!(
                "title = \"t\"\n[detector]\n{body}\n[[workload]]\nid = \"w\"\nkind = \"spawn\"\n"
            )
        };
        let error = one_error(&text(
            "stall_threshold = \"50ms\"\nlong_poll_threshold = \"50ms\"",
        ));
        assert_eq!(error.key.as_deref(), Some("detector.long_poll_threshold"));
        assert_eq!(
            error.message,
            "must be less than stall_threshold (50ms), got 50ms"
        );
        let error = one_error(&text("long_poll_threshold = \"1s\""));
        assert!(error.message.contains("(100ms, the default)"), "{error}");
        let error = one_error(&text("stall_threshold = \"10ms\""));
        assert_eq!(error.key.as_deref(), Some("detector.stall_threshold"));
        parse(&text("stall_threshold = \"11ms\"")).expect("11ms > 10ms");
    }

    #[test]
    fn ids_must_be_unique_and_plain() {
        let text = "title = \"t\"\n[[workload]]\nid = \"a\"\nkind = \"spawn\"\n\
                    [[workload]]\nid = \"a\"\nkind = \"spawn\"\n";
        let error = one_error(text);
        assert_eq!(error.key.as_deref(), Some("workload[2].id"));
        assert_eq!((error.line, error.column), (6, 6));
        assert!(error.message.contains("workload[1] (line 3)"), "{error}");
        let error = one_error(&with_workload("spawn", "").replace("\"w\"", "\"a b\""));
        assert!(error.message.starts_with("may contain only"), "{error}");
    }

    #[test]
    fn every_error_is_reported_in_file_order() {
        let text = "colour = 1\ntitle = \"t\"\n[[workload]]\nid = \"w\"\nkind = \"echo\"\nrate = 0\nzeta = 1\nconnections = 0\n";
        let errors = errors(text);
        let keys: Vec<_> = errors
            .iter()
            .map(|e| e.key.as_deref().unwrap_or(""))
            .collect();
        assert_eq!(
            keys,
            [
                "colour",
                "workload[1].rate",
                "workload[1].zeta",
                "workload[1].connections"
            ]
        );
    }

    #[test]
    fn missing_required_keys() {
        let errors = errors("[[workload]]\nkind = \"spawn\"\n[[workload]]\nid = \"b\"\n");
        let shown: Vec<_> = errors
            .iter()
            .map(|e| (e.key.as_deref().unwrap_or(""), e.line))
            .collect();
        assert_eq!(
            shown,
            [("title", 1), ("workload[1].id", 1), ("workload[2].kind", 3)]
        );
        let error = one_error("title = \"t\"\n");
        assert_eq!(error.key.as_deref(), Some("workload"));
        assert!(error.message.starts_with("no workloads"), "{error}");
    }

    #[test]
    fn a_syntax_error_is_reported_alone() {
        let error = one_error("title = \"t\nrate = 0\n[[workload]]\n");
        assert!(error.message.starts_with("invalid TOML: "), "{error}");
        assert_eq!(error.line, 1);
        assert_eq!(error.key, None);
    }

    #[test]
    fn near_misses() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            did_you_mean("Rate", ["rate", "work"]),
            " (did you mean \"rate\"?)"
        );
        assert_eq!(did_you_mean("speed", ["rate", "work"]), "");
        assert_eq!(
            did_you_mean("hashing", ["echo", "hash"]),
            " (did you mean \"hash\"?)"
        );
        assert_eq!(iec(1 << 20), "1MiB");
        assert_eq!(iec(3 << 10), "3KiB");
        assert_eq!(iec(1000), "1000B");
    }
}
