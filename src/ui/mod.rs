//! Pure rendering of the dashboard from `&App`: one file a panel, one theme. Never mutates the
//! app, never touches the terminal (drawn into any ratatui backend, `TestBackend` in tests).

pub mod theme;

use ratatui::Frame;

use crate::app::App;
pub use theme::{Look, ThemeName};

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App, look: &Look) {
    let _ = (app, look);
    frame.render_widget(ratatui::widgets::Paragraph::new("tokmon"), frame.area());
}
