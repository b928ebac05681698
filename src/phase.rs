//! Pure: a scenario's scripted phases on the run's clock. Says which phases are due, which is
//! current and when the next one starts; skipping ahead moves the clock of the plan, not time.

use std::time::Duration;

use crate::scenario::PhaseSpec;

/// The phases of one run.
#[derive(Debug, Clone, Default)]
pub struct PhasePlan {
    phases: Vec<PhaseSpec>,
    /// Phases started so far (the current one is `started - 1`).
    started: usize,
    /// Added to the run's time by skips, so later phases keep their spacing.
    skipped: Duration,
}

impl PhasePlan {
    pub fn new(phases: Vec<PhaseSpec>) -> Self {
        PhasePlan {
            phases,
            started: 0,
            skipped: Duration::ZERO,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.phases.is_empty()
    }

    pub fn phases(&self) -> &[PhaseSpec] {
        &self.phases
    }

    /// The phases that start by `elapsed` and have not started yet, in order; marks them started.
    pub fn due(&mut self, elapsed: Duration) -> Vec<(usize, PhaseSpec)> {
        let now = elapsed + self.skipped;
        let mut due = Vec::new();
        while let Some(phase) = self.phases.get(self.started) {
            if phase.at > now {
                break;
            }
            due.push((self.started, phase.clone()));
            self.started += 1;
        }
        due
    }

    /// Starts the next phase now (the presenter's "next" key); returns it.
    pub fn skip(&mut self, elapsed: Duration) -> Option<(usize, PhaseSpec)> {
        let phase = self.phases.get(self.started)?.clone();
        let now = elapsed + self.skipped;
        self.skipped += phase.at.saturating_sub(now);
        self.started += 1;
        Some((self.started - 1, phase))
    }

    /// The current phase's index.
    pub fn current(&self) -> Option<usize> {
        self.started.checked_sub(1)
    }

    /// Time until the next phase starts, from `elapsed`.
    pub fn next_in(&self, elapsed: Duration) -> Option<Duration> {
        let next = self.phases.get(self.started)?;
        Some(next.at.saturating_sub(elapsed + self.skipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(at_ms: u64, note: &str) -> PhaseSpec {
        PhaseSpec {
            at: Duration::from_millis(at_ms),
            note: note.into(),
            set: Vec::new(),
        }
    }

    #[test]
    fn phases_start_in_order_once() {
        let mut plan = PhasePlan::new(vec![phase(0, "a"), phase(1000, "b"), phase(2000, "c")]);
        assert_eq!(plan.current(), None);
        let due: Vec<_> = plan
            .due(Duration::ZERO)
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(due, vec![0]);
        assert!(plan.due(Duration::from_millis(999)).is_empty());
        assert_eq!(
            plan.next_in(Duration::from_millis(400)),
            Some(Duration::from_millis(600))
        );
        let due: Vec<_> = plan
            .due(Duration::from_millis(2500))
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            due,
            vec![1, 2],
            "a late look starts every phase it passed, in order"
        );
        assert_eq!(plan.current(), Some(2));
        assert_eq!(plan.next_in(Duration::from_secs(3)), None);
    }

    #[test]
    fn skipping_starts_the_next_phase_and_keeps_the_spacing() {
        let mut plan = PhasePlan::new(vec![phase(0, "a"), phase(10_000, "b"), phase(20_000, "c")]);
        plan.due(Duration::ZERO);
        let (i, p) = plan.skip(Duration::from_secs(2)).expect("a next phase");
        assert_eq!((i, p.note.as_str()), (1, "b"));
        // b started at 2 s instead of 10 s: c follows 10 s after b.
        assert!(plan.due(Duration::from_secs(11)).is_empty());
        assert_eq!(plan.due(Duration::from_secs(12)).len(), 1);
        assert!(plan.skip(Duration::from_secs(13)).is_none());
    }
}
