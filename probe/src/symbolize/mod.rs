//! Name the frames of a captured stack (feature `symbolize`): functions, `file:line` and
//! inlined calls with `addr2line`, and which frame is the application's own code (the blocking
//! line). tokmon names the stacks of the processes it watches with it; the test guard
//! ([`crate::guard`]) names those of the test process itself.
//!
//! Never call it from an app's hot path: a lookup in an image not seen before maps its file and
//! parses the compilation unit that holds the address (a few ms to a few hundred, a few MB);
//! nothing is read before the first lookup, and resolved addresses are cached.
//!
//! Another process's images are named from files checked by build id ([`Binaries`]): a file
//! that is not the image the app mapped names nothing, and its frames say why.
//!
//! Only Linux x86-64 is supported; elsewhere frames are unknown addresses.

use std::fmt;

use crate::protocol::ModuleMap;
use crate::stack::RawStack;

mod binaries;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod dwarf;

pub use binaries::{Binaries, Verdict, build_id_of, compare, replaced_text, runs_here};

/// One symbolized frame, innermost first. An address with inlined calls gives several frames:
/// the inlined ones (`inlined: true`) first, then the function that holds the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub address: u64,
    /// Demangled, without the hash (`tokmon::workload::hash::run`); `?? (libfoo.so)` when
    /// unknown.
    pub function: String,
    /// Relative to the root given to [`symbolize`] when inside it (`src/workload/hash.rs`),
    /// from the crate on for a registry dependency (`sha2-0.11.1/src/lib.rs`), absolute
    /// otherwise.
    pub file: Option<String>,
    pub line: Option<u32>,
    pub inlined: bool,
    /// Belongs to the application: not std, core, alloc, tokio, this probe, libc, nor a
    /// dependency from the cargo registry or the toolchain.
    pub app: bool,
}

impl Frame {
    /// `file:line`, e.g. `src/workload/hash.rs:61`.
    pub fn site(&self) -> Option<String> {
        let file = self.file.as_deref()?;
        Some(match self.line {
            Some(line) => format!("{file}:{line}"),
            None => file.to_string(),
        })
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.function)?;
        if self.inlined {
            write!(f, " (inlined)")?;
        }
        if let Some(site) = self.site() {
            write!(f, " at {site}")?;
        }
        Ok(())
    }
}

/// Path fragments of code that is not the application's.
const NOT_APP_PATHS: &[&str] = &[
    "/rustc/",
    "/.rustup/",
    "/rustlib/",
    "/library/std/",
    "/library/core/",
    "/library/alloc/",
    "/registry/src/",
    "/git/checkouts/",
];

/// Function prefixes of code that is not the application's.
const NOT_APP_FUNCTIONS: &[&str] = &[
    "std::",
    "core::",
    "alloc::",
    "tokio::",
    "tokmon_probe::",
    "<std::",
    "<core::",
    "<alloc::",
    "<tokio::",
    "<tokmon_probe::",
];

/// `file` relative to `root` when inside it; a dependency's file from the cargo registry from
/// its crate and version on (`sha2-0.11.1/src/lib.rs`, not
/// `~/.cargo/registry/src/<index>/sha2-0.11.1/src/lib.rs`); any other file as it is.
pub fn shorten(file: String, root: &str) -> String {
    if let Some(relative) = file
        .strip_prefix(root)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        return relative.to_string();
    }
    match crate::locations::in_crate(&file) {
        in_crate if in_crate.len() < file.len() => in_crate.to_string(),
        _ => file,
    }
}

/// Whether a frame in `file` (its full path, before [`shorten`]) running `function` is the
/// application's own code.
pub fn is_app(file: Option<&str>, function: &str) -> bool {
    let Some(file) = file else {
        // No line info: libc, the vDSO, or stripped code.
        return false;
    };
    !NOT_APP_PATHS.iter().any(|marker| file.contains(marker))
        && !NOT_APP_FUNCTIONS
            .iter()
            .any(|prefix| function.starts_with(prefix))
}

/// The blocking site: the first (innermost) frame that belongs to the application, skipping
/// frames in files under any of `skip_files` (the caller's own capture code).
pub fn blocking_site<'f>(frames: &'f [Frame], skip_files: &[&str]) -> Option<&'f Frame> {
    frames.iter().find(|frame| {
        frame.app
            && !frame
                .file
                .as_deref()
                .is_some_and(|file| skip_files.iter().any(|own| file.starts_with(own)))
    })
}

/// Whether a frame's function says its image's file was not used to name it (replaced since
/// the app started, unreadable, not given): `?? (0x…; why)`, as the symbolizer writes it. Such
/// a stack says nothing about the build's line tables.
pub fn is_withheld(function: &str) -> bool {
    function.starts_with("?? (0x") && function.contains("; ")
}

/// The function of a frame withheld for `why`, as [`is_withheld`] knows it.
fn withheld_function(address: u64, why: &str) -> String {
    format!("?? ({address:#x}; {why})")
}

