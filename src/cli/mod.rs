//! The command line: `tokmon [run] [SCENARIO]`, `tokmon replay FILE`, `tokmon check FILE...`,
//! `tokmon list`.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::detect::FindingKind;
use crate::model::Model;
use crate::record::{Damage, Recorder, Recording};
use crate::report::Report;
use crate::report::{Format, render_text_with};
use crate::run::{RunConfig, ScenarioChoice};
use crate::runner::{DEFAULT_FPS, Dashboard, DashboardOptions, consume_headless, replay_headless};
use crate::scenario::{self, catalog};
use crate::source::{LocalSource, RecordingSource, Source, Switcher};
use crate::ui::{Look, ThemeName};

mod attach;

/// Where `tokmon list` and name lookups find scenario files.
pub const SCENARIOS_DIR: &str = "scenarios";
/// How often a headless run prints its one-line status.
const STATUS_EVERY_NS: u64 = 1_000_000_000;

#[derive(Debug, Parser)]
#[command(
    name = "tokmon",
    version,
    about = "htop for the Tokio runtime: run a scenario on a real runtime and watch what blocks it",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario (the default command).
    Run(RunArgs),
    /// Replay a recording made with `run --record`: the dashboard, or the report.
    Replay(ReplayArgs),
    /// Attach to a running app that carries tokmon-probe: the same dashboard, or the report.
    Attach(attach::AttachArgs),
    /// Validate scenario files without running them; exits 1 if any is bad.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the built-in scenarios and those in ./scenarios, with their titles.
    List,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A scenario file, or the name of a built-in or ./scenarios scenario (default: the
    /// built-in `default`).
    pub scenario: Option<String>,
    /// Print a report instead of opening the live dashboard.
    #[arg(long)]
    pub headless: bool,
    #[command(flatten)]
    pub dashboard: DashboardFlags,
    /// Stop after this long (e.g. `10s`, `1m`); without it, run until Ctrl-C.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    #[command(flatten)]
    pub report: ReportFlags,
    /// Time between two samples of the runtime.
    #[arg(long, value_parser = parse_duration, default_value = "100ms")]
    pub interval: Duration,
    /// A poll still running after this long is a stall (overrides the scenario).
    #[arg(long, value_parser = parse_duration)]
    pub stall_threshold: Option<Duration>,
    /// A finished poll at least this long is a long poll (overrides the scenario).
    #[arg(long, value_parser = parse_duration)]
    pub long_poll_threshold: Option<Duration>,
    /// Divide every phase start and every workload pause by this factor (e.g. `10` runs a
    /// 60 s phased demo in 6 s).
    #[arg(long, value_parser = parse_time_scale)]
    pub time_scale: Option<f64>,
    /// Do not capture stuck threads' stacks (on by default on Linux x86-64).
    #[arg(long)]
    pub no_stacks: bool,
    /// Record the run to this file as it goes (samples, phases, knob changes, findings'
    /// events), for `tokmon replay FILE`.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Serve console-subscriber on the measured runtime, so `tokio-console` can attach for
    /// per-task drill-down next to tokmon (it costs the runtime; off by default).
    #[arg(long)]
    pub console: bool,
    /// With --console: the address to serve it at. Loopback only unless you give another
    /// address; port 0 picks a free port.
    #[arg(
        long,
        value_name = "ADDR",
        value_parser = crate::console::parse_addr,
        default_value = crate::console::DEFAULT_ADDR,
        requires = "console"
    )]
    pub console_addr: SocketAddr,
    /// Serve the probe's counters as OpenMetrics at http://ADDR/metrics for Prometheus (as an
    /// app's probe does with TOKMON_PROBE_METRICS_ADDR); port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A recording made with `tokmon run --record FILE`.
    pub file: PathBuf,
    /// Print the report the live run would have printed instead of opening the dashboard.
    #[arg(long)]
    pub headless: bool,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write the report to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// In the text report, each culprit's worst stall with its whole stack.
    #[arg(long)]
    pub stacks: bool,
    /// Dashboard: replay this many times faster than the run went (`<` and `>` change it).
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
    #[command(flatten)]
    pub dashboard: DashboardFlags,
}

