//! How an app configures its probe: thresholds, on or off, serving, and the app's own runtime
//! callbacks.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use crossbeam_queue::ArrayQueue;
use tokio::runtime::TaskMeta;

use super::{Canary, CoarseClock, LONG_POLL_QUEUE, Probe, TaskLabels, ThreadRegistry, nanos};

mod env;

/// The long-poll threshold when neither the builder nor `TOKMON_PROBE_LONG_POLL` sets one: a
/// poll at least this long is recorded as a [`LongPoll`](super::LongPoll).
pub const DEFAULT_LONG_POLL_THRESHOLD: Duration = Duration::from_millis(10);

/// The stall threshold when neither the builder nor `TOKMON_PROBE_STALL` sets one: a poll
/// still running after this long is a stall.
pub const DEFAULT_STALL_THRESHOLD: Duration = Duration::from_millis(100);

/// Time between two readings the probe serves when neither the builder nor
/// `TOKMON_PROBE_INTERVAL` sets it.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);

/// The shortest interval between two readings: below it, readings would cost the app more
/// than they tell.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// How the probe serves its readings to an attaching client (see [`ProbeBuilder::serve`]).
#[derive(Debug, Clone)]
pub(crate) struct ServeSettings {
    pub(crate) on: bool,
    pub(crate) stacks: bool,
    pub(crate) interval: Duration,
    pub(crate) socket_dir: Option<PathBuf>,
    /// TCP on this address instead of the Unix socket.
    pub(crate) tcp: Option<SocketAddr>,
    /// Serve OpenMetrics over HTTP on this address (feature `openmetrics`).
    pub(crate) metrics: Option<SocketAddr>,
}

impl Default for ServeSettings {
    fn default() -> ServeSettings {
        ServeSettings {
            on: true,
            stacks: true,
            interval: DEFAULT_INTERVAL,
            socket_dir: None,
            tcp: None,
            metrics: None,
        }
    }
}

pub(crate) type ThreadCallback = Arc<dyn Fn() + Send + Sync>;
pub(crate) type TaskCallback = Arc<dyn Fn(&TaskMeta<'_>) + Send + Sync>;

/// The app's own runtime callbacks, which the probe's hooks call (shared, so that a disabled
/// probe can install them directly).
#[derive(Default)]
pub(crate) struct Callbacks {
    pub(crate) thread_start: Option<ThreadCallback>,
    pub(crate) thread_stop: Option<ThreadCallback>,
    pub(crate) task_spawn: Option<TaskCallback>,
    pub(crate) before_task_poll: Option<TaskCallback>,
    pub(crate) after_task_poll: Option<TaskCallback>,
}

impl fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callbacks")
            .field("thread_start", &self.thread_start.is_some())
            .field("thread_stop", &self.thread_stop.is_some())
            .field("task_spawn", &self.task_spawn.is_some())
            .field("before_task_poll", &self.before_task_poll.is_some())
            .field("after_task_poll", &self.after_task_poll.is_some())
            .finish()
    }
}

/// Configures a [`Probe`]: from [`Probe::builder`], finished by [`build`](Self::build).
///
/// tokio keeps one callback per runtime hook and has no getter for it, so the probe's hooks
/// and an app's own cannot both be set on a `tokio::runtime::Builder`: a callback set there
/// before [`Probe::install`] is replaced by the probe's, and one set after it replaces the
/// probe's and blinds it ([`Probe::hooks_fired`] then stays false). An app's own callbacks go
/// here instead; the probe's hooks call them, and a disabled probe installs them alone.
///
/// ```no_run
/// use std::time::Duration;
///
/// let probe = tokmon_probe::Probe::builder()
///     .long_poll_threshold(Duration::from_millis(20))
///     .stall_threshold(Duration::from_millis(200))
///     .on_thread_start(|| println!("a runtime thread started"))
///     .with_env()
///     .build();
/// let runtime = probe
///     .install(tokio::runtime::Builder::new_multi_thread().enable_all())
///     .build()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ProbeBuilder {
    enabled: bool,
    long_poll_threshold: Duration,
    stall_threshold: Duration,
    serve: ServeSettings,
    callbacks: Callbacks,
}