/// A frame no image holds, or that nothing could name.
fn unknown(address: u64) -> Frame {
    Frame {
        address,
        function: format!("?? ({address:#x})"),
        file: None,
        line: None,
        inlined: false,
        app: false,
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod imp {
    use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

    use std::collections::HashMap;

    use super::binaries::{Binaries, Source};
    use super::dwarf::{Symbolizer, unnamed};
    use super::{Frame, ModuleMap, RawStack, is_app, shorten, unknown};
    use crate::stack::{MODULES_REFRESH_EVERY, ModuleInfo, ModuleList, module_list};

    static SYMBOLIZER: Mutex<Option<Symbolizer>> = Mutex::new(None);

    fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
        mutex.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn symbolize(raw: &RawStack, root: &str) -> Vec<Frame> {
        let Ok(list) = module_list(false) else {
            return raw.addresses.iter().map(|&a| unknown(a)).collect();
        };
        symbolize_in(
            raw,
            list,
            &HashMap::new(),
            root,
            Some(|| module_list(true).ok()),
        )
    }

    /// `unnamed`: why the image that starts at an address names nothing, for images no file
    /// here stands for.
    fn symbolize_in(
        raw: &RawStack,
        mut list: Arc<ModuleList>,
        unnamed_images: &HashMap<u64, String>,
        root: &str,
        fresh: Option<impl Fn() -> Option<Arc<ModuleList>>>,
    ) -> Vec<Frame> {
        let mut symbolizer = lock(&SYMBOLIZER);
        let symbolizer = symbolizer.get_or_insert_with(Symbolizer::default);
        let mut frames = Vec::new();
        for (index, &address) in raw.addresses.iter().enumerate() {
            let exact = index == 0;
            let probe = if exact {
                address
            } else {
                address.saturating_sub(1)
            };
            if let Some(why) = list
                .find(probe)
                .and_then(|module| unnamed_images.get(&module.avma.start))
            {
                frames.push(classified(unnamed(address, why), root));
                continue;
            }
            let mut found = symbolizer.frames(&list, address, exact);
            if found.is_none()
                && list.loaded_at.elapsed() >= MODULES_REFRESH_EVERY
                && let Some(fresh) = fresh.as_ref().and_then(|load| load())
            {
                list = fresh;
                found = symbolizer.frames(&list, address, exact);
            }
            match found {
                Some(raw_frames) => frames.extend(
                    raw_frames
                        .into_iter()
                        .map(|raw_frame| classified(raw_frame, root)),
                ),
                None => frames.push(unknown(address)),
            }
        }
        symbolizer.release_pages();
        frames
    }

    fn classified(raw: super::dwarf::RawFrame, root: &str) -> Frame {
        // Classified on the full path: a shortened registry path no longer says it is a
        // dependency.
        let app = is_app(raw.file.as_deref(), &raw.function);
        let file = raw.file.map(|file| shorten(file, root));
        Frame {
            address: raw.address,
            function: raw.function,
            file,
            line: raw.line,
            inlined: raw.inlined,
            app,
        }
    }

    pub fn symbolize_remote(
        raw: &RawStack,
        binaries: &Binaries,
        modules: &ModuleMap,
        root: &str,
    ) -> Vec<Frame> {
        let mut unnamed_images = HashMap::new();
        let list = ModuleList {
            modules: modules
                .modules
                .iter()
                .map(|m| {
                    let file = match binaries.source_of(m) {
                        Source::File(path) => Some(path),
                        Source::Memory => None,
                        Source::None(why) => {
                            unnamed_images.insert(m.start, why);
                            None
                        }
                    };
                    ModuleInfo {
                        name: m.name.clone(),
                        file,
                        avma: m.start..m.end,
                        bias: m.bias,
                        symbols: m.symbols.clone(),
                        build_id: m.build_id.clone(),
                        exe: false,
                    }
                })
                .collect(),
            loaded_at: std::time::Instant::now(),
        };
        symbolize_in(
            raw,
            Arc::new(list),
            &unnamed_images,
            root,
            None::<fn() -> Option<Arc<ModuleList>>>,
        )
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
mod imp {
    use super::{Binaries, Frame, ModuleMap, RawStack, unknown};

    pub fn symbolize(raw: &RawStack, _root: &str) -> Vec<Frame> {
        raw.addresses.iter().map(|&a| unknown(a)).collect()
    }

    pub fn symbolize_remote(
        raw: &RawStack,
        _binaries: &Binaries,
        _modules: &ModuleMap,
        root: &str,
    ) -> Vec<Frame> {
        symbolize(raw, root)
    }
}

/// Symbolizes a stack captured in this process: functions, `file:line` and inlined frames,
/// innermost first, files under `root` (the app's crate directory) relative to it. Slow the
/// first time an image or unit is needed (up to a few hundred ms): not on an async worker.
pub fn symbolize(raw: &RawStack, root: &str) -> Vec<Frame> {
    imp::symbolize(raw, root)
}

/// Symbolizes a stack captured in another process, whose images `modules` names, reading
/// the files `binaries` finds for them (the process's own through `/proc/<pid>/root` on this
/// machine, copies given by build id). A frame in an image no file stands for, or whose file
/// has another build id, stays a raw address and says why.
pub fn symbolize_remote(
    raw: &RawStack,
    binaries: &Binaries,
    modules: &ModuleMap,
    root: &str,
) -> Vec<Frame> {
    imp::symbolize_remote(raw, binaries, modules, root)
}

#[cfg(test)]
mod tests;
