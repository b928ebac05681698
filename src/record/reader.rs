//! Reads a recording back into the run's configuration and its items, in order.
//!
//! The file is gzip-compressed (told by its magic bytes), or plain JSON lines (a file made or
//! unpacked by hand). A last line cut off mid-way (a crash, or a file still being written) is
//! left out. Compressed data that ends early or goes bad is read up to there: every whole line
//! before the break is kept, the rest left out. Any other bad line is an error naming the file
//! and the line (counted in the uncompressed text, as `zcat FILE` shows it).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use flate2::{Crc, Decompress, FlushDecompress, Status};

use super::compact::Decoder;
use super::format::{FORMAT_VERSION, Header, Line, SessionRecord};
use crate::run::{Effect, RunConfig};
use crate::sample::{SAMPLE_FORMAT_VERSION, Sample};

/// One thing the run's consumer received, in arrival order.
#[derive(Debug, Clone)]
pub enum Item {
    Sample(Box<Sample>),
    Effect(Box<Effect>),
    /// The dashboard thread's CPU share lately.
    UiCpu(f64),
    /// The dashboard switched scenario: what follows belongs to this run.
    Session(Box<RunConfig>),
}

/// A recording read back.
#[derive(Debug, Clone)]
pub struct Recording {
    pub path: PathBuf,
    /// The tokmon that wrote it.
    pub tokmon_version: String,
    /// The run as it started.
    pub config: RunConfig,
    pub items: Vec<Item>,
    /// A line was cut off mid-way and left out, with anything after it: the run was killed,
    /// is still being recorded, or the compressed data broke off there.
    pub cut_off: bool,
    /// The recording has its end line: the run finished and wrote everything.
    pub complete: bool,
    /// The file is gzip-compressed (as tokmon writes it); else plain JSON lines.
    pub compressed: bool,
    /// How the compressed data stopped before its proper end, if it did.
    pub damaged: Option<Damage>,
}

/// How a compressed recording stopped before its proper end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    /// It ends early: the run was killed, or is still being recorded. Every line flushed
    /// before the end reads.
    #[error("the compressed data ends early")]
    EndsEarly,
    /// It goes bad (the decompressor says how): the lines before the damage read. gzip checks
    /// the whole stream only, so a line decoded after the damage may, rarely, read with a wrong
    /// value; the lines flushed before it are as written.
    #[error("the compressed data is damaged ({0})")]
    Corrupt(String),
}

