//! The probe serving its own readings for `tokmon attach`: a std thread of its own, started at
//! the runtime's first thread start, that runs the monitor and the wire's server until the
//! runtime shuts down.
//!
//! Nothing of it runs on the app's runtime but the monitor's lag canary. A new client gets the
//! [`Info`] and the [`ModuleMap`] first, then every reading, or, if it asked for a longer
//! interval, the readings folded into one per its interval (`pace`: the probe's own interval,
//! what watching costs the app, does not change per client); a server that cannot start is
//! reported once and the app runs on unmonitored; an error while serving is counted (the first
//! one reported) and serving goes on.

mod pace;

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

use crate::builder::ServeSettings;
use crate::monitor::{Monitor, MonitorOptions};
use crate::protocol::{self, Info, ModuleMap, TAG_INFO, TAG_MODULES, TAG_READING};
use crate::sample::Reading;
use crate::wire::{self, Endpoint, Server, ServerConfig, WireError};
use crate::{Probe, nanos};
use pace::{NewStalls, Paced};

/// How often the serving thread looks for new clients and for the runtime's shutdown when no
/// reading comes sooner.
const WAKE_EVERY: Duration = Duration::from_millis(20);

/// How long the runtime's last thread, stopping after the runtime shut down, waits for the
/// serving thread to stop: long enough for the wire's listener to notice (200 ms) and the
/// socket to go, so that an app whose `main` returns right after dropping its runtime leaves
/// no socket behind; bounded, so that the app's shutdown never hangs on the probe.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// Where a probe serving over TCP writes its token: beside where its Unix socket would be,
/// in the same private directory (mode 0700), as `<pid>.token` (mode 0600).
pub fn token_path(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{pid}.token"))
}

/// The serving thread's state, as the app sees it through [`Probe::endpoint`].
#[derive(Debug, Default)]
pub(crate) struct Serving {
    /// Set by the first thread start: serving starts once per probe.
    started: AtomicBool,
    /// The monitor's flag, set when the runtime drops the canary's task.
    runtime_gone: OnceLock<Arc<AtomicBool>>,
    phase: Mutex<Phase>,
    changed: Condvar,
    errors: AtomicU64,
}

#[derive(Debug, Clone, Default)]
enum Phase {
    /// No runtime thread has started yet.
    #[default]
    Idle,
    Starting,
    Serving(Endpoint),
    /// Stopped with the runtime, or never started.
    Stopped,
}

impl Serving {
    pub(crate) fn endpoint(&self) -> Option<Endpoint> {
        match &*self.phase() {
            Phase::Serving(endpoint) => Some(endpoint.clone()),
            _ => None,
        }
    }

    pub(crate) fn wait_for_endpoint(&self, on: bool, timeout: Duration) -> Option<Endpoint> {
        if !on {
            return None;
        }
        match &*self.wait_while(timeout, |phase| {
            matches!(phase, Phase::Idle | Phase::Starting)
        }) {
            Phase::Serving(endpoint) => Some(endpoint.clone()),
            _ => None,
        }
    }

