//! Another process, attached through its probe's socket: its readings become samples (their
//! stacks named here, from its module map and its files: its own on this machine, or copies
//! given with `--binary`, each checked by build id), and when it goes away the source says so
//! in plain words and keeps what came before.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokmon_probe::protocol::{self, Info, ModuleMap, TAG_INFO, TAG_MODULES, TAG_READING};
use tokmon_probe::sample::Reading;
use tokmon_probe::wire::{Client, ClientOptions, Incoming, WireError, unix};

use super::naming::{self, StackNames};
use super::{Abilities, Origin, Source, State};
use crate::run::{Command, RunConfig, Update};
use crate::scenario::{DetectorSpec, Scenario};
use crate::stack::Binaries;

/// How long the app has to send what a client needs first (its info and module map).
const FIRST_MESSAGES_WITHIN: Duration = Duration::from_secs(10);
/// How often the reader thread looks up from a quiet socket to see whether to stop.
const READ_TICK: Duration = Duration::from_millis(200);
/// Messages read ahead of the consumer.
const EVENT_QUEUE: usize = 256;

/// What to attach to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Pid(u32),
    Socket(PathBuf),
    /// A probe serving TCP (`TOKMON_PROBE_ADDR`), and the token it wrote to its token file.
    Tcp {
        addr: SocketAddr,
        token: String,
    },
}

/// What the reader thread passes on.
enum Event {
    /// The app's info again (it changed); what matters of it was read at the start.
    Info,
    Modules(ModuleMap),
    Reading(Box<Reading>),
    /// The app's messages dropped for this client so far (its queue was full).
    Dropped(u64),
    Gone(String),
}

/// A live attachment to another process's probe.
pub struct AttachSource {
    pid: u32,
    program: String,
    config: RunConfig,
    begun: bool,
    state: State,
    until: Option<Instant>,
    names: StackNames,
    events: Receiver<Event>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    /// Messages the app dropped for this client (cumulative), for the note at the end.
    dropped: u64,
    /// The app's probe clock at the first reading: the attachment's times count from there,
    /// as a run's count from its start, not from when the app's probe started.
    origin_ns: Option<u64>,
}

impl AttachSource {
    /// Connects to the probe of `target`, waits for its info and module map, and reads on.
    /// `binaries` are copies of the app's files (an executable, its libraries) to name its
    /// frames from, each used for the image with its build id. `duration` ends the attachment
    /// (as a run's duration does); `None` reads until stopped. `interval` is the time between
    /// two readings to ask for: the app's probe rounds it to a multiple of its own interval
    /// (never below it) and says in its info what it gives, which the run's config takes;
    /// `None` takes the probe's own.
    pub fn connect(
        target: &Target,
        binaries: &[PathBuf],
        duration: Option<Duration>,
        interval: Option<Duration>,
    ) -> anyhow::Result<AttachSource> {
        let mut options = ClientOptions::default().name("tokmon");
        if let Some(interval) = interval {
            options = options.sample_interval(interval);
        }
        let mut client = match target {
            Target::Tcp { addr, token } => Client::connect_tcp(*addr, token, &options)
                .with_context(|| format!("attaching to tcp://{addr}"))?,
            _ => {
                let path = socket_of(target)?;
                Client::connect_unix(&path, &options)
                    .map_err(|e| explain(e, &path))
                    .with_context(|| format!("attaching to {}", path.display()))?
            }
        };
        let hello = client.hello().clone();
        let pid = hello.pid;
        let program = hello.program.clone();
        client.set_read_timeout(Some(FIRST_MESSAGES_WITHIN))?;
        let (mut info, mut modules) = (None, None);
        let (info, modules) = loop {
            match (info.take(), modules.take()) {
                (Some(info), Some(modules)) => break (info, modules),
                (i, m) => (info, modules) = (i, m),
            }
            match client.recv().with_context(|| {
                format!("{program} (pid {pid}) sent no info within {FIRST_MESSAGES_WITHIN:?}")
            })? {
                Some(Incoming::Message {
                    tag: TAG_INFO,
                    bytes,
                }) => {
                    info = Some(protocol::decode::<Info>(&bytes).context("the app's info")?);
                }
                Some(Incoming::Message {
                    tag: TAG_MODULES,
                    bytes,
                }) => {
                    modules =
                        Some(protocol::decode::<ModuleMap>(&bytes).context("the app's modules")?);
                }
                Some(Incoming::Notice(notice)) => anyhow::bail!("{program}: {}", notice.text),
                Some(_) => {}
                None => anyhow::bail!("{program} (pid {pid}) closed the connection"),
            }
        };
        if !info.hooks_fired {
            eprintln!(
                "tokmon: {program}: the probe's hooks have not run: a callback set on tokio's \
                 builder after `install` replaces them; give it to the probe's builder instead"
            );
        }
        let binaries = binaries_of(target, pid, &modules)
            .with_given(binaries)
            .map_err(anyhow::Error::msg)?;
        // Said once, before anything is shown; each frame it concerns says why it is raw.
        let problems = binaries.problems(&modules);
        for problem in &problems {
            eprintln!("tokmon: {program}: {problem}");
        }
        client.set_read_timeout(Some(READ_TICK))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, events) = sync_channel(EVENT_QUEUE);
        let reader = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("tokmon-attach".into())
                .spawn(move || read(client, &tx, &stop))
                .context("starting the reader thread")?
        };
        Ok(AttachSource {
            config: config_of(
                pid,
                &program,
                &info,
                duration,
                binaries.executable(&modules).as_deref(),
                &problems,
            ),
            pid,
            program,
            begun: false,
            state: State::Live,
            until: duration.map(|d| Instant::now() + d),
            names: StackNames::of_process(binaries, modules),
            events,
            stop,
            reader: Some(reader),
            dropped: 0,
            origin_ns: None,
        })
    }

    /// The run this attachment is, as its first update gives it.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// Messages the app dropped for this client because it read too slowly.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn take(&mut self, event: Event, out: &mut Vec<Update>) {
        match event {
            Event::Info => {}
            Event::Modules(map) => self.names.set_modules(map),
            Event::Reading(reading) => {
                let origin = *self.origin_ns.get_or_insert(reading.elapsed_ns);
                // An attached app runs no workloads of tokmon's.
                let mut sample = self.names.sample_of(*reading, Vec::new());
                sample.elapsed_ns = sample.elapsed_ns.saturating_sub(origin);
                if let Some(probe) = sample.probe.as_mut() {
                    for poll in probe.in_flight.iter_mut().chain(&mut probe.long_polls) {
                        poll.started_ns = poll.started_ns.saturating_sub(origin);
                    }
                }
                out.push(Update::Sample(Box::new(sample)));
            }
            Event::Dropped(total) => self.dropped = total,
            Event::Gone(why) => self.state = State::Disconnected(why),
        }
    }
}

