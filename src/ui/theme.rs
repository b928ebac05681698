//! Colours and symbols: dark, light and monochrome themes, and an ASCII-only mode.

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols;
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Borders};

use crate::detect::Severity;

/// A colour theme, chosen with `--theme`; `NO_COLOR` selects `Mono`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ThemeName {
    #[default]
    Dark,
    Light,
    Mono,
}

/// How the screen looks: a theme, and whether to draw with ASCII only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Look {
    pub theme: ThemeName,
    pub ascii: bool,
}

/// Bars and sparklines in ASCII: low to high, `.` `:` `=` `#`.
const ASCII_BARS: symbols::bar::Set<'static> = symbols::bar::Set {
    full: "#",
    seven_eighths: "#",
    three_quarters: "=",
    five_eighths: "=",
    half: ":",
    three_eighths: ":",
    one_quarter: ".",
    one_eighth: ".",
    empty: " ",
};

/// Borders in ASCII: `+-|`.
const ASCII_BORDER: symbols::border::Set<'static> = symbols::border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

/// The palette and symbols every panel draws with, built from a [`Look`].
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub ascii: bool,
    /// Plain text.
    pub text: Style,
    /// Secondary text: labels, hints, units.
    pub dim: Style,
    /// Emphasised figures.
    pub strong: Style,
    /// Panel titles.
    pub title: Style,
    pub border: Style,
    /// The border of the panel the arrow keys move in.
    pub border_focus: Style,
    /// The selected row.
    pub selected: Style,
    /// The status line when all is well, and while waiting.
    pub healthy: Style,
    pub waiting: Style,
    /// The status line when a worker is stuck: the loudest thing on screen.
    pub loud: Style,
    pub paused: Style,
    pub critical: Style,
    pub warning: Style,
    pub info: Style,
    /// Busy bars and histogram bars below the long-poll threshold.
    pub bar: Style,
    pub bar_empty: Style,
    pub spark: Style,
    /// Keys in the footer and the help.
    pub key: Style,
    /// The "phase 2/3" badge of a scripted demo: read from the back of the room.
    pub phase: Style,
    /// A change the presenter made (an event in the findings log): "the moment".
    pub event: Style,
    /// The "REPLAY 2x" badge: this is a recording, not a live run.
    pub replay: Style,
}

impl Theme {
    pub fn new(look: Look) -> Theme {
        let bold = Modifier::BOLD;
        let mut theme = match look.theme {
            ThemeName::Dark => Theme {
                ascii: false,
                text: Style::new(),
                dim: Style::new().fg(Color::Gray).add_modifier(Modifier::DIM),
                strong: Style::new().fg(Color::White).add_modifier(bold),
                title: Style::new().fg(Color::Cyan).add_modifier(bold),
                border: Style::new().fg(Color::DarkGray),
                border_focus: Style::new().fg(Color::Cyan),
                selected: Style::new()
                    .fg(Color::White)
                    .bg(Color::Blue)
                    .add_modifier(bold),
                healthy: Style::new().fg(Color::LightGreen).add_modifier(bold),
                waiting: Style::new().fg(Color::Gray),
                loud: Style::new()
                    .fg(Color::White)
                    .bg(Color::Red)
                    .add_modifier(bold),
                paused: Style::new()
                    .fg(Color::Black)
                    .bg(Color::Yellow)
                    .add_modifier(bold),
                critical: Style::new().fg(Color::LightRed).add_modifier(bold),
                warning: Style::new().fg(Color::Yellow),
                info: Style::new().fg(Color::LightBlue),
                bar: Style::new().fg(Color::Green),
                bar_empty: Style::new().fg(Color::DarkGray),
                spark: Style::new().fg(Color::Cyan),
                key: Style::new().fg(Color::Cyan).add_modifier(bold),
                phase: Style::new()
                    .fg(Color::Black)
                    .bg(Color::Cyan)
                    .add_modifier(bold),
                event: Style::new().fg(Color::LightBlue).add_modifier(bold),
                replay: Style::new()
                    .fg(Color::Black)
                    .bg(Color::LightMagenta)
                    .add_modifier(bold),
            },
            ThemeName::Light => Theme {
                ascii: false,
                text: Style::new(),
                dim: Style::new().fg(Color::DarkGray),
                strong: Style::new().fg(Color::Black).add_modifier(bold),
                title: Style::new().fg(Color::Blue).add_modifier(bold),
                border: Style::new().fg(Color::Gray),
                border_focus: Style::new().fg(Color::Blue),
                selected: Style::new()
                    .fg(Color::Black)
                    .bg(Color::LightCyan)
                    .add_modifier(bold),
                healthy: Style::new().fg(Color::Green).add_modifier(bold),
                waiting: Style::new().fg(Color::DarkGray),
                loud: Style::new()
                    .fg(Color::White)
                    .bg(Color::Red)
                    .add_modifier(bold),
                paused: Style::new()
                    .fg(Color::Black)
                    .bg(Color::LightYellow)
                    .add_modifier(bold),
                critical: Style::new().fg(Color::Red).add_modifier(bold),
                // Yellow is unreadable on white: a dark orange.
                warning: Style::new().fg(Color::Indexed(130)),
                info: Style::new().fg(Color::Blue),
                bar: Style::new().fg(Color::Green),
                bar_empty: Style::new().fg(Color::Gray),
                spark: Style::new().fg(Color::Blue),
                key: Style::new().fg(Color::Blue).add_modifier(bold),
                phase: Style::new()
                    .fg(Color::White)
                    .bg(Color::Blue)
                    .add_modifier(bold),
                event: Style::new().fg(Color::Blue).add_modifier(bold),
                replay: Style::new()
                    .fg(Color::White)
                    .bg(Color::Magenta)
                    .add_modifier(bold),
            },
            ThemeName::Mono => Theme {
                ascii: false,
                text: Style::new(),
                dim: Style::new().add_modifier(Modifier::DIM),
                strong: Style::new().add_modifier(bold),
                title: Style::new().add_modifier(bold),
                border: Style::new(),
                border_focus: Style::new().add_modifier(bold),
                selected: Style::new().add_modifier(Modifier::REVERSED),
                healthy: Style::new().add_modifier(bold),
                waiting: Style::new(),
                loud: Style::new().add_modifier(Modifier::REVERSED | bold),
                paused: Style::new().add_modifier(Modifier::REVERSED),
                critical: Style::new().add_modifier(bold | Modifier::UNDERLINED),
                warning: Style::new().add_modifier(bold),
                info: Style::new(),
                bar: Style::new(),
                bar_empty: Style::new().add_modifier(Modifier::DIM),
                spark: Style::new(),
                key: Style::new().add_modifier(bold),
                phase: Style::new().add_modifier(Modifier::REVERSED | bold),
                event: Style::new().add_modifier(bold),
                replay: Style::new().add_modifier(Modifier::REVERSED | bold),
            },
        };
        theme.ascii = look.ascii;
        theme
    }