/// How the dashboard looks and how often it draws: the same flags wherever there is one.
#[derive(Debug, Args)]
pub struct DashboardFlags {
    /// Dashboard: redraw at most this many times a second.
    #[arg(long, default_value_t = DEFAULT_FPS, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub fps: u32,
    /// Dashboard colours (default: dark; `NO_COLOR` in the environment picks mono).
    #[arg(long, value_enum)]
    pub theme: Option<ThemeName>,
    /// Dashboard: draw bars, sparklines and borders with ASCII characters only.
    #[arg(long)]
    pub ascii: bool,
}

impl DashboardFlags {
    fn options(&self) -> DashboardOptions {
        DashboardOptions {
            look: Look {
                theme: theme(self.theme),
                ascii: self.ascii,
            },
            fps: self.fps,
        }
    }
}

/// Where the report goes and what fails the command: the same for a run and an attachment.
#[derive(Debug, Args)]
pub struct ReportFlags {
    /// Report format (headless; the dashboard prints a text report when it closes).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write the report to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Exit with code 1 when a finding of one of these kinds occurred (comma-separated), so a
    /// CI job fails on blocking.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub fail_on: Vec<FindingKind>,
    /// Do not print the one-line status every second.
    #[arg(long, short)]
    pub quiet: bool,
    /// In the text report, each culprit's worst stall with its whole stack (std, tokio and
    /// dependencies too); the JSON report always has every frame.
    #[arg(long)]
    pub stacks: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let d =
        humantime::parse_duration(text).map_err(|e| format!("{e} (write e.g. 100ms, 10s, 1m)"))?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

fn parse_speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(format!(
            "`{text}` is not a positive number (e.g. 2 to replay twice as fast)"
        )),
    }
}

fn parse_time_scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(format!(
            "`{text}` is not a positive number (e.g. 10 to run ten times faster)"
        )),
    }
}

/// Runs the command line; the binary's whole `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Run(args)) => run(args),
        Some(Command::Replay(args)) => replay(args),
        Some(Command::Attach(args)) => attach::attach(args),
        Some(Command::Check { files }) => Ok(check(&files)),
        Some(Command::List) => list(),
        None => run(cli.run),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("tokmon: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let scenario = catalog::resolve(args.scenario.as_deref(), Path::new(SCENARIOS_DIR))?;
    let mut detector = scenario.detector;
    if let Some(d) = args.stall_threshold {
        detector.stall_threshold = d;
    }
    if let Some(d) = args.long_poll_threshold {
        detector.long_poll_threshold = d;
    }
    if detector.long_poll_threshold >= detector.stall_threshold {
        anyhow::bail!(
            "the long-poll threshold ({:?}) must be below the stall threshold ({:?})",
            detector.long_poll_threshold,
            detector.stall_threshold
        );
    }
    let scenario = match args.time_scale {
        Some(factor) => scenario.time_scaled(factor),
        None => scenario,
    };
    // Before the measured runtime starts, so the console sees its tasks from the first.
    let console = match args.console {
        true => Some(crate::console::serve(args.console_addr)?),
        false => None,
    };
    let config = RunConfig {
        scenario,
        detector,
        duration: args.duration,
        interval: args.interval,
        stacks: !args.no_stacks,
        console,
    };
    let mut recorder = match &args.record {
        Some(path) => Some(Recorder::create(path, &config, args.time_scale)?),
        None => None,
    };
    let stop = install_ctrl_c()?;
    let report = if args.headless {
        let banner = format!(
            "running `{}` ({}){}",
            config.scenario.name,
            config.scenario.title,
            for_how_long(config.duration)
        );
        LocalSource::start(config.clone(), None, None).and_then(|mut source| {
            let console = config.console.map(console_line);
            let metrics = serve_metrics(&mut source, args.metrics_addr)?;
            let lines = [Some(banner), console, metrics];
            headless(
                args.report.quiet,
                &lines,
                &mut source,
                recorder.as_mut(),
                &stop,
            )
        })
    } else {
        dashboard(&args, &config, recorder.as_mut(), &stop)
    };
    // Whatever became of the run, the recording is closed and told about.
    let recorded = Recorded::close(recorder);
    let report = report?;
    write_report(
        &report,
        args.report.format,
        args.report.stacks,
        args.report.out.as_deref(),
    )?;
    recorded.tell(args.report.quiet)?;
    Ok(exit_code(&report, &args.report.fail_on))
}

