//! Small pure formatting helpers shared by the panels: clocks, durations, counts, truncation.

pub use crate::report::fmt_clock;

/// A duration for people: `840 ms`, `1.2 s`, `0.250 ms`.
pub fn fmt_dur(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        "-".into()
    } else if ms >= 1000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms >= 1.0 && ms.fract() == 0.0 {
        format!("{ms:.0} ms")
    } else {
        crate::report::fmt_ms(ms)
    }
}

/// An optional duration; `-` when unknown.
pub fn fmt_opt_dur(ms: Option<f64>) -> String {
    ms.map_or("-".into(), fmt_dur)
}

/// A count in at most four characters: `7`, `950`, `27k`, `1.2M`.
pub fn fmt_count(n: u64) -> String {
    if n < 1_000 {
        n.to_string()
    } else if n < 10_000 {
        format!("{:.1}k", n as f64 / 1e3)
    } else if n < 1_000_000 {
        format!("{}k", n / 1_000)
    } else if n < 10_000_000 {
        format!("{:.1}M", n as f64 / 1e6)
    } else if n < 1_000_000_000 {
        format!("{}M", n / 1_000_000)
    } else {
        format!("{}G", n / 1_000_000_000)
    }
}

/// A rate: `0.5`, `12`, `3.4k`.
pub fn fmt_rate(per_sec: f64) -> String {
    if !per_sec.is_finite() || per_sec < 0.0 {
        "-".into()
    } else if per_sec < 10.0 {
        format!("{per_sec:.1}")
    } else {
        fmt_count(per_sec.round() as u64)
    }
}

/// A share of one core (or any 0..1 ratio) as a percentage: `2.0%`, `57%`.
pub fn fmt_share(share: Option<f64>) -> String {
    match share {
        Some(s) if s.is_finite() && s >= 0.0 => {
            let pct = s * 100.0;
            if pct < 10.0 {
                format!("{pct:.1}%")
            } else {
                format!("{pct:.0}%")
            }
        }
        _ => "-".into(),
    }
}

