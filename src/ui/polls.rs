//! Poll durations: a log-bucket histogram with the long-poll and stall thresholds marked.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Paragraph, Widget};

use crate::app::App;
use crate::app::view::{PollHistogramView, SAMPLED_FOR_PERCENTILES, poll_histogram};
use crate::probe::clock::{EXACT_FROM_NS, PRECISE_EVERY};

use super::layout::Mode;
use super::text::{fit, fmt_count, fmt_dur, fmt_opt_dur, width};
use super::theme::Theme;

pub struct Polls<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
    pub mode: Mode,
}

/// A bar's height for a count: logarithmic, so one 2-second poll among a million short ones
/// still shows. Zero stays zero; one is the shortest visible bar.
pub fn log_height(count: u64) -> u64 {
    if count == 0 {
        0
    } else {
        100 + ((count as f64).log10() * 100.0).round() as u64
    }
}

/// Which buckets fit, and how wide each bar is: (first bucket shown, bar width, gap).
/// When not all fit, the shortest polls are left out: the long ones are the point.
fn bar_geometry(buckets: usize, width: u16) -> (usize, u16, u16) {
    let n = u16::try_from(buckets).unwrap_or(u16::MAX).max(1);
    let gap = u16::from(width >= n.saturating_mul(2));
    let bar = ((width + gap) / n).saturating_sub(gap).clamp(1, 7);
    let fits = usize::from((width + gap) / (bar + gap));
    (buckets.saturating_sub(fits), bar, gap)
}

impl Widget for Polls<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        let t = self.theme;
        let view = poll_histogram(self.app);
        let sep = t.sep();
        // Polls this long or more are counted one by one, shorter ones by a sample.
        // In the axis' words: the floor of its "2ms" bucket is 2048 µs.
        let exact = format!("{} ms", EXACT_FROM_NS / 1_000_000);
        let percentiles = match view.warming {
            Some(n) => vec![(
                1,
                match self.mode {
                    // Sampled as the caption below says: those under 2 ms, one in 256.
                    Mode::Wide => format!(
                        "p50/p99 after {SAMPLED_FOR_PERCENTILES} samples under {exact} ({n} so far)"
                    ),
                    Mode::Compact => {
                        format!("p50/p99 warming up {n}/{SAMPLED_FOR_PERCENTILES}")
                    }
                },
            )],
            None => vec![
                (2, format!("p50 {}", fmt_opt_dur(view.p50_ms))),
                (1, format!("p99 {}", fmt_opt_dur(view.p99_ms))),
            ],
        };
        let mut parts = percentiles;
        parts.push((0, format!("max {}", fmt_opt_dur(view.max_ms))));
        let thresholds = &self.app.run.info.thresholds;
        let long = fmt_dur(thresholds.long_poll_threshold.as_secs_f64() * 1000.0);
        let stall = fmt_dur(thresholds.stall_threshold.as_secs_f64() * 1000.0);
        let title = match self.mode {
            Mode::Wide => " Poll durations, since start ",
            Mode::Compact => " Polls, since start ",
        };
        // Wide, the figures share the top border with the title; compact, the bottom is theirs.
        let beside = match self.mode {
            Mode::Wide => title.chars().count(),
            Mode::Compact => 0,
        };
        let figures = fit(
            &parts,
            sep,
            usize::from(area.width).saturating_sub(4 + beside),
        );
        let mut block = t.block(Line::styled(title, t.title), false);
        match self.mode {
            Mode::Wide => {
                block = block
                    .title(Line::styled(format!(" {figures} "), t.strong).right_aligned())
                    .title_bottom(Line::styled(
                        t.s(&format!(
                            " ▲ long poll ≥ {long} · ▲ stall ≥ {stall} · log scale · under {exact}: sampled 1 in {PRECISE_EVERY}, ×{PRECISE_EVERY} "
                        )),
                        t.dim,
                    ));
            }
            Mode::Compact => {
                block = block.title_bottom(Line::styled(format!(" {figures} "), t.strong));
            }
        }
        let inner = block.inner(area);
        block.render(area, buf);
        if inner.is_empty() {
            return;
        }
        if view.buckets.iter().all(|(_, c)| *c == 0) {
            Paragraph::new(Line::styled("no polls yet", t.dim)).render(inner, buf);
            return;
        }
        self.render_histogram(&view, inner, buf);
    }
}

