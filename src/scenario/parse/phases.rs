//! The `[[phase]]` array: a scripted demo, each phase later than the last, setting workload knobs.

use std::ops::Range;
use std::time::Duration;

use strum::IntoEnumIterator;
use toml::de::{DeTable, DeValue};

use super::checker::{Checker, Got, Value, describe, did_you_mean, path};
use super::kinds::{keys_of, knobs_of};
use super::values::show_duration;
use crate::scenario::spec::{KnobSetting, PhaseSpec, WorkloadKind, WorkloadSpec};

const PHASE_KEYS: &[&str] = &["at", "note", "set"];
const SET_EXAMPLE: &str = "set = { \"hasher.placement\" = \"spawn_blocking\" }";

/// The workloads a phase's `set` may name.
struct Targets<'w> {
    /// Every id written in a `[[workload]]`, valid or not, in file order: the ones to list.
    written: Vec<String>,
    /// The workloads that parsed, for their kinds.
    valid: &'w [WorkloadSpec],
}

/// The last phase with a good `at`, which the next one must follow.
struct Previous {
    prefix: String,
    at: Duration,
    line: usize,
}

impl Checker<'_> {
    /// The phases, in file order; `workloads` are those that parsed, for the knobs `set` names.
    pub(super) fn phases(
        &mut self,
        root: &DeTable<'_>,
        workloads: &[WorkloadSpec],
    ) -> Vec<PhaseSpec> {
        let Some(value) = root.get("phase") else {
            return Vec::new();
        };
        let Some(items) = self.array_of_tables("phase", value) else {
            return Vec::new();
        };
        let targets = Targets {
            written: written_ids(root),
            valid: workloads,
        };
        let mut previous = None;
        let mut phases = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let prefix = format!("phase[{}]", index + 1);
            let DeValue::Table(table) = item.get_ref() else {
                self.error_at(
                    item.span(),
                    Some(prefix),
                    format!(
                        "expected a table with an at, got {}",
                        describe(item.get_ref())
                    ),
                );
                continue;
            };
            if let Some(phase) = self.phase(table, item.span(), prefix, &mut previous, &targets) {
                phases.push(phase);
            }
        }
        phases
    }

    fn phase(
        &mut self,
        table: &DeTable<'_>,
        span: Range<usize>,
        prefix: String,
        previous: &mut Option<Previous>,
        targets: &Targets<'_>,
    ) -> Option<PhaseSpec> {
        let p = prefix.as_str();
        self.unknown_keys(
            table,
            p,
            PHASE_KEYS,
            &format!("in [[phase]]: {}", PHASE_KEYS.join(", ")),
        );
        let at = match self.field(table, p, "at", |c, p, v| c.duration(p, v, true)) {
            Got::Good(at, span) => {
                let line = self.position(span.start).0;
                match previous.as_ref() {
                    Some(before) if at <= before.at => self.error_at(
                        span,
                        Some(path(p, "at")),
                        format!(
                            "must be later than {}.at ({}, line {}), got {}; \
                             phases must be in strictly increasing order of at",
                            before.prefix,
                            show_duration(before.at),
                            before.line,
                            show_duration(at)
                        ),
                    ),
                    _ => {
                        *previous = Some(Previous {
                            prefix: prefix.clone(),
                            at,
                            line,
                        });
                    }
                }
                Some(at)
            }
            Got::Bad => None,
            Got::Absent => {
                self.error_at(
                    span,
                    Some(path(p, "at")),
                    "missing required key; every phase needs the time it starts, counted from \
                     the start of the run, e.g. at = \"10s\"",
                );
                None
            }
        };
        let note = self
            .field(table, p, "note", |c, p, v| {
                c.string(p, v).map(str::to_string)
            })
            .or(String::new());
        let set = match table.get("set") {
            Some(value) => self.phase_set(value, p, targets),
            None => Vec::new(),
        };
        Some(PhaseSpec { at: at?, note, set })
    }

    /// A phase's `set`: `"WORKLOAD.KNOB" = value` entries, as settings in the order written.
    fn phase_set(
        &mut self,
        value: &Value<'_>,
        prefix: &str,
        targets: &Targets<'_>,
    ) -> Vec<KnobSetting> {
        let DeValue::Table(table) = value.get_ref() else {
            self.wrong_type(
                &path(prefix, "set"),
                value,
                &format!("an inline table of \"WORKLOAD.KNOB\" = value, e.g. {SET_EXAMPLE}"),
            );
            return Vec::new();
        };
        // The table iterates in key order; the settings keep the file's.
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        let mut settings = Vec::new();
        for (key, value) in entries {
            let name: &str = key.get_ref();
            let key_path = format!("{prefix}.set.\"{}\"", name.escape_debug());
            if let Some(setting) = self.setting(name, key.span(), &key_path, value, targets) {
                settings.push(setting);
            }
        }
        settings
    }

    /// One entry of a `set`; `span` is its key's.
    fn setting(
        &mut self,
        name: &str,
        span: Range<usize>,
        key_path: &str,
        value: &Value<'_>,
        targets: &Targets<'_>,
    ) -> Option<KnobSetting> {
        let Some((workload, knob)) = name.split_once('.') else {
            let message = match value.get_ref() {
                // `set = { hasher.placement = "..." }`: TOML reads the bare dotted key as a table.
                DeValue::Table(inner) => {
                    let knob = first_key(inner).unwrap_or("KNOB");
                    format!(
                        "write the workload and the knob as one quoted key, e.g. \
                         \"{name}.{knob}\" = ...; unquoted, the dot makes a nested table"
                    )
                }
                _ => format!(
                    "expected a quoted key \"WORKLOAD.KNOB\" naming a workload and one of its \
                     knobs, e.g. {SET_EXAMPLE}"
                ),
            };
            self.error_at(span, Some(key_path.to_string()), message);
            return None;
        };

        if !targets.written.iter().any(|id| id == workload) {
            let message = if targets.written.is_empty() {
                format!(
                    "unknown workload \"{}\"; this file has no [[workload]] with an id",
                    workload.escape_debug()
                )
            } else {
                format!(
                    "unknown workload \"{}\"{}; workloads in this file: {}",
                    workload.escape_debug(),
                    did_you_mean(workload, targets.written.iter().map(String::as_str)),
                    targets.written.join(", ")
                )
            };
            self.error_at(span, Some(key_path.to_string()), message);
            return None;
        }
        // A workload that did not parse has had its errors reported; its knobs cannot be checked.
        let spec = targets.valid.iter().find(|spec| spec.id == workload)?;
        let kind = spec.kind.name();

        let knobs = knobs_of(&spec.kind);
        if !knobs.contains(&knob) {
            let allowed = format!("knobs of kind \"{kind}\": {}", knobs.join(", "));
            let owners: Vec<&str> = WorkloadKind::iter()
                .filter(|other| knobs_of(other).contains(&knob))
                .map(|other| other.name())
                .collect();
            let message = if keys_of(&spec.kind).contains(&knob) {
                format!("cannot change while the workload runs; {allowed}")
            } else if !owners.is_empty() {
                format!(
                    "not a knob of kind \"{kind}\" (it is a knob of {}); {allowed}",
                    owners.join(", ")
                )
            } else {
                format!(
                    "unknown knob \"{}\"{}; {allowed}",
                    knob.escape_debug(),
                    did_you_mean(knob, knobs.iter().copied())
                )
            };
            self.error_at(span, Some(key_path.to_string()), message);
            return None;
        }

        let knob = self.knob(&spec.kind, knob, key_path, value)?;
        Some(KnobSetting {
            workload: workload.to_string(),
            knob,
        })
    }
}