    /// The phase once `waiting` no longer holds of it, or after `timeout`.
    fn wait_while(
        &self,
        timeout: Duration,
        waiting: impl Fn(&Phase) -> bool,
    ) -> MutexGuard<'_, Phase> {
        let deadline = Instant::now() + timeout;
        let mut phase = self.phase();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if !waiting(&phase) || left.is_zero() {
                return phase;
            }
            phase = self
                .changed
                .wait_timeout(phase, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    pub(crate) fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    fn set(&self, phase: Phase) {
        *self.phase() = phase;
        self.changed.notify_all();
    }

    /// Counts an error; the first one is reported on standard error.
    fn error(&self, what: &str, error: impl Display) {
        if self.errors.fetch_add(1, Ordering::Relaxed) == 0 {
            eprintln!(
                "tokmon-probe: {what}: {error} (serving goes on; later errors are counted, not \
                 reported: Probe::serve_errors)"
            );
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        // The phase is replaced whole: a panic elsewhere cannot leave it half-written.
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Starts serving on the first call for `probe`; called from the thread-start hook, on a thread
/// of the runtime, where the runtime's handle is current.
pub(crate) fn start_once(probe: &Arc<Probe>) {
    let serving = &probe.serving;
    if serving.started.swap(true, Ordering::AcqRel) {
        return;
    }
    let Ok(handle) = Handle::try_current() else {
        eprintln!(
            "tokmon-probe: cannot serve readings: no runtime handle on the runtime's thread; the \
             app runs on unmonitored"
        );
        serving.set(Phase::Stopped);
        return;
    };
    serving.set(Phase::Starting);
    let spawned = std::thread::Builder::new()
        .name("tokmon-probe-serve".into())
        .spawn({
            let probe = probe.clone();
            move || run(&probe, handle)
        });
    if let Err(e) = spawned {
        eprintln!(
            "tokmon-probe: cannot serve readings: cannot start its thread ({e}); the app runs on \
             unmonitored"
        );
        serving.set(Phase::Stopped);
    }
}

/// Called from the thread-stop hook, after the thread is unregistered: the last thread of a
/// runtime that shut down waits (a bounded time) for the serving thread to remove its socket,
/// so that dropping the runtime returns with the socket gone. A thread that stops while the
/// runtime runs on (a blocking-pool thread idling out) does not wait.
pub(crate) fn on_thread_stop(probe: &Probe) {
    let serving = &probe.serving;
    let shut_down = serving
        .runtime_gone
        .get()
        .is_some_and(|gone| gone.load(Ordering::Acquire));
    if shut_down && probe.threads.running() == 0 {
        drop(serving.wait_while(STOP_WAIT, |phase| !matches!(phase, Phase::Stopped)));
    }
}

/// The serving thread: the server, the monitor, then every reading to the clients until the
/// runtime shuts down.
fn run(probe: &Arc<Probe>, handle: Handle) {
    let serving = &probe.serving;
    let settings = &probe.serve;
    let server = match start_server(settings) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("tokmon-probe: cannot serve readings: {e}; the app runs on unmonitored");
            serving.set(Phase::Stopped);
            return;
        }
    };
    let info = Info {
        workers: handle.metrics().num_workers(),
        long_poll_threshold_ns: probe.long_poll_threshold_ns(),
        stall_threshold_ns: nanos(probe.stall_threshold()),
        interval_ns: nanos(settings.interval),
        stacks: settings.stacks,
        hooks_fired: probe.hooks_fired(),
    };
    let options = MonitorOptions {
        interval: settings.interval,
        stacks: settings.stacks,
    };
    let monitor = match Monitor::start(probe.clone(), handle, options) {
        Ok(monitor) => monitor,
        Err(e) => {
            eprintln!(
                "tokmon-probe: cannot serve readings: cannot start the monitor ({e}); the app \
                 runs on unmonitored"
            );
            serving.set(Phase::Stopped);
            return;
        }
    };
    // Before the endpoint is announced, so that a caller that waited for it knows both; it
    // stops when this thread ends.
    #[cfg(feature = "openmetrics")]
    let _exporter = start_metrics(probe, settings);
    #[cfg(not(feature = "openmetrics"))]
    no_metrics(settings);
    // Set once: serving starts once per probe.
    let _ = serving.runtime_gone.set(monitor.shut_down_flag());
    serving.set(Phase::Serving(server.endpoint().clone()));
    let mut clients = Clients {
        server: &server,
        serving,
        info,
        interval: settings.interval,
        modules: Modules::new(settings.stacks),
        paced: Vec::new(),
        paced_ids: Vec::new(),
        stalls: NewStalls::new(nanos(probe.stall_threshold())),
    };
    let wait = settings.interval.min(WAKE_EVERY);
    loop {
        let reading = match monitor.readings().recv_timeout(wait) {
            Ok(reading) => Some(reading),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        clients.greet_new();
        if let Some(reading) = reading {
            clients.send_reading(reading);
        }
        if monitor.runtime_shut_down() {
            break;
        }
    }
    if let Err(e) = monitor.finish(|reading| clients.send_reading(reading)) {
        serving.error("serving", e);
    }
    clients.send_the_rest();
    // Dropping the server closes the connections and removes the socket (and token) file.
    drop(server);
    serving.set(Phase::Stopped);
}

/// The OpenMetrics exporter, if the settings ask for one; one that cannot bind is reported
/// once and the app runs on without it.
#[cfg(feature = "openmetrics")]
fn start_metrics(probe: &Arc<Probe>, settings: &ServeSettings) -> Option<crate::metrics::Exporter> {
    let addr = settings.metrics?;
    match crate::metrics::Exporter::start(probe.clone(), addr) {
        Ok(exporter) => {
            let bound = exporter.local_addr();
            probe.fleet.set_addr(bound);
            eprintln!("tokmon-probe: serving metrics on http://{bound}/metrics");
            Some(exporter)
        }
        Err(e) => {
            eprintln!("tokmon-probe: cannot serve metrics on {addr}: {e}; the app runs on without");
            None
        }
    }
}

/// A probe built without the exporter says so if asked for metrics.
#[cfg(not(feature = "openmetrics"))]
fn no_metrics(settings: &ServeSettings) {
    if let Some(addr) = settings.metrics {
        eprintln!(
            "tokmon-probe: metrics on {addr} asked, but the probe was built without its \
             `openmetrics` feature; no metrics are served"
        );
    }
}

/// Binds the socket the settings ask for; over TCP, writes the token file and says where.
fn start_server(settings: &ServeSettings) -> Result<Server, WireError> {
    let dir = settings
        .socket_dir
        .clone()
        .unwrap_or_else(wire::unix::default_dir);
    let Some(addr) = settings.tcp else {
        return Server::start(ServerConfig::unix().socket_dir(dir));
    };
    wire::unix::prepare_dir(&dir)?;
    let token_file = token_path(&dir, std::process::id());
    let server = Server::start(ServerConfig::tcp(addr).token_file(&token_file))?;
    if let Endpoint::Tcp(bound) = server.endpoint() {
        eprintln!(
            "tokmon-probe: serving on {bound} over TCP; the token is in {}",
            token_file.display()
        );
    }
    Ok(server)
}

/// The attached clients, as the serving thread feeds them.
struct Clients<'a> {
    server: &'a Server,
    serving: &'a Serving,
    /// The probe's info; each client's says the interval it gets.
    info: Info,
    /// The probe's own interval.
    interval: Duration,
    modules: Modules,
    /// The clients served at a multiple of the probe's interval; the others share each
    /// reading, encoded once.
    paced: Vec<Paced>,
    /// Their ids, kept beside them for the broadcast to leave out.
    paced_ids: Vec<u64>,
    stalls: NewStalls,
}

impl Clients<'_> {
    /// Sends a module map that changed to the clients greeted before, then each client attached
    /// since the last call the info and the module map, before anything else reaches it
    /// (readings go only to clients already greeted).
    fn greet_new(&mut self) {
        if !self.server.has_clients() {
            return;
        }
        if self.modules.refresh(self.serving) {
            self.broadcast(TAG_MODULES, &self.modules.bytes);
        }
        let new = self.server.new_clients();
        if new.is_empty() {
            return;
        }
        let asked = self.server.clients();
        for id in new {
            let asked = asked.iter().find(|c| c.id == id);
            let every =
                pace::effective_interval(asked.and_then(|c| c.sample_interval), self.interval);
            let info = Info {
                interval_ns: nanos(every),
                ..self.info.clone()
            };
            let info = match protocol::encode(&info) {
                Ok(bytes) => bytes,
                Err(e) => {
                    self.serving.error("encoding the info", e);
                    continue;
                }
            };
            for (tag, bytes) in [(TAG_INFO, &info), (TAG_MODULES, &self.modules.bytes)] {
                if let Err(e) = self.server.send_to(id, tag, bytes) {
                    self.serving.error("greeting a client", e);
                }
            }
            if every > self.interval {
                self.paced.push(Paced::new(id, every, self.interval));
                self.paced_ids.push(id);
            }
        }
    }

    /// Sends `reading` to the clients at the probe's interval, encoded once for all of them,
    /// and folds it into each paced client's next reading, sent when due.
    fn send_reading(&mut self, reading: Reading) {
        if !self.server.has_clients() {
            return;
        }
        if self.paced.is_empty() {
            // The common case, as before any client asked for an interval of its own.
            match protocol::encode(&reading) {
                Ok(bytes) => self.broadcast(TAG_READING, &bytes),
                Err(e) => self.serving.error("encoding a reading", e),
            }
            return;
        }
        let server = self.server;
        self.paced.retain(|paced| server.is_attached(paced.id));
        self.paced_ids.clear();
        self.paced_ids
            .extend(self.paced.iter().map(|paced| paced.id));
        if server.announced_except(&self.paced_ids) > 0 {
            match protocol::encode(&reading) {
                Ok(bytes) => {
                    let sent =
                        server.broadcast_announced_except(TAG_READING, &bytes, &self.paced_ids);
                    if let Err(e) = sent {
                        self.serving.error("sending to the clients", e);
                    }
                }
                Err(e) => self.serving.error("encoding a reading", e),
            }
        }
        if self.paced.is_empty() {
            return;
        }
        let stall = self.stalls.check(&reading);
        // Each paced client gets its own copy but the last, which takes the reading itself.
        let mut reading = Some(reading);
        let last = self.paced.len() - 1;
        for (i, paced) in self.paced.iter_mut().enumerate() {
            let mine = if i == last {
                reading.take()
            } else {
                reading.clone()
            };
            let due = mine.and_then(|mine| paced.fold(mine, stall));
            if let Some(due) = due {
                send_paced(self.server, self.serving, paced.id, &due);
            }
        }
    }

    /// The runtime shut down: each paced client gets what it has not had yet.
    fn send_the_rest(&mut self) {
        for paced in &mut self.paced {
            if let Some(rest) = paced.take() {
                send_paced(self.server, self.serving, paced.id, &rest);
            }
        }
    }

    fn broadcast(&self, tag: u8, bytes: &[u8]) {
        // A client's full queue is the wire's to count and report to it; only a message no
        // client could ever take is an error here.
        if let Err(e) = self.server.broadcast_announced(tag, bytes) {
            self.serving.error("sending to the clients", e);
        }
    }
}

/// Sends one folded reading to its paced client; a full queue is the wire's to count.
fn send_paced(server: &Server, serving: &Serving, id: u64, reading: &Reading) {
    match protocol::encode(reading) {
        Ok(bytes) => {
            if let Err(e) = server.send_to(id, TAG_READING, &bytes) {
                serving.error("sending to a paced client", e);
            }
        }
        Err(e) => serving.error("encoding a reading", e),
    }
}

/// The module map clients get: empty without stack capture (no address to locate), else the
/// capture's module list, sent again when capture has reloaded it.
struct Modules {
    #[cfg_attr(
        not(all(target_arch = "x86_64", feature = "stack-capture")),
        allow(dead_code)
    )]
    stacks: bool,
    #[cfg(all(target_arch = "x86_64", feature = "stack-capture"))]
    list: Option<Arc<crate::stack::ModuleList>>,
    bytes: Vec<u8>,
}

