//! Where each panel goes: a wide layout with sparklines, a compact one for 80x24, or none.

use ratatui::layout::{Constraint, Layout, Rect};

/// Below this the screen only says it is too small.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 15;

/// The wide layout needs at least this much.
const WIDE_WIDTH: u16 = 120;
const WIDE_HEIGHT: u16 = 34;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every panel boxed, with sparklines and a tall histogram.
    Wide,
    /// Fewer columns, the runtime on one line, workloads in one box.
    Compact,
}

/// The rectangles of one frame. A panel with no room gets an empty rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub mode: Mode,
    pub header: Rect,
    pub workers: Rect,
    /// A box in the wide layout, a single line in the compact one.
    pub runtime: Rect,
    pub polls: Rect,
    pub workloads: Rect,
    pub findings: Rect,
    pub footer: Rect,
}

/// What the layout needs to know about the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Content {
    pub workers: usize,
    pub workloads: usize,
    /// The most lines any workload panel has.
    pub workload_lines: usize,
    /// Lines of all workload panels stacked, headings included (the compact box).
    pub workload_stack: usize,
    /// The scenario has scripted phases: the wide header gets a row for the phase line.
    pub phase_line: bool,
}

pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

/// `None` when the terminal is too small for any layout.
pub fn areas(area: Rect, content: Content) -> Option<Areas> {
    if too_small(area) {
        return None;
    }
    if area.width >= WIDE_WIDTH && area.height >= WIDE_HEIGHT {
        Some(wide(area, content))
    } else {
        Some(compact(area, content))
    }
}

fn small(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Takes rows from `sizes` (down to each one's minimum, in the given order) until they sum to
/// at most `avail`.
fn shrink(sizes: &mut [u16], order: &[(usize, u16)], avail: u16) {
    for &(i, min) in order {
        let total: u16 = sizes.iter().fold(0u16, |a, b| a.saturating_add(*b));
        if total <= avail {
            return;
        }
        let over = total - avail;
        if let Some(size) = sizes.get_mut(i) {
            let cut = over.min(size.saturating_sub(min));
            *size -= cut;
        }
    }
}

/// Rows of the wide header: title, shape, the phase line when there are phases, status.
pub fn wide_header_rows(c: Content) -> u16 {
    if c.phase_line { 4 } else { 3 }
}

fn wide(area: Rect, c: Content) -> Areas {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(wide_header_rows(c)),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let workloads = if c.workloads == 0 {
        0
    } else {
        small(c.workload_lines).clamp(2, 5) + 4
    };
    // workers, middle (histogram | runtime), workloads, findings
    let mut sizes = [small(c.workers).saturating_add(3), 14, workloads, 10];
    shrink(
        &mut sizes,
        &[(1, 10), (0, 6), (2, 5), (3, 6), (0, 4), (1, 6), (2, 0)],
        body.height,
    );
    let used: u16 = sizes.iter().take(3).sum();
    sizes[3] = body.height.saturating_sub(used);
    let [workers, middle, workloads, findings] =
        Layout::vertical(sizes.map(Constraint::Length)).areas(body);
    let [polls, runtime] =
        Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(middle);
    Areas {
        mode: Mode::Wide,
        header,
        workers,
        runtime,
        polls,
        workloads,
        findings,
        footer,
    }
}

fn compact(area: Rect, c: Content) -> Areas {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let avail = body.height.saturating_sub(1); // the runtime line
    let middle = small(c.workload_stack).clamp(3, 8) + 2;
    // workers, middle (workloads | histogram), findings
    let mut sizes = [small(c.workers).saturating_add(3), middle, 7];
    shrink(
        &mut sizes,
        &[
            (1, 5),
            (0, 7),
            (2, 6),
            (0, 5),
            (1, 3),
            (2, 4),
            (0, 4),
            (2, 3),
            (1, 0),
        ],
        avail,
    );
    let used: u16 = sizes.iter().take(2).sum();
    sizes[2] = avail.saturating_sub(used);
    let [workers, runtime, middle, findings] = Layout::vertical([
        Constraint::Length(sizes[0]),
        Constraint::Length(1),
        Constraint::Length(sizes[1]),
        Constraint::Length(sizes[2]),
    ])
    .areas(body);
    let [workloads, polls] =
        Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(middle);
    Areas {
        mode: Mode::Compact,
        header,
        workers,
        runtime,
        polls,
        workloads,
        findings,
        footer,
    }
}

/// A rectangle of at most `width` x `height` centred in `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: Content = Content {
        workers: 2,
        workloads: 2,
        workload_lines: 2,
        workload_stack: 6,
        phase_line: false,
    };

    #[test]
    fn panels_tile_the_screen_without_overlap() {
        for (w, h) in [(60, 15), (80, 24), (100, 30), (160, 48), (300, 100)] {
            for workers in [1, 2, 8, 64] {
                let content = Content { workers, ..TWO };
                let a = areas(Rect::new(0, 0, w, h), content).expect("big enough");
                let stack = match a.mode {
                    Mode::Wide => [
                        a.header,
                        a.workers,
                        a.polls,
                        a.workloads,
                        a.findings,
                        a.footer,
                    ],
                    Mode::Compact => [
                        a.header, a.workers, a.runtime, a.polls, a.findings, a.footer,
                    ],
                };
                for pair in stack.windows(2) {
                    assert!(pair[0].bottom() <= pair[1].y, "{w}x{h} {workers}: {a:?}");
                }
                assert_eq!(a.footer.bottom(), h, "{w}x{h} {workers}: {a:?}");
                assert!(a.workers.height >= 4, "{w}x{h} {workers}: {a:?}");
                assert!(a.findings.height >= 3, "{w}x{h} {workers}: {a:?}");
            }
        }
    }

    #[test]
    fn eighty_by_twenty_four_is_compact_and_gives_findings_room() {
        let a = areas(Rect::new(0, 0, 80, 24), TWO).expect("big enough");
        assert_eq!(a.mode, Mode::Compact);
        assert_eq!(a.workers.height, 5);
        assert!(a.findings.height >= 6, "{a:?}");
        assert!(areas(Rect::new(0, 0, 59, 24), TWO).is_none());
        assert_eq!(
            areas(Rect::new(0, 0, 160, 48), TWO).map(|a| a.mode),
            Some(Mode::Wide)
        );
    }

    #[test]
    fn phases_add_a_header_row_only_in_the_wide_layout() {
        let phased = Content {
            phase_line: true,
            ..TWO
        };
        let wide = areas(Rect::new(0, 0, 160, 48), phased).expect("big enough");
        assert_eq!(wide.header.height, 4);
        assert_eq!(wide.header.bottom(), wide.workers.y);
        let compact = areas(Rect::new(0, 0, 80, 24), phased).expect("big enough");
        assert_eq!(
            compact,
            areas(Rect::new(0, 0, 80, 24), TWO).expect("big enough"),
            "the compact header shares its rows with the phase line"
        );
    }
}