impl Source for AttachSource {
    fn origin(&self) -> Origin {
        Origin::Process {
            pid: self.pid,
            program: self.program.clone(),
        }
    }

    fn abilities(&self) -> Abilities {
        Abilities::default()
    }

    fn state(&self) -> State {
        self.state.clone()
    }

    fn next(&mut self, wait: Duration) -> anyhow::Result<Vec<Update>> {
        let mut out = Vec::new();
        if !self.begun {
            self.begun = true;
            out.push(Update::Begin(Box::new(self.config.clone())));
        }
        if self.state != State::Live {
            return Ok(out);
        }
        if self.until.is_some_and(|until| Instant::now() >= until) {
            self.state = State::Ended;
            return Ok(out);
        }
        match self.events.recv_timeout(wait) {
            Ok(event) => self.take(event, &mut out),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                self.state = State::Disconnected("the connection to the app ended".into());
            }
        }
        while let Ok(event) = self.events.try_recv() {
            self.take(event, &mut out);
        }
        Ok(out)
    }

    fn command(&mut self, _command: Command) -> anyhow::Result<()> {
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<Vec<Update>> {
        self.stop.store(true, Ordering::Release);
        let mut out = Vec::new();
        while let Ok(event) = self.events.try_recv() {
            self.take(event, &mut out);
        }
        if let Some(reader) = self.reader.take() {
            // It looks up every READ_TICK; a panic there lost nothing already passed on.
            let _ = reader.join();
        }
        Ok(out)
    }
}

