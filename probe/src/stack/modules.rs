//! The images (executable, shared libraries, vDSO) mapped into this process, read from
//! `/proc/self/maps` and their ELF files off the signal path: their address ranges and load
//! bias (the module map a symbolizer needs), and their `.eh_frame_hdr` / `.eh_frame` for the
//! unwinder, and their GNU build ids (so that a symbolizer elsewhere can tell the same file
//! from a replaced one). Unwind tables and build ids only: no debug information is read here.

use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use framehop::Unwinder;
use object::read::ReadCache;
use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, ReadRef};
use procfs::process::{MMPermissions, MMapPath, Process};

use super::signal::{self, StackUnwinder};

const PAGE: u64 = 4096;

/// One mapped image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    /// The path in `/proc/self/maps`, or `[vdso]`.
    pub name: String,
    /// The file to read debug info from; `None` for an image that exists only in memory.
    pub file: Option<PathBuf>,
    /// Where the image is mapped.
    pub avma: Range<u64>,
    /// Load bias: an address in memory minus the same address as stated in the file.
    pub bias: u64,
    /// Sorted `(address as stated in the image, name)` for in-memory images (the vDSO).
    pub symbols: Vec<(u64, String)>,
    /// The image's GNU build id (`.note.gnu.build-id`), when it has one.
    pub build_id: Option<Vec<u8>>,
    /// The process's own executable: this process reads it through `/proc/self/exe`, the
    /// running image even after its file is rebuilt or replaced. False in another process's
    /// list.
    pub exe: bool,
}

/// The images of the process at one moment, sorted by address: what turns a captured address
/// into an image and an address in its file.
#[derive(Debug, Clone)]
pub struct ModuleList {
    pub modules: Vec<ModuleInfo>,
    pub loaded_at: Instant,
}

impl ModuleList {
    pub fn find(&self, address: u64) -> Option<&ModuleInfo> {
        let index = self
            .modules
            .partition_point(|module| module.avma.start <= address)
            .checked_sub(1)?;
        let module = &self.modules[index];
        module.avma.contains(&address).then_some(module)
    }
}

/// The mappings of one image, in address order.
struct Mappings {
    name: String,
    path: MMapPath,
    inode: u64,
    ranges: Vec<(u64, u64, u64)>,
    executable: bool,
}

/// Reads the module list and builds the unwinder for it.
pub(super) fn load() -> Result<(ModuleList, StackUnwinder), String> {
    let maps = Process::myself()
        .and_then(|process| process.maps())
        .map_err(|err| format!("reading /proc/self/maps: {err}"))?;
    let mut images: BTreeMap<String, Mappings> = BTreeMap::new();
    for map in maps {
        let name = match &map.pathname {
            MMapPath::Path(path) => path.display().to_string(),
            MMapPath::Vdso => "[vdso]".to_string(),
            _ => continue,
        };
        let entry = images.entry(name.clone()).or_insert_with(|| Mappings {
            name,
            path: map.pathname.clone(),
            inode: map.inode,
            ranges: Vec::new(),
            executable: false,
        });
        entry
            .ranges
            .push((map.address.0, map.address.1, map.offset));
        entry.executable |= map.perms.contains(MMPermissions::EXECUTE);
    }

    let exe_inode = std::fs::metadata("/proc/self/exe").ok().map(|meta| {
        use std::os::unix::fs::MetadataExt;
        meta.ino()
    });
    let mut modules = Vec::new();
    let mut unwinder = StackUnwinder::new();
    for mappings in images.values().filter(|m| m.executable) {
        let loaded = match &mappings.path {
            MMapPath::Vdso => load_vdso(mappings),
            MMapPath::Path(path) => load_file(mappings, path, exe_inode),
            _ => None,
        };
        if let Some((info, module)) = loaded {
            modules.push(info);
            unwinder.add_module(module);
        }
    }
    modules.sort_by_key(|module| module.avma.start);
    Ok((
        ModuleList {
            modules,
            loaded_at: Instant::now(),
        },
        unwinder,
    ))
}

type Loaded = (ModuleInfo, framehop::Module<Vec<u8>>);

