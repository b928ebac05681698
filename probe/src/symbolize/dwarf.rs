//! Return addresses -> functions, files and lines, with inlined frames, through `addr2line`
//! on the images' files (symbol tables when there is no debug info). Off the signal path; the
//! first lookup in an image parses its DWARF index (tens of ms), later ones are fast.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;

use crate::stack::{ModuleInfo, ModuleList};

/// One symbolized frame before classification: function, file, line, inlined.
pub(super) struct RawFrame {
    pub address: u64,
    pub function: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub inlined: bool,
}

/// The debug-info readers, one per image file, opened on first use and kept.
#[derive(Default)]
pub(super) struct Symbolizer {
    loaders: HashMap<PathBuf, Option<addr2line::Loader>>,
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
        let mut frames = Vec::new();
        let mut symbol = None;
        match &module.file {
            Some(file) => {
                let loader = self
                    .loaders
                    .entry(file.clone())
                    .or_insert_with(|| addr2line::Loader::new(file).ok());
                if let Some(loader) = loader {
                    if let Ok(mut iter) = loader.find_frames(stated) {
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
                    if frames.last().is_none_or(|frame| frame.0.is_none()) {
                        symbol = loader.find_symbol(stated).map(|name| {
                            addr2line::demangle_auto(Cow::from(name), None).into_owned()
                        });
                    }
                }
            }
            None => symbol = memory_symbol(module, stated),
        }
        if frames.is_empty() {
            frames.push((None, None, None));
        }
        let count = frames.len();
        let outer = count - 1;
        Some(
            frames
                .into_iter()
                .enumerate()
                .map(|(index, (function, file, line))| RawFrame {
                    address,
                    function: function
                        .or_else(|| (index == outer).then(|| symbol.clone()).flatten())
                        .unwrap_or_else(|| format!("?? ({})", short_name(&module.name))),
                    file,
                    line,
                    inlined: index != outer,
                })
                .collect(),
        )
    }
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
    name.rsplit('/').next().unwrap_or(name)
}
