//! Spawn locations seen by the probe, each with a small dense id, so a poll slot can hold a
//! location as a plain integer (its address), the hooks can find its per-site counters without
//! a lock, and the monitor can turn it back into `file:line:col` without unsafe code.
//!
//! Bounded: the first [`MAX_SITES`] locations get counters of their own, the next ones share
//! the [`OTHER`] counters; past [`MAX_KNOWN`] locations no new one is even remembered (its polls
//! and spawns still count under [`OTHER`]), so nothing here grows with the tasks ever spawned.

use std::panic::Location;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Locations with counters of their own.
pub const MAX_SITES: usize = 4096;

/// The counter index every location past the first [`MAX_SITES`] shares.
pub const OTHER: usize = MAX_SITES;

/// Locations remembered (named) at most: the lookup table stays at most three quarters full.
pub const MAX_KNOWN: usize = TABLE * 3 / 4;

/// Slots of the lock-free lookup table: a power of two.
const TABLE: usize = 8192;

/// One remembered location and the label its first labelled spawn carried.
#[derive(Debug, Clone)]
pub struct Site {
    pub location: &'static Location<'static>,
    pub label: Option<Arc<str>>,
}

/// Every distinct spawn location seen in this process, in order of first sight: the index is
/// the location's id.
static SEEN: Mutex<Vec<Site>> = Mutex::new(Vec::new());

/// Open addressing, key -> id: written under the `SEEN` lock (id first, then the key with
/// release), read without one.
static KEYS: [AtomicUsize; TABLE] = [const { AtomicUsize::new(0) }; TABLE];
static IDS: [AtomicU32; TABLE] = [const { AtomicU32::new(0) }; TABLE];

/// The integer a poll slot stores for a location.
#[inline]
pub fn key_of(location: &'static Location<'static>) -> usize {
    std::ptr::from_ref(location) as usize
}

#[inline]
fn home(key: usize) -> usize {
    // Fibonacci hashing of the address (locations are 8-byte aligned statics).
    let h = (key as u64 >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 51) as usize & (TABLE - 1)
}

/// The id of a recorded location, without a lock.
#[inline]
pub fn id_of(key: usize) -> Option<usize> {
    if key == 0 {
        return None;
    }
    let mut i = home(key);
    for _ in 0..TABLE {
        match KEYS[i].load(Ordering::Acquire) {
            k if k == key => return Some(IDS[i].load(Ordering::Relaxed) as usize),
            0 => return None,
            _ => i = (i + 1) & (TABLE - 1),
        }
    }
    None
}

/// The counter index of a location's id: its own, or [`OTHER`].
#[inline]
pub fn counter_of(id: Option<usize>) -> usize {
    id.map_or(OTHER, |id| id.min(OTHER))
}

/// Records a spawn location, once per call site, with the label its spawn carries (the first
/// labelled spawn's label stays). Returns the location's counter index. After the first sight
/// this is one lock-free table lookup.
#[inline]
pub fn record(location: &'static Location<'static>, label: Option<&Arc<str>>) -> usize {
    let key = key_of(location);
    match id_of(key) {
        Some(id) => {
            if label.is_some() && LABELLED.get(id).is_some_and(|l| !l.load(Ordering::Relaxed)) {
                // Rare: a site first seen spawning without a label.
                label_late(id, label);
            }
            counter_of(Some(id))
        }
        None => record_slow(location, key, label),
    }
}

