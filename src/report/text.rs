//! The report for a person: the same facts as the JSON, within 100 columns.

use std::fmt::Write as _;

use super::{LatencySummary, Report};
use crate::detect::{Finding, Severity};

/// Renders the report as plain text lines of at most 100 columns.
pub fn render_text(report: &Report) -> String {
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
    render_findings(&mut out, r);
    out.push('\n');
    let _ = writeln!(
        out,
        "{:<8} {:>7} {:>12} {:>9} {:>9} {:>16}",
        "worker", "busy", "polls", "parks", "steals", "max local queue"
    );
    for w in &r.workers {
        let _ = writeln!(
            out,
            "{:<8} {:>6.1}% {:>12} {:>9} {:>9} {:>16}",
            w.index,
            w.busy_ratio * 100.0,
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
        "blocking pool: max {} threads · max {} queued",
        r.blocking_pool.max_threads, r.blocking_pool.max_queue_depth
    );
    out.push('\n');
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

/// Width the text report keeps within.
const WIDTH: usize = 100;

/// Findings first: one group per kind, workload and spawn site, with its count, its worst
/// occurrence and the hint.
fn render_findings(out: &mut String, r: &Report) {
    if r.findings.is_empty() {
        let _ = writeln!(out, "Findings: none");
        return;
    }
    let counts: Vec<String> = r
        .finding_counts
        .iter()
        .map(|(kind, n)| format!("{n} {}", kind.name()))
        .collect();
    let _ = writeln!(out, "Findings: {}", counts.join(" · "));
    let mut groups: Vec<(&Finding, u64)> = Vec::new();
    for f in &r.findings {
        let same = |g: &&Finding| {
            g.kind == f.kind && g.workload == f.workload && g.spawned_at == f.spawned_at
        };
        match groups.iter_mut().find(|(g, _)| same(g)) {
            Some((worst, n)) => {
                *n += f.count;
                if f.duration_ms > worst.duration_ms {
                    *worst = f;
                }
            }
            None => groups.push((f, f.count)),
        }
    }
    groups.sort_by(|a, b| b.0.severity.cmp(&a.0.severity).then(b.1.cmp(&a.1)));
    for (worst, n) in groups {
        let severity = match worst.severity {
            Severity::Critical => "CRITICAL",
            Severity::Warning => "WARNING",
            Severity::Info => "info",
        };
        let head = format!(
            "{severity:<8} {} ×{n}  worst at {:.1} s: ",
            worst.kind.name(),
            worst.first_seen_ms as f64 / 1e3
        );
        wrap_into(out, &format!("{head}{}", worst.summary), "", "           ");
        wrap_into(out, &worst.hint, "         → ", "           ");
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
