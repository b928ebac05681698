//! What the benchmark prints: per workload, each variant's median throughput, its ratio to
//! bare's median and to empty hooks' (the floor of any hook-based probe), the same ratio of
//! work per CPU-second (`per CPU`: steal by a virtual machine's host left out), the spread of
//! the runs and the largest peak RSS, as a table or as JSON.

use std::fmt::Write as _;

use anyhow::{Context, Result};

use crate::harness::Mode;
use crate::variants::Variant;
use crate::workloads::Workload;

/// One variant's runs of one workload.
pub struct Row {
    pub workload: &'static Workload,
    pub variant: &'static Variant,
    pub size: u64,
    /// Throughputs of the measured runs (warm-up excluded), sorted once all are in.
    pub throughputs: Vec<f64>,
    pub median: f64,
    pub ratio: f64,
    /// The median's ratio to empty hooks' median in the same rounds.
    pub to_hooks: f64,
    /// Work per CPU-second of the measured runs' processes (see the child's report), sorted.
    pub per_cpu_s: Vec<f64>,
    /// Its median's ratio to empty hooks' median: the cost in CPU, steal left out.
    pub per_cpu_to_hooks: f64,
    /// The largest peak RSS of the measured runs' processes, where known.
    pub peak_rss_kb: Option<u64>,
    /// Why the variant could not run this workload.
    pub error: Option<String>,
}

impl Row {
    pub fn new(workload: &'static Workload, variant: &'static Variant, size: u64) -> Row {
        Row {
            workload,
            variant,
            size,
            throughputs: Vec::new(),
            median: f64::NAN,
            ratio: f64::NAN,
            to_hooks: f64::NAN,
            per_cpu_s: Vec::new(),
            per_cpu_to_hooks: f64::NAN,
            peak_rss_kb: None,
            error: None,
        }
    }

    fn spread(&self) -> (f64, f64) {
        let end = |end: Option<&f64>| end.copied().unwrap_or(f64::NAN);
        (end(self.throughputs.first()), end(self.throughputs.last()))
    }
}

pub fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// A throughput in a readable unit: `18.62M`.
pub fn si(value: f64) -> String {
    match value {
        v if v >= 1e9 => format!("{:.2}G", v / 1e9),
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e3 => format!("{:.2}k", v / 1e3),
        v => format!("{v:.1}"),
    }
}

/// A size in KiB as MiB: `12.3 MiB`.
pub fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

pub fn text(rows: &[Row]) -> String {
    let header = [
        "workload", "variant", "median", "unit", "ratio", "vs hooks", "per CPU", "runs",
        "min..max", "peak RSS",
    ]
    .map(str::to_string);
    let ratio = |r: f64| match r.is_finite() {
        true => format!("{r:.3}"),
        false => "-".to_string(),
    };
    let lines: Vec<[String; 10]> = rows
        .iter()
        .map(|row| {
            let (min, max) = row.spread();
            [
                row.workload.name.to_string(),
                row.variant.name.to_string(),
                match row.error {
                    Some(_) => "failed".to_string(),
                    None => si(row.median),
                },
                row.workload.unit.to_string(),
                ratio(row.ratio),
                ratio(row.to_hooks),
                ratio(row.per_cpu_to_hooks),
                row.throughputs.len().to_string(),
                match row.throughputs.is_empty() {
                    true => "-".to_string(),
                    false => format!("{}..{}", si(min), si(max)),
                },
                row.peak_rss_kb.map_or("-".to_string(), mib),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|cell| cell.len());
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.len());
        }
    }
    // Text columns left-aligned, numbers right-aligned.
    let numeric = [
        false, false, true, false, true, true, true, true, false, true,
    ];
    let mut out = String::new();
    for (i, line) in std::iter::once(&header).chain(&lines).enumerate() {
        // A blank line between workloads.
        if i > 1 && lines[i - 2][0] != line[0] {
            out.push('\n');
        }
        let cells: Vec<String> = line
            .iter()
            .zip(widths)
            .zip(numeric)
            .map(|((cell, width), right)| match right {
                true => format!("{cell:>width$}"),
                false => format!("{cell:<width$}"),
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

/// Notes for under the table: variants run at another size than their workload's (and why),
/// variants that could not run.
pub fn notes(rows: &[Row], mode: Mode) -> Vec<String> {
    let mut notes = Vec::new();
    for row in rows {
        let (workload, variant) = (row.workload, row.variant);
        let own = workload.sizes.get(mode);
        if row.size != own {
            notes.push(format!(
                "{} on {}: {} {} a run, not {own} ({}); peak RSS {}",
                variant.name,
                workload.name,
                row.size,
                workload.unit.split('/').next().unwrap_or(workload.unit),
                variant.why_resized,
                row.peak_rss_kb.map_or("unknown".to_string(), mib),
            ));
        }
        if let Some(error) = &row.error {
            notes.push(format!(
                "{} on {} failed: {}",
                variant.name,
                workload.name,
                error.lines().next().unwrap_or_default()
            ));
        }
    }
    notes
}

pub fn json(rows: &[Row]) -> Result<String> {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            let (min, max) = row.spread();
            let mut value = serde_json::json!({
                "workload": row.workload.name,
                "variant": row.variant.name,
                "runs": row.throughputs.len(),
                "median": row.median,
                "min": min,
                "max": max,
                "ratio": row.ratio,
                "ratio_to_empty_hooks": row.to_hooks.is_finite().then_some(row.to_hooks),
                "per_cpu_ratio_to_empty_hooks": row
                    .per_cpu_to_hooks
                    .is_finite()
                    .then_some(row.per_cpu_to_hooks),
                "size": row.size,
                "peak_rss_bytes": row.peak_rss_kb.map(|kb| kb * 1024),
            });
            if let (Some(error), Some(object)) = (&row.error, value.as_object_mut()) {
                object.insert("error".into(), error.clone().into());
            }
            value
        })
        .collect();
    serde_json::to_string_pretty(&rows).context("serializing the results")
}