impl Default for ProbeBuilder {
    fn default() -> ProbeBuilder {
        ProbeBuilder {
            enabled: true,
            long_poll_threshold: DEFAULT_LONG_POLL_THRESHOLD,
            stall_threshold: DEFAULT_STALL_THRESHOLD,
            serve: ServeSettings::default(),
            callbacks: Callbacks::default(),
        }
    }
}

impl ProbeBuilder {
    /// A disabled probe installs none of its own work, only the app's callbacks given here,
    /// so the app behaves the same with the probe off. Enabled by default.
    pub fn enabled(mut self, enabled: bool) -> ProbeBuilder {
        self.enabled = enabled;
        self
    }

    /// A completed poll at least this long is recorded as a [`LongPoll`](super::LongPoll).
    /// Default [`DEFAULT_LONG_POLL_THRESHOLD`].
    pub fn long_poll_threshold(mut self, threshold: Duration) -> ProbeBuilder {
        self.long_poll_threshold = threshold;
        self
    }

    /// A poll still running after this long is a stall. Default [`DEFAULT_STALL_THRESHOLD`].
    pub fn stall_threshold(mut self, threshold: Duration) -> ProbeBuilder {
        self.stall_threshold = threshold;
        self
    }

    /// Whether the probe serves its readings for `tokmon attach` (Linux; default on): when the
    /// runtime starts its first thread, the probe starts a thread of its own
    /// (`tokmon-probe-serve`) that runs the [monitor](crate::monitor) and a
    /// [server](crate::wire::Server) on a Unix socket (see [`socket_dir`](Self::socket_dir)),
    /// until the runtime shuts down. A server that cannot start is reported once on standard
    /// error and the app runs on unmonitored. Off, nothing of this runs: the app reads the probe
    /// itself, as tokmon's own runs do.
    pub fn serve(mut self, serve: bool) -> ProbeBuilder {
        self.serve.on = serve;
        self
    }

    /// Whether the serving monitor captures a stalled thread's stack (default on; see
    /// [`MonitorOptions::stacks`](crate::monitor::MonitorOptions::stacks) for the `EINTR` it
    /// may cause).
    pub fn stacks(mut self, stacks: bool) -> ProbeBuilder {
        self.serve.stacks = stacks;
        self
    }

    /// Time between two readings served (default [`DEFAULT_INTERVAL`], at least
    /// [`MIN_INTERVAL`]).
    pub fn interval(mut self, interval: Duration) -> ProbeBuilder {
        self.serve.interval = interval.max(MIN_INTERVAL);
        self
    }

    /// The directory of the served Unix socket (and of the token file over TCP) instead of the
    /// wire's default ([`wire::unix::default_dir`](crate::wire::unix::default_dir)); created
    /// with mode 0700 if missing, refused if another user can enter it.
    pub fn socket_dir(mut self, dir: impl Into<PathBuf>) -> ProbeBuilder {
        self.serve.socket_dir = Some(dir.into());
        self
    }

    /// Serve over TCP on `addr` instead of the Unix socket (port 0 picks a free one). The
    /// address must be loopback; a client must present the server's random token, which the
    /// probe writes to `<socket dir>/<pid>.token` (mode 0600) and names, with the address,
    /// once on standard error.
    pub fn tcp(mut self, addr: SocketAddr) -> ProbeBuilder {
        self.serve.tcp = Some(addr);
        self
    }

    /// Serve the probe's counters as OpenMetrics at `http://ADDR/metrics` (feature
    /// `openmetrics`), for Prometheus: the serving thread (see [`serve`](Self::serve), which
    /// must stay on) starts an exporter thread of its own that answers one scrape at a time,
    /// with timeouts. Any address may be given (port 0 picks a free port, which
    /// `Probe::metrics_addr`, built with the feature, tells); `TOKMON_PROBE_METRICS_ADDR`
    /// with a port alone binds loopback. A probe built without the feature reports the setting
    /// once on standard error and serves nothing.
    pub fn metrics_addr(mut self, addr: SocketAddr) -> ProbeBuilder {
        self.serve.metrics = Some(addr);
        self
    }

