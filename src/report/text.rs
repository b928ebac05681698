//! The report for a person: the same facts as the JSON, within 100 columns.

use std::fmt::Write as _;

use super::{LatencySummary, Report};
use crate::detect::groups::{by_culprit, counts_in_words};
use crate::detect::{Finding, FindingKind, Severity};

/// Renders the report as plain text lines of at most 100 columns.
pub fn render_text(report: &Report) -> String {
    render_text_with(report, false)
}

/// The text report; with `stacks`, each culprit's worst stall shows its whole stack, every
/// frame (std, tokio and dependencies too), not only its blocking line.
pub fn render_text_with(report: &Report, stacks: bool) -> String {
    let mut out = String::new();
    let r = report;
    let _ = writeln!(
        out,
        "tokmon {} · {} · {}",
        r.tokmon_version, r.scenario.name, r.scenario.title
    );
    let _ = writeln!(
        out,
        "ran {:.1} s · {} workers · blocking cap {} · sampled every {} ms · from {}",
        r.duration_ms as f64 / 1e3,
        r.runtime.workers,
        r.runtime.max_blocking_threads,
        r.interval_ms,
        r.scenario.source
    );
    let _ = writeln!(
        out,
        "thresholds: stall {} ms · long poll {} ms · lag {} ms",
        r.thresholds.stall_ms, r.thresholds.long_poll_ms, r.thresholds.lag_ms
    );
    if r.samples_dropped > 0 {
        let _ = writeln!(
            out,
            "samples dropped: {} (the consumer fell behind)",
            r.samples_dropped
        );
    }
    out.push('\n');
    render_findings(&mut out, r, stacks);
    out.push('\n');
    let _ = writeln!(
        out,
        "{:<8} {:>7} {:>7} {:>9} {:>12} {:>9} {:>9} {:>16}",
        "worker", "busy", "on CPU", "CPU wait", "polls", "parks", "steals", "max local queue"
    );
    let share = |r: Option<f64>| r.map_or("-".to_string(), |c| format!("{:.1}%", c * 100.0));
    for w in &r.workers {
        let _ = writeln!(
            out,
            "{:<8} {:>6.1}% {:>7} {:>9} {:>12} {:>9} {:>9} {:>16}",
            w.index,
            w.busy_ratio * 100.0,
            share(w.cpu_ratio),
            share(w.cpu_wait_ratio),
            w.polls,
            w.parks,
            w.steals,
            w.max_local_queue_depth
        );
    }
    let cpu = match r.runtime.cpu_cores_used {
        Some(cores) => format!(" · runtime threads on CPU {cores:.2} cores"),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "tasks alive {} (max {}) · spawned {} · global queue max {}{}",
        r.runtime.alive_tasks,
        r.runtime.max_alive_tasks,
        r.runtime.spawned_tasks,
        r.runtime.max_global_queue_depth,
        cpu
    );
    let _ = writeln!(
        out,
        "blocking pool: max {} threads · max {} queued · tokmon's monitor thread: {:.1}% of a core",
        r.blocking_pool.max_threads,
        r.blocking_pool.max_queue_depth,
        r.runtime.monitor_cpu_ratio * 100.0
    );
    out.push('\n');
    render_phases(&mut out, r);
    render_sites(&mut out, r);
    if r.workloads.is_empty() {
        // An attached app: no workloads of tokmon's.
        return out;
    }
    let _ = writeln!(out, "Workloads");
    for w in &r.workloads {
        let mut head = format!(
            "{:<12} {:<6} {:<24} {} ops ({:.1}/s)",
            w.id, w.kind, w.setting, w.ops, w.ops_per_sec
        );
        if w.bytes > 0 {
            let _ = write!(head, " · {}", bytesize::ByteSize(w.bytes).display().iec());
        }
        if w.errors > 0 || w.timeouts > 0 {
            let _ = write!(head, " · errors {} · timeouts {}", w.errors, w.timeouts);
        }
        let _ = writeln!(out, "{head}");
        let _ = writeln!(
            out,
            "{:13}{}: {}",
            "",
            w.latency_of,
            latency_line(w.latency_ms.as_ref())
        );
        let s = &w.sched_delay_ms;
        let _ = writeln!(
            out,
            "{:13}sched delay: mean {:.3} ms · worst interval mean {:.3} ms · {} of {} over {} ms",
            "", s.mean, s.worst_interval_mean, s.long, s.count, s.long_threshold_ms
        );
    }
    out
}

/// Sites shown in the text report; the JSON has them all.
const TEXT_SITES: usize = 15;

