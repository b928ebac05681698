//! Record a run to a file as it happens, and read it back to replay it (`--record`, `replay`).
//!
//! # The format (version [`FORMAT_VERSION`])
//!
//! JSON lines, gzip-compressed: one object per line, each with a `"type"`, written as the
//! run's consumer receives it and flushed at once (a sync flush of the compressor, then the
//! file), so a run that is killed leaves a file that replays up to its last whole line; only
//! the gzip trailer is missing then. `zcat FILE` shows the lines. A reader tells gzip by its
//! magic bytes and also reads plain JSON lines (a file made, or unpacked, by hand).
//!
//! Numbers are plain JSON numbers; a float is the shortest text that reads back to the same
//! bits (serde_json's `float_roundtrip`), so a replay computes the live figures exactly.
//!
//! 1. `header`: `format_version`, `tokmon_version`, `sample_format_version`,
//!    `recorded_at_unix_s`, `interval_ns`, and `session`: the scenario (`source` as the
//!    report shows it, `built-in:NAME` or a path; its TOML `text`, parsed again on replay into
//!    the identical scenario; the `time_scale` applied to it, or null) and the `thresholds` in
//!    force (`stall_ns`, `long_poll_ns`, `lag_ns`).
//! 2. Then, in arrival order:
//!    - `s`: a sample, as a patch of the previous one (see [`compact`]): only the fields that
//!      changed; the first sample is whole. Decoded, it is a [`crate::sample::Sample`].
//!    - `phase` (`index`, `note`, `next_at_ms`): a scripted phase began.
//!    - `event` (`finding`): a finding of kind `event`: a phase or a knob change, told in the
//!      findings log.
//!    - `applied` (`workload`, `settings` tagged by `kind`, durations in `_ns`: a
//!      [`crate::scenario::WorkloadKind`] in serde): the settings
//!      a workload runs with from now on.
//!    - `panic` (`thread`, `message`, `location`, `finding`): a workload task panicked
//!      (dashboard runs), with the finding the dashboard logged for it.
//!    - `clear`, `reset`: the presenter cleared the findings or reset the statistics.
//!    - `ui_cpu` (`share`): the dashboard thread's CPU share, about once a second.
//!    - `session` (like the header's): the dashboard switched to another scenario; what
//!      follows is a new run whose clock starts again.
//! 3. `end`: the run finished and everything was written. A file without it was cut off.
//!
//! A reader refuses another `format_version` (version 1 was plain JSON lines with some floats
//! written as `{"~f":TEXT}`), and names the file and the line (of the uncompressed text) of
//! any bad line, except a last line cut off mid-way, which it leaves out. Compressed data that
//! ends early or is damaged is read up to the break: every line flushed before it is kept as
//! written (gzip checks the whole stream only: a line decoded after damage may, rarely, still
//! read, with a wrong value), and the rest is left out.
//!
//! - [`writer`]: the [`Recorder`] the runner writes through.
//! - [`reader`]: a file -> [`Recording`]: the run's configuration and its items.
//! - [`player`]: the replay's pure state (position, speed, pause) and its keys.
//! - [`compact`]: samples as patches of the previous sample.

pub mod compact;
pub mod format;
pub mod player;
pub mod reader;
pub mod writer;

pub use format::FORMAT_VERSION;
pub use player::{Player, Timeline};
pub use reader::{Damage, Item, ReadError, Recording};
pub use writer::{Recorder, RecordingStats};
