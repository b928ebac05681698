//! A fixed-length ring of recent values, oldest first.

use std::collections::VecDeque;

use super::SERIES_LEN;

#[derive(Debug, Clone, Default)]
pub struct Series {
    values: VecDeque<f64>,
    /// Values ever pushed, so a moment can be found again as the series scrolls.
    pushed: u64,
}

impl Series {
    /// Values pushed since the series began (not only those still held).
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    pub fn push(&mut self, value: f64) {
        self.pushed += 1;
        if self.values.len() == SERIES_LEN {
            self.values.pop_front();
        }
        self.values.push_back(value);
    }

    /// Holds a whole window ([`SERIES_LEN`] values): only then does a sparkline say the time its
    /// values span (a minute at the default interval) rather than "since start".
    pub fn is_full(&self) -> bool {
        self.values.len() == SERIES_LEN
    }

    pub fn last(&self) -> Option<f64> {
        self.values.back().copied()
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = f64> + ExactSizeIterator + '_ {
        self.values.iter().copied()
    }

    /// Mean of the last `n` values (fewer if fewer are held).
    pub fn recent_mean(&self, n: usize) -> Option<f64> {
        let take = n.min(self.values.len());
        if take == 0 {
            return None;
        }
        Some(self.values.iter().rev().take(take).sum::<f64>() / take as f64)
    }
}
