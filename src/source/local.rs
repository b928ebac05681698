//! A scenario run in this process: the measured runtime with its workloads and the probe, the
//! monitor thread, the scripted phases, the knobs and the scenario switcher.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::{Abilities, Monitor, MonitorOptions, Origin, Source, State};
use crate::detect::event;
use crate::phase::PhasePlan;
use crate::probe::Probe;
use crate::probe::metrics::Exporter;
use crate::run::{
    Command, Control, Effect, PanicReport, PhaseView, RunConfig, ScenarioChoice, Update,
};
use crate::scenario::{PhaseSpec, Scenario};
use crate::workload::Engine;

/// How long shutdown waits for a worker stuck in a blocking poll before leaving it behind.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(500);

/// The scenarios the dashboard's switcher offers, and how to load one by name.
pub struct Switcher<'a> {
    pub choices: Vec<ScenarioChoice>,
    pub load: &'a dyn Fn(&str) -> anyhow::Result<Scenario>,
}

/// The measured runtime, its monitor and its phases.
struct Session {
    engine: Engine,
    monitor: Monitor,
    plan: PhasePlan,
    /// The measured runtime's probe, whose counters `--metrics-addr` serves.
    probe: Arc<Probe>,
}

impl Session {
    fn start(config: &RunConfig) -> anyhow::Result<Session> {
        let probe = Probe::builder()
            .serve(false)
            .long_poll_threshold(config.detector.long_poll_threshold)
            .stall_threshold(config.detector.stall_threshold)
            .build();
        let engine = Engine::start(&config.scenario, probe.clone())?;
        let handle = engine.handle().context("the measured runtime is running")?;
        let options = MonitorOptions {
            interval: config.interval,
            stacks: config.stacks,
        };
        let monitor = Monitor::start(probe.clone(), handle, engine.stats(), options)?;
        Ok(Session {
            engine,
            monitor,
            plan: PhasePlan::new(config.scenario.phases.clone()),
            probe,
        })
    }

    /// Starts the phases due at `elapsed_ns`.
    fn due_phases(&mut self, elapsed_ns: u64) -> Vec<Effect> {
        let due = self.plan.due(Duration::from_nanos(elapsed_ns));
        due.into_iter()
            .flat_map(|(index, phase)| self.start_phase(index, &phase, elapsed_ns))
            .collect()
    }

    /// The presenter's "next phase" key.
    fn skip_phase(&mut self, elapsed_ns: u64) -> Vec<Effect> {
        match self.plan.skip(Duration::from_nanos(elapsed_ns)) {
            Some((index, phase)) => self.start_phase(index, &phase, elapsed_ns),
            None => Vec::new(),
        }
    }

    /// A phase begins: it is told as an event, and its settings are applied to the running
    /// workloads (each change told as an event too).
    fn start_phase(&self, index: usize, phase: &PhaseSpec, elapsed_ns: u64) -> Vec<Effect> {
        let at_ms = elapsed_ns / 1_000_000;
        let next_at_ms = self
            .plan
            .next_in(Duration::from_nanos(elapsed_ns))
            .map(|d| at_ms + u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut effects = vec![
            Effect::PhaseBegun(PhaseView {
                index,
                note: phase.note.clone(),
                next_at_ms,
            }),
            Effect::Event(event(
                at_ms,
                format!("phase {} of {}", index + 1, self.plan.phases().len()),
                phase.note.clone(),
            )),
        ];
        for setting in &phase.set {
            effects.extend(self.apply(Control::Set(setting.clone()), at_ms));
        }
        effects
    }

    /// Applies a control; a resulting change is told as an event.
    fn apply(&self, control: Control, at_ms: u64) -> Vec<Effect> {
        let workload = match &control {
            Control::Set(setting) => Some(setting.workload.clone()),
            Control::Pause | Control::Resume => None,
        };
        let told = match self.engine.apply(control) {
            Ok(Some(change)) => Some(change.to_string()),
            Ok(None) => None,
            Err(error) => Some(format!("not applied: {error}")),
        };
        let mut effects: Vec<Effect> = told
            .map(|summary| Effect::Event(event(at_ms, summary, String::new())))
            .into_iter()
            .collect();
        if let Some(workload) = workload
            && let Some(kind) = self.engine.current(&workload)
        {
            effects.push(Effect::Applied { workload, kind });
        }
        effects
    }

    /// Stops the monitor (it sends one last sample, so totals cover the run), hands the
    /// samples still queued on, and shuts the measured runtime down.
    fn finish(self, out: &mut Vec<Update>) -> anyhow::Result<()> {
        let finished = self
            .monitor
            .finish(|sample| out.push(Update::Sample(Box::new(sample))));
        self.engine.shutdown(SHUTDOWN_TIMEOUT);
        finished
    }
}

/// A scenario run here, from its start to its duration's end (or until stopped).
pub struct LocalSource<'a> {
    config: RunConfig,
    session: Option<Session>,
    switcher: Option<&'a Switcher<'a>>,
    /// Panics caught on the measured runtime's threads (dashboard runs).
    panics: Option<&'a Receiver<PanicReport>>,
    /// What commands did, and a new run's start: handed on before new samples.
    pending: Vec<Update>,
    deadline: Option<Instant>,
    /// The run's clock at the last sample handed on: knobs and panics are told at it.
    now_ns: u64,
    /// The monitor went away.
    gone: bool,
    /// `--metrics-addr`: the probe's OpenMetrics exporter, following the scenario running now.
    metrics: Option<Exporter>,
}