/// The busiest spawn sites, one line each, estimates marked `~`.
fn render_sites(out: &mut String, r: &Report) {
    let sites = &r.sites;
    if sites.sites.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "Spawn sites (busiest first; ~ estimated: polls from a 1-in-256 sample, busy from a 1 ms clock)"
    );
    let _ = writeln!(
        out,
        "{:<44} {:>9} {:>10} {:>7} {:>9} {:>6} {:>6}",
        "site [label]", "spawns/s", "~polls/s", "~busy", "max poll", "long", "stalls"
    );
    for s in sites.sites.iter().take(TEXT_SITES) {
        let mut name = match &s.label {
            Some(label) => format!("{} [{label}]", s.site),
            None => s.site.clone(),
        };
        if name.chars().count() > 44 {
            let tail: String = name
                .chars()
                .rev()
                .take(43)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            name = format!("…{tail}");
        }
        let _ = writeln!(
            out,
            "{:<44} {:>9.1} {:>10.0} {:>6.1}% {:>9} {:>6} {:>6}",
            name,
            s.spawns_per_sec,
            s.polls_per_sec,
            s.busy_ratio * 100.0,
            fmt_ms(s.max_poll_ms),
            s.long_polls,
            s.stalls
        );
    }
    if sites.sites.len() > TEXT_SITES {
        let _ = writeln!(
            out,
            "… {} more sites in the JSON report",
            sites.sites.len() - TEXT_SITES
        );
    }
    if sites.other_sites > 0 {
        let _ = writeln!(
            out,
            "{} sites past the probe's bound are counted in the `other` row",
            sites.other_sites
        );
    }
    out.push('\n');
}

/// One block per phase: its note, then each workload's figures and the findings.
fn render_phases(out: &mut String, r: &Report) {
    if r.phases.is_empty() {
        return;
    }
    let _ = writeln!(out, "Phases");
    for (i, p) in r.phases.iter().enumerate() {
        // The findings that began in the phase (a folded entry's all fall in the phase it
        // began in), counted as the header counts them.
        let until = r.phases.get(i + 1).map_or(u64::MAX, |next| next.started_ms);
        let findings = counts_in_words(
            r.findings
                .iter()
                .filter(|f| f.kind != FindingKind::Event)
                .filter(|f| (p.started_ms..until).contains(&f.first_seen_ms)),
            r.thresholds.long_poll_ms,
            r.thresholds.stall_ms,
        );
        let head = format!(
            "{}. from {:.1} s for {:.1} s: {}",
            p.phase,
            p.started_ms as f64 / 1e3,
            p.duration_ms as f64 / 1e3,
            p.note
        );
        wrap_into(out, &head, "", "   ");
        for w in &p.workloads {
            let rate = match w.mb_per_sec {
                Some(mb) => format!("{mb:.0} MB/s"),
                None => format!("{:.0}/s", w.ops_per_sec),
            };
            let latency = w.latency_ms.map_or("-".to_string(), |l| {
                format!("p50 {} · p99 {}", fmt_ms(l.p50), fmt_ms(l.p99))
            });
            let _ = writeln!(
                out,
                "   {:<12} {:<24} {:>10}  {}",
                w.id, w.setting, rate, latency
            );
        }
        let _ = writeln!(
            out,
            "   findings: {}",
            if findings.is_empty() {
                "none".to_string()
            } else {
                findings.join(" · ")
            }
        );
    }
    out.push('\n');
}

/// Width the text report keeps within.
const WIDTH: usize = 100;

/// A finding's whole stack, innermost first, its blocking line marked.
fn render_stack(out: &mut String, f: &Finding) {
    let _ = writeln!(
        out,
        "           stack, innermost first (▶ the blocking line):"
    );
    let mut marked = false;
    for frame in &f.stack {
        let at = match (&frame.file, frame.line) {
            (Some(file), Some(line)) => format!("{file}:{line}"),
            _ => String::new(),
        };
        let site = !marked && frame.app && f.site.as_deref() == Some(at.as_str());
        marked |= site;
        let mark = if site { "▶" } else { " " };
        let inlined = if frame.inlined { " (inlined)" } else { "" };
        let line = format!("{mark} {}{inlined}  {at}", frame.function);
        wrap_into(out, line.trim_end(), "           ", "               ");
    }
}

