//! The probe's settings from the environment, so a service can ship the probe and turn it off
//! or tune it per deployment.

use std::net::SocketAddr;

use super::{MIN_INTERVAL, ProbeBuilder};

const ENABLED: &str = "TOKMON_PROBE";
const LONG_POLL: &str = "TOKMON_PROBE_LONG_POLL";
const STALL: &str = "TOKMON_PROBE_STALL";
const SERVE: &str = "TOKMON_PROBE_SERVE";
const STACKS: &str = "TOKMON_PROBE_STACKS";
const INTERVAL: &str = "TOKMON_PROBE_INTERVAL";
const ADDR: &str = "TOKMON_PROBE_ADDR";
const METRICS_ADDR: &str = "TOKMON_PROBE_METRICS_ADDR";

const SWITCH: &str = "on or off (or 1/0, true/false, yes/no)";

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

    for (name, setting) in [
        (ENABLED, &mut builder.enabled),
        (SERVE, &mut builder.serve.on),
        (STACKS, &mut builder.serve.stacks),
    ] {
        let Some(value) = set(name) else { continue };
        match switch(&value) {
            Some(on) => *setting = on,
            None => problem(
                name,
                &value,
                SWITCH,
                if *setting { "on" } else { "off" }.to_owned(),
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
    if let Some(value) = set(INTERVAL) {
        match humantime::parse_duration(value.trim()) {
            Ok(duration) if duration >= MIN_INTERVAL => builder.serve.interval = duration,
            _ => problem(
                INTERVAL,
                &value,
                "a duration of at least 10ms such as 100ms or 1s",
                humantime::format_duration(builder.serve.interval).to_string(),
            ),
        }
    }
    if let Some(value) = set(ADDR) {
        match value.trim().parse::<SocketAddr>() {
            Ok(addr) if addr.ip().is_loopback() => builder.serve.tcp = Some(addr),
            _ => problem(
                ADDR,
                &value,
                "a loopback address and port such as 127.0.0.1:0",
                builder
                    .serve
                    .tcp
                    .map_or_else(|| "the Unix socket".to_owned(), |a| a.to_string()),
            ),
        }
    }
    if let Some(value) = set(METRICS_ADDR) {
        match metrics_addr(value.trim()) {
            Some(addr) => builder.serve.metrics = Some(addr),
            None => problem(
                METRICS_ADDR,
                &value,
                "an address and port such as 127.0.0.1:9464, or a port",
                builder
                    .serve
                    .metrics
                    .map_or_else(|| "no metrics".to_owned(), |a| a.to_string()),
            ),
        }
    }
    (builder, problems)
}

/// `HOST:PORT`, or a port alone on loopback: the exporter listens where the owner says, and
/// only on this machine unless told otherwise.
fn metrics_addr(value: &str) -> Option<SocketAddr> {
    match value.parse::<u16>() {
        Ok(port) => Some(SocketAddr::from(([127, 0, 0, 1], port))),
        Err(_) => value.parse().ok(),
    }
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
    use crate::builder::DEFAULT_INTERVAL;
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
        assert!(builder.serve.on && builder.serve.stacks);
        assert_eq!(builder.serve.interval, DEFAULT_INTERVAL);
        assert_eq!(builder.serve.tcp, None);
        assert!(problems.is_empty());
    }

    #[test]
    fn serving_settings_come_from_their_variables() {
        let (builder, problems) = from(&[
            (SERVE, "off"),
            (STACKS, "off"),
            (INTERVAL, "250ms"),
            (ADDR, "127.0.0.1:0"),
        ]);
        assert!(!builder.serve.on);
        assert!(!builder.serve.stacks);
        assert_eq!(builder.serve.interval, Duration::from_millis(250));
        assert_eq!(
            builder.serve.tcp,
            Some("127.0.0.1:0".parse().expect("address"))
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_bad_serving_value_keeps_what_was_set() {
        let (builder, problems) = from(&[
            (STACKS, "sometimes"),
            (INTERVAL, "1ms"),
            (ADDR, "0.0.0.0:7000"),
        ]);
        assert!(builder.serve.stacks);
        assert_eq!(builder.serve.interval, DEFAULT_INTERVAL);
        assert_eq!(builder.serve.tcp, None);
        assert_eq!(
            problems,
            [
                "tokmon-probe: TOKMON_PROBE_STACKS=\"sometimes\" is not on or off (or 1/0, \
                 true/false, yes/no); using on",
                "tokmon-probe: TOKMON_PROBE_INTERVAL=\"1ms\" is not a duration of at least 10ms \
                 such as 100ms or 1s; using 100ms",
                "tokmon-probe: TOKMON_PROBE_ADDR=\"0.0.0.0:7000\" is not a loopback address and \
                 port such as 127.0.0.1:0; using the Unix socket",
            ]
        );
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
    fn a_metrics_port_alone_is_on_loopback() {
        let (builder, problems) = from(&[(METRICS_ADDR, "9464")]);
        assert_eq!(
            builder.serve.metrics,
            Some("127.0.0.1:9464".parse().expect("addr"))
        );
        assert!(problems.is_empty());
        let (builder, _) = from(&[(METRICS_ADDR, "0.0.0.0:9464")]);
        assert_eq!(
            builder.serve.metrics,
            Some("0.0.0.0:9464".parse().expect("addr"))
        );
        let (builder, problems) = from(&[(METRICS_ADDR, "localhost")]);
        assert_eq!(builder.serve.metrics, None);
        assert_eq!(problems.len(), 1, "{problems:?}");
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
