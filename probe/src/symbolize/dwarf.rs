//! Return addresses -> functions, files and lines, with inlined frames, through `addr2line`
//! on the images' files (symbol tables when there is no debug info). Off the signal path, and
//! lazy: an image's file is mapped (not read) on its first lookup, only the compilation units
//! that hold a looked-up address are parsed, and resolved addresses are cached.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use addr2line::gimli::{self, EndianSlice, RunTimeEndian};
use memmap2::Mmap;
use object::{Object, ObjectSection, SymbolMap, SymbolMapName};

use super::binaries::{self, Verdict};
use crate::stack::{ModuleInfo, ModuleList};

/// Debug info as `addr2line` reads it: slices of a mapped file, kept for the process's life.
type Slice = EndianSlice<'static, RunTimeEndian>;

/// Parsed units kept per image. A unit's line table and function tree are what a lookup costs
/// in memory (MBs for a crate built as one unit); past this many, they are all dropped and
/// parsed again when needed.
const UNITS_KEPT: usize = 24;

/// Resolved addresses kept; past this many the cache starts over.
const ADDRESSES_KEPT: usize = 4096;

/// One symbolized frame before classification: function, file, line, inlined.
pub(super) struct RawFrame {
    pub address: u64,
    pub function: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub inlined: bool,
}

/// What one address in an image names: its frames innermost first (function, file, line),
/// and the symbol that holds it when the outermost frame has no function name.
#[derive(Clone)]
struct Named {
    frames: Vec<(Option<String>, Option<String>, Option<u32>)>,
    symbol: Option<String>,
}

/// The images opened so far, and the addresses already named.
#[derive(Default)]
pub(super) struct Symbolizer {
    images: HashMap<PathBuf, Option<Image>>,
    named: HashMap<(PathBuf, u64), Named>,
}

impl Symbolizer {
    /// Symbolizes one captured address. `exact` is true for the interrupted instruction
    /// pointer (the first frame); return addresses are looked up at `address - 1`, inside the
    /// call instruction. `None` when no module holds the address.
    pub fn frames(
        &mut self,
        list: &ModuleList,
        address: u64,
        exact: bool,
    ) -> Option<Vec<RawFrame>> {
        let probe = if exact {
            address
        } else {
            address.saturating_sub(1)
        };
        let module = list.find(probe)?;
        let stated = probe.wrapping_sub(module.bias);
        // This process's executable is read as it runs, not as its file is now.
        let file = match &module.file {
            Some(_) if module.exe => Some(Path::new("/proc/self/exe")),
            file => file.as_deref(),
        };
        let named = match file {
            Some(file) => match self.named_in(module, file, stated) {
                Ok(named) => named,
                Err(why) => return Some(vec![unnamed(address, &why)]),
            },
            None => Named {
                frames: Vec::new(),
                symbol: memory_symbol(module, stated),
            },
        };
        let mut frames = named.frames;
        if frames.is_empty() {
            frames.push((None, None, None));
        }
        let outer = frames.len() - 1;
        // A library's function named by its symbol table alone says which library it is in.
        let library = is_library(&module.name).then(|| short_name(&module.name));
        Some(
            frames
                .into_iter()
                .enumerate()
                .map(|(index, (function, file, line))| RawFrame {
                    address,
                    function: match function
                        .or_else(|| (index == outer).then(|| named.symbol.clone()).flatten())
                    {
                        Some(function) => match library {
                            Some(library) if file.is_none() => format!("{function} ({library})"),
                            _ => function,
                        },
                        None => format!("?? ({})", short_name(&module.name)),
                    },
                    file,
                    line,
                    inlined: index != outer,
                })
                .collect(),
        )
    }

    /// Ends a stack's lookups: the images' file pages go back to the kernel (the parsed units
    /// and the names stay).
    pub fn release_pages(&self) {
        self.images
            .values()
            .flatten()
            .for_each(Image::release_pages);
    }