/// Why a recording could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: cannot read the recording: {error}", .path.display())]
    Open {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: the file is empty, not a tokmon recording", .path.display())]
    Empty { path: PathBuf },
    #[error("{}:1: not a tokmon recording: {reason}", .path.display())]
    NotARecording { path: PathBuf, reason: String },
    #[error(
        "{}:1: recording format version {found}; this tokmon ({}) reads version {expected}{}",
        .path.display(),
        env!("CARGO_PKG_VERSION"),
        if .found > .expected { " (the file is from a newer tokmon: replay it with that one)" }
        else { " (the file is from an older tokmon: record it again)" }
    )]
    Version {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
    #[error("{}:{line}: {reason}", .path.display())]
    BadLine {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

impl Item {
    fn effect(effect: Effect) -> Item {
        Item::Effect(Box::new(effect))
    }
}

/// The first two bytes of a gzip file.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The length of a gzip header (RFC 1952) at the start of `bytes`.
fn gzip_header_len(bytes: &[u8]) -> Result<usize, Damage> {
    const FHCRC: u8 = 1 << 1;
    const FEXTRA: u8 = 1 << 2;
    const FNAME: u8 = 1 << 3;
    const FCOMMENT: u8 = 1 << 4;
    let (Some(&method), Some(&flags)) = (bytes.get(2), bytes.get(3)) else {
        return Err(Damage::EndsEarly);
    };
    if method != 8 {
        return Err(Damage::Corrupt(format!(
            "compression method {method}, not deflate"
        )));
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let len = bytes.get(at..at + 2).ok_or(Damage::EndsEarly)?;
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let text = bytes.get(at..).ok_or(Damage::EndsEarly)?;
            at += 1 + text.iter().position(|b| *b == 0).ok_or(Damage::EndsEarly)?;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    if at > bytes.len() {
        return Err(Damage::EndsEarly);
    }
    Ok(at)
}

/// The text of a gzip file as far as it decompresses, and how it stopped early, if it did.
/// Everything the decompressor gives before a break is kept.
fn decompress(bytes: &[u8]) -> (Vec<u8>, Option<Damage>) {
    let mut text = Vec::new();
    let data = match gzip_header_len(bytes) {
        Ok(len) => bytes.get(len..).unwrap_or_default(),
        Err(damage) => return (text, Some(damage)),
    };
    text.reserve(data.len().saturating_mul(6));
    let mut inflate = Decompress::new(false);
    loop {
        let consumed = usize::try_from(inflate.total_in()).unwrap_or(usize::MAX);
        let input = data.get(consumed..).unwrap_or_default();
        let written = text.len();
        text.reserve(64 * 1024);
        match inflate.decompress_vec(input, &mut text, FlushDecompress::None) {
            Ok(Status::StreamEnd) => break,
            // All the input is in and more output is wanted: the data ends early.
            Ok(_)
                if input.is_empty()
                    || (text.len() == written && inflate.total_in() == consumed as u64) =>
            {
                return (text, Some(Damage::EndsEarly));
            }
            Ok(_) => {}
            Err(e) => return (text, Some(Damage::Corrupt(e.to_string()))),
        }
    }
    // The trailer: the CRC-32 and the length of the text.
    let end = usize::try_from(inflate.total_in()).unwrap_or(usize::MAX);
    let Some(trailer) = data.get(end..end.saturating_add(8)) else {
        return (text, Some(Damage::EndsEarly));
    };
    let mut crc = Crc::new();
    crc.update(&text);
    let word = |at: usize| {
        u32::from_le_bytes([
            trailer[at],
            trailer[at + 1],
            trailer[at + 2],
            trailer[at + 3],
        ])
    };
    if word(0) != crc.sum() || word(4) != crc.amount() {
        return (
            text,
            Some(Damage::Corrupt("the checksum does not match".into())),
        );
    }
    (text, None)
}

impl Recording {
    /// Reads the recording at `path`.
    pub fn open(path: &Path) -> Result<Recording, ReadError> {
        let bytes = std::fs::read(path).map_err(|error| ReadError::Open {
            path: path.to_path_buf(),
            error,
        })?;
        Recording::parse(&bytes, path)
    }

    /// Reads a recording from its bytes (gzip-compressed or plain); `path` names it in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Recording, ReadError> {
        let path = path.to_path_buf();
        // A file cut after the first byte of the magic is a gzip file cut short: JSON text
        // never starts with that byte.
        let compressed = !bytes.is_empty() && GZIP_MAGIC.starts_with(&bytes[..bytes.len().min(2)]);
        let (text, damage) = if compressed {
            let (text, damage) = decompress(bytes);
            (Cow::Owned(text), damage)
        } else {
            (Cow::Borrowed(bytes), None)
        };
        let bytes: &[u8] = &text;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(match damage {
                Some(Damage::EndsEarly) => ReadError::NotARecording {
                    path,
                    reason: "the file was cut off inside its first line".into(),
                },
                Some(damage) => ReadError::NotARecording {
                    path,
                    reason: format!("{damage} before its first line"),
                },
                None => ReadError::Empty { path },
            });
        }
        let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        // A file that ends with a newline splits into a last empty piece; one that does not
        // ends with a line that may have been cut off mid-way.
        let last = lines.pop().unwrap_or_default();
        let unterminated = (!last.iter().all(u8::is_ascii_whitespace)).then_some(last);

        let Some(first) = lines.first().copied().or(unterminated) else {
            return Err(ReadError::Empty { path });
        };
        let header = read_header(first, &path, lines.is_empty())?;
        let interval = header.interval;
        let config = header
            .session
            .config(interval)
            .map_err(|errors| ReadError::BadLine {
                path: path.clone(),
                line: 1,
                reason: format!("the recorded scenario does not parse:\n{errors}"),
            })?;
        let mut reader = Reader {
            path: &path,
            interval,
            decoder: Decoder::new(),
            items: Vec::new(),
            complete: false,
        };
        let mut cut_off = false;
        for (index, line) in lines.iter().enumerate().skip(1) {
            match reader.line(index + 1, line) {
                Ok(()) => {}
                // Past a break in the compressed data, what decoded may be garbage: the lines
                // before the first bad one are kept.
                Err(_) if damage.is_some() => {
                    cut_off = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(line) = unterminated
            && !lines.is_empty()
            && !cut_off
        {
            // Kept when it is whole (a file edited by hand may lack the last newline).
            let number = lines.len() + 1;
            if reader.line(number, line).is_err() {
                cut_off = true;
            }
        }
        Ok(Recording {
            tokmon_version: header.tokmon_version,
            config,
            items: reader.items,
            cut_off,
            complete: reader.complete,
            compressed,
            damaged: damage,
            path,
        })
    }

    /// How many samples it holds.
    pub fn samples(&self) -> usize {
        self.items
            .iter()
            .filter(|i| matches!(i, Item::Sample(_)))
            .count()
    }
}

fn read_header(line: &[u8], path: &Path, only_line: bool) -> Result<Header, ReadError> {
    let not = |reason: String| ReadError::NotARecording {
        path: path.to_path_buf(),
        reason,
    };
    let value: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
        if only_line && e.is_eof() {
            not("the file was cut off inside its first line".to_string())
        } else {
            not(format!("the first line is not a JSON header ({e})"))
        }
    })?;
    if value.get("type").and_then(|t| t.as_str()) != Some("header") {
        return Err(not("the first line is not a tokmon recording header".into()));
    }
    // The version first: a newer format may have a header this tokmon cannot read.
    let found = value.get("format_version").and_then(|v| v.as_u64());
    match found {
        Some(found) if found == u64::from(FORMAT_VERSION) => {}
        Some(found) => {
            return Err(ReadError::Version {
                path: path.to_path_buf(),
                found,
                expected: u64::from(FORMAT_VERSION),
            });
        }
        None => return Err(not("the header has no format_version".into())),
    }
    let header = match serde_json::from_value::<Line>(value) {
        Ok(Line::Header(header)) => *header,
        Ok(_) => return Err(not("the first line is not a header".into())),
        Err(e) => return Err(not(format!("a bad header: {e}"))),
    };
    if header.sample_format_version != SAMPLE_FORMAT_VERSION {
        return Err(ReadError::BadLine {
            path: path.to_path_buf(),
            line: 1,
            reason: format!(
                "the samples are in format version {}; this tokmon reads version \
                 {SAMPLE_FORMAT_VERSION}",
                header.sample_format_version
            ),
        });
    }
    if header.interval.is_zero() {
        return Err(not("the header's interval is zero".into()));
    }
    Ok(header)
}

struct Reader<'a> {
    path: &'a Path,
    interval: Duration,
    decoder: Decoder,
    items: Vec<Item>,
    complete: bool,
}

impl Reader<'_> {
    fn line(&mut self, number: usize, line: &[u8]) -> Result<(), ReadError> {
        let bad = |reason: String| ReadError::BadLine {
            path: self.path.to_path_buf(),
            line: number,
            reason,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        if self.complete {
            return Err(bad("a line after the end line".into()));
        }
        let parsed: Line =
            serde_json::from_slice(line).map_err(|e| bad(format!("not a recording line: {e}")))?;
        let item = match parsed {
            Line::Header(_) => return Err(bad("a second header".into())),
            Line::Sample(patch) => {
                let sample = self
                    .decoder
                    .decode(patch)
                    .map_err(|e| bad(format!("a bad sample: {e}")))?;
                if sample.format_version != SAMPLE_FORMAT_VERSION {
                    return Err(bad(format!(
                        "a sample in format version {}; this tokmon reads version \
                         {SAMPLE_FORMAT_VERSION}",
                        sample.format_version
                    )));
                }
                Item::Sample(Box::new(sample))
            }
            Line::Phase(phase) => Item::effect(Effect::PhaseBegun(phase)),
            Line::Event { finding } => Item::effect(Effect::Event(*finding)),
            Line::Applied { workload, kind } => Item::effect(Effect::Applied { workload, kind }),
            Line::Panic { report, finding } => Item::effect(Effect::Panic {
                report,
                finding: *finding,
            }),
            Line::Clear => Item::effect(Effect::Clear),
            Line::Reset => Item::effect(Effect::Reset),
            Line::UiCpu { share } => Item::UiCpu(share),
            Line::Session(session) => Item::Session(Box::new(self.session(&session, number)?)),
            Line::End => {
                self.complete = true;
                return Ok(());
            }
        };
        self.items.push(item);
        Ok(())
    }

    fn session(&self, session: &SessionRecord, number: usize) -> Result<RunConfig, ReadError> {
        session
            .config(self.interval)
            .map_err(|errors| ReadError::BadLine {
                path: self.path.to_path_buf(),
                line: number,
                reason: format!("the recorded scenario does not parse:\n{errors}"),
            })
    }
}