/// A ratio fit for a gauge: finite and within 0..=1.
pub fn unit(ratio: f64) -> f64 {
    if ratio.is_finite() {
        ratio.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// The rightmost `len` columns of `area` (all of it when `len` is larger): where a sparkline
/// of `len` values goes so that the newest value sits at the right edge.
pub fn flush_right(area: ratatui::layout::Rect, len: usize) -> ratatui::layout::Rect {
    let w = u16::try_from(len).unwrap_or(u16::MAX).min(area.width);
    ratatui::layout::Rect::new(area.right() - w, area.y, w, area.height)
}

/// A history of samples (oldest first) fitted to `width` columns: with more samples than
/// columns, the samples are spread over all the columns (one or a few each) and each column
/// shows the highest of its samples, so a short spike never drops out; the last column holds
/// the newest sample.
pub fn fit_to_width(values: &[u64], width: usize) -> Vec<u64> {
    let len = values.len();
    if len <= width {
        return values.to_vec();
    }
    (0..width)
        .map(|column| {
            let (from, to) = (column * len / width, (column + 1) * len / width);
            values[from..to].iter().copied().max().unwrap_or(0)
        })
        .collect()
}

/// Where the sample `back` samples before the newest of `len` lands once fitted to `width`
/// columns (see [`fit_to_width`]), in columns back from the last.
pub fn column_back(len: usize, width: usize, back: usize) -> usize {
    if len <= width || back >= len {
        return back;
    }
    let index = len - 1 - back;
    width - 1 - index * width / len
}

/// `text` with the directories of its `dir/file:LINE` paths dropped: `src/workload/mutex.rs:58`
/// becomes `mutex.rs:58`.
pub fn without_directories(text: &str) -> String {
    text.split(' ')
        .map(|word| match word.rsplit_once('/') {
            Some((_, file)) if file.contains(':') => file,
            _ => word,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Display width of a text drawn by tokmon (every character it uses is one cell wide).
pub fn width(text: &str) -> usize {
    text.chars().count()
}

/// `text` cut to `max` cells, ending in `ellipsis` when cut.
pub fn truncate(text: &str, max: usize, ellipsis: &str) -> String {
    if width(text) <= max {
        return text.to_string();
    }
    let keep = max.saturating_sub(width(ellipsis));
    if keep == 0 {
        return text.chars().take(max).collect();
    }
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(ellipsis);
    out
}

/// Joins as many of `segments` as fit in `max` cells, dropping the least important first.
/// Segments come as (priority, text); a lower number is more important. The kept ones stay
/// in their original order.
pub fn fit(segments: &[(u8, String)], sep: &str, max: usize) -> String {
    let mut keep: Vec<bool> = vec![true; segments.len()];
    loop {
        let joined = join_kept(segments, &keep, sep);
        if width(&joined) <= max {
            return joined;
        }
        let drop = segments
            .iter()
            .enumerate()
            .filter(|(i, _)| keep.get(*i).copied().unwrap_or(false))
            .max_by_key(|(i, (priority, _))| (*priority, *i))
            .map(|(i, _)| i);
        match drop {
            Some(i) if keep.iter().filter(|k| **k).count() > 1 => {
                if let Some(k) = keep.get_mut(i) {
                    *k = false;
                }
            }
            _ => return truncate(&joined, max, ""),
        }
    }
}

fn join_kept(segments: &[(u8, String)], keep: &[bool], sep: &str) -> String {
    segments
        .iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|((_, s), _)| s.as_str())
        .collect::<Vec<_>>()
        .join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_drop_their_directories_and_nothing_else_changes() {
        assert_eq!(
            without_directories("locker at src/workload/mutex.rs:58 in sleep() → use a/b"),
            "locker at mutex.rs:58 in sleep() → use a/b"
        );
        assert_eq!(
            without_directories("(spawned at src/x/y.rs:30:17): 2 stalls"),
            "(spawned at y.rs:30:17): 2 stalls"
        );
    }

    #[test]
    fn a_history_longer_than_the_width_keeps_its_peaks_and_ends_now() {
        // 600 samples (a minute) into 60 columns: 10 a column, each its highest.
        let mut minute = vec![0u64; 600];
        minute[5] = 100; // in the oldest column
        minute[599] = 7; // the newest sample, at the right edge
        let columns = fit_to_width(&minute, 60);
        assert_eq!(columns.len(), 60);
        assert_eq!((columns[0], columns[59]), (100, 7));
        assert_eq!(columns.iter().filter(|&&v| v > 0).count(), 2);
        assert_eq!(
            (column_back(600, 60, 0), column_back(600, 60, 594)),
            (0, 59)
        );
        // A little longer than the width: every column is used, one or two samples each.
        assert_eq!(fit_to_width(&[1, 2, 3, 4, 5, 6, 7], 5), vec![1, 2, 4, 5, 7]);
        assert_eq!(column_back(7, 5, 0), 0);
        assert_eq!(column_back(7, 5, 6), 4);
        // Not longer than the width: unchanged.
        assert_eq!(fit_to_width(&[3, 1], 10), vec![3, 1]);
        assert_eq!(column_back(2, 10, 1), 1);
    }

    #[test]
    fn clocks_durations_and_counts() {
        assert_eq!(fmt_clock(0), "00:00.0");
        assert_eq!(fmt_clock(3_450), "00:03.4");
        assert_eq!(fmt_clock(3_723_400), "62:03.4");
        assert_eq!(fmt_dur(840.0), "840 ms");
        assert_eq!(fmt_dur(1_234.0), "1.2 s");
        assert_eq!(fmt_dur(10.0), "10 ms");
        assert_eq!(fmt_dur(16.4), "16.4 ms");
        assert_eq!(fmt_count(27_000), "27k");
        assert_eq!(fmt_count(1_234), "1.2k");
        assert_eq!(fmt_share(Some(0.02)), "2.0%");
        assert_eq!(fmt_share(None), "-");
        assert!(unit(f64::NAN) == 0.0 && unit(3.0) == 1.0);
    }

    #[test]
    fn fit_drops_the_least_important_first() {
        let segs = vec![
            (0, "aaaa".to_string()),
            (2, "bbbb".to_string()),
            (1, "cccc".to_string()),
        ];
        assert_eq!(fit(&segs, " ", 14), "aaaa bbbb cccc");
        assert_eq!(fit(&segs, " ", 10), "aaaa cccc");
        assert_eq!(fit(&segs, " ", 5), "aaaa");
        assert_eq!(fit(&segs, " ", 2), "aa");
        assert_eq!(truncate("abcdef", 4, "."), "abc.");
    }
}