/// Every string `id` of a `[[workload]]` table, in file order, each once.
fn written_ids(root: &DeTable<'_>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    if let Some(DeValue::Array(items)) = root.get("workload").map(|value| value.get_ref()) {
        for item in items {
            if let DeValue::Table(table) = item.get_ref()
                && let Some(DeValue::String(id)) = table.get("id").map(|value| value.get_ref())
                && !ids.iter().any(|seen| seen == id)
            {
                ids.push(id.to_string());
            }
        }
    }
    ids
}

/// The key of `table` written first.
fn first_key<'t>(table: &'t DeTable<'_>) -> Option<&'t str> {
    table
        .keys()
        .min_by_key(|key| key.span().start)
        .map(|key| key.get_ref().as_ref())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use strum::IntoEnumIterator;

    use super::super::kinds::knobs_of;
    use super::super::testing::{errors, one_error, parse};
    use crate::scenario::spec::{
        FsMode, Knob, KnobSetting, LockKind, PhaseSpec, Placement, SleepMode, WorkloadKind,
    };

    /// A valid document with workloads `api` (echo), `hasher` (hash), `lock` (mutex), `nap`
    /// (sleep), `disk` (fs) and `storm` (spawn), then `phases`.
    fn with_phases(phases: &str) -> String {
        let mut text = String::from("title = \"t\"\n");
        for (id, kind) in [
            ("api", "echo"),
            ("hasher", "hash"),
            ("lock", "mutex"),
            ("nap", "sleep"),
            ("disk", "fs"),
            ("storm", "spawn"),
        ] {
            text.push_str(&format!("[[workload]]\nid = \"{id}\"\nkind = \"{kind}\"\n"));
        }
        text + phases
    }

    fn phases_of(phases: &str) -> Vec<PhaseSpec> {
        let text = with_phases(phases);
        parse(&text)
            .unwrap_or_else(|e| panic!("{text}\n{e}"))
            .phases
    }

    fn setting(workload: &str, knob: Knob) -> KnobSetting {
        KnobSetting {
            workload: workload.into(),
            knob,
        }
    }

    #[test]
    fn phases_are_read_with_their_settings_in_the_order_written() {
        let phases = phases_of(
            "[[phase]]\nat = \"0s\"\nnote = \"the mistake\"\n\
             [[phase]]\nat = \"10s\"\n\
             set = { \"hasher.placement\" = \"spawn_blocking\", \"api.rate\" = 2000, \
             \"disk.mode\" = \"async\", \"lock.hold\" = \"0ms\" }\n\
             [[phase]]\nat = \"1m\"\nset = {}\n",
        );
        assert_eq!(
            phases,
            [
                PhaseSpec {
                    at: Duration::ZERO,
                    note: "the mistake".into(),
                    set: vec![],
                },
                PhaseSpec {
                    at: Duration::from_secs(10),
                    note: String::new(),
                    set: vec![
                        setting("hasher", Knob::Placement(Placement::SpawnBlocking)),
                        setting("api", Knob::Rate(2000)),
                        setting("disk", Knob::FsMode(FsMode::Async)),
                        setting("lock", Knob::Hold(Duration::ZERO)),
                    ],
                },
                PhaseSpec {
                    at: Duration::from_secs(60),
                    note: String::new(),
                    set: vec![],
                },
            ]
        );
        assert!(phases_of("").is_empty());
        let empty = "title = \"t\"\nphase = []\n[[workload]]\nid = \"w\"\nkind = \"spawn\"\n";
        assert!(parse(empty).expect("valid").phases.is_empty());
    }

    #[test]
    fn every_knob_of_every_kind_can_be_set() {
        let id = |kind: &str| match kind {
            "echo" => "api",
            "hash" => "hasher",
            "mutex" => "lock",
            "sleep" => "nap",
            "fs" => "disk",
            "spawn" => "storm",
            other => panic!("no workload of kind {other}"),
        };
        let good = |knob: &str| match knob {
            "placement" => "\"yield\"",
            "lock" => "\"tokio\"",
            "hold_by" => "\"spin\"",
            "mode" => "\"async\"",
            "rate" | "size" | "tasks" => "3",
            "every" | "hold" | "duration" => "\"1ms\"",
            other => panic!("no value for knob {other}"),
        };
        let mut entries = Vec::new();
        for kind in WorkloadKind::iter() {
            for knob in knobs_of(&kind) {
                entries.push(format!("\"{}.{knob}\" = {}", id(kind.name()), good(knob)));
            }
        }
        let phases = phases_of(&format!(
            "[[phase]]\nat = \"1s\"\nset = {{ {} }}\n",
            entries.join(", ")
        ));
        let set = &phases[0].set;
        assert_eq!(set.len(), entries.len());
        assert!(set.contains(&setting("nap", Knob::SleepMode(SleepMode::Async))));
        assert!(set.contains(&setting("lock", Knob::Lock(LockKind::Tokio))));
        assert!(set.contains(&setting("nap", Knob::Duration(Duration::from_millis(1)))));
    }

    #[test]
    fn phases_must_be_in_strictly_increasing_order() {
        let errors = errors(&with_phases(
            "[[phase]]\nat = \"5s\"\n[[phase]]\nat = \"5s\"\n[[phase]]\nat = \"bad\"\n\
             [[phase]]\nat = \"2s\"\n[[phase]]\nat = \"6s\"\n[[phase]]\nat = \"5500ms\"\n",
        ));
        let shown: Vec<_> = errors
            .iter()
            .map(|e| (e.key.as_deref().unwrap_or(""), e.message.as_str()))
            .collect();
        let order = "phases must be in strictly increasing order of at";
        assert_eq!(
            shown,
            [
                (
                    "phase[2].at",
                    format!("must be later than phase[1].at (5s, line 21), got 5s; {order}")
                        .as_str()
                ),
                (
                    "phase[3].at",
                    "invalid duration \"bad\" (not a number and a unit); write a number and a unit: ns, us, ms, s, m, h (e.g. \"100ms\", \"1s\", \"250us\")"
                ),
                (
                    "phase[4].at",
                    format!("must be later than phase[1].at (5s, line 21), got 2s; {order}")
                        .as_str()
                ),
                (
                    "phase[6].at",
                    format!("must be later than phase[5].at (6s, line 29), got 5s 500ms; {order}")
                        .as_str()
                ),
            ]
        );
    }

    #[test]
    fn a_phase_needs_an_at_and_only_its_own_keys() {
        let error = one_error(&with_phases("\n[[phase]]\nnote = \"n\"\n"));
        assert_eq!(error.key.as_deref(), Some("phase[1].at"));
        assert_eq!((error.line, error.column), (21, 1));
        assert!(
            error.message.starts_with("missing required key;"),
            "{error}"
        );
        let error = one_error(&with_phases("[[phase]]\nat = \"1s\"\nnotes = \"n\"\n"));
        assert_eq!(error.key.as_deref(), Some("phase[1].notes"));
        assert_eq!(
            error.message,
            "unknown key (did you mean \"note\"?); allowed in [[phase]]: at, note, set"
        );
        let error = one_error(&with_phases("[[phase]]\nat = \"1s\"\nnote = 3\n"));
        assert_eq!(error.message, "expected a string, got integer 3");
        let error = one_error(&with_phases("[phase]\nat = \"1s\"\n"));
        assert_eq!(
            error.message,
            "expected an array of tables: write [[phase]] (two brackets), got a table"
        );
        let error =
            one_error("title = \"t\"\nphase = [1]\n[[workload]]\nid = \"w\"\nkind = \"spawn\"\n");
        assert_eq!(error.key.as_deref(), Some("phase[1]"));
        assert_eq!(error.message, "expected a table with an at, got integer 1");
    }

    #[test]
    fn set_must_be_a_table_of_quoted_workload_knob_keys() {
        let error = one_error(&with_phases("[[phase]]\nat = \"1s\"\nset = \"fast\"\n"));
        assert_eq!(error.key.as_deref(), Some("phase[1].set"));
        assert_eq!(
            error.message,
            "expected an inline table of \"WORKLOAD.KNOB\" = value, e.g. \
             set = { \"hasher.placement\" = \"spawn_blocking\" }, got string \"fast\""
        );
        let error = one_error(&with_phases(
            "[[phase]]\nat = \"1s\"\nset = { hasher.placement = \"yield\" }\n",
        ));
        assert_eq!(error.key.as_deref(), Some("phase[1].set.\"hasher\""));
        assert_eq!(
            error.message,
            "write the workload and the knob as one quoted key, e.g. \
             \"hasher.placement\" = ...; unquoted, the dot makes a nested table"
        );
        let error = one_error(&with_phases(
            "[[phase]]\nat = \"1s\"\nset = { hasher = 1 }\n",
        ));
        assert!(
            error
                .message
                .starts_with("expected a quoted key \"WORKLOAD.KNOB\""),
            "{error}"
        );
    }

    #[test]
    fn set_names_a_workload_of_the_file_and_a_knob_of_its_kind() {
        let set =
            |entry: &str| with_phases(&format!("[[phase]]\nat = \"1s\"\nset = {{ {entry} }}\n"));
        let error = one_error(&set("\"hashr.placement\" = \"yield\""));
        assert_eq!(
            error.key.as_deref(),
            Some("phase[1].set.\"hashr.placement\"")
        );
        assert_eq!((error.line, error.column), (22, 9));
        assert_eq!(
            error.message,
            "unknown workload \"hashr\" (did you mean \"hasher\"?); workloads in this file: \
             api, hasher, lock, nap, disk, storm"
        );
        let knobs = "knobs of kind \"hash\": placement, size, tasks, every";
        for (entry, says) in [
            (
                "\"hasher.rate\" = 1",
                format!("not a knob of kind \"hash\" (it is a knob of echo, spawn); {knobs}"),
            ),
            (
                "\"hasher.chunk\" = 1",
                format!("cannot change while the workload runs; {knobs}"),
            ),
            (
                "\"hasher.placment\" = 1",
                format!("unknown knob \"placment\" (did you mean \"placement\"?); {knobs}"),
            ),
        ] {
            let error = one_error(&set(entry));
            assert_eq!(error.message, says, "{entry}");
        }
    }

    #[test]
    fn set_values_follow_the_rules_of_the_workload_keys() {
        let set =
            |entry: &str| with_phases(&format!("[[phase]]\nat = \"1s\"\nset = {{ {entry} }}\n"));
        let error = one_error(&set("\"hasher.placement\" = \"gpu\""));
        assert_eq!(
            error.key.as_deref(),
            Some("phase[1].set.\"hasher.placement\"")
        );
        assert_eq!((error.line, error.column), (22, 30));
        assert_eq!(
            error.message,
            "unknown placement \"gpu\"; allowed: worker, spawn_blocking, block_in_place, yield"
        );
        for (entry, says) in [
            (
                "\"lock.tasks\" = 1",
                "must be at least 2, got 1 (allowed range: 2..=10000)",
            ),
            (
                "\"nap.duration\" = \"0s\"",
                "must be greater than 0, got \"0s\"",
            ),
            (
                "\"disk.size\" = \"2GiB\"",
                "must be at most 1073741824 bytes (1GiB), got \"2GiB\" (2147483648 bytes)",
            ),
            (
                "\"api.rate\" = 0",
                "must be at least 1, got 0 (allowed range: 1..=1000000)",
            ),
            (
                "\"hasher.every\" = 100",
                "a duration needs a unit: write it as a string, e.g. \"100ms\" or \"100s\", not a bare number",
            ),
        ] {
            let error = one_error(&set(entry));
            assert_eq!(error.message, says, "{entry}");
        }
    }

    #[test]
    fn every_mistake_in_a_set_is_reported_and_a_broken_workload_is_not_checked_again() {
        let text = "title = \"t\"\n[[workload]]\nid = \"odd\"\nkind = \"hashing\"\n\
                    [[workload]]\nid = \"api\"\nkind = \"echo\"\n\
                    [[phase]]\nat = \"1s\"\n\
                    set = { \"odd.speed\" = 1, \"api.rate\" = 0, \"nope.rate\" = 1 }\n";
        let keys: Vec<_> = errors(text)
            .into_iter()
            .map(|e| e.key.unwrap_or_default())
            .collect();
        assert_eq!(
            keys,
            [
                "workload[1].kind",
                "phase[1].set.\"api.rate\"",
                "phase[1].set.\"nope.rate\""
            ]
        );
    }
}
