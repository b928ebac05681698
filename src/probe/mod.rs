//! What tokmon installs on the measured runtime: the registry of its threads (and, with the
//! detector, the poll hooks). Everything here is cheap enough to leave on.

pub mod threads;

pub use threads::{RuntimeThread, ThreadRegistry};