impl Polls<'_> {
    fn render_histogram(&self, view: &PollHistogramView, area: Rect, buf: &mut Buffer) {
        let t = self.theme;
        let (first, bar_width, gap) = bar_geometry(view.buckets.len(), area.width);
        let style_of = |i: usize| -> Style {
            if view.stall_at.is_some_and(|s| i >= s) {
                t.critical
            } else if view.long_poll_at.is_some_and(|l| i >= l) {
                t.warning
            } else {
                t.bar
            }
        };
        let bars: Vec<Bar> = view
            .buckets
            .iter()
            .enumerate()
            .skip(first)
            .map(|(i, (_, count))| {
                // Counts stand above the bars, never over a bar's glyphs nor by the axis.
                Bar::new(log_height(*count))
                    .text_value(String::new())
                    .style(style_of(i))
            })
            .collect();
        // Counts need a bar at least as wide as "1.0k" less one, and a row above the tallest.
        let counts = bar_width >= 3 && area.height >= 6;
        let (top, chart_h, labels) = match area.height {
            h if h >= 3 => (u16::from(counts), h - 2 - u16::from(counts), true),
            h => (0, h, false),
        };
        let chart = Rect::new(area.x, area.y + top, area.width, chart_h);
        BarChart::default()
            .data(BarGroup::default().bars(&bars))
            .bar_width(bar_width)
            .bar_gap(gap)
            .bar_set(t.bar_set())
            .render(chart, buf);
        let x_of = |i: usize| -> Option<u16> {
            let k = u16::try_from(i.checked_sub(first)?).ok()?;
            let x = k.checked_mul(bar_width + gap)?;
            (x < area.width).then_some(area.x + x)
        };
        if counts {
            for (i, (_, count)) in view.buckets.iter().enumerate().skip(first) {
                let Some(x) = x_of(i).filter(|_| *count > 0) else {
                    continue;
                };
                // The row above the bar's top glyph.
                let bar_top = (chart.y..chart.bottom())
                    .find(|&y| buf[(x, y)].symbol() != " ")
                    .unwrap_or(chart.bottom());
                let room = usize::from(bar_width.min(area.right().saturating_sub(x)));
                // A sampled bucket's count is an estimate (one in 256, times 256): said so
                // where the bar is wide enough.
                let about = if i < view.sampled_below { "~" } else { "" };
                let (full, round) = (fmt_count(*count), round_count(*count));
                let text = [
                    format!("{about}{full}"),
                    format!("{about}{round}"),
                    full,
                    round,
                ]
                .into_iter()
                .find(|text| width(text) <= room);
                if let Some(text) = text {
                    buf.set_string(x, bar_top.saturating_sub(1), &text, style_of(i));
                }
            }
        }
        if !labels {
            return;
        }
        let axis_y = chart.bottom();
        self.render_axis(view, area, axis_y, (first, bar_width, gap), buf);
        // Markers where the thresholds fall inside their buckets: the stall's wins a collision.
        let marker_y = axis_y + 1;
        let up = t.up();
        let mut taken: Option<(u16, u16)> = None;
        let marks = [
            (view.stall_at, view.stall_offset, "stall", t.critical),
            (
                view.long_poll_at,
                view.long_poll_offset,
                "long poll",
                t.warning,
            ),
        ];
        for (at, offset, name, style) in marks {
            let Some(x) = at.and_then(x_of) else { continue };
            let inside = (offset * f64::from(bar_width)).round() as u16;
            let x = (x + inside.min(bar_width.saturating_sub(1))).min(area.right() - 1);
            // The word after the arrow, else before it, else the arrow alone.
            let after = format!("{up}{name}");
            let before = format!("{name}{up}");
            let back = u16::try_from(width(name)).unwrap_or(u16::MAX);
            let mut candidates = vec![(after, x)];
            if let Some(start) = x.checked_sub(back).filter(|s| *s >= area.x) {
                candidates.push((before, start));
            }
            candidates.push((up.to_string(), x));
            let choice = candidates.into_iter().find_map(|(text, start)| {
                let w = u16::try_from(width(&text)).unwrap_or(u16::MAX);
                let fits = start.saturating_add(w) <= area.right();
                let clash = taken.is_some_and(|(a, b)| start <= b && a <= start + w);
                (fits && !clash).then_some((text, start, w))
            });
            let Some((text, start, w)) = choice else {
                continue;
            };
            Paragraph::new(Line::from(Span::styled(text, style)))
                .render(Rect::new(start, marker_y, w, 1), buf);
            taken = Some((start, start + w));
        }
    }

    /// Bucket floors under their bars at a regular step (every bucket, else every second...),
    /// counted back from the longest bucket, which is always labelled (moved left to fit): an
    /// axis that skips labels irregularly reads as missing buckets.
    fn render_axis(
        &self,
        view: &PollHistogramView,
        area: Rect,
        y: u16,
        (first, bar_width, gap): (usize, u16, u16),
        buf: &mut Buffer,
    ) {
        let t = self.theme;
        let Some(last) = view.buckets.len().checked_sub(1).filter(|&l| l >= first) else {
            return;
        };
        let placed = |step: usize| -> Option<Vec<(usize, u16, String)>> {
            let mut labels = Vec::new();
            let mut limit = area.right();
            for i in (first..=last).rev().step_by(step) {
                let k = u16::try_from(i - first).ok()?;
                let x = area.x + k.checked_mul(bar_width + gap)?;
                // Labels are where the bars start; the last reads "and up" for the longest.
                let floor = &view.buckets.get(i)?.0;
                let label = t.s(&if i == last {
                    format!("{floor}+")
                } else {
                    floor.clone()
                });
                let w = u16::try_from(width(&label)).ok()?;
                // The longest bucket's label moves left to fit; the others must not touch it.
                let x = if i == last {
                    x.min(area.right().saturating_sub(w))
                } else {
                    x
                };
                if x < area.x || x + w + u16::from(i != last) > limit {
                    return None;
                }
                limit = x;
                labels.push((i, x, label));
            }
            Some(labels)
        };
        let Some(labels) = (1..=8).find_map(placed) else {
            return;
        };
        for (i, x, label) in labels {
            let style = if Some(i) == view.stall_at {
                t.critical
            } else if Some(i) == view.long_poll_at {
                t.warning
            } else {
                t.dim
            };
            buf.set_string(x, y, &label, style);
        }
    }
}

/// A count in at most three characters, rounded: `2k` for 1,500, `12k`, `3M`.
fn round_count(n: u64) -> String {
    let n = n as f64;
    match n {
        n if n < 1e3 => format!("{n:.0}"),
        n if n < 1e6 => format!("{:.0}k", (n / 1e3).max(1.0)),
        n if n < 1e9 => format!("{:.0}M", (n / 1e6).max(1.0)),
        n => format!("{:.0}G", (n / 1e9).max(1.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_shrink_and_drop_the_shortest_polls_first() {
        assert_eq!(bar_geometry(17, 100), (0, 4, 1));
        assert_eq!(bar_geometry(17, 30), (0, 1, 0));
        assert_eq!(bar_geometry(17, 17), (0, 1, 0));
        assert_eq!(bar_geometry(17, 10), (7, 1, 0));
        assert_eq!(bar_geometry(0, 10).0, 0);
        assert_eq!(log_height(0), 0);
        assert!(log_height(1) > 0 && log_height(1000) > log_height(10));
        assert_eq!(round_count(1_500), "2k");
        assert_eq!(round_count(999), "999");
        assert_eq!(round_count(68_000), "68k");
    }
}
