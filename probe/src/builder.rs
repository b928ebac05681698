//! How an app configures its probe: thresholds, on or off, and the app's own runtime callbacks.

use std::fmt;
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
    callbacks: Callbacks,
}

impl Default for ProbeBuilder {
    fn default() -> ProbeBuilder {
        ProbeBuilder {
            enabled: true,
            long_poll_threshold: DEFAULT_LONG_POLL_THRESHOLD,
            stall_threshold: DEFAULT_STALL_THRESHOLD,
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

    /// Applies the environment over what is set so far (a setting made after this call wins
    /// over the environment):
    ///
    /// - `TOKMON_PROBE`: `off`, `0`, `false` or `no` disables the probe; `on`, `1`, `true` or
    ///   `yes` enables it.
    /// - `TOKMON_PROBE_LONG_POLL`, `TOKMON_PROBE_STALL`: the two thresholds, as durations such
    ///   as `10ms` or `1s`.
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
            callbacks: self.callbacks,
        })
    }
}