fn load_file(mappings: &Mappings, path: &Path, exe_inode: Option<u64>) -> Option<Loaded> {
    use std::os::unix::fs::MetadataExt;
    // A file deleted or replaced since it was mapped (a rebuilt executable still runs) is not
    // the image: its unwind tables and build id would be another program's. The executable is
    // still read through /proc/self/exe, a library through its mapping's own entry.
    let mapped = |file: &File| {
        file.metadata()
            .is_ok_and(|meta| meta.ino() == mappings.inode)
    };
    let (file, file_path) = match File::open(path) {
        Ok(file) if mapped(&file) => (file, path.to_path_buf()),
        _ if exe_inode == Some(mappings.inode) => {
            let exe = PathBuf::from("/proc/self/exe");
            (File::open(&exe).ok()?, exe)
        }
        _ => {
            let &(start, end, _) = mappings.ranges.first()?;
            let entry = PathBuf::from(format!("/proc/self/map_files/{start:x}-{end:x}"));
            let file = File::open(&entry).ok().filter(mapped)?;
            (file, entry)
        }
    };
    let cache = ReadCache::new(file);
    let object = object::File::parse(&cache).ok()?;
    let (mut info, module) = describe(mappings, &object, Some(file_path))?;
    info.exe = exe_inode == Some(mappings.inode);
    Some((info, module))
}

fn load_vdso(mappings: &Mappings) -> Option<Loaded> {
    let &(start, end, _) = mappings.ranges.first()?;
    let mut image = vec![0u8; usize::try_from(end.checked_sub(start)?).ok()?];
    let copied = signal::read_own_memory(start, &mut image).ok()?;
    image.truncate(copied);
    let object = object::File::parse(&image[..]).ok()?;
    let (mut info, module) = describe(mappings, &object, None)?;
    let mut symbols: Vec<(u64, String)> = object
        .dynamic_symbols()
        .chain(object.symbols())
        .filter(|symbol| symbol.is_definition() && symbol.address() != 0)
        .filter_map(|symbol| Some((symbol.address(), symbol.name().ok()?.to_string())))
        .collect();
    symbols.sort();
    symbols.dedup_by_key(|(address, _)| *address);
    info.symbols = symbols;
    Some((info, module))
}

fn describe<'data, R: ReadRef<'data>>(
    mappings: &Mappings,
    object: &object::File<'data, R>,
    file: Option<PathBuf>,
) -> Option<Loaded> {
    let start = mappings.ranges.iter().map(|r| r.0).min()?;
    let end = mappings.ranges.iter().map(|r| r.1).max()?;
    let bias = load_bias(mappings, object)?;
    let range = |name: &str| {
        object
            .section_by_name(name)
            .map(|section| section.address()..section.address() + section.size())
    };
    let data = |name: &str| {
        object
            .section_by_name(name)
            .and_then(|section| section.data().ok())
            .map(<[u8]>::to_vec)
    };
    let sections = framehop::ExplicitModuleSectionInfo {
        base_svma: 0,
        text_svma: range(".text"),
        got_svma: range(".got"),
        eh_frame_svma: range(".eh_frame"),
        eh_frame: data(".eh_frame"),
        eh_frame_hdr_svma: range(".eh_frame_hdr"),
        eh_frame_hdr: data(".eh_frame_hdr"),
        ..Default::default()
    };
    let module = framehop::Module::new(mappings.name.clone(), start..end, bias, sections);
    let info = ModuleInfo {
        name: mappings.name.clone(),
        file,
        avma: start..end,
        bias,
        symbols: Vec::new(),
        build_id: object.build_id().ok().flatten().map(<[u8]>::to_vec),
        exe: false,
    };
    Some((info, module))
}

/// The load bias from the first mapping: the loadable segment that it maps gives the stated
/// address of the mapping's start.
fn load_bias<'data, R: ReadRef<'data>>(
    mappings: &Mappings,
    object: &object::File<'data, R>,
) -> Option<u64> {
    let &(start, _, offset) = mappings.ranges.iter().min_by_key(|r| r.0)?;
    object.segments().find_map(|segment| {
        let (file_offset, _) = segment.file_range();
        (file_offset / PAGE * PAGE == offset).then(|| {
            let stated = segment.address().wrapping_sub(file_offset - offset);
            start.wrapping_sub(stated)
        })
    })
}

impl From<&ModuleList> for crate::protocol::ModuleMap {
    fn from(list: &ModuleList) -> Self {
        crate::protocol::ModuleMap {
            modules: list
                .modules
                .iter()
                .map(|m| crate::protocol::Module {
                    name: m.name.clone(),
                    file: m.file.as_ref().map(|f| f.display().to_string()),
                    start: m.avma.start,
                    end: m.avma.end,
                    bias: m.bias,
                    symbols: m.symbols.clone(),
                    build_id: m.build_id.clone(),
                })
                .collect(),
        }
    }
}