    /// The frames at `stated` in the image file `file`, from the cache or its debug info; why
    /// not, when the file is not `module`'s image (another build id).
    fn named_in(&mut self, module: &ModuleInfo, file: &Path, stated: u64) -> Result<Named, String> {
        let image = self
            .images
            .entry(file.to_path_buf())
            .or_insert_with(|| Image::open(file));
        let on_disk = image.as_ref().map(|image| image.build_id.as_deref());
        match binaries::compare(module.build_id.as_deref(), on_disk) {
            Verdict::Same | Verdict::Unchecked => {}
            Verdict::Replaced { .. } => {
                return Err(format!(
                    "{}: replaced since the app started, build id differs",
                    short_name(&module.name)
                ));
            }
            Verdict::Missing => {
                return Err(format!("{}: cannot be read", file.display()));
            }
        }
        let key = (file.to_path_buf(), stated);
        if let Some(named) = self.named.get(&key) {
            return Ok(named.clone());
        }
        let named = match image {
            Some(image) => image.name(stated),
            None => Named {
                frames: Vec::new(),
                symbol: None,
            },
        };
        if self.named.len() >= ADDRESSES_KEPT {
            self.named.clear();
        }
        self.named.insert(key, named.clone());
        Ok(named)
    }
}

/// The one frame of an address that is not named, and why.
pub(super) fn unnamed(address: u64, why: &str) -> RawFrame {
    RawFrame {
        address,
        function: super::withheld_function(address, why),
        file: None,
        line: None,
        inlined: false,
    }
}

/// A shared library's file name (`libc.so.6`, `ld-linux-x86-64.so.2`), not an executable's.
fn is_library(name: &str) -> bool {
    short_name(name).contains(".so")
}

/// One image file, mapped: its DWARF sections, which unit holds which addresses, the units
/// parsed so far, and its symbol table once needed.
struct Image {
    map: &'static Mmap,
    object: object::File<'static>,
    endian: RunTimeEndian,
    sections: gimli::DwarfSections<&'static [u8]>,
    /// `.debug_info`, to cut one unit out of.
    info: &'static [u8],
    /// `(start, end, offset of the unit in .debug_info)` from `.debug_aranges`, by start.
    ranges: Vec<(u64, u64, usize)>,
    units: HashMap<usize, Option<addr2line::Context<Slice>>>,
    /// All units at once, only for an image without `.debug_aranges` to find them by.
    whole: Option<Option<addr2line::Context<Slice>>>,
    symbols: Option<SymbolMap<SymbolMapName<'static>>>,
    /// Its GNU build id, to tell it from the image the app mapped.
    build_id: Option<Vec<u8>>,
}

