//! The probe's settings from the environment, so a service can ship the probe and turn it off
//! or tune it per deployment.

use super::ProbeBuilder;

const ENABLED: &str = "TOKMON_PROBE";
const LONG_POLL: &str = "TOKMON_PROBE_LONG_POLL";
const STALL: &str = "TOKMON_PROBE_STALL";

/// `builder` with the variables `lookup` finds applied, and one message for each bad value
/// (whose setting stays as it was). Pure over `lookup`, so tests need no process environment.
pub(super) fn apply(
    mut builder: ProbeBuilder,
    lookup: impl Fn(&str) -> Option<String>,
) -> (ProbeBuilder, Vec<String>) {
    let mut problems = Vec::new();
    let mut problem = |name: &str, value: &str, expected: &str, kept: String| {
        problems.push(format!(
            "tokmon-probe: {name}={value:?} is not {expected}; using {kept}"
        ));
    };
    let set = |name: &str| lookup(name).filter(|value| !value.is_empty());

    if let Some(value) = set(ENABLED) {
        match switch(&value) {
            Some(enabled) => builder.enabled = enabled,
            None => problem(
                ENABLED,
                &value,
                "on or off (or 1/0, true/false, yes/no)",
                if builder.enabled { "on" } else { "off" }.to_owned(),
            ),
        }
    }
    for (name, threshold) in [
        (LONG_POLL, &mut builder.long_poll_threshold),
        (STALL, &mut builder.stall_threshold),
    ] {
        let Some(value) = set(name) else { continue };
        match humantime::parse_duration(value.trim()) {
            Ok(duration) if !duration.is_zero() => *threshold = duration,
            _ => problem(
                name,
                &value,
                "a duration above zero such as 10ms or 1s",
                humantime::format_duration(*threshold).to_string(),
            ),
        }
    }
    (builder, problems)
}

fn switch(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "1" | "true" | "yes" => Some(true),
        "off" | "0" | "false" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{DEFAULT_LONG_POLL_THRESHOLD, DEFAULT_STALL_THRESHOLD};

    fn from(vars: &[(&str, &str)]) -> (ProbeBuilder, Vec<String>) {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        apply(ProbeBuilder::default(), move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn nothing_set_keeps_the_defaults() {
        let (builder, problems) = from(&[]);
        assert!(builder.enabled);
        assert_eq!(builder.long_poll_threshold, DEFAULT_LONG_POLL_THRESHOLD);
        assert_eq!(builder.stall_threshold, DEFAULT_STALL_THRESHOLD);
        assert!(problems.is_empty());
    }

    #[test]
    fn every_off_spelling_disables_and_every_on_spelling_enables() {
        for off in ["off", "0", "false", "no", "OFF", " No "] {
            let (builder, problems) = from(&[(ENABLED, off)]);
            assert!(!builder.enabled, "{off:?}");
            assert!(problems.is_empty(), "{off:?}");
        }
        for on in ["on", "1", "true", "yes", "Yes"] {
            let (builder, problems) = from(&[(ENABLED, on)]);
            assert!(builder.enabled, "{on:?}");
            assert!(problems.is_empty(), "{on:?}");
        }
        assert!(from(&[(ENABLED, "")]).0.enabled, "empty counts as unset");
    }

    #[test]
    fn thresholds_are_durations() {
        let (builder, problems) = from(&[(LONG_POLL, "25ms"), (STALL, "1s")]);
        assert_eq!(builder.long_poll_threshold, Duration::from_millis(25));
        assert_eq!(builder.stall_threshold, Duration::from_secs(1));
        assert!(problems.is_empty());
    }

    #[test]
    fn a_bad_value_keeps_the_default_and_says_what_was_expected() {
        let (builder, problems) = from(&[(ENABLED, "maybe"), (STALL, "fast"), (LONG_POLL, "0s")]);
        assert!(builder.enabled);
        assert_eq!(builder.stall_threshold, DEFAULT_STALL_THRESHOLD);
        assert_eq!(builder.long_poll_threshold, DEFAULT_LONG_POLL_THRESHOLD);
        assert_eq!(
            problems,
            [
                "tokmon-probe: TOKMON_PROBE=\"maybe\" is not on or off (or 1/0, true/false, \
                 yes/no); using on",
                "tokmon-probe: TOKMON_PROBE_LONG_POLL=\"0s\" is not a duration above zero such \
                 as 10ms or 1s; using 10ms",
                "tokmon-probe: TOKMON_PROBE_STALL=\"fast\" is not a duration above zero such as \
                 10ms or 1s; using 100ms",
            ]
        );
    }
}
