//! Findings grouped by culprit, for people: one group per kind, culprit (the workload, else the
//! spawn site) and place (the blocking line, else the syscall the thread waited in), with how
//! many findings it holds, their typical and worst durations, when they were first and last
//! seen and whether one is going on. The dashboard's findings panel and the text report show
//! these groups; the detector keeps the findings themselves (see [`super::fold`]).

use super::{Finding, FindingKind, Severity};
use crate::report::{fmt_clock, fmt_ms};

/// Findings alike in who and where. Events are never grouped: [`by_culprit`] leaves them out.
#[derive(Debug, Clone, PartialEq)]
pub struct Group<'a> {
    pub kind: FindingKind,
    /// The highest severity among the members.
    pub severity: Severity,
    /// The workload, else the spawn site, else `None` (lag, a queue at its cap).
    pub culprit: Option<String>,
    /// The blocking line, else `in SYSCALL`, else `None`.
    pub place: Option<String>,
    /// Findings, as the detector counts them ([`Finding::stands_for`]).
    pub count: u64,
    /// Polls the members counted: a long-poll finding stands for one finding and many polls.
    pub polls: u64,
    /// The median of the members' durations.
    pub typical_ms: f64,
    pub worst: &'a Finding,
    pub first_ms: u64,
    pub last_ms: u64,
    pub ongoing: bool,
    /// The members, oldest first.
    pub members: Vec<&'a Finding>,
}

fn culprit(f: &Finding) -> Option<String> {
    f.workload.clone().or_else(|| f.spawned_at.clone())
}

fn place(f: &Finding) -> Option<String> {
    f.site
        .clone()
        .or_else(|| f.syscall.as_ref().map(|call| format!("in {call}")))
}

/// The findings other than events, grouped, the group seen most recently first (a group going
/// on before one that ended).
pub fn by_culprit<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Vec<Group<'a>> {
    let mut groups: Vec<Group<'a>> = Vec::new();
    let problems = findings
        .into_iter()
        .filter(|f| f.kind != FindingKind::Event);
    // Those that know their blocking line first: one without (a stall whose stack was not
    // caught, or not yet) then joins its culprit's group rather than making one that says
    // nothing new.
    let (placed, unplaced): (Vec<&Finding>, Vec<&Finding>) =
        problems.partition(|f| f.site.is_some());
    for f in placed.into_iter().chain(unplaced) {
        let who = culprit(f);
        // A finding with a blocking line joins the group of that line; one without joins its
        // culprit's largest group whose members waited in the same syscall (or any, when it
        // knows none).
        let same = |g: &Group<'_>| {
            g.kind == f.kind
                && g.culprit == who
                && match &f.site {
                    Some(site) => g.place.as_ref() == Some(site),
                    None => f.syscall.is_none() || g.members.iter().any(|m| m.syscall == f.syscall),
                }
        };
        let best = groups
            .iter_mut()
            .filter(|g| same(g))
            .max_by_key(|g| g.members.len());
        match best {
            Some(g) => g.members.push(f),
            None => groups.push(Group {
                kind: f.kind,
                severity: f.severity,
                culprit: who,
                place: place(f),
                count: 0,
                polls: 0,
                typical_ms: 0.0,
                worst: f,
                first_ms: f.first_seen_ms,
                last_ms: f.last_seen_ms,
                ongoing: false,
                members: vec![f],
            }),
        }
    }
    for g in &mut groups {
        g.members.sort_by_key(|f| f.first_seen_ms);
        let members = &g.members;
        g.severity = members
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(g.severity);
        g.count = members.iter().map(|f| f.stands_for()).sum();
        g.polls = members.iter().map(|f| f.count.max(1)).sum();
        g.first_ms = members.iter().map(|f| f.first_seen_ms).min().unwrap_or(0);
        g.last_ms = members.iter().map(|f| f.last_seen_ms).max().unwrap_or(0);
        g.ongoing = members.iter().any(|f| f.ongoing);
        if let Some(worst) = members
            .iter()
            .max_by(|a, b| a.duration_ms.total_cmp(&b.duration_ms))
        {
            g.worst = worst;
        }
        let mut durations: Vec<f64> = members.iter().map(|f| f.duration_ms).collect();
        durations.sort_by(f64::total_cmp);
        g.typical_ms = durations.get(durations.len() / 2).copied().unwrap_or(0.0);
    }
    groups.sort_by(|a, b| {
        b.ongoing
            .cmp(&a.ongoing)
            .then(b.last_ms.cmp(&a.last_ms))
            .then(b.severity.cmp(&a.severity))
    });
    groups
}

