//! What to do about a finding: one line, in the voice of a colleague, from what the kernel
//! said about the stuck thread. A poll's hint is the probe's ([`tokmon_probe::hints`]), so the
//! probe's test guard says the same words.

pub use tokmon_probe::hints::{fix_for_poll, for_poll};

/// What a stall's hint adds when the app's stack was named by functions only: its build has
/// no line tables, so there is no blocking line to show.
pub const NO_LINE_TABLES: &str =
    "to name the blocking line, add `debug = \"line-tables-only\"` to [profile.release]";

/// The fixes [`fix_for_call`] gives: a sleep's and a lock's.
const CALL_FIXES: [&str; 2] = ["use tokio::time::sleep", "use tokio::sync::Mutex"];

/// The fix for what a blocking line was calling, where the function's name says it: a std
/// sleep, a std lock. `None` for the others (the poll's cause says more).
pub fn fix_for_call(call: &str) -> Option<&'static str> {
    match call {
        "sleep" => Some(CALL_FIXES[0]),
        "lock" | "lock_contended" => Some(CALL_FIXES[1]),
        _ => None,
    }
}

/// Every fix [`fix_for_call`] can give.
pub fn fix_for_call_kinds() -> &'static [&'static str] {
    &CALL_FIXES
}

pub fn for_block_in_place() -> String {
    "block_in_place handed the worker's tasks to another thread, so the runtime kept going; \
     fine for occasional work, spawn_blocking is the usual choice"
        .into()
}

pub fn for_lag() -> String {
    "timers fire late because every worker was busy or blocked: look at the stall and long-poll \
     findings for the culprit"
        .into()
}

pub fn for_blocking_queue(cap: u64) -> String {
    format!(
        "spawn_blocking jobs wait for a thread: the blocking pool is at max_blocking_threads \
         ({cap}); raise it, or bound concurrent blocking work with a tokio::sync::Semaphore"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::CpuUse;

    #[test]
    fn hints_follow_the_cause() {
        // The probe's words (its own tests cover each cause).
        assert!(for_poll(CpuUse::Off, Some("clock_nanosleep")).contains("tokio::time::sleep"));
        assert!(for_blocking_queue(4).contains("(4)"));
    }
}
