//! Name the frames of a stuck thread's stack: the blocking detector's way to name the line
//! that blocks a worker. The probe captures raw addresses and the module map
//! ([`tokmon_probe::stack`], re-exported here) and names them with its `symbolize` feature
//! ([`tokmon_probe::symbolize`], shared with its test guard); this module gives it tokmon's
//! crate root and the capture's own files to skip.
//!
//! [`symbolize`] turns addresses into functions and `file:line`, off the signal path and on the
//! caller's own thread; it reads nothing before the first stack, and the first lookups in an
//! image or unit are the slow ones. [`blocking_site`] picks the first frame of the application, skipping std, core,
//! alloc, tokio, the probe, libc and dependencies.
//!
//! Only Linux x86-64 is supported; elsewhere frames are unknown addresses.

pub use tokmon_probe::protocol::ModuleMap;
pub use tokmon_probe::stack::{
    CaptureError, RawStack, StackBounds, capture, handler_active_on, prepare, set_capture_blocked,
    supported,
};
pub use tokmon_probe::symbolize::{Binaries, Frame};

/// The crate root, to shorten file paths inside it.
const CRATE_ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The capture's own files (in this repository), never a blocking site.
const OWN_FILES: &[&str] = &["src/stack/", "probe/src/"];

/// The blocking site: the first (innermost) frame that belongs to the application, skipping
/// the capture's own frames.
pub fn blocking_site(frames: &[Frame]) -> Option<&Frame> {
    tokmon_probe::symbolize::blocking_site(frames, OWN_FILES)
}

/// Symbolizes a captured stack: functions, `file:line` and inlined frames, innermost first.
/// Slow the first time an image or unit is needed (up to a few hundred ms): not on a worker.
pub fn symbolize(raw: &RawStack) -> Vec<Frame> {
    tokmon_probe::symbolize::symbolize(raw, CRATE_ROOT)
}

/// Symbolizes a stack captured in another process, whose images `modules` names, reading the
/// files `binaries` finds for them, each checked by build id.
pub fn symbolize_remote(raw: &RawStack, binaries: &Binaries, modules: &ModuleMap) -> Vec<Frame> {
    tokmon_probe::symbolize::symbolize_remote(raw, binaries, modules, CRATE_ROOT)
}

#[cfg(test)]
mod tests;