/// Findings first: one group per culprit ([`by_culprit`]: kind, workload or spawn site, blocking
/// line or syscall), with how many findings it holds (the unit of the header's counts), when,
/// its worst occurrence and the hint; with `stacks`, the stack of its worst with one.
fn render_findings(out: &mut String, r: &Report, stacks: bool) {
    let problems: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.kind != FindingKind::Event)
        .collect();
    if problems.is_empty() {
        let _ = writeln!(out, "Findings: none");
    } else {
        let counts = counts_in_words(
            problems.iter().copied(),
            r.thresholds.long_poll_ms,
            r.thresholds.stall_ms,
        );
        let _ = writeln!(out, "Findings: {}", counts.join(" · "));
    }
    let mut groups = by_culprit(&r.findings);
    // Worst first, as the header leads with what to fix.
    groups.sort_by(|a, b| b.severity.cmp(&a.severity).then(b.count.cmp(&a.count)));
    for g in groups {
        let severity = match g.severity {
            Severity::Critical => "CRITICAL",
            Severity::Warning => "WARNING",
            Severity::Info => "info",
        };
        let ongoing = if g.ongoing {
            ", one going on at the end"
        } else {
            ""
        };
        let (first, last) = (g.first_ms as f64 / 1e3, g.last_ms as f64 / 1e3);
        // Long polls count polls, as the header does: a long-poll finding stands for many.
        let n = match g.kind {
            FindingKind::LongPoll => g.polls,
            _ => g.count,
        };
        let head = format!("{severity:<8} {} ×{n}  ", g.kind.label());
        if g.members.len() == 1 {
            let line = format!("{head}at {first:.1} s{ongoing}: {}", g.worst.summary);
            wrap_into(out, &line, "", "           ");
        } else {
            // The blocking line, else the syscall the thread waited in.
            let at = match g.place.as_deref() {
                Some(p) if p.starts_with("in ") => format!(" · waiting {p}"),
                Some(p) => format!(" · at {p}"),
                None => String::new(),
            };
            let line = format!(
                "{head}{first:.1}-{last:.1} s{ongoing}{at} · typical {} · worst {}",
                fmt_ms(g.typical_ms),
                fmt_ms(g.worst.duration_ms)
            );
            wrap_into(out, &line, "", "           ");
            let worst = format!(
                "the worst, at {:.1} s: {}",
                g.worst.first_seen_ms as f64 / 1e3,
                g.worst.summary
            );
            wrap_into(out, &worst, "           ", "           ");
        }
        wrap_into(out, &g.worst.hint, "         → ", "           ");
        if stacks && !g.lead().stack.is_empty() {
            render_stack(out, g.lead());
        }
    }
    let events: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Event)
        .collect();
    if !events.is_empty() {
        let _ = writeln!(out, "Events");
        for e in events {
            let line = format!("{:>7.1} s  {}", e.first_seen_ms as f64 / 1e3, e.summary);
            wrap_into(out, &line, "", "           ");
        }
    }
}

fn wrap_into(out: &mut String, text: &str, first: &str, rest: &str) {
    let options = textwrap::Options::new(WIDTH)
        .initial_indent(first)
        .subsequent_indent(rest);
    for line in textwrap::wrap(text, options) {
        let _ = writeln!(out, "{line}");
    }
}

fn latency_line(latency: Option<&LatencySummary>) -> String {
    match latency {
        None => "none completed".to_string(),
        Some(l) => format!(
            "p50 {} · p90 {} · p99 {} · max {} ({} ops)",
            fmt_ms(l.p50),
            fmt_ms(l.p90),
            fmt_ms(l.p99),
            fmt_ms(l.max),
            l.count
        ),
    }
}

/// Run time as `mm:ss.s` (minutes grow past 59): `[01:02.3]`.
pub fn fmt_clock(ms: u64) -> String {
    let tenths = ms / 100;
    let minutes = tenths / 600;
    let seconds = (tenths % 600) / 10;
    let tenth = tenths % 10;
    format!("{minutes:02}:{seconds:02}.{tenth}")
}

/// A duration in two or three figures, for a narrow line: `8 µs`, `4.2 ms`, `62 ms`, `1.2 s`.
pub fn fmt_ms_brief(ms: f64) -> String {
    // The unit is chosen by the value as it will be printed: 0.9996 ms is "1.0 ms".
    if ms < 0.9995 {
        format!("{:.0} µs", ms * 1000.0)
    } else if ms < 9.95 {
        format!("{ms:.1} ms")
    } else if ms < 999.5 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// Milliseconds with precision that fits their size.
pub fn fmt_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn brief_durations_keep_two_or_three_figures() {
        for (ms, text) in [
            (0.001, "1 µs"),
            (0.35, "350 µs"),
            (4.24, "4.2 ms"),
            (62.3, "62 ms"),
            (251.4, "251 ms"),
            (1234.0, "1.2 s"),
            (0.9996, "1.0 ms"),
            (9.97, "10 ms"),
            (999.6, "1.0 s"),
        ] {
            assert_eq!(super::fmt_ms_brief(ms), text);
        }
    }
}