#[cold]
#[inline(never)]
fn label_late(id: usize, label: Option<&Arc<str>>) {
    let mut seen = lock();
    if let Some(site) = seen.get_mut(id) {
        if site.label.is_none() {
            site.label = label.cloned();
            LATE_LABELS.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(labelled) = LABELLED.get(id) {
            labelled.store(true, Ordering::Relaxed);
        }
    }
}

/// Labels given to sites after their first, unlabelled spawn: a reader that kept names sees
/// by this count when to read labels again.
static LATE_LABELS: AtomicU64 = AtomicU64::new(0);

/// How many sites got their label late so far.
pub fn late_labels() -> u64 {
    LATE_LABELS.load(Ordering::Relaxed)
}

/// The label of site `id` now.
pub fn label_of(id: usize) -> Option<Arc<str>> {
    lock().get(id).and_then(|site| site.label.clone())
}

/// Per id: the site has its label, so a labelled spawn there takes no lock.
static LABELLED: [AtomicBool; MAX_KNOWN] = [const { AtomicBool::new(false) }; MAX_KNOWN];

#[cold]
#[inline(never)]
fn record_slow(
    location: &'static Location<'static>,
    key: usize,
    label: Option<&Arc<str>>,
) -> usize {
    let mut seen = lock();
    if let Some(id) = id_of(key) {
        return counter_of(Some(id));
    }
    if seen.len() >= MAX_KNOWN {
        return OTHER;
    }
    let id = seen.len();
    seen.push(Site {
        location,
        label: label.cloned(),
    });
    LABELLED[id].store(label.is_some(), Ordering::Relaxed);
    let mut i = home(key);
    while KEYS[i].load(Ordering::Relaxed) != 0 {
        i = (i + 1) & (TABLE - 1);
    }
    IDS[i].store(u32::try_from(id).unwrap_or(u32::MAX), Ordering::Relaxed);
    KEYS[i].store(key, Ordering::Release);
    counter_of(Some(id))
}

/// The location behind a key, if it was recorded.
pub fn resolve(key: usize) -> Option<&'static Location<'static>> {
    let id = id_of(key)?;
    lock().get(id).map(|s| s.location)
}

/// `file:line:col` of a location, a dependency's file from its crate and version on.
pub fn format(location: &Location<'_>) -> String {
    format!(
        "{}:{}:{}",
        in_crate(location.file()),
        location.line(),
        location.column()
    )
}

/// Where cargo unpacks the registry's crates, one directory per index below it.
const REGISTRY_SOURCES: &str = "/registry/src/";

/// A dependency's file from its crate and version on (`mini-redis-0.4.1/src/server.rs`), not
/// the registry path cargo unpacked it to; any other path as it is.
pub fn in_crate(file: &str) -> &str {
    match file
        .split_once(REGISTRY_SOURCES)
        .and_then(|(_, rest)| rest.split_once('/'))
    {
        Some((_index, in_crate)) if !in_crate.is_empty() => in_crate,
        _ => file,
    }
}

/// The sites remembered from id `from` on (names only grow: a reader keeps what it has).
pub fn sites_from(from: usize) -> Vec<Site> {
    lock().get(from..).map(<[Site]>::to_vec).unwrap_or_default()
}

/// Locations remembered so far.
pub fn known() -> usize {
    lock().len()
}

fn lock() -> std::sync::MutexGuard<'static, Vec<Site>> {
    SEEN.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_files_read_from_their_crate_on() {
        assert_eq!(
            in_crate(
                "/home/u/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/mini-redis-0.4.1/src/server.rs"
            ),
            "mini-redis-0.4.1/src/server.rs"
        );
        assert_eq!(in_crate("src/main.rs"), "src/main.rs");
        assert_eq!(in_crate("/x/registry/src/"), "/x/registry/src/");
    }

    #[test]
    fn recorded_locations_resolve() {
        let here = Location::caller();
        assert_eq!(resolve(key_of(here)), None);
        let counter = record(here, None);
        assert_eq!(record(here, None), counter);
        let back = resolve(key_of(here)).expect("recorded");
        assert_eq!((back.file(), back.line()), (here.file(), here.line()));
        assert_eq!(resolve(0), None);
        let id = id_of(key_of(here)).expect("an id");
        assert_eq!(counter_of(Some(id)), counter);
        // Labelled later: the label sticks.
        let label: Arc<str> = "late".into();
        let late = late_labels();
        record(here, Some(&label));
        assert_eq!(sites_from(id)[0].label.as_deref(), Some("late"));
        // A reader that kept the unlabelled name learns to read it again.
        assert!(late_labels() > late);
        assert_eq!(label_of(id).as_deref(), Some("late"));
    }
}
