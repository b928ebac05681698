//! Which file names another process's image, and whether it is that image: the process's own
//! files (through `/proc/<pid>/root`) when it runs on this machine, copies given by the user
//! (`--binary`) matched by GNU build id, and in plain words why an image's frames stay raw
//! addresses when neither fits (replaced since the app started, missing, not given).

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};

use object::Object;
use object::read::ReadCache;

use crate::protocol::{Module, ModuleMap};

/// Hex digits of a build id shown in a message: enough to tell two builds apart.
const SHOWN_ID_DIGITS: usize = 12;

/// How a file compares with the image the app mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The same build id: the file names the image.
    Same,
    /// The image has no build id to check the file against: used as it is (as before build
    /// ids were sent).
    Unchecked,
    /// Another build id, or none where the image had one: the file is not the image.
    Replaced {
        in_app: Vec<u8>,
        on_disk: Option<Vec<u8>>,
    },
    /// The file cannot be read or parsed here.
    Missing,
}

/// Compares the build id the app read from its image (`in_app`) with the file's (`on_disk`:
/// `None` when the file cannot be read, `Some(None)` when it has no build id).
pub fn compare(in_app: Option<&[u8]>, on_disk: Option<Option<&[u8]>>) -> Verdict {
    match (in_app, on_disk) {
        (None, _) => Verdict::Unchecked,
        (Some(_), None) => Verdict::Missing,
        (Some(app), Some(disk)) if Some(app) == disk => Verdict::Same,
        (Some(app), Some(disk)) => Verdict::Replaced {
            in_app: app.to_vec(),
            on_disk: disk.map(<[u8]>::to_vec),
        },
    }
}

/// The GNU build id of the ELF file at `path`: `None` when it cannot be read or parsed,
/// `Some(None)` when it has none. Reads its headers and notes only, not the whole file.
pub fn build_id_of(path: &Path) -> Option<Option<Vec<u8>>> {
    let file = File::open(path).ok()?;
    let cache = ReadCache::new(file);
    let object = object::File::parse(&cache).ok()?;
    Some(object.build_id().ok().flatten().map(<[u8]>::to_vec))
}

/// A build id as a message shows it: its first hex digits.
pub fn shown(id: &[u8]) -> String {
    let mut hex = String::with_capacity(id.len() * 2);
    for byte in id {
        let _ = write!(hex, "{byte:02x}");
    }
    if hex.len() > SHOWN_ID_DIGITS {
        hex.truncate(SHOWN_ID_DIGITS);
        hex.push('…');
    }
    hex
}

/// The sentence for a file that is not the image the app mapped.
pub fn replaced_text(file: &str, in_app: &[u8], on_disk: Option<&[u8]>) -> String {
    let disk = on_disk.map_or("none".to_string(), shown);
    format!(
        "{file} was replaced since the app started (build id {} in the app, {disk} on disk): \
         frames kept as raw addresses",
        shown(in_app)
    )
}

/// Where a module's frames are named from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// This file, whose build id is still checked when it is opened.
    File(PathBuf),
    /// The image is only in memory (the vDSO): the app sent its symbols.
    Memory,
    /// Nothing here can name it; the reason, short, for its frames.
    None(String),
}

/// A file given by the user, with its build id.
#[derive(Debug, Clone)]
struct Given {
    path: PathBuf,
    build_id: Option<Vec<u8>>,
}

/// Where the files of another process's images are found.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The process runs on this machine with this pid: its files are read through
    /// `/proc/<pid>/root`.
    local_pid: Option<u32>,
    given: Vec<Given>,
}

impl Binaries {
    /// The process `pid` runs on this machine (attached through a unix socket).
    pub fn this_machine(pid: u32) -> Binaries {
        Binaries {
            local_pid: Some(pid),
            given: Vec::new(),
        }
    }

    /// The process runs elsewhere: only files given name its frames.
    pub fn elsewhere() -> Binaries {
        Binaries {
            local_pid: None,
            given: Vec::new(),
        }
    }

    /// Adds files given by the user (an executable, its libraries), each to name the image with
    /// its build id.
    ///
    /// # Errors
    ///
    /// A file that cannot be read or is not an ELF image, in words.
    pub fn with_given(mut self, paths: &[PathBuf]) -> Result<Binaries, String> {
        for path in paths {
            let build_id = build_id_of(path)
                .ok_or_else(|| format!("--binary {}: not a readable ELF file", path.display()))?;
            self.given.push(Given {
                path: path.clone(),
                build_id,
            });
        }
        Ok(self)
    }