/// A recording closed, whatever became of its run, to be told about once the report is out.
struct Recorded(Option<(PathBuf, anyhow::Result<crate::record::RecordingStats>)>);

impl Recorded {
    fn close(recorder: Option<Recorder>) -> Recorded {
        Recorded(recorder.map(|r| {
            let path = r.path().to_path_buf();
            (path, r.finish())
        }))
    }

    fn tell(self, quiet: bool) -> anyhow::Result<()> {
        let Some((path, result)) = self.0 else {
            return Ok(());
        };
        let stats = result?;
        if !quiet {
            eprintln!(
                "tokmon: recorded {} samples ({} bytes) to {}; replay with `tokmon replay {}`",
                stats.samples,
                stats.bytes,
                path.display(),
                path.display()
            );
        }
        Ok(())
    }
}

/// Exit code 1 when a finding of a kind in `fail_on` occurred, saying which.
fn exit_code(report: &Report, fail_on: &[FindingKind]) -> ExitCode {
    let failed: Vec<&str> = fail_on
        .iter()
        .filter(|kind| report.finding_counts.contains_key(kind))
        .map(|kind| kind.name())
        .collect();
    if failed.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "tokmon: failing: {} finding(s) occurred (--fail-on)",
        failed.join(", ")
    );
    ExitCode::from(1)
}

/// " for 30s" or " until Ctrl-C", for the first line of a headless run.
fn for_how_long(duration: Option<Duration>) -> String {
    match duration {
        Some(d) => format!(" for {}", humantime::format_duration(d)),
        None => " until Ctrl-C".to_string(),
    }
}

/// Prints a report in `format` to standard output, or writes it to `out`.
fn write_report(
    report: &Report,
    format: Format,
    stacks: bool,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let text = match format {
        Format::Json => report.to_json(),
        Format::Text => render_text_with(report, stacks),
    };
    match out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
    }
    Ok(())
}

