//! tokmon: htop for the Tokio runtime.
//!
//! Data flows one way, and each module owns one step:
//!
//! - [`scenario`]: pure. TOML text -> a validated [`scenario::Scenario`].
//! - [`workload`]: builds the measured runtime from a scenario and runs its workloads on it;
//!   the only thing that ever runs on the measured runtime.
//! - [`probe`]: what runs in the measured process: thread registry, poll hooks, task labels,
//!   the lag canary (the hot path: atomics only), and the monitor thread that samples the
//!   runtime, watches for stalls and captures raw stacks; for another process, its server. The
//!   crate `tokmon-probe` (`probe/`), re-exported under this name.
//! - [`sample`]: the plain serde data that crosses from the probe to the consumer, with the
//!   workloads' counters tokmon adds.
//! - [`model`]: pure. A stream of samples -> rates, series, totals and histograms.
//! - [`phase`]: pure. A scenario's scripted phases on the run's clock.
//! - [`detect`]: pure. Samples + thresholds -> findings (stalls, long polls, lag, queues).
//! - [`app`]: pure dashboard state: keys and samples in, what to show out.
//! - [`ui`]: pure rendering of the dashboard from `&App`.
//! - [`report`]: headless output (text and JSON) from the model.
//! - [`run`]: the run's plain data: its configuration and what happens to it besides samples.
//! - [`record`]: a run's samples and events to a file as they happen, and back for `replay`.
//! - [`source`]: where a run's data comes from (a scenario run here, a recording, another
//!   process attached through its probe): one stream of updates and one set of commands back,
//!   whatever the source; the probe's raw stacks are named here.
//! - [`runner`]: starts a run and feeds a source's updates to the report, the dashboard and
//!   the recorder.
//! - [`stack`]: name the frames of a stuck thread's stack (captured by the probe).
//! - [`tui`]: the only code that touches the real terminal.
//! - [`cli`]: the command line.
//! - [`console`]: `--console`, console-subscriber served for `tokio-console` (off unless asked).

#[cfg(not(tokio_unstable))]
compile_error!(
    "tokmon needs `--cfg tokio_unstable`. Inside this repository `.cargo/config.toml` sets it; \
     elsewhere build with RUSTFLAGS=\"--cfg tokio_unstable\" (a RUSTFLAGS variable replaces the \
     repository's config, so include the cfg in it)."
);

pub mod app;
pub mod cli;
pub mod console;
pub mod detect;
pub mod model;
pub mod phase;
pub use tokmon_probe as probe;
pub mod record;
pub mod report;
pub mod run;
pub mod runner;
pub mod sample;
pub mod scenario;
pub mod source;
pub mod stack;
pub mod tui;
pub mod ui;
pub mod workload;