    /// The pid whose files are read here, when the process runs on this machine.
    pub fn local_pid(&self) -> Option<u32> {
        self.local_pid
    }

    /// Where `module`'s frames are named from.
    pub(crate) fn source_of(&self, module: &Module) -> Source {
        let Some(file) = module.file.as_deref() else {
            return Source::Memory;
        };
        if let Some(id) = module.build_id.as_deref()
            && let Some(given) = self
                .given
                .iter()
                .find(|given| given.build_id.as_deref() == Some(id))
        {
            return Source::File(given.path.clone());
        }
        match self.local_pid {
            Some(pid) => Source::File(seen_from(pid, file)),
            None => Source::None(format!(
                "{}: not on this machine, pass --binary with a copy of it",
                short_name(&module.name)
            )),
        }
    }

    /// The file the app's executable is read from: its own (`/proc/<pid>/exe`, the running
    /// image) on this machine, else the file given with its build id (the executable is the
    /// lowest file-backed image, below the libraries).
    pub fn executable(&self, modules: &ModuleMap) -> Option<PathBuf> {
        if let Some(pid) = self.local_pid {
            return Some(format!("/proc/{pid}/exe").into());
        }
        let exe = modules
            .modules
            .iter()
            .find(|module| module.file.is_some())?;
        match self.source_of(exe) {
            Source::File(path) => Some(path),
            Source::Memory | Source::None(_) => None,
        }
    }

    /// What keeps images of `modules` from being named, one sentence each (an image's file
    /// replaced or missing), one for the images no file was given for, and one for each file
    /// given that is none of the images. Reads the files' build ids (headers and notes only).
    pub fn problems(&self, modules: &ModuleMap) -> Vec<String> {
        let mut said = Vec::new();
        let mut not_given = Vec::new();
        for module in &modules.modules {
            match self.source_of(module) {
                Source::Memory => {}
                Source::None(_) => not_given.push(short_name(&module.name).to_string()),
                Source::File(path) => {
                    let on_disk = build_id_of(&path);
                    let file = module.file.as_deref().unwrap_or(&module.name);
                    match compare(
                        module.build_id.as_deref(),
                        on_disk.as_ref().map(Option::as_deref),
                    ) {
                        Verdict::Same | Verdict::Unchecked => {}
                        Verdict::Replaced { in_app, on_disk } => {
                            said.push(replaced_text(file, &in_app, on_disk.as_deref()));
                        }
                        Verdict::Missing => said.push(format!(
                            "{file} cannot be read here ({}): frames kept as raw addresses; \
                             pass --binary PATH with a copy of it (same build id)",
                            path.display()
                        )),
                    }
                }
            }
        }
        if !not_given.is_empty() {
            said.push(format!(
                "the app is not on this machine (or not seen to be): frames in {} kept as raw \
                 addresses; pass --binary PATH with a copy of each (same build id)",
                not_given.join(", ")
            ));
        }
        for given in &self.given {
            let used = modules.modules.iter().any(|module| {
                module.build_id.is_some() && module.build_id.as_deref() == given.build_id.as_deref()
            });
            if !used {
                let id = given.build_id.as_deref().map_or("none".to_string(), shown);
                // The lowest file-backed image is the executable, below the libraries.
                let exe = modules
                    .modules
                    .iter()
                    .find(|module| module.file.is_some())
                    .and_then(|module| {
                        let id = module.build_id.as_deref()?;
                        Some(format!(
                            "; the app's {} has {}",
                            short_name(&module.name),
                            shown(id)
                        ))
                    })
                    .unwrap_or_default();
                said.push(format!(
                    "--binary {} (build id {id}) is none of the app's images{exe}: not used",
                    given.path.display()
                ));
            }
        }
        said
    }
}

/// Whether process `pid` on this machine is the app whose images `modules` lists: one of its
/// images has the build id of `/proc/<pid>/exe`. A TCP peer on the loopback address may be
/// in another network namespace or a forwarded port: its pid says nothing until checked.
pub fn runs_here(pid: u32, modules: &ModuleMap) -> bool {
    let Some(Some(exe)) = build_id_of(Path::new(&format!("/proc/{pid}/exe"))) else {
        return false;
    };
    modules
        .modules
        .iter()
        .any(|module| module.build_id.as_deref() == Some(&exe[..]))
}