/// `tokmon replay FILE`: the dashboard from a recording, or with `--headless` the report the
/// live run would have printed.
fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let recording = Recording::open(&args.file)?;
    if let Some(damage @ Damage::Corrupt(_)) = &recording.damaged {
        eprintln!(
            "tokmon: {}: {damage}; replaying what came before it",
            args.file.display()
        );
    } else if recording.cut_off {
        eprintln!(
            "tokmon: {}: the last line was cut off (the run was killed, or is still recording); \
             replaying up to the line before it",
            args.file.display()
        );
    } else if !recording.complete {
        eprintln!(
            "tokmon: {}: the recording has no end line (the run was killed, or is still \
             recording); replaying what there is",
            args.file.display()
        );
    }
    if !args.headless {
        if !std::io::stdout().is_terminal() {
            anyhow::bail!(
                "standard output is not a terminal, and the replay dashboard needs one; \
                 `tokmon replay {} --headless` prints the report instead",
                args.file.display()
            );
        }
        let stop = install_ctrl_c()?;
        let mut source = RecordingSource::paced(&recording, args.speed);
        on_the_terminal(&mut source, None, &args.dashboard, &stop)?;
    }
    // After the dashboard too, as a live dashboard run prints its report when it closes.
    write_report(
        &replay_headless(&recording),
        args.format,
        args.stacks,
        args.out.as_deref(),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The dashboard of a source that needs nothing else (a replay, an attachment), on the real
/// terminal, which is given back whatever happens.
fn on_the_terminal(
    source: &mut dyn Source,
    recorder: Option<&mut Recorder>,
    flags: &DashboardFlags,
    stop: &AtomicBool,
) -> anyhow::Result<Report> {
    let (mut terminal, guard) = crate::tui::enter()?;
    let (panic_tx, _panic_rx) = std::sync::mpsc::sync_channel(1);
    let hook = crate::tui::install_panic_hook(std::thread::current().id(), panic_tx);
    let mut events = crate::tui::TerminalEvents::start()?;
    let mut dashboard = Dashboard {
        terminal: &mut terminal,
        events: &mut events,
        stop,
        options: flags.options(),
    };
    let report = dashboard.run(source, recorder, |_| {});
    drop(hook);
    drop(guard);
    report
}

/// The theme asked for, else dark (mono with `NO_COLOR`).
fn theme(asked: Option<ThemeName>) -> ThemeName {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    asked.unwrap_or(if no_color {
        ThemeName::Mono
    } else {
        ThemeName::Dark
    })
}

/// A headless run of `source`: `lines` first, status lines on standard error as it goes, the
/// report at the end.
fn headless(
    quiet: bool,
    lines: &[Option<String>],
    source: &mut dyn Source,
    recorder: Option<&mut Recorder>,
    stop: &AtomicBool,
) -> anyhow::Result<Report> {
    if !quiet {
        for line in lines.iter().flatten() {
            eprintln!("tokmon: {line}");
        }
    }
    let mut next_status = STATUS_EVERY_NS;
    let mut announced = 0;
    let mut told: Vec<(FindingKind, Option<String>, Option<String>)> = Vec::new();
    let report = consume_headless(source, recorder, stop, |model, detector| {
        if quiet {
            return;
        }
        // The first finding of each kind, workload and spawn site is told at once; repeats
        // are counted in the status line.
        for f in &detector.findings()[announced..] {
            let group = (f.kind, f.workload.clone(), f.spawned_at.clone());
            if f.kind != FindingKind::LongPoll && !told.contains(&group) {
                told.push(group);
                let line = format!(
                    "{:>6.1}s  {}: {}",
                    f.first_seen_ms as f64 / 1e3,
                    f.kind.name(),
                    f.summary
                );
                let options = textwrap::Options::new(100).subsequent_indent("          ");
                for part in textwrap::wrap(&line, options) {
                    eprintln!("{part}");
                }
            }
        }
        announced = detector.findings().len();
        if model.now_ns() >= next_status {
            next_status = model.now_ns() / STATUS_EVERY_NS * STATUS_EVERY_NS + STATUS_EVERY_NS;
            eprintln!("{}", status_line(model, detector));
        }
    })?;
    Ok(report)
}

/// `--metrics-addr`: the run's probe counters served for Prometheus; the line that says where.
fn serve_metrics(
    source: &mut LocalSource,
    addr: Option<SocketAddr>,
) -> anyhow::Result<Option<String>> {
    let Some(addr) = addr else { return Ok(None) };
    let bound = source.serve_metrics(addr)?;
    let mut line = format!("metrics: serving OpenMetrics at http://{bound}/metrics");
    if !bound.ip().is_loopback() {
        line.push_str(" (not a loopback address: other machines can connect)");
    }
    Ok(Some(line))
}

/// What a headless run says about `--console`: where, how to attach, and a warning when the
/// address is not loopback.
fn console_line(addr: SocketAddr) -> String {
    let mut line =
        format!("tokio-console: serving at {addr}; attach with `tokio-console http://{addr}`");
    if !addr.ip().is_loopback() {
        line.push_str(" (not a loopback address: other machines can connect)");
    }
    line
}

/// A run with the live dashboard on the terminal.
fn dashboard(
    args: &RunArgs,
    config: &RunConfig,
    recorder: Option<&mut Recorder>,
    stop: &AtomicBool,
) -> anyhow::Result<Report> {
    let options = args.dashboard.options();
    let (mut terminal, guard) = crate::tui::enter()?;
    let (panic_tx, panic_rx) = std::sync::mpsc::sync_channel(64);
    let hook = crate::tui::install_panic_hook(std::thread::current().id(), panic_tx);
    let mut events = crate::tui::TerminalEvents::start()?;
    let choices = catalog::list(Path::new(SCENARIOS_DIR))
        .into_iter()
        .filter(|e| e.error.is_none())
        .map(|e| ScenarioChoice {
            name: e.name,
            title: e.title,
        })
        .collect();
    let time_scale = args.time_scale;
    let load = move |name: &str| -> anyhow::Result<crate::scenario::Scenario> {
        let scenario = catalog::resolve(Some(name), Path::new(SCENARIOS_DIR))?;
        Ok(match time_scale {
            Some(factor) => scenario.time_scaled(factor),
            None => scenario,
        })
    };
    let switcher = Switcher {
        choices,
        load: &load,
    };
    let report = LocalSource::start(config.clone(), Some(&switcher), Some(&panic_rx)).and_then(
        |mut source| {
            serve_metrics(&mut source, args.metrics_addr)?;
            let mut dashboard = Dashboard {
                terminal: &mut terminal,
                events: &mut events,
                stop,
                options,
            };
            dashboard.run(&mut source, recorder, |_| {})
        },
    );
    drop(hook);
    drop(guard);
    report
}

/// The first Ctrl-C (or SIGTERM) ends the run and still prints the report; a second one exits
/// at once.
fn install_ctrl_c() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let presses = AtomicU32::new(0);
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if presses.fetch_add(1, Ordering::SeqCst) > 0 {
            // The dashboard may hold the terminal: give it back before leaving.
            crate::tui::restore();
            std::process::exit(130);
        }
        flag.store(true, Ordering::Release);
    })
    .context("installing the Ctrl-C handler")?;
    Ok(stop)
}

