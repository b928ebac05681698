//! The report for a person: the same facts as the JSON, within 100 columns.

use std::fmt::Write as _;

use super::{LatencySummary, Report};

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
    if r.findings.is_empty() {
        let _ = writeln!(out, "Findings: none");
    } else {
        let _ = writeln!(out, "Findings: {}", r.findings.len());
    }
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