/// A file of process `pid`, as this process can open it.
fn seen_from(pid: u32, file: &str) -> PathBuf {
    match file.strip_prefix("/proc/self/") {
        Some(rest) => format!("/proc/{pid}/{rest}").into(),
        None => format!("/proc/{pid}/root/{}", file.trim_start_matches('/')).into(),
    }
}

pub(crate) fn short_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_the_image_only_with_the_same_build_id() {
        let (a, b) = (&[1u8, 2, 3][..], &[1u8, 2, 4][..]);
        assert_eq!(compare(Some(a), Some(Some(a))), Verdict::Same);
        assert_eq!(
            compare(Some(a), Some(Some(b))),
            Verdict::Replaced {
                in_app: a.to_vec(),
                on_disk: Some(b.to_vec())
            }
        );
        // A file without an id where the app's image had one is another file.
        assert_eq!(
            compare(Some(a), Some(None)),
            Verdict::Replaced {
                in_app: a.to_vec(),
                on_disk: None
            }
        );
        assert_eq!(compare(Some(a), None), Verdict::Missing);
        // No id in the app: nothing to check, the file is used as it is.
        assert_eq!(compare(None, Some(Some(b))), Verdict::Unchecked);
        assert_eq!(compare(None, None), Verdict::Unchecked);
    }

    #[test]
    fn the_message_names_the_file_and_both_ids_shortened() {
        let text = replaced_text("/srv/app", &[0xab; 20], Some(&[0xde; 20]));
        assert_eq!(
            text,
            "/srv/app was replaced since the app started (build id abababababab… in the app, \
             dededededede… on disk): frames kept as raw addresses"
        );
        assert_eq!(shown(&[0x0f, 0xa0]), "0fa0");
        assert!(replaced_text("/a", &[1], None).contains("none on disk"));
    }

    fn module(name: &str, build_id: Option<&[u8]>) -> Module {
        Module {
            name: name.into(),
            file: Some(name.into()),
            start: 0x1000,
            end: 0x2000,
            bias: 0,
            symbols: Vec::new(),
            build_id: build_id.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn files_are_found_by_build_id_on_this_machine_and_given() {
        let this = std::env::current_exe().expect("the test binary");
        let id = build_id_of(&this)
            .expect("the test binary parses")
            .expect("rustc's linker gives it a build id");
        // The same file through /proc/self/exe: the same id.
        let other = build_id_of(Path::new("/proc/self/exe")).flatten();
        assert_eq!(other.as_deref(), Some(&id[..]));
        let app = module("/srv/app", Some(&id));
        let pid = std::process::id();
        assert_eq!(
            Binaries::this_machine(pid).source_of(&app),
            Source::File(format!("/proc/{pid}/root/srv/app").into())
        );
        // Elsewhere, a file given with the image's id names it; without one, nothing does.
        let given = Binaries::elsewhere()
            .with_given(std::slice::from_ref(&this))
            .expect("readable");
        assert_eq!(given.source_of(&app), Source::File(this.clone()));
        let one = ModuleMap {
            modules: vec![app.clone()],
        };
        assert_eq!(given.executable(&one), Some(this.clone()));
        assert_eq!(Binaries::elsewhere().executable(&one), None);
        assert_eq!(
            Binaries::this_machine(pid).executable(&one),
            Some(format!("/proc/{pid}/exe").into())
        );
        let Source::None(why) = Binaries::elsewhere().source_of(&app) else {
            panic!("nothing names it elsewhere");
        };
        assert!(why.contains("--binary"), "{why}");
        let map = ModuleMap {
            modules: vec![module("/srv/app", Some(&[9; 20]))],
        };
        let problems = given.problems(&map);
        assert!(
            problems.iter().any(|p| p.contains("not on this machine"))
                && problems
                    .iter()
                    .any(|p| p.contains("none of the app's images")),
            "{problems:#?}"
        );
        assert!(
            Binaries::elsewhere()
                .with_given(&["/nonexistent".into()])
                .is_err()
        );
        // This process runs here, and the one whose exe it is; not with another id.
        let mine = ModuleMap {
            modules: vec![module("/srv/app", Some(&id))],
        };
        assert!(runs_here(pid, &mine));
        assert!(!runs_here(pid, &map));
    }
}
