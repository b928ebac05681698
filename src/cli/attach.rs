//! `tokmon attach`: the dashboard or the report of a running app that carries tokmon-probe,
//! found by pid, by socket, or as the one such app of this user.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokmon_probe::wire::unix;

use super::{
    DashboardFlags, Recorded, ReportFlags, exit_code, for_how_long, headless, install_ctrl_c,
    on_the_terminal, parse_duration, write_report,
};
use crate::record::Recorder;
use crate::source::{AttachSource, Source as _, Target};

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The app: its pid, the path of its probe's socket, or `tcp://HOST:PORT` (with
    /// --token-file). Without it, the attachable apps of this user are listed, and the only one
    /// is attached at once.
    pub target: Option<String>,
    /// With a `tcp://` target: the file the app's probe wrote its token to.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// A copy of the app's executable or of one of its shared libraries, to name its frames
    /// from (attached over TCP from another machine, or when the app's own file is gone); used
    /// only for the image with the same build id. Repeat it for each file.
    #[arg(long, value_name = "PATH")]
    pub binary: Vec<PathBuf>,
    /// Print a report instead of opening the live dashboard.
    #[arg(long)]
    pub headless: bool,
    /// Stop after this long (e.g. `30s`); without it, watch until Ctrl-C or the app exits.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Time between two readings to ask the app's probe for (e.g. `1s`): it rounds it to a
    /// multiple of its own interval (100 ms unless the app set another), never below it, and
    /// folds its readings so that nothing of the period is lost; a stall still comes at once.
    /// Without it, the probe's own interval.
    #[arg(long, value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// Record the attachment to this file as it goes, for `tokmon replay FILE`.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    #[command(flatten)]
    pub report: ReportFlags,
    #[command(flatten)]
    pub dashboard: DashboardFlags,
}

pub fn attach(args: AttachArgs) -> anyhow::Result<ExitCode> {
    let Some(target) = target(args.target.as_deref(), args.token_file.as_deref())? else {
        return Ok(ExitCode::SUCCESS);
    };
    let mut source = AttachSource::connect(&target, &args.binary, args.duration, args.interval)?;
    let mut recorder = match &args.record {
        Some(path) => Some(Recorder::create(path, source.config(), None)?),
        None => None,
    };
    let stop = install_ctrl_c()?;
    let report = if args.headless {
        let config = source.config().clone();
        let banner = format!(
            "attached to {}{}",
            config.scenario.source,
            for_how_long(args.duration)
        );
        headless(
            args.report.quiet,
            &[Some(banner)],
            &mut source,
            recorder.as_mut(),
            &stop,
        )
    } else {
        on_the_terminal(&mut source, recorder.as_mut(), &args.dashboard, &stop)
    };
    let recorded = Recorded::close(recorder);
    let report = report?;
    if let crate::source::State::Disconnected(why) = source.state() {
        eprintln!(
            "tokmon: {}: {why}; the report covers what came before",
            source.config().scenario.source
        );
    }
    if source.dropped() > 0 {
        eprintln!(
            "tokmon: the app dropped {} of its messages to tokmon, which read too slowly",
            source.dropped()
        );
    }
    write_report(
        &report,
        args.report.format,
        args.report.stacks,
        args.report.out.as_deref(),
    )?;
    recorded.tell(args.report.quiet)?;
    Ok(exit_code(&report, &args.report.fail_on))
}

/// What the command line names, or the one attachable app; `None` after listing several.
fn target(given: Option<&str>, token_file: Option<&Path>) -> anyhow::Result<Option<Target>> {
    if let Some(addr) = given.and_then(|text| text.strip_prefix("tcp://")) {
        let addr = addr
            .parse()
            .with_context(|| format!("`{addr}` is not HOST:PORT (e.g. tcp://127.0.0.1:7000)"))?;
        let Some(file) = token_file else {
            anyhow::bail!(
                "a tcp:// target needs --token-file: the file the app's probe wrote its token \
                 to (it says where on its standard error)"
            );
        };
        let token = std::fs::read_to_string(file)
            .with_context(|| format!("reading the token from {}", file.display()))?;
        let token = token.trim().to_string();
        return Ok(Some(Target::Tcp { addr, token }));
    }
    if token_file.is_some() {
        anyhow::bail!("--token-file goes with a tcp:// target only");
    }
    if let Some(text) = given {
        return Ok(Some(match text.parse::<u32>() {
            Ok(pid) => Target::Pid(pid),
            Err(_) => Target::Socket(PathBuf::from(text)),
        }));
    }
    let apps: Vec<_> = unix::list(&unix::default_dirs())
        .into_iter()
        .filter(|app| app.alive)
        .collect();
    match apps.as_slice() {
        [] => anyhow::bail!(
            "no app of this user serves a tokmon probe; give a pid (`tokmon attach PID`) or a \
             socket path"
        ),
        [one] => Ok(Some(Target::Socket(one.path.clone()))),
        several => {
            println!("{:>8}  {:<24}  socket", "pid", "program");
            for app in several {
                println!(
                    "{:>8}  {:<24}  {}",
                    app.pid,
                    program_of(app.pid),
                    app.path.display()
                );
            }
            println!("attach to one with `tokmon attach PID`");
            Ok(None)
        }
    }
}

/// The program's name as the kernel knows it (`/proc/PID/comm`).
fn program_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|name| name.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}