impl<'a> LocalSource<'a> {
    /// Starts the run: the measured runtime, its workloads and the monitor.
    pub fn start(
        config: RunConfig,
        switcher: Option<&'a Switcher<'a>>,
        panics: Option<&'a Receiver<PanicReport>>,
    ) -> anyhow::Result<LocalSource<'a>> {
        let session = Session::start(&config)?;
        Ok(LocalSource {
            deadline: config.duration.map(|d| Instant::now() + d),
            pending: vec![Update::Begin(Box::new(config.clone()))],
            config,
            session: Some(session),
            switcher,
            panics,
            now_ns: 0,
            gone: false,
            metrics: None,
        })
    }

    /// Serves the running scenario's probe counters as OpenMetrics at `http://ADDR/metrics`
    /// (and the next scenario's after a switch), on a thread of the exporter's own; returns
    /// the address bound.
    pub fn serve_metrics(&mut self, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
        let probe = self
            .session
            .as_ref()
            .map(|s| s.probe.clone())
            .context("the run has ended")?;
        let exporter =
            Exporter::start(probe, addr).with_context(|| format!("serving metrics on {addr}"))?;
        let bound = exporter.local_addr();
        self.metrics = Some(exporter);
        Ok(bound)
    }

    /// Ends this run and starts the scenario called `name` in its place.
    fn switch_to(&mut self, name: &str) -> anyhow::Result<()> {
        let Some(switcher) = self.switcher else {
            anyhow::bail!("no scenario switcher");
        };
        let last = Source::finish(self)?;
        self.pending.extend(last);
        let scenario = (switcher.load)(name)?;
        self.config.detector = scenario.detector;
        self.config.scenario = scenario;
        let session = Session::start(&self.config)?;
        if let Some(metrics) = &self.metrics {
            metrics.follow(session.probe.clone());
        }
        self.session = Some(session);
        self.deadline = self.config.duration.map(|d| Instant::now() + d);
        self.now_ns = 0;
        self.gone = false;
        self.pending
            .push(Update::Begin(Box::new(self.config.clone())));
        Ok(())
    }
}

impl Source for LocalSource<'_> {
    fn origin(&self) -> Origin {
        Origin::Scenario
    }

    fn abilities(&self) -> Abilities {
        Abilities {
            knobs: true,
            seek: false,
        }
    }

    fn state(&self) -> State {
        let over = self.deadline.is_some_and(|d| Instant::now() >= d);
        if self.gone || over || self.session.is_none() {
            State::Ended
        } else {
            State::Live
        }
    }

    fn next(&mut self, wait: Duration) -> anyhow::Result<Vec<Update>> {
        let mut out = std::mem::take(&mut self.pending);
        let Some(session) = self.session.as_mut() else {
            return Ok(out);
        };
        let mut first = None;
        if out.is_empty() && !wait.is_zero() {
            match session.monitor.samples().recv_timeout(wait) {
                Ok(sample) => first = Some(sample),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.gone = true,
            }
        }
        let queued: Vec<_> = session.monitor.samples().try_iter().collect();
        for sample in first.into_iter().chain(queued) {
            self.now_ns = sample.elapsed_ns;
            out.push(Update::Sample(Box::new(sample)));
            let effects = session.due_phases(self.now_ns);
            out.extend(effects.into_iter().map(|e| Update::Effect(Box::new(e))));
        }
        if let Some(panics) = self.panics {
            for report in panics.try_iter() {
                let finding = report.finding(self.now_ns / 1_000_000);
                out.push(Update::Effect(Box::new(Effect::Panic { report, finding })));
            }
        }
        Ok(out)
    }

    fn command(&mut self, command: Command) -> anyhow::Result<()> {
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        let effects = match command {
            Command::Control(control) => session.apply(control, self.now_ns / 1_000_000),
            Command::NextPhase => session.skip_phase(self.now_ns),
            Command::SwitchScenario(name) => return self.switch_to(&name),
            Command::Replay(_) | Command::Clear | Command::Reset => Vec::new(),
        };
        self.pending
            .extend(effects.into_iter().map(|e| Update::Effect(Box::new(e))));
        Ok(())
    }

    fn scenarios(&self) -> Vec<ScenarioChoice> {
        self.switcher.map(|s| s.choices.clone()).unwrap_or_default()
    }

    fn finish(&mut self) -> anyhow::Result<Vec<Update>> {
        let mut out = std::mem::take(&mut self.pending);
        if let Some(session) = self.session.take() {
            session.finish(&mut out)?;
        }
        Ok(out)
    }
}