    /// Applies the environment over what is set so far (a setting made after this call wins
    /// over the environment):
    ///
    /// - `TOKMON_PROBE`: `off`, `0`, `false` or `no` disables the probe; `on`, `1`, `true` or
    ///   `yes` enables it.
    /// - `TOKMON_PROBE_LONG_POLL`, `TOKMON_PROBE_STALL`: the two thresholds, as durations such
    ///   as `10ms` or `1s`.
    /// - `TOKMON_PROBE_SERVE`, `TOKMON_PROBE_STACKS`: on or off, as `TOKMON_PROBE`
    ///   ([`serve`](Self::serve), [`stacks`](Self::stacks)).
    /// - `TOKMON_PROBE_INTERVAL`: the time between two readings served, at least `10ms`.
    /// - `TOKMON_PROBE_ADDR`: serve over TCP on this loopback address, such as `127.0.0.1:0`
    ///   ([`tcp`](Self::tcp)).
    /// - `TOKMON_PROBE_METRICS_ADDR`: serve OpenMetrics on this address, such as
    ///   `127.0.0.1:9464`, or on this port of 127.0.0.1 ([`metrics_addr`](Self::metrics_addr)).
    ///
    /// An empty variable counts as unset. A bad value never panics: it is reported once on
    /// standard error, naming the variable, its value and what was expected, and the setting
    /// stays as it was.
    pub fn with_env(self) -> ProbeBuilder {
        let (builder, problems) = env::apply(self, |name| {
            std::env::var_os(name).map(|v| v.to_string_lossy().into())
        });
        for problem in problems {
            eprintln!("{problem}");
        }
        builder
    }

    /// The app's own `on_thread_start`, called by the probe's hook on every thread the runtime
    /// starts, after the probe has registered the thread.
    pub fn on_thread_start(mut self, f: impl Fn() + Send + Sync + 'static) -> ProbeBuilder {
        self.callbacks.thread_start = Some(Arc::new(f));
        self
    }

    /// The app's own `on_thread_stop`, called before the probe forgets the thread.
    pub fn on_thread_stop(mut self, f: impl Fn() + Send + Sync + 'static) -> ProbeBuilder {
        self.callbacks.thread_stop = Some(Arc::new(f));
        self
    }

    /// The app's own `on_task_spawn`.
    pub fn on_task_spawn(
        mut self,
        f: impl Fn(&TaskMeta<'_>) + Send + Sync + 'static,
    ) -> ProbeBuilder {
        self.callbacks.task_spawn = Some(Arc::new(f));
        self
    }

    /// The app's own `on_before_task_poll`, called before the probe starts timing the poll so
    /// that its own time is not the task's.
    pub fn on_before_task_poll(
        mut self,
        f: impl Fn(&TaskMeta<'_>) + Send + Sync + 'static,
    ) -> ProbeBuilder {
        self.callbacks.before_task_poll = Some(Arc::new(f));
        self
    }

    /// The app's own `on_after_task_poll`, called after the probe has timed the poll.
    pub fn on_after_task_poll(
        mut self,
        f: impl Fn(&TaskMeta<'_>) + Send + Sync + 'static,
    ) -> ProbeBuilder {
        self.callbacks.after_task_poll = Some(Arc::new(f));
        self
    }

    pub fn build(self) -> Arc<Probe> {
        if self.serve.metrics.is_some() && !self.serve.on {
            eprintln!(
                "tokmon-probe: the metrics address needs serving on (TOKMON_PROBE_SERVE); no \
                 metrics are served"
            );
        }
        Arc::new(Probe {
            clock: CoarseClock::new(),
            threads: ThreadRegistry::default(),
            labels: TaskLabels::default(),
            canary: Canary::default(),
            enabled: self.enabled,
            stall_threshold: self.stall_threshold,
            long_poll_threshold_ns: AtomicU64::new(nanos(self.long_poll_threshold)),
            long_polls: ArrayQueue::new(LONG_POLL_QUEUE),
            long_polls_dropped: AtomicU64::new(0),
            hooks_fired: AtomicBool::new(false),
            serve: self.serve,
            #[cfg(target_os = "linux")]
            serving: crate::serve::Serving::default(),
            callbacks: self.callbacks,
            fallback_spawns: crate::sites::FallbackSpawns::default(),
            #[cfg(feature = "openmetrics")]
            fleet: crate::metrics::Fleet::new(nanos(self.stall_threshold)),
        })
    }
}
