//! Errors in scenario files: each names the file, line, column and key, and says what is allowed.

use std::fmt;

/// One problem in a scenario file.
///
/// Displays as
///
/// ```text
/// scenarios/x.toml:12:8: workload[2].rate: must be at least 1, got 0
///    12 | rate = 0
///       |        ^
/// ```
///
/// without `:line:column` when `line` is 0, and without the snippet when there is no source line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The path as given, or `built-in:NAME`.
    pub file: String,
    /// 1-based; 0 when no position applies (e.g. an unreadable file).
    pub line: usize,
    /// 1-based, in characters; 0 when no position applies.
    pub column: usize,
    /// The key with its table path, e.g. `workload[2].rate` or `runtime.workers`.
    pub key: Option<String>,
    /// What was wrong and what is allowed.
    pub message: String,
    /// The text of line `line`, shown under the message with a caret at `column`.
    pub source_line: Option<String>,
}

impl ScenarioError {
    /// An error about the file as a whole, with no position (e.g. it cannot be read).
    pub fn whole_file(file: impl Into<String>, message: impl Into<String>) -> Self {
        ScenarioError {
            file: file.into(),
            line: 0,
            column: 0,
            key: None,
            message: message.into(),
            source_line: None,
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let (Some(source), true) = (&self.source_line, self.line > 0) {
            // Keep tabs in the padding so the caret lines up under tab-indented text.
            let pad: String = source
                .chars()
                .take(self.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n{:>5} | {}\n{:>5} | {pad}^", self.line, source, "")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// Every problem found in one scenario file, in the order they appear in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioErrors(pub Vec<ScenarioError>);

impl ScenarioErrors {
    /// The errors, in file order.
    pub fn errors(&self) -> &[ScenarioError] {
        &self.0
    }

    /// The first line of the first error's message, with a count of the rest: for one-line lists.
    pub fn summary(&self) -> String {
        let first = self
            .0
            .first()
            .map(|e| e.to_string().lines().next().unwrap_or_default().to_string())
            .unwrap_or_else(|| "invalid scenario".to_string());
        match self.0.len() {
            0 | 1 => first,
            2 => format!("{first} (and 1 more error)"),
            n => format!("{first} (and {} more errors)", n - 1),
        }
    }
}

impl From<ScenarioError> for ScenarioErrors {
    fn from(error: ScenarioError) -> Self {
        ScenarioErrors(vec![error])
    }
}

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, "\n\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize, source: Option<&str>) -> ScenarioError {
        ScenarioError {
            file: "scenarios/x.toml".into(),
            line,
            column,
            key: Some("workload[2].rate".into()),
            message: "must be at least 1, got 0".into(),
            source_line: source.map(str::to_string),
        }
    }

    #[test]
    fn display_with_snippet() {
        assert_eq!(
            at(12, 8, Some("rate = 0")).to_string(),
            "scenarios/x.toml:12:8: workload[2].rate: must be at least 1, got 0\n   12 | rate = 0\n      |        ^"
        );
    }

    #[test]
    fn display_without_position_or_snippet() {
        assert_eq!(
            at(0, 0, None).to_string(),
            "scenarios/x.toml: workload[2].rate: must be at least 1, got 0"
        );
        assert_eq!(
            at(3, 1, None).to_string(),
            "scenarios/x.toml:3:1: workload[2].rate: must be at least 1, got 0"
        );
    }

    #[test]
    fn caret_keeps_tabs() {
        let shown = at(1, 3, Some("\trate = 0")).to_string();
        assert!(shown.ends_with("\n      | \t ^"), "{shown:?}");
    }

    #[test]
    fn errors_are_separated_by_a_blank_line() {
        let errors = ScenarioErrors(vec![at(0, 0, None), at(0, 0, None)]);
        let shown = errors.to_string();
        assert_eq!(shown.split("\n\n").count(), 2);
        assert!(errors.summary().ends_with("(and 1 more error)"));
    }
}