/// A row of the findings panel: a group, or an event (a phase begun, a knob turned).
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    Group(Group<'a>),
    Event(&'a Finding),
}

impl Entry<'_> {
    /// When it last happened, on the run's clock.
    pub fn at_ms(&self) -> u64 {
        match self {
            Entry::Group(g) => g.last_ms,
            Entry::Event(e) => e.first_seen_ms,
        }
    }
}

/// How far back an entry counts as recent: the panel puts what happened lately first, the
/// worst of it first.
pub const RECENT_MS: u64 = 10_000;

impl Entry<'_> {
    fn severity(&self) -> Severity {
        match self {
            Entry::Group(g) => g.severity,
            Entry::Event(e) => e.severity,
        }
    }
}

/// The groups and the events: those of the last [`RECENT_MS`] first, the most severe first
/// among them (a stall above the timer lag it causes), then by time, the latest first. At the
/// same time an event is above a group: it came after the sample that saw the group's finding.
pub fn entries(findings: &[Finding]) -> Vec<Entry<'_>> {
    let events = findings.iter().filter(|f| f.kind == FindingKind::Event);
    let mut entries: Vec<Entry<'_>> = events.rev().map(Entry::Event).collect();
    entries.extend(by_culprit(findings).into_iter().map(Entry::Group));
    let now = entries.iter().map(Entry::at_ms).max().unwrap_or(0);
    entries.sort_by_key(|e| {
        let recent = now.saturating_sub(e.at_ms()) <= RECENT_MS;
        (
            std::cmp::Reverse(recent),
            std::cmp::Reverse(recent.then(|| e.severity())),
            std::cmp::Reverse(e.at_ms()),
        )
    });
    entries
}

impl<'a> Group<'a> {
    /// What the group's findings are, counted: `12 stalls`, `1 stall`, `41 long polls`.
    pub fn counted(&self) -> String {
        let n = self.count;
        let one = n == 1;
        match self.kind {
            FindingKind::Stall => format!("{n} stall{}", if one { "" } else { "s" }),
            // Polls, as the findings' title counts them: a long-poll finding stands for many.
            FindingKind::LongPoll => format!("{} long poll{}", self.polls, plural(self.polls)),
            FindingKind::Lag => format!("{n} lag episode{}", if one { "" } else { "s" }),
            FindingKind::BlockingQueue => {
                format!("{n} queue episode{}", if one { "" } else { "s" })
            }
            FindingKind::BlockInPlace => format!("{n} block_in_place call{}", plural(n)),
            FindingKind::Panic => format!("{n} panic{}", plural(n)),
            FindingKind::Event => format!("{n} event{}", plural(n)),
        }
    }

    /// The culprit and its place, as the row's lead: `("hasher ", "at src/x.rs:9: ")`, or for
    /// a spawn site without a name `("", "at LINE (spawned at SITE): ")`.
    fn who_and_where(&self, with_call: bool) -> (String, String) {
        // The line, with what it was calling when caught (`in lock()`, `in sleep()`): two lines
        // of one task tell apart the wait for a lock and the work done holding it.
        let call = self
            .lead()
            .blocking_call()
            .filter(|_| with_call)
            .map(|call| format!(" in {call}()"))
            .unwrap_or_default();
        let lead = self
            .place
            .as_deref()
            .filter(|p| !p.starts_with("in "))
            .map(|site| format!("at {site}{call}: "))
            .unwrap_or_default();
        // A workload reads as a name before its line; a spawn site, a place itself, after it.
        let named = self.worst.workload.is_some();
        match (self.culprit.as_deref(), lead.is_empty()) {
            (None, _) => (String::new(), lead),
            (Some(c), true) => (format!("{c}: "), lead),
            (Some(c), false) if named => (format!("{c} "), lead),
            (Some(_), false) if self.members.len() == 1 => (String::new(), lead),
            (Some(c), false) => (
                String::new(),
                format!("{} (spawned at {c}): ", lead.trim_end_matches(": ")),
            ),
        }
    }