impl Image {
    fn open(path: &Path) -> Option<Image> {
        let file = File::open(path).ok()?;
        // SAFETY: the map is read-only and private; the one hazard is the file being
        // truncated under it (SIGBUS), the same as for any mapped executable, and why the
        // loaders of the toolchain's own symbolizers map it too. Mapping, not reading, keeps
        // the tens of MB of debug info out of memory: only the pages a lookup reads come in.
        #[allow(unsafe_code)]
        let map = unsafe { Mmap::map(&file) }.ok()?;
        // Kept for the process's life (one per image file), so slices of it are 'static.
        let map: &'static Mmap = Box::leak(Box::new(map));
        let data: &'static [u8] = map;
        let object = object::File::parse(data).ok()?;
        let endian = if object.is_little_endian() {
            RunTimeEndian::Little
        } else {
            RunTimeEndian::Big
        };
        let (mut info, mut aranges) = (&[][..], &[][..]);
        let sections = gimli::DwarfSections::load(|id| {
            let data: &'static [u8] = match object.section_by_name(id.name()) {
                Some(section) => match section.uncompressed_data() {
                    Ok(Cow::Borrowed(data)) => data,
                    // A compressed section is inflated once per image and kept, like the map.
                    Ok(Cow::Owned(data)) => &*Box::leak(data.into_boxed_slice()),
                    Err(_) => &[],
                },
                None => &[],
            };
            match id {
                gimli::SectionId::DebugInfo => info = data,
                gimli::SectionId::DebugAranges => aranges = data,
                _ => {}
            }
            Ok::<_, ()>(data)
        })
        .ok()?;
        let ranges = unit_ranges(aranges, endian);
        let build_id = object.build_id().ok().flatten().map(<[u8]>::to_vec);
        Some(Image {
            map,
            object,
            endian,
            sections,
            info,
            ranges,
            units: HashMap::new(),
            whole: None,
            symbols: None,
            build_id,
        })
    }

    /// Lets the kernel take back the file's pages read so far: they count in this process's
    /// memory while mapped, and a later lookup reads them again from the page cache.
    fn release_pages(&self) {
        // SAFETY: the map is private and read-only, never written: dropping its pages loses
        // nothing, the next read of them faults the same bytes back in from the file.
        #[allow(unsafe_code)]
        let _ = unsafe {
            self.map
                .unchecked_advise(memmap2::UncheckedAdvice::DontNeed)
        };
    }

    fn name(&mut self, stated: u64) -> Named {
        let mut frames = Vec::new();
        if let Some(context) = self.context_for(stated)
            && let Ok(mut iter) = context.find_frames(stated).skip_all_loads()
        {
            while let Ok(Some(frame)) = iter.next() {
                let function = frame
                    .function
                    .as_ref()
                    .and_then(|name| name.demangle().ok())
                    .map(Cow::into_owned);
                let (file, line) = frame
                    .location
                    .map(|at| (at.file.map(str::to_string), at.line))
                    .unwrap_or_default();
                frames.push((function, file, line));
            }
        }
        let symbol = if frames.last().is_none_or(|frame| frame.0.is_none()) {
            self.symbol(stated)
        } else {
            None
        };
        Named { frames, symbol }
    }

    /// The parsed unit that holds `stated`, parsing it now if needed.
    fn context_for(&mut self, stated: u64) -> Option<&addr2line::Context<Slice>> {
        if self.ranges.is_empty() {
            if self.whole.is_none() {
                let dwarf = self.dwarf();
                self.whole = Some(addr2line::Context::from_dwarf(dwarf).ok());
            }
            return self.whole.as_ref()?.as_ref();
        }
        let index = self
            .ranges
            .partition_point(|(start, _, _)| *start <= stated)
            .checked_sub(1)?;
        let (_, end, offset) = self.ranges[index];
        if stated >= end {
            return None;
        }
        if !self.units.contains_key(&offset) {
            if self.units.len() >= UNITS_KEPT {
                self.units.clear();
            }
            let context = self.unit_context(offset);
            self.units.insert(offset, context);
        }
        self.units.get(&offset)?.as_ref()
    }

    fn dwarf(&self) -> gimli::Dwarf<Slice> {
        self.sections
            .borrow(|data| EndianSlice::new(data, self.endian))
    }

    /// A context over the one unit at `offset`: `addr2line` parses every unit's header and
    /// abbreviations up front (tens of MB for a large executable), so it gets a `.debug_info`
    /// cut down to that unit. References across units are lost (rare outside LTO builds: the
    /// function name then comes from the symbol table).
    fn unit_context(&self, offset: usize) -> Option<addr2line::Context<Slice>> {
        let mut dwarf = self.dwarf();
        let header = dwarf
            .debug_info
            .header_from_offset(gimli::DebugInfoOffset(offset))
            .ok()?;
        let unit = self
            .info
            .get(offset..offset.checked_add(header.length_including_self())?)?;
        dwarf.debug_info = gimli::DebugInfo::new(unit, self.endian);
        // Its offsets are of the whole section: without it, the unit's own ranges are used.
        dwarf.debug_aranges = gimli::DebugAranges::new(&[], self.endian);
        addr2line::Context::from_dwarf(dwarf).ok()
    }

    fn symbol(&mut self, stated: u64) -> Option<String> {
        let object = &self.object;
        let symbols = self.symbols.get_or_insert_with(|| object.symbol_map());
        symbols
            .containing(stated)
            .map(|symbol| addr2line::demangle_auto(Cow::from(symbol.name()), None).into_owned())
    }
}

/// Which unit holds which addresses, from `.debug_aranges` (a few hundred kB where the units'
/// own range lists are MBs).
fn unit_ranges(aranges: &'static [u8], endian: RunTimeEndian) -> Vec<(u64, u64, usize)> {
    let aranges = gimli::DebugAranges::new(aranges, endian);
    let mut ranges = Vec::new();
    let mut headers = aranges.headers();
    while let Ok(Some(header)) = headers.next() {
        let unit = header.debug_info_offset().0;
        let mut entries = header.entries();
        while let Ok(Some(entry)) = entries.next() {
            let range = entry.range();
            if range.begin < range.end {
                ranges.push((range.begin, range.end, unit));
            }
        }
    }
    ranges.sort_unstable();
    ranges
}

/// The symbol of an in-memory image (the vDSO) that holds `stated`.
fn memory_symbol(module: &ModuleInfo, stated: u64) -> Option<String> {
    let index = module
        .symbols
        .partition_point(|(address, _)| *address <= stated)
        .checked_sub(1)?;
    module.symbols.get(index).map(|(_, name)| name.clone())
}

fn short_name(name: &str) -> &str {
    binaries::short_name(name)
}
