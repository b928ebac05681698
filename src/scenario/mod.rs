//! Scenario files: TOML text -> validated Scenario, with errors that name file, line, column and key.
//!
//! - [`spec`]: the validated types the engine runs.
//! - [`parse_str`] / [`load_file`]: text or a file -> [`Scenario`], or every error found in it.
//! - [`catalog`]: the built-in scenarios, `scenarios/*.toml`, and resolving a command-line name.

pub mod catalog;
pub mod error;
pub(crate) mod ns;
mod parse;
pub mod spec;

pub use error::{ScenarioError, ScenarioErrors};
pub use parse::{load_file, parse_str};
pub use spec::*;
