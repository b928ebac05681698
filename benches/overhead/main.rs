//! What tokmon costs the runtime it measures, next to the other ways of looking inside tokio.
//!
//! `cargo bench --bench overhead [-- [--quick] [--json] [--runs N] [--variant A,B] [--verbose]
//! [WORKLOAD...]]` (`-- --help` says what each does). Progress, notes and warnings go to
//! stderr. The variants are in `variants.rs`, the workloads in `workloads.rs`, how the runs are
//! made (each in a child process of its own) in `harness.rs`, and what is printed in
//! `report.rs`.
//!
//! `cargo test` runs this too (`test = true`; cargo then passes no `--bench`): without `--bench`
//! (or `--quick`) it makes one small run of each variant on each workload, no warm-up and no
//! retries, prints the table, and fails only when a variant cannot run, never on a ratio. It
//! takes libtest's arguments harmlessly: options are ignored, a filter that names neither
//! `overhead` nor a workload runs nothing (as libtest would run no test), `--list` lists
//! nothing.

mod harness;
mod report;
mod variants;
mod workloads;

use std::num::NonZeroUsize;

use anyhow::{Result, bail};
use clap::builder::PossibleValuesParser;
use clap::{ArgAction, Parser};

use harness::{Mode, Plan};
use variants::{BASELINE, HOOKS_FLOOR, VARIANTS, Variant};
use workloads::{WORKLOADS, Workload};

/// The name libtest filters would match: this benchmark's one "test".
const TEST_NAME: &str = "overhead";

/// What tokmon costs the runtime it measures, next to the other ways of looking inside tokio.
#[derive(Parser)]
#[command(
    name = "overhead",
    bin_name = "cargo bench --bench overhead --",
    args_override_self = true
)]
struct Cli {
    /// Full-size runs (`cargo bench` passes it); without it or --quick, one small run of each
    /// variant on each workload, to see that they run (`cargo test`).
    #[arg(long)]
    bench: bool,
    /// Fewer, shorter runs: a smoke check well under a minute.
    #[arg(long)]
    quick: bool,
    /// Prints the table as JSON on stdout, and nothing else.
    #[arg(long)]
    json: bool,
    /// Prints every run on stderr.
    #[arg(long, short)]
    verbose: bool,
    /// Measured runs of each variant [default: 7, 3 with --quick, 1 in test mode].
    #[arg(long, value_name = "N")]
    runs: Option<NonZeroUsize>,
    /// Measures only these variants (and bare, always).
    #[arg(
        long,
        value_name = "A,B",
        value_delimiter = ',',
        value_parser = PossibleValuesParser::new(VARIANTS.iter().map(|v| v.name)),
    )]
    variant: Vec<String>,
    /// Runs only the workloads whose name contains one of these (one left out of the default
    /// set runs when named in full).
    #[arg(value_name = "WORKLOAD")]
    filters: Vec<String>,
    /// One measured run in this process, its result on stdout (the benchmark runs itself so).
    #[arg(long, hide = true, num_args = 3, value_names = ["VARIANT", "WORKLOAD", "SIZE"])]
    child: Option<Vec<String>>,
    #[command(flatten)]
    libtest: Libtest,
}

/// libtest's arguments, which `cargo test` may pass: `--skip`, `--exact`, `--list` and
/// `--ignored` act as libtest's would (the last two run nothing); the others are ignored.
#[derive(clap::Args)]
struct Libtest {
    #[arg(long, hide = true)]
    skip: Vec<String>,
    #[arg(long, hide = true)]
    exact: bool,
    #[arg(long, hide = true, alias = "ignored")]
    list: bool,
    #[arg(long = "nocapture", short = 'q', hide = true, action = ArgAction::Count, aliases = [
        "no-capture", "include-ignored", "show-output", "quiet", "test", "report-time",
        "ensure-time", "shuffle", "force-run-in-process", "exclude-should-panic",
    ])]
    _flags: u8,
    #[arg(long = "test-threads", short = 'Z', hide = true, aliases = [
        "logfile", "format", "color", "shuffle-seed",
    ])]
    _valued: Vec<String>,
}

impl Cli {
    fn mode(&self) -> Mode {
        match (self.bench, self.quick) {
            (_, true) => Mode::Quick,
            (true, false) => Mode::Full,
            (false, false) => Mode::Test,
        }
    }

    /// Whether `filter` selects `name` (libtest's rule: a substring, or the whole name with
    /// `--exact`).
    fn matches(&self, filter: &str, name: &str) -> bool {
        match self.libtest.exact {
            true => filter == name,
            false => name.contains(filter),
        }
    }

    /// The workloads the filters select: all default ones without a filter or with one that
    /// matches this benchmark's name; else those a filter matches (a workload outside the
    /// default set only when named in full).
    fn workloads(&self) -> Vec<&'static Workload> {
        let skips = &self.libtest.skip;
        if self.libtest.list || skips.iter().any(|s| self.matches(s, TEST_NAME)) {
            return Vec::new();
        }
        let all =
            self.filters.is_empty() || self.filters.iter().any(|f| self.matches(f, TEST_NAME));
        let chosen = |w: &Workload| match all {
            true => w.default,
            false => self
                .filters
                .iter()
                .any(|f| f == w.name || (w.default && self.matches(f, w.name))),
        };
        WORKLOADS
            .iter()
            .filter(|w| chosen(w) && !skips.iter().any(|s| self.matches(s, w.name)))
            .collect()
    }

    /// The variants to measure, the baseline and the hooks' floor first.
    fn variants(&self) -> Vec<&'static Variant> {
        let chosen =
            |v: &Variant| self.variant.is_empty() || self.variant.iter().any(|n| n == v.name);
        VARIANTS
            .iter()
            .filter(|v| v.name == BASELINE || v.name == HOOKS_FLOOR || chosen(v))
            .collect()
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some([variant, workload, size]) = cli.child.as_deref() {
        return harness::child(variant, workload, size);
    }
    let workloads = cli.workloads();
    if workloads.is_empty() {
        if !cli.libtest.list {
            eprintln!("overhead: no workload matches the arguments; nothing to run");
        }
        return Ok(());
    }
    let mut variants = cli.variants();
    for variant in &variants {
        if let Some(why) = variant.missing {
            eprintln!("note: skipping the {} variant: {why}", variant.name);
        }
    }
    variants.retain(|v| v.missing.is_none());
    let mode = cli.mode();
    if mode == Mode::Test {
        eprintln!(
            "overhead: test mode (no --bench): one small run of each variant on each workload, \
             to see that they run; the numbers mean nothing (`cargo bench --bench overhead` \
             measures)"
        );
    }
    let plan = Plan {
        mode,
        runs: cli.runs.map_or(
            match mode {
                Mode::Full => 7,
                Mode::Quick => 3,
                Mode::Test => 1,
            },
            NonZeroUsize::get,
        ),
        verbose: cli.verbose,
    };
    let rows: Vec<_> = workloads
        .into_iter()
        .flat_map(|workload| harness::measure(workload, &variants, &plan))
        .collect();
    if cli.json {
        println!("{}", report::json(&rows)?);
    } else {
        print!("{}", report::text(&rows));
        let notes = report::notes(&rows, mode);
        if !notes.is_empty() {
            println!();
            for note in notes {
                println!("note: {note}");
            }
        }
    }
    let failed = rows.iter().filter(|row| row.error.is_some()).count();
    if failed > 0 {
        bail!("{failed} variant(s) could not run a workload (see above)");
    }
    Ok(())
}
