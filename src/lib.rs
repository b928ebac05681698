//! tokmon: htop for the Tokio runtime.
//!
//! Data flows one way, and each module owns one step:
//!
//! - [`scenario`]: pure. TOML text -> a validated [`scenario::Scenario`].
//! - [`workload`]: builds the measured runtime from a scenario and runs its workloads on it;
//!   the only thing that ever runs on the measured runtime.
//! - [`probe`]: what tokmon installs on the measured runtime: thread registry, poll hooks,
//!   task labels and the lag canary. The hot path: atomics only. The crate `tokmon-probe`
//!   (`probe/`), re-exported under this name.
//! - [`sampler`]: a plain std thread that reads the runtime and the workloads' counters every
//!   interval into a [`sample::Sample`] of cumulative counters.
//! - [`sample`]: the plain serde data that crosses from the sampler to the consumer.
//! - [`model`]: pure. A stream of samples -> rates, series, totals and histograms.
//! - [`phase`]: pure. A scenario's scripted phases on the run's clock.
//! - [`detect`]: pure. Samples + thresholds -> findings (stalls, long polls, lag, queues).
//! - [`app`]: pure dashboard state: keys and samples in, what to show out.
//! - [`ui`]: pure rendering of the dashboard from `&App`.
//! - [`report`]: headless output (text and JSON) from the model.
//! - [`run`]: the run's plain data: its configuration and what happens to it besides samples.
//! - [`record`]: a run's samples and events to a file as they happen, and back for `replay`.
//! - [`source`]: where a run's data comes from (a scenario run here, a recording): one stream
//!   of updates and one set of commands back, whatever the source.
//! - [`runner`]: starts a run and feeds a source's updates to the report, the dashboard and
//!   the recorder.
//! - [`stack`]: capture and symbolize a stuck thread's stack (the one module with unsafe code).
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