    /// The member to show for the group: its worst with a blocking line (and so a stack), else
    /// its worst. A stall whose stack was not caught joins its culprit's group and may be the
    /// worst, with nothing to show of where.
    pub fn lead(&self) -> &'a Finding {
        self.members
            .iter()
            .copied()
            .filter(|f| f.site.is_some())
            .max_by(|a, b| a.duration_ms.total_cmp(&b.duration_ms))
            .unwrap_or(self.worst)
    }

    /// The row for a narrow screen: who and where, how many, the worst; when and how typical
    /// are left to the detail; what the line was calling only `with_call`.
    pub fn brief(&self, with_call: bool) -> String {
        let counted = format!(
            "{}, worst {}",
            self.counted(),
            fmt_ms(self.worst.duration_ms)
        );
        match (self.culprit.as_deref(), self.worst.workload.is_some()) {
            // A spawn site as the culprit goes last: the line to change comes first.
            (Some(site), false) if self.place.as_ref().is_some_and(|p| !p.starts_with("in ")) => {
                let (_, lead) = self.who_and_where(with_call);
                let line = lead.split(" (spawned at ").next().unwrap_or(&lead);
                format!(
                    "{}: {counted} (spawned at {site})",
                    line.trim_end_matches(": ")
                )
            }
            _ => {
                let (who, lead) = self.who_and_where(with_call);
                format!("{who}{lead}{counted}")
            }
        }
    }

    /// One line: who and where first (they must survive a narrow screen), then how many
    /// since when, and how long. A group of one reads as its finding does.
    pub fn summary(&self) -> String {
        let (who, lead) = self.who_and_where(true);
        if self.members.len() == 1 {
            let f = self.worst;
            let rest = f
                .site_and_call()
                .and_then(|site| f.summary.strip_suffix(&format!(", at {site}")))
                .unwrap_or(&f.summary);
            // Only a blocking line earns the culprit a place before the finding's own words.
            let who = if lead.is_empty() { "" } else { &who };
            return format!("{who}{lead}{rest}");
        }
        let syscall = self
            .place
            .as_deref()
            .filter(|p| p.starts_with("in "))
            .map(|p| format!(" {p}"))
            .unwrap_or_default();
        format!(
            "{who}{lead}{} since {}{syscall}, typical {}, worst {}",
            self.counted(),
            fmt_clock(self.first_ms),
            fmt_ms(self.typical_ms),
            fmt_ms(self.worst.duration_ms)
        )
    }
}

