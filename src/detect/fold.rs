//! The findings a detector holds, bounded: the first [`KEPT`] one by one; past them, findings
//! alike (same kind, severity, workload and spawn site) fold into one entry that counts them
//! (`count`) and shows the worst, so that a run with a stall every second holds a few entries
//! per call site rather than one per stall. Events (phases begun, knobs turned) are always kept:
//! people make them. An event also closes every group, so that a group never spans a phase
//! and the report's counts per phase stay exact.
//!
//! The list only grows at its end (entries are updated in place, never moved), so a consumer
//! may remember how far it has read.

use super::{Finding, FindingKind, Severity};

/// Findings kept one by one before like ones fold together. A finding is well under a
/// kilobyte, a stall's with its stack up to some 20 KB: a few megabytes at most.
pub const KEPT: usize = 128;

/// What makes findings alike.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    kind: FindingKind,
    severity: Severity,
    workload: Option<String>,
    spawned_at: Option<String>,
}

impl Key {
    fn of(f: &Finding) -> Key {
        Key {
            kind: f.kind,
            severity: f.severity,
            workload: f.workload.clone(),
            spawned_at: f.spawned_at.clone(),
        }
    }
}

/// Some of a group's findings: how many, how many still going on, and the worst.
#[derive(Debug, Clone)]
struct Part {
    count: u64,
    open: u32,
    first_ms: u64,
    last_ms: u64,
    worst: Finding,
}

impl Part {
    fn new(f: &Finding, open: bool) -> Part {
        Part {
            count: 1,
            open: u32::from(open),
            first_ms: f.first_seen_ms,
            last_ms: f.last_seen_ms,
            worst: f.clone(),
        }
    }

    /// A finding of this part as it is now (new, or one going on that changed).
    fn take(&mut self, f: &Finding) {
        self.last_ms = self.last_ms.max(f.last_seen_ms);
        if f.duration_ms >= self.worst.duration_ms {
            self.worst = f.clone();
        }
    }

    fn merge(&mut self, other: Part) {
        self.count += other.count;
        self.open += other.open;
        self.first_ms = self.first_ms.min(other.first_ms);
        self.last_ms = self.last_ms.max(other.last_ms);
        if other.worst.duration_ms >= self.worst.duration_ms {
            self.worst = other.worst;
        }
    }
}

/// Findings alike folded into the entry at `index`. The ones first seen at the latest time
/// (`tail`) are kept apart from the earlier ones (`head`): an event at that same time (a
/// phase begins after the sample that saw them) takes the tail into a group of its own.
#[derive(Debug, Clone)]
struct Group {
    index: usize,
    key: Key,
    /// Its findings were first seen from `from_ms` on, and before `until_ms` once closed.
    from_ms: u64,
    until_ms: Option<u64>,
    head: Option<Part>,
    tail: Option<Part>,
    tail_ms: u64,
}

impl Group {
    fn holds(&self, key: &Key, first_ms: u64) -> bool {
        self.key == *key && self.from_ms <= first_ms && self.until_ms.is_none_or(|u| first_ms < u)
    }

    fn part_mut(&mut self, first_ms: u64) -> Option<&mut Part> {
        if self.tail.is_some() && first_ms == self.tail_ms {
            self.tail.as_mut()
        } else {
            self.head.as_mut()
        }
    }

    fn open(&self) -> u32 {
        self.head.iter().chain(&self.tail).map(|p| p.open).sum()
    }

    fn add(&mut self, f: &Finding, open: bool) {
        let at = f.first_seen_ms;
        match self.tail.as_mut() {
            Some(tail) if at == self.tail_ms => {
                tail.count += 1;
                tail.open += u32::from(open);
                tail.take(f);
            }
            Some(_) if at < self.tail_ms => {
                let mut part = Part::new(f, open);
                if let Some(head) = self.head.take() {
                    part.merge(head);
                }
                self.head = Some(part);
            }
            _ => {
                if let Some(tail) = self.tail.take() {
                    match self.head.as_mut() {
                        Some(head) => head.merge(tail),
                        None => self.head = Some(tail),
                    }
                }
                self.tail = Some(Part::new(f, open));
                self.tail_ms = at;
            }
        }
    }

    /// The entry the findings list shows for this group.
    fn render(&self) -> Option<Finding> {
        let parts = || self.head.iter().chain(&self.tail);
        let worst = parts().fold(None::<&Part>, |w, p| match w {
            Some(w) if w.worst.duration_ms > p.worst.duration_ms => Some(w),
            _ => Some(p),
        })?;
        let count: u64 = parts().map(|p| p.count).sum();
        let mut f = worst.worst.clone();
        f.kind = self.key.kind;
        f.severity = self.key.severity;
        f.count = count;
        f.first_seen_ms = parts().map(|p| p.first_ms).min().unwrap_or(f.first_seen_ms);
        f.last_seen_ms = parts().map(|p| p.last_ms).max().unwrap_or(f.last_seen_ms);
        f.ongoing = self.open() > 0;
        if count > 1 {
            f.summary = format!("{count} like this, the worst: {}", worst.worst.summary);
        }
        Some(f)
    }
}

