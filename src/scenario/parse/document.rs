//! The document's top level (name, title, description) and its `[runtime]` and `[detector]` tables.

use std::num::NonZeroUsize;

use toml::de::DeTable;

use super::checker::{Checker, Got};
use super::values::show_duration;
use crate::scenario::spec::{
    DEFAULT_MAX_BLOCKING_THREADS, DetectorSpec, MIN_DEFAULT_WORKERS, RuntimeSpec, Scenario,
    ScenarioSource,
};

const TOP_KEYS: &[&str] = &[
    "name",
    "title",
    "description",
    "runtime",
    "detector",
    "workload",
    "phase",
];
const TOP_KEYS_SHOWN: &str =
    "name, title, description, [runtime], [detector], [[workload]], [[phase]]";
const RUNTIME_KEYS: &[&str] = &["workers", "max_blocking_threads"];
const DETECTOR_KEYS: &[&str] = &["stall_threshold", "long_poll_threshold", "lag_threshold"];

const MAX_WORKERS: i64 = 1024;

impl Checker<'_> {
    pub(super) fn scenario(
        &mut self,
        root: &DeTable<'_>,
        source: &ScenarioSource,
    ) -> Option<Scenario> {
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
        let phases = self.phases(root, &workloads);

        Some(Scenario {
            name,
            title,
            description,
            source: source.clone(),
            runtime,
            detector,
            workloads,
            phases,
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
}

/// Worker threads when a scenario does not say: the CPUs, at least [`MIN_DEFAULT_WORKERS`].
fn default_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(MIN_DEFAULT_WORKERS, NonZeroUsize::get);
    cpus.clamp(
        MIN_DEFAULT_WORKERS,
        usize::try_from(MAX_WORKERS).unwrap_or(usize::MAX),
    )
}

fn default_name(source: &ScenarioSource) -> String {
    match source {
        ScenarioSource::BuiltIn(name) => name.clone(),
        ScenarioSource::Process { program, .. } => program.clone(),
        ScenarioSource::File(path) => path.file_stem().map_or_else(
            || "scenario".to_string(),
            |stem| stem.to_string_lossy().into_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::parse_str;
    use super::super::testing::{one_error, parse};
    use super::default_workers;
    use crate::scenario::spec::{
        DEFAULT_MAX_BLOCKING_THREADS, DetectorSpec, MIN_DEFAULT_WORKERS, ScenarioSource,
    };

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
}
