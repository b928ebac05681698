//! Writes a recording as the run goes: one line per item, compressed with gzip and flushed at
//! once (a sync flush of the compressor, then the file), so a crash or a Ctrl-C leaves a file
//! that replays up to that moment.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use flate2::Compression;
use flate2::write::GzEncoder;

use super::compact::Encoder;
use super::format::{FORMAT_VERSION, Header, Line, SessionRecord};
use crate::run::{Effect, RunConfig};
use crate::sample::{SAMPLE_FORMAT_VERSION, Sample};

/// How hard the compressor works. Each line is flushed on its own, and most of the gain comes
/// from the lines before it (the 32 KiB window): a minute of the default demo is 0.90 MB of
/// JSON lines, 0.22 MB at this level, 0.21 MB at level 9, 0.28 MB at level 1.
const COMPRESSION: Compression = Compression::new(6);

/// What a finished recording holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordingStats {
    pub lines: u64,
    /// The size of the file: compressed.
    pub bytes: u64,
    /// The size of the JSON lines before compression.
    pub json_bytes: u64,
    pub samples: u64,
}

/// The file, counting the bytes written to it.
struct Counted {
    file: File,
    bytes: u64,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// A recording being written. Writing never stops the run: the first error is kept, nothing
/// more is written, and [`Recorder::finish`] returns it.
pub struct Recorder {
    path: PathBuf,
    out: GzEncoder<Counted>,
    time_scale: Option<f64>,
    encoder: Encoder,
    stats: RecordingStats,
    error: Option<anyhow::Error>,
    line: Vec<u8>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .field("stats", &self.stats)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Creates `path` (replacing a file there) and writes the header for a run of `config`;
    /// `time_scale` is the `--time-scale` factor already applied to its scenario.
    pub fn create(
        path: &Path,
        config: &RunConfig,
        time_scale: Option<f64>,
    ) -> anyhow::Result<Recorder> {
        let session = SessionRecord::of(config, time_scale)
            .with_context(|| format!("recording to {}", path.display()))?;
        let file = File::create(path)
            .with_context(|| format!("creating the recording {}", path.display()))?;
        let header = Header {
            format_version: FORMAT_VERSION,
            tokmon_version: env!("CARGO_PKG_VERSION").to_string(),
            sample_format_version: SAMPLE_FORMAT_VERSION,
            recorded_at_unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            interval: config.interval,
            session,
        };
        let mut recorder = Recorder {
            path: path.to_path_buf(),
            out: GzEncoder::new(Counted { file, bytes: 0 }, COMPRESSION),
            time_scale,
            encoder: Encoder::new(),
            stats: RecordingStats {
                lines: 0,
                bytes: 0,
                json_bytes: 0,
                samples: 0,
            },
            error: None,
            line: Vec::with_capacity(4096),
        };
        recorder.write(&Line::Header(Box::new(header)));
        match recorder.error.take() {
            Some(error) => Err(error),
            None => Ok(recorder),
        }
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A sample, as the consumer received it.
    pub fn sample(&mut self, sample: &Sample) {
        if self.error.is_some() {
            return;
        }
        match self.encoder.encode(sample) {
            Ok(patch) => {
                self.write(&Line::Sample(patch));
                self.stats.samples += 1;
            }
            Err(e) => self.fail(anyhow::Error::new(e).context("encoding a sample")),
        }
    }

    /// What a phase, a knob or the presenter did.
    pub fn effect(&mut self, effect: &Effect) {
        self.write(&Line::from(effect.clone()));
    }

    /// The dashboard thread's CPU share lately (shown in the help overlay).
    pub fn ui_cpu(&mut self, share: f64) {
        self.write(&Line::UiCpu { share });
    }

    /// The dashboard switched to another scenario: what follows belongs to `config`.
    pub fn session(&mut self, config: &RunConfig) {
        if self.error.is_some() {
            return;
        }
        match SessionRecord::of(config, self.time_scale) {
            Ok(session) => self.write(&Line::Session(Box::new(session))),
            Err(e) => self.fail(e),
        }
    }

    /// Writes the end line and closes the compressed stream; the first error met while
    /// recording, if any.
    pub fn finish(mut self) -> anyhow::Result<RecordingStats> {
        self.write(&Line::End);
        // Even after an error: what was written before it stays readable either way.
        let finished = self.out.try_finish();
        self.stats.bytes = self.out.get_ref().bytes;
        if let Some(error) = self.error {
            return Err(error);
        }
        finished.with_context(|| format!("closing the recording {}", self.path.display()))?;
        Ok(self.stats)
    }

    fn write(&mut self, line: &Line) {
        if self.error.is_some() {
            return;
        }
        self.line.clear();
        let result = serde_json::to_writer(&mut self.line, line)
            .map_err(anyhow::Error::new)
            .and_then(|()| {
                self.line.push(b'\n');
                self.out.write_all(&self.line)?;
                // A sync flush: the line is whole in the file, readable before the stream ends.
                self.out.flush()?;
                Ok(())
            });
        match result {
            Ok(()) => {
                self.stats.lines += 1;
                self.stats.json_bytes += self.line.len() as u64;
                self.stats.bytes = self.out.get_ref().bytes;
            }
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, error: anyhow::Error) {
        let line = self.stats.lines + 1;
        self.error = Some(error.context(format!(
            "writing the recording {} (it stops before line {line})",
            self.path.display()
        )));
    }
}