/// A finding still going on (a stall running, a lag episode): its own entry, or one of a
/// group's, kept here while it changes.
#[derive(Debug, Clone)]
pub(super) enum Slot {
    Kept(usize),
    Folded(Box<Member>),
}

#[derive(Debug, Clone)]
pub(super) struct Member {
    key: Key,
    finding: Finding,
}

/// Every finding so far, bounded as the module says.
#[derive(Debug, Clone, Default)]
pub(super) struct Findings {
    list: Vec<Finding>,
    /// Groups still taking findings, and closed ones with a finding still going on.
    groups: Vec<Group>,
    /// When the latest event was.
    epoch_ms: u64,
}

impl Findings {
    pub(super) fn list(&self) -> &[Finding] {
        &self.list
    }

    fn full(&self) -> bool {
        self.list.len() >= KEPT
    }

    /// An entry of its own whatever the count (a long-poll finding, which folds by itself).
    pub(super) fn push_kept(&mut self, f: Finding) -> usize {
        self.list.push(f);
        self.list.len() - 1
    }

    pub(super) fn entry_mut(&mut self, index: usize) -> &mut Finding {
        &mut self.list[index]
    }

    /// A finding that is over already (a stall seen only when it ended, a panic).
    pub(super) fn add(&mut self, f: Finding) {
        if self.full() {
            self.fold(&f, false);
        } else {
            self.list.push(f);
        }
    }

    /// A finding still going on: update it through [`Findings::finding_mut`] and
    /// [`Findings::refresh`], and [`Findings::close`] it when it ends.
    pub(super) fn open(&mut self, f: Finding) -> Slot {
        if self.full() {
            self.fold(&f, true);
            Slot::Folded(Box::new(Member {
                key: Key::of(&f),
                finding: f,
            }))
        } else {
            self.list.push(f);
            Slot::Kept(self.list.len() - 1)
        }
    }

    pub(super) fn finding_mut<'a>(&'a mut self, slot: &'a mut Slot) -> &'a mut Finding {
        match slot {
            Slot::Kept(i) => &mut self.list[*i],
            Slot::Folded(member) => &mut member.finding,
        }
    }

    /// Shows what changed in a finding still going on.
    pub(super) fn refresh(&mut self, slot: &Slot) {
        if let Slot::Folded(member) = slot {
            self.update_group(member, false);
        }
    }

    /// A finding still going on has ended (its `ongoing` already false).
    pub(super) fn close(&mut self, slot: Slot) {
        if let Slot::Folded(member) = slot {
            self.update_group(&member, true);
        }
    }

    /// An event: kept, and from its time on, findings fold into new groups.
    pub(super) fn event(&mut self, f: Finding) {
        let at = f.first_seen_ms;
        self.list.push(f);
        self.epoch_ms = self.epoch_ms.max(at);
        let mut split = Vec::new();
        for g in self.groups.iter_mut().filter(|g| g.until_ms.is_none()) {
            if g.tail.is_none() || g.tail_ms < at {
                g.until_ms = Some(at);
            } else if g.head.is_none() {
                // All first seen at the event's time: they belong after it.
                g.from_ms = at;
            } else {
                g.until_ms = Some(at);
                split.push(Group {
                    index: 0,
                    key: g.key.clone(),
                    from_ms: at,
                    until_ms: None,
                    head: None,
                    tail: g.tail.take(),
                    tail_ms: g.tail_ms,
                });
                if let Some(f) = g.render() {
                    self.list[g.index] = f;
                }
            }
        }
        for mut g in split {
            g.index = self.list.len();
            if let Some(f) = g.render() {
                self.list.push(f);
                self.groups.push(g);
            }
        }
        self.groups.retain(|g| g.until_ms.is_none() || g.open() > 0);
    }

    fn fold(&mut self, f: &Finding, open: bool) {
        let key = Key::of(f);
        let g = match self
            .groups
            .iter()
            .position(|g| g.key == key && g.until_ms.is_none())
        {
            Some(g) => g,
            None => {
                self.groups.push(Group {
                    index: self.list.len(),
                    key,
                    from_ms: self.epoch_ms,
                    until_ms: None,
                    head: None,
                    tail: None,
                    tail_ms: 0,
                });
                self.list.push(f.clone());
                self.groups.len() - 1
            }
        };
        let group = &mut self.groups[g];
        group.add(f, open);
        if let Some(entry) = group.render() {
            self.list[group.index] = entry;
        }
    }