/// One line of what the run is doing now, for headless runs.
pub fn status_line(model: &Model, detector: &crate::detect::Detector) -> String {
    let mut line = format!("{:>6.1}s  busy", model.now_ns() as f64 / 1e9);
    for worker in &model.workers {
        // The probe's live figure when there is one: tokio's own freezes while a poll runs.
        let series = if worker.live_busy_ratio.is_empty() {
            &worker.busy_ratio
        } else {
            &worker.live_busy_ratio
        };
        let busy = model.recent_mean(series, 1.0).unwrap_or(0.0);
        line.push_str(&format!(" {:>3.0}%", busy * 100.0));
    }
    for w in &model.workloads {
        let rate = model.recent_mean(&w.ops_per_sec, 1.0).unwrap_or(0.0);
        line.push_str(&format!("  | {} {:.0}/s", w.id, rate));
        if let Some(p99) = w.p99_ms.iter().rev().take(10).reduce(f64::max) {
            line.push_str(&format!(" p99 {}", crate::report::fmt_ms(p99)));
        }
    }
    // Past the first findings, like ones fold into one entry: count what they stand for.
    let stalls = detector.count(FindingKind::Stall);
    if stalls > 0 {
        line.push_str(&format!("  | {stalls} stalls"));
    }
    if model.samples_dropped > 0 {
        line.push_str(&format!("  | dropped {}", model.samples_dropped));
    }
    line
}

fn check(files: &[PathBuf]) -> ExitCode {
    let mut bad = 0;
    for file in files {
        match scenario::load_file(file) {
            Ok(s) => println!("ok   {}  ({})", file.display(), s.title),
            Err(errors) => {
                bad += 1;
                eprintln!("{errors}\n");
            }
        }
    }
    if bad > 0 {
        eprintln!("{bad} of {} scenario files are bad", files.len());
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn list() -> anyhow::Result<ExitCode> {
    let entries = catalog::list(Path::new(SCENARIOS_DIR));
    let width = entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
    for entry in entries {
        let source = if entry.overrides_built_in {
            format!("{} (overrides built-in)", entry.source)
        } else {
            entry.source.to_string()
        };
        match &entry.error {
            None => println!("{:<width$}  {:<44}  {}", entry.name, source, entry.title),
            Some(error) => println!("{:<width$}  {:<44}  INVALID: {}", entry.name, source, error),
        }
    }
    Ok(ExitCode::SUCCESS)
}