    pub fn severity(&self, severity: Severity) -> Style {
        match severity {
            Severity::Critical => self.critical,
            Severity::Warning => self.warning,
            Severity::Info => self.info,
        }
    }

    pub fn bar_set(&self) -> symbols::bar::Set<'static> {
        if self.ascii {
            ASCII_BARS
        } else {
            symbols::bar::NINE_LEVELS
        }
    }

    /// The filled and the empty cell of a horizontal bar (busy %).
    pub fn gauge_symbols(&self) -> (&'static str, &'static str) {
        if self.ascii {
            ("#", ".")
        } else {
            ("█", "░")
        }
    }

    /// Between items on one line.
    pub fn sep(&self) -> &'static str {
        if self.ascii { " | " } else { " · " }
    }

    /// Leads a hint: what to do.
    pub fn arrow(&self) -> &'static str {
        if self.ascii { "->" } else { "→" }
    }

    /// Marks the selected row.
    pub fn pointer(&self) -> &'static str {
        if self.ascii { ">" } else { "▶" }
    }

    /// Tags an event (a change the presenter made) in the findings log.
    pub fn event_mark(&self) -> &'static str {
        if self.ascii { ">" } else { "▸" }
    }

    /// Marks a threshold under the histogram.
    pub fn up(&self) -> &'static str {
        if self.ascii { "^" } else { "▲" }
    }

    pub fn ellipsis(&self) -> &'static str {
        if self.ascii { "..." } else { "…" }
    }

    /// `text` as it may appear on screen: unchanged, or with every non-ASCII character replaced
    /// in ASCII mode.
    pub fn s(&self, text: &str) -> String {
        if self.ascii {
            asciify(text)
        } else {
            text.to_string()
        }
    }

    /// A bordered panel with a title; `focused` lights its border.
    pub fn block<'a>(&self, title: Line<'a>, focused: bool) -> Block<'a> {
        let block = Block::new()
            .borders(Borders::ALL)
            .border_style(if focused {
                self.border_focus
            } else {
                self.border
            })
            .title(title);
        if self.ascii {
            block.border_set(ASCII_BORDER)
        } else if focused {
            block.border_type(BorderType::Thick)
        } else {
            block.border_type(BorderType::Rounded)
        }
    }
}

/// Replaces the few non-ASCII characters tokmon's texts use with ASCII look-alikes, and any
/// other with `?`.
pub fn asciify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if c.is_ascii() => out.push(c),
            'µ' | 'μ' => out.push('u'),
            '·' | '•' | '│' => out.push('|'),
            '×' => out.push('x'),
            '→' | '⟶' => out.push_str("->"),
            '←' => out.push_str("<-"),
            '↑' | '▲' => out.push('^'),
            '↓' | '▼' => out.push('v'),
            '≥' => out.push_str(">="),
            '≤' => out.push_str("<="),
            '…' => out.push_str("..."),
            '—' | '–' | '─' => out.push('-'),
            '‘' | '’' => out.push('\''),
            '“' | '”' => out.push('"'),
            '▶' | '▸' => out.push('>'),
            '↔' => out.push_str("<->"),
            '\u{a0}' => out.push(' '),
            _ => out.push('?'),
        }
    }
    out
}
