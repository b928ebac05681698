//! Spawn locations seen by the probe, so a poll slot can hold a location as a plain integer
//! (its address) and the monitor can turn it back into `file:line:col` without unsafe code.

use std::cell::Cell;
use std::panic::Location;
use std::sync::Mutex;

/// Every distinct spawn location seen in this process (one per spawn call site).
static SEEN: Mutex<Vec<&'static Location<'static>>> = Mutex::new(Vec::new());

const CACHE_SLOTS: usize = 16;

thread_local! {
    /// Addresses this thread already recorded: spawning from the same call site again costs a
    /// thread-local compare, not a lock.
    static RECORDED: [Cell<usize>; CACHE_SLOTS] = const { [const { Cell::new(0) }; CACHE_SLOTS] };
}

/// The integer a poll slot stores for a location.
#[inline]
pub fn key_of(location: &'static Location<'static>) -> usize {
    std::ptr::from_ref(location) as usize
}

/// Records a spawn location, once per call site.
#[inline]
pub fn record(location: &'static Location<'static>) {
    let key = key_of(location);
    let slot = (key >> 3) % CACHE_SLOTS;
    let hit = RECORDED.with(|cache| cache[slot].get() == key);
    if hit {
        return;
    }
    {
        let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
        if !seen.iter().any(|l| key_of(l) == key) {
            seen.push(location);
        }
    }
    RECORDED.with(|cache| cache[slot].set(key));
}

/// The location behind a key, if it was recorded.
pub fn resolve(key: usize) -> Option<&'static Location<'static>> {
    if key == 0 {
        return None;
    }
    let seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    seen.iter().copied().find(|l| key_of(l) == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_locations_resolve() {
        let here = Location::caller();
        assert_eq!(resolve(key_of(here)), None);
        record(here);
        record(here);
        let back = resolve(key_of(here)).expect("recorded");
        assert_eq!((back.file(), back.line()), (here.file(), here.line()));
        assert_eq!(resolve(0), None);
    }
}