    fn update_group(&mut self, member: &Member, closed: bool) {
        let first_ms = member.finding.first_seen_ms;
        let Some(g) = self
            .groups
            .iter()
            .position(|g| g.holds(&member.key, first_ms))
        else {
            return;
        };
        let group = &mut self.groups[g];
        if let Some(part) = group.part_mut(first_ms) {
            part.take(&member.finding);
            if closed {
                part.open = part.open.saturating_sub(1);
            }
        }
        if let Some(entry) = group.render() {
            self.list[group.index] = entry;
        }
        if closed && group.until_ms.is_some() && group.open() == 0 {
            self.groups.remove(g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stall(at_ms: u64, duration_ms: f64) -> Finding {
        Finding {
            workload: Some("churn".into()),
            spawned_at: Some("src/workload/spawn.rs:39:17".into()),
            duration_ms,
            summary: format!("stuck {duration_ms} ms"),
            ..Finding::new(FindingKind::Stall, Severity::Critical, at_ms)
        }
    }

    fn event(at_ms: u64) -> Finding {
        super::super::event(at_ms, "phase".into(), String::new())
    }

    fn total(findings: &Findings) -> u64 {
        findings.list().iter().map(Finding::stands_for).sum()
    }

    fn fill(findings: &mut Findings) {
        for i in 0..KEPT as u64 {
            findings.add(stall(i, 200.0));
        }
    }

    #[test]
    fn past_the_cap_like_findings_fold_into_one_entry() {
        let mut findings = Findings::default();
        fill(&mut findings);
        for i in 0..100_000u64 {
            findings.add(stall(1_000 + i, 100.0 + (i % 1000) as f64));
        }
        assert_eq!(findings.list().len(), KEPT + 1);
        assert_eq!(total(&findings), KEPT as u64 + 100_000);
        let group = &findings.list()[KEPT];
        assert_eq!(group.count, 100_000);
        assert_eq!(group.duration_ms, 1099.0);
        assert_eq!((group.first_seen_ms, group.last_seen_ms), (1_000, 100_999));
        assert!(
            group.summary.starts_with("100000 like this"),
            "{}",
            group.summary
        );
        // Another site is another group.
        let mut other = stall(200_000, 150.0);
        other.spawned_at = None;
        findings.add(other);
        assert_eq!(findings.list().len(), KEPT + 2);
    }

    #[test]
    fn a_folded_finding_going_on_shows_in_its_group_until_it_ends() {
        let mut findings = Findings::default();
        fill(&mut findings);
        let mut slot = findings.open(Finding {
            ongoing: true,
            ..stall(5_000, 100.0)
        });
        assert!(findings.list()[KEPT].ongoing);
        findings.finding_mut(&mut slot).duration_ms = 900.0;
        findings.refresh(&slot);
        assert_eq!(findings.list()[KEPT].duration_ms, 900.0);
        assert_eq!(findings.list()[KEPT].count, 1);
        findings.finding_mut(&mut slot).ongoing = false;
        findings.close(slot);
        let group = &findings.list()[KEPT];
        assert!(!group.ongoing);
        assert_eq!((group.count, group.duration_ms), (1, 900.0));
    }

    #[test]
    fn an_event_closes_the_groups_and_takes_the_findings_of_its_own_time() {
        let mut findings = Findings::default();
        fill(&mut findings);
        findings.add(stall(1_000, 100.0));
        findings.add(stall(1_100, 100.0));
        // Seen by the sample that a phase begins after, at the same time.
        findings.add(stall(1_200, 300.0));
        findings.add(stall(1_200, 100.0));
        findings.event(event(1_200));
        findings.add(stall(1_300, 100.0));
        let list = findings.list();
        assert_eq!(list.len(), KEPT + 3);
        let (before, after) = (&list[KEPT], &list[KEPT + 2]);
        assert_eq!(list[KEPT + 1].kind, FindingKind::Event);
        assert_eq!(
            (before.count, before.first_seen_ms, before.last_seen_ms),
            (2, 1_000, 1_100)
        );
        assert_eq!(before.duration_ms, 100.0);
        assert_eq!(
            (after.count, after.first_seen_ms, after.last_seen_ms),
            (3, 1_200, 1_300)
        );
        assert_eq!(after.duration_ms, 300.0);
        assert_eq!(total(&findings), KEPT as u64 + 1 + 5);
    }

    #[test]
    fn what_is_held_stays_bounded_over_many_phases_of_stalls() {
        let mut findings = Findings::default();
        fill(&mut findings);
        let mut open = Vec::new();
        for phase in 0..50u64 {
            for i in 0..1_000u64 {
                let at = phase * 10_000 + i;
                if i % 100 == 0 {
                    open.push(findings.open(Finding {
                        ongoing: true,
                        ..stall(at, 150.0)
                    }));
                } else {
                    findings.add(stall(at, 150.0));
                }
                if open.len() > 3 {
                    let mut slot = open.remove(0);
                    findings.finding_mut(&mut slot).ongoing = false;
                    findings.close(slot);
                }
            }
            findings.event(event(phase * 10_000 + 5_000));
        }
        // One group and one event per phase, and groups held only while one is open.
        assert_eq!(findings.list().len(), KEPT + 50 * 2);
        assert!(findings.groups.len() <= 4, "{}", findings.groups.len());
        assert_eq!(total(&findings), KEPT as u64 + 50 * 1_000 + 50);
    }
}