/// What `findings` hold, per kind, each in its own unit said in words: `12 stalls ≥ 100 ms`,
/// `41 long polls 10-100 ms` (a long-poll finding counts many polls), `3 lag episodes`,
/// `2 events`. The dashboard's findings title and the text report's header.
pub fn counts_in_words<'a>(
    findings: impl IntoIterator<Item = &'a Finding>,
    long_poll_ms: f64,
    stall_ms: f64,
) -> Vec<String> {
    let mut counts: Vec<(FindingKind, u64)> = Vec::new();
    for f in findings {
        let n = match f.kind {
            FindingKind::LongPoll => f.count.max(1),
            _ => f.stands_for(),
        };
        match counts.iter_mut().find(|(k, _)| *k == f.kind) {
            Some((_, total)) => *total = total.saturating_add(n),
            None => counts.push((f.kind, n)),
        }
    }
    counts.sort();
    // Whole milliseconds as set (`10-100 ms`), others as the report writes them.
    let ms = |v: f64| match v.fract() {
        0.0 => format!("{v:.0} ms"),
        _ => fmt_ms(v),
    };
    let (long, stall) = (ms(long_poll_ms).replace(" ms", ""), ms(stall_ms));
    counts
        .into_iter()
        .map(|(kind, n)| {
            let unit = match kind {
                FindingKind::Stall => "stall",
                FindingKind::LongPoll => "long poll",
                FindingKind::Lag => "lag episode",
                FindingKind::BlockingQueue => "queue episode",
                FindingKind::BlockInPlace => "block_in_place",
                FindingKind::Panic => "panic",
                FindingKind::Event => "event",
            };
            // A stall is no long poll: each is counted in one kind, which the range says.
            let range = match kind {
                FindingKind::Stall => format!(" ≥ {stall}"),
                FindingKind::LongPoll => format!(" {long}-{stall}"),
                _ => String::new(),
            };
            format!("{n} {unit}{}{range}", plural(n))
        })
        .collect()
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stall(at_ms: u64, ms: f64, workload: &str, site: Option<&str>, syscall: &str) -> Finding {
        Finding {
            workload: Some(workload.into()),
            duration_ms: ms,
            site: site.map(Into::into),
            syscall: Some(syscall.into()),
            summary: format!("worker 0 was stuck {ms} ms in task 7 ({workload})"),
            ..Finding::new(FindingKind::Stall, Severity::Critical, at_ms)
        }
    }

    #[test]
    fn stalls_of_one_task_at_two_lines_are_two_groups_with_their_own_worst() {
        let findings = vec![
            stall(
                1_000,
                350.0,
                "server",
                Some("src/main.rs:82"),
                "clock_nanosleep",
            ),
            stall(2_000, 120.0, "server", Some("src/main.rs:95"), "read"),
            stall(
                3_000,
                380.0,
                "server",
                Some("src/main.rs:82"),
                "clock_nanosleep",
            ),
            stall(
                4_000,
                360.0,
                "server",
                Some("src/main.rs:82"),
                "clock_nanosleep",
            ),
            crate::detect::event(4_500, "phase 2".into(), String::new()),
        ];
        let groups = by_culprit(&findings);
        assert_eq!(groups.len(), 2, "{groups:#?}");
        // The narrow screen's row keeps who, where, how many and the worst.
        assert_eq!(
            groups[0].brief(false),
            "server at src/main.rs:82: 3 stalls, worst 380 ms"
        );
        let sleep = &groups[0];
        assert_eq!(sleep.place.as_deref(), Some("src/main.rs:82"));
        assert_eq!(
            (sleep.count, sleep.first_ms, sleep.last_ms),
            (3, 1_000, 4_000)
        );
        assert_eq!(sleep.typical_ms, 360.0);
        assert_eq!(sleep.worst.duration_ms, 380.0);
        assert_eq!(
            sleep.summary(),
            "server at src/main.rs:82: 3 stalls since 00:01.0, typical 360 ms, worst 380 ms"
        );
        assert_eq!(groups[1].count, 1);
        assert_eq!(
            groups[1].summary(),
            "server at src/main.rs:95: worker 0 was stuck 120 ms in task 7 (server)"
        );
    }

    #[test]
    fn without_a_blocking_line_the_syscall_tells_groups_apart_and_an_ongoing_one_leads() {
        let mut ongoing = stall(1_000, 200.0, "locker", None, "futex");
        ongoing.ongoing = true;
        let findings = vec![
            ongoing,
            stall(1_500, 150.0, "locker", None, "futex"),
            stall(5_000, 150.0, "locker", None, "clock_nanosleep"),
        ];
        let groups = by_culprit(&findings);
        assert_eq!(groups.len(), 2);
        assert!(groups[0].ongoing, "the ongoing group first: {groups:#?}");
        assert_eq!(groups[0].place.as_deref(), Some("in futex"));
        assert_eq!(
            groups[0].summary(),
            "locker: 2 stalls since 00:01.0 in futex, typical 200 ms, worst 200 ms"
        );
    }

    #[test]
    fn an_attached_apps_group_reads_line_first_then_its_spawn_site() {
        let of_site = |at_ms| Finding {
            workload: None,
            spawned_at: Some("src/cache.rs:66:17".into()),
            ..stall(
                at_ms,
                300.0,
                "x",
                Some("src/cache.rs:80"),
                "clock_nanosleep",
            )
        };
        let findings = vec![of_site(1_000), of_site(2_000)];
        let groups = by_culprit(&findings);
        assert_eq!(
            groups[0].summary(),
            "at src/cache.rs:80 (spawned at src/cache.rs:66:17): 2 stalls since 00:01.0, typical 300 ms, worst 300 ms"
        );
        // At 80 columns the line to change and the counts come before the spawn site.
        assert_eq!(
            groups[0].brief(false),
            "at src/cache.rs:80: 2 stalls, worst 300 ms (spawned at src/cache.rs:66:17)"
        );
    }

    #[test]
    fn a_stall_without_a_known_place_joins_its_culprits_group() {
        let mut uncaught = stall(2_500, 410.0, "server", None, "x");
        uncaught.syscall = None;
        let findings = vec![
            stall(
                1_000,
                350.0,
                "server",
                Some("src/main.rs:82"),
                "clock_nanosleep",
            ),
            uncaught,
            stall(
                3_000,
                380.0,
                "server",
                Some("src/main.rs:82"),
                "clock_nanosleep",
            ),
        ];
        let groups = by_culprit(&findings);
        assert_eq!(groups.len(), 1, "{groups:#?}");
        assert_eq!(groups[0].count, 3);
        let firsts: Vec<u64> = groups[0].members.iter().map(|f| f.first_seen_ms).collect();
        assert_eq!(firsts, [1_000, 2_500, 3_000], "oldest first");
    }

    #[test]
    fn a_long_poll_group_counts_findings_and_says_how_many_polls() {
        let mut a = Finding::new(FindingKind::LongPoll, Severity::Warning, 1_000);
        a.workload = Some("hasher".into());
        a.count = 30;
        let mut b = a.clone();
        b.count = 11;
        let findings = [a, b];
        let groups = by_culprit(&findings);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].counted(), "41 long polls");
    }
}