/// The reader thread: the app's messages, decoded, until it goes away or the source stops.
fn read(mut client: Client, tx: &SyncSender<Event>, stop: &AtomicBool) {
    let gone = loop {
        if stop.load(Ordering::Acquire) {
            return;
        }
        let event = match client.recv() {
            Ok(Some(Incoming::Message { tag, bytes })) => match decode(tag, &bytes) {
                Ok(Some(event)) => event,
                Ok(None) => continue,
                Err(why) => break why,
            },
            Ok(Some(Incoming::Dropped { total })) => Event::Dropped(total),
            Ok(Some(Incoming::Notice(notice))) => break notice.text,
            Ok(None) => break "the app closed the connection: it exited or stopped serving".into(),
            Err(WireError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => break format!("the connection to the app broke: {e}"),
        };
        if tx.send(event).is_err() {
            return;
        }
    };
    let _ = tx.send(Event::Gone(gone));
}

fn decode(tag: u8, bytes: &[u8]) -> Result<Option<Event>, String> {
    let bad =
        |what: &str, e: &dyn std::fmt::Display| format!("the app sent a malformed {what}: {e}");
    Ok(Some(match tag {
        TAG_READING => Event::Reading(Box::new(
            protocol::decode(bytes).map_err(|e| bad("reading", &e))?,
        )),
        TAG_MODULES => Event::Modules(protocol::decode(bytes).map_err(|e| bad("module map", &e))?),
        TAG_INFO => {
            protocol::decode::<Info>(bytes).map_err(|e| bad("info", &e))?;
            Event::Info
        }
        // A message of a newer probe's: not for this client.
        _ => return Ok(None),
    }))
}

/// Where the app's files are read: through `/proc/<pid>/root` when it runs on this machine. A
/// unix socket is on this machine; a TCP peer is only when it is on the loopback address and
/// the local process `pid` is the app (its executable's build id is one of the app's images):
/// otherwise the hello's pid is another machine's (or another namespace's).
fn binaries_of(target: &Target, pid: u32, modules: &ModuleMap) -> Binaries {
    match target {
        Target::Tcp { addr, .. }
            if !(addr.ip().is_loopback() && tokmon_probe::symbolize::runs_here(pid, modules)) =>
        {
            Binaries::elsewhere()
        }
        _ => Binaries::this_machine(pid),
    }
}

/// The socket of `target`: a pid's, looked up where its probe listens (through its own view of
/// the file system), or a path given.
fn socket_of(target: &Target) -> anyhow::Result<PathBuf> {
    match target {
        Target::Socket(path) => Ok(path.clone()),
        Target::Tcp { addr, .. } => anyhow::bail!("tcp://{addr} has no socket file"),
        Target::Pid(pid) => {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                anyhow::bail!("no process {pid}");
            }
            unix::candidate_paths(*pid)
                .into_iter()
                .find(|path| path.exists())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "process {pid} serves no tokmon probe (no socket where one would be): \
                         does it install tokmon-probe, with TOKMON_PROBE not `off`?"
                    )
                })
        }
    }
}

/// A connection error in words that say what to do.
fn explain(error: WireError, path: &Path) -> anyhow::Error {
    match error {
        WireError::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => anyhow::anyhow!(
            "nothing listens on {} any more: the app exited or was killed",
            path.display()
        ),
        WireError::Io(e) if e.kind() == std::io::ErrorKind::PermissionDenied => anyhow::anyhow!(
            "{} belongs to another user: attach as that user (or root)",
            path.display()
        ),
        other => other.into(),
    }
}

/// The run an attachment is: the app's program and workers, the probe's thresholds, and no
/// workloads of tokmon's; what keeps its frames from being named (`problems`), in its title;
/// whether `executable` (the file its frames are named from) has line tables.
fn config_of(
    pid: u32,
    program: &str,
    info: &Info,
    duration: Option<Duration>,
    executable: Option<&Path>,
    problems: &[String],
) -> RunConfig {
    let detector = DetectorSpec {
        stall_threshold: Duration::from_nanos(info.stall_threshold_ns),
        long_poll_threshold: Duration::from_nanos(info.long_poll_threshold_ns),
        ..DetectorSpec::default()
    };
    let mut scenario = Scenario::attached(pid, program, info.workers, detector);
    // Said once where a person looks first (the dashboard's title, the report's head); each
    // stall then says what to add (the detector sees its stack named without lines).
    for problem in problems {
        scenario.title.push_str("; ");
        scenario.title.push_str(problem);
        scenario.description.push(' ');
        scenario.description.push_str(problem);
        scenario.description.push('.');
    }
    // The executable of a process elsewhere is not this machine's /proc/<pid>/exe: the copy
    // given, if any.
    if executable.and_then(naming::has_line_tables) == Some(false) {
        scenario.title.push_str(", built without line tables");
        scenario.description.push_str(&format!(
            " {program} was built without line tables, so its stalls name no blocking line: \
             add `debug = \"line-tables-only\"` to [profile.release]."
        ));
    }
    RunConfig {
        interval: Duration::from_nanos(info.interval_ns),
        stacks: info.stacks,
        ..RunConfig::new(scenario, duration)
    }
}
