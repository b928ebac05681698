//! Reads a recording back into the run's configuration and its items, in order. A last line
//! cut off mid-way (a crash, or a file still being written) is left out; any other bad line is
//! an error naming the file and the line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::compact::Decoder;
use super::format::{FORMAT_VERSION, Header, LineIn, SessionRecord};
use crate::app::{PanicReport, PhaseView};
use crate::runner::{Effect, RunConfig};
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
    /// The last line was cut off mid-way and left out: the run was killed, or is still being
    /// recorded.
    pub cut_off: bool,
    /// The recording has its end line: the run finished and wrote everything.
    pub complete: bool,
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

impl Recording {
    /// Reads the recording at `path`.
    pub fn open(path: &Path) -> Result<Recording, ReadError> {
        let bytes = std::fs::read(path).map_err(|error| ReadError::Open {
            path: path.to_path_buf(),
            error,
        })?;
        Recording::parse(&bytes, path)
    }

    /// Reads a recording from its bytes; `path` names it in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Recording, ReadError> {
        let path = path.to_path_buf();
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ReadError::Empty { path });
        }
        let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        // A file that ends with a newline splits into a last empty piece; one that does not
        // ends with a line that may have been cut off mid-way.
        let last = lines.pop().unwrap_or_default();
        let unterminated = (!last.iter().all(u8::is_ascii_whitespace)).then_some(last);

        let Some(first) = lines.first().copied().or(unterminated) else {
            return Err(ReadError::Empty { path });
        };
        let (header, interval) = read_header(first, &path, lines.is_empty())?;
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
        for (index, line) in lines.iter().enumerate().skip(1) {
            reader.line(index + 1, line)?;
        }
        let mut cut_off = false;
        if let Some(line) = unterminated
            && !lines.is_empty()
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

fn read_header(line: &[u8], path: &Path, only_line: bool) -> Result<(Header, Duration), ReadError> {
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
    let header = match serde_json::from_value::<LineIn>(value) {
        Ok(LineIn::Header(header)) => *header,
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
    if header.interval_ns == 0 {
        return Err(not("the header's interval is zero".into()));
    }
    let interval = Duration::from_nanos(header.interval_ns);
    Ok((header, interval))
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
        let parsed: LineIn =
            serde_json::from_slice(line).map_err(|e| bad(format!("not a recording line: {e}")))?;
        let item = match parsed {
            LineIn::Header(_) => return Err(bad("a second header".into())),
            LineIn::Sample(patch) => {
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
            LineIn::Phase {
                index,
                note,
                next_at_ms,
            } => Item::effect(Effect::PhaseBegun(PhaseView {
                index,
                note,
                next_at_ms,
            })),
            LineIn::Event { finding } => Item::effect(Effect::Event(*finding)),
            LineIn::Applied { workload, settings } => Item::effect(Effect::Applied {
                kind: settings
                    .to_kind()
                    .map_err(|e| bad(format!("the settings of `{workload}`: {e}")))?,
                workload,
            }),
            LineIn::Panic {
                thread,
                message,
                location,
                finding,
            } => Item::effect(Effect::Panic {
                report: PanicReport {
                    thread,
                    message,
                    location,
                },
                finding: *finding,
            }),
            LineIn::Clear => Item::effect(Effect::Clear),
            LineIn::Reset => Item::effect(Effect::Reset),
            LineIn::UiCpu { share } => Item::UiCpu(share),
            LineIn::Session(session) => Item::Session(Box::new(self.session(&session, number)?)),
            LineIn::End => {
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
