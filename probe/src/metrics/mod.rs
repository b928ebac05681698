//! The OpenMetrics exporter (feature `openmetrics`): the probe's counters at `/metrics` over
//! HTTP, for Prometheus to scrape, from a thread of its own.
//!
//! The probe's monitor brings [`Fleet`] up to date at every reading (whether or not a client is
//! attached or anything scrapes); a scrape reads it whole and encodes it with
//! `prometheus-client`. The poll hooks do nothing more for it. An app turns it on with
//! [`ProbeBuilder::metrics_addr`](crate::ProbeBuilder::metrics_addr) or
//! `TOKMON_PROBE_METRICS_ADDR`; the serving thread then starts an [`Exporter`]. tokmon starts
//! one itself for its own runs (`tokmon run --metrics-addr`).

mod encode;
mod http;
pub mod sites;
mod state;

pub use encode::Format;
pub use http::{Exporter, IO_TIMEOUT};
pub use state::{Fleet, Snapshot, WorkerTotals};