impl Modules {
    fn new(stacks: bool) -> Modules {
        Modules {
            stacks: stacks && crate::stack::supported(),
            #[cfg(all(target_arch = "x86_64", feature = "stack-capture"))]
            list: None,
            bytes: protocol::encode(&ModuleMap::default()).unwrap_or_default(),
        }
    }

    /// Reads the capture's module list (loading it the first time); true when the map changed.
    #[cfg(all(target_arch = "x86_64", feature = "stack-capture"))]
    fn refresh(&mut self, serving: &Serving) -> bool {
        if !self.stacks {
            return false;
        }
        let list = match crate::stack::module_list(false) {
            Ok(list) => list,
            Err(e) => {
                // Capture cannot work either; the map stays empty rather than retried.
                self.stacks = false;
                serving.error("reading the module map", e);
                return false;
            }
        };
        if self
            .list
            .as_ref()
            .is_some_and(|last| Arc::ptr_eq(last, &list))
        {
            return false;
        }
        let encoded = protocol::encode(&ModuleMap::from(&*list));
        self.list = Some(list);
        match encoded {
            Ok(bytes) => {
                self.bytes = bytes;
                true
            }
            Err(e) => {
                serving.error("encoding the module map", e);
                false
            }
        }
    }

    #[cfg(not(all(target_arch = "x86_64", feature = "stack-capture")))]
    fn refresh(&mut self, _serving: &Serving) -> bool {
        false
    }
}
