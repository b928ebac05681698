//! The checker: walks toml's spanned tree, maps byte offsets to line and column, collects errors
//! and finds the near misses they suggest.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use crate::scenario::error::{ScenarioError, ScenarioErrors};
use crate::scenario::spec::Scenario;

/// A value in the document tree, with its byte span.
pub(super) type Value<'i> = Spanned<DeValue<'i>>;

/// A field's outcome: absent (use the default), present but invalid (already reported), or good.
pub(super) enum Got<T> {
    Absent,
    Bad,
    Good(T, Range<usize>),
}

impl<T> Got<T> {
    pub(super) fn or(self, default: T) -> T {
        match self {
            Got::Good(value, _) => value,
            Got::Absent | Got::Bad => default,
        }
    }

    pub(super) fn or_else_default(self, default: impl FnOnce() -> T) -> T {
        match self {
            Got::Good(value, _) => value,
            Got::Absent | Got::Bad => default(),
        }
    }
}

/// Walks the document, collecting errors.
///
/// Its rules live with what they check: [`super::document`], [`super::workloads`],
/// [`super::kinds`], [`super::phases`] and [`super::values`] each add methods.
pub(super) struct Checker<'t> {
    file: String,
    text: &'t str,
    /// Byte offset where each line starts.
    line_starts: Vec<usize>,
    errors: Vec<ScenarioError>,
}

impl<'t> Checker<'t> {
    pub(super) fn new(file: String, text: &'t str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Checker {
            file,
            text,
            line_starts,
            errors: Vec::new(),
        }
    }

    pub(super) fn finish(mut self, scenario: Option<Scenario>) -> Result<Scenario, ScenarioErrors> {
        match scenario {
            Some(scenario) if self.errors.is_empty() => Ok(scenario),
            _ => {
                if self.errors.is_empty() {
                    // Every path that yields no scenario reports why; keep a message regardless.
                    self.errors
                        .push(ScenarioError::whole_file(self.file, "invalid scenario"));
                }
                // Stable: errors at one spot keep the order they were found in.
                self.errors.sort_by_key(|e| (e.line, e.column));
                Err(ScenarioErrors(self.errors))
            }
        }
    }

    /// 1-based line and column (in characters) of a byte offset, and that line's text.
    pub(super) fn position(&self, offset: usize) -> (usize, usize, String) {
        let offset = offset.min(self.text.len());
        let index = self
            .line_starts
            .partition_point(|&start| start <= offset)
            .saturating_sub(1);
        let start = self.line_starts.get(index).copied().unwrap_or(0);
        let end = self
            .line_starts
            .get(index + 1)
            .map_or(self.text.len(), |next| next - 1);
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |before| before.chars().count())
            + 1;
        let line = self.text.get(start..end).unwrap_or_default();
        (index + 1, column, line.trim_end_matches('\r').to_string())
    }

    /// An error at a span, shown with its source line.
    pub(super) fn error_at(
        &mut self,
        span: Range<usize>,
        key: Option<String>,
        message: impl Into<String>,
    ) {
        let (line, column, source) = self.position(span.start);
        self.errors.push(ScenarioError {
            file: self.file.clone(),
            line,
            column,
            key,
            message: message.into(),
            source_line: Some(source),
        });
    }

    /// An error about something missing from the top level: it has no place but the file's start.
    pub(super) fn error_at_top(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(ScenarioError {
            file: self.file.clone(),
            line: 1,
            column: 1,
            key: Some(key.to_string()),
            message: message.into(),
            source_line: None,
        });
    }

    pub(super) fn syntax_error(&mut self, error: &toml::de::Error) {
        // toml's messages may span lines ("invalid string\nexpected ..."); keep ours on one.
        let message = error
            .message()
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let message = format!("invalid TOML: {message}");
        match error.span() {
            Some(span) => self.error_at(span, None, message),
            None => self
                .errors
                .push(ScenarioError::whole_file(&self.file, message)),
        }
    }

    /// Looks up `key` and reads it with `read`, which reports a bad value and returns `None`.
    pub(super) fn field<T>(
        &mut self,
        table: &DeTable<'_>,
        prefix: &str,
        key: &str,
        read: impl FnOnce(&mut Self, &str, &Value<'_>) -> Option<T>,
    ) -> Got<T> {
        match table.get(key) {
            None => Got::Absent,
            Some(value) => match read(self, &path(prefix, key), value) {
                Some(read) => Got::Good(read, value.span()),
                None => Got::Bad,
            },
        }
    }

    /// The table under `key` of the top level; `None` when absent or not a table (reported).
    pub(super) fn sub_table<'v, 'i>(
        &mut self,
        root: &'v DeTable<'i>,
        key: &str,
    ) -> Option<&'v DeTable<'i>> {
        let value = root.get(key)?;
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.wrong_type(key, value, &format!("a table ([{key}])"));
                None
            }
        }
    }

    /// Reports a value of the wrong type: "expected `expected`, got ...".
    pub(super) fn wrong_type(&mut self, key: &str, value: &Value<'_>, expected: &str) {
        let message = format!("expected {expected}, got {}", describe(value.get_ref()));
        self.error_at(value.span(), Some(key.to_string()), message);
    }

    /// The array of tables `[[key]]` at the top level; `None` when it is anything else (reported).
    pub(super) fn array_of_tables<'v, 'i>(
        &mut self,
        key: &str,
        value: &'v Value<'i>,
    ) -> Option<&'v DeArray<'i>> {
        let message = match value.get_ref() {
            DeValue::Array(items) => return Some(items),
            DeValue::Table(_) => {
                format!("expected an array of tables: write [[{key}]] (two brackets), got a table")
            }
            other => format!(
                "expected an array of tables ([[{key}]]), got {}",
                describe(other)
            ),
        };
        self.error_at(value.span(), Some(key.to_string()), message);
        None
    }

    /// Reports every key of `table` not in `allowed`; `shown` says where and lists them.
    pub(super) fn unknown_keys(
        &mut self,
        table: &DeTable<'_>,
        prefix: &str,
        allowed: &[&str],
        shown: &str,
    ) {
        for key in table.keys() {
            let name: &str = key.get_ref();
            if !allowed.contains(&name) {
                let message = format!(
                    "unknown key{}; allowed {shown}",
                    did_you_mean(name, allowed.iter().copied())
                );
                self.error_at(key.span(), Some(path(prefix, name)), message);
            }
        }
    }
}

/// `prefix.key`, or just `key` at the top level.
pub(super) fn path(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// A value for "got ...": its type, and the value itself when it is short.
pub(super) fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(text) => format!("string \"{}\"", text.escape_debug()),
        DeValue::Integer(integer) => format!("integer {integer}"),
        DeValue::Float(float) => format!("float {float}"),
        DeValue::Boolean(flag) => format!("boolean {flag}"),
        DeValue::Datetime(datetime) => format!("datetime {datetime}"),
        DeValue::Array(_) => "an array".to_string(),
        DeValue::Table(_) => "a table".to_string(),
    }
}

/// " (did you mean `x`?)" when one candidate is a near miss of `word`, else "".
pub(super) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    let word = word.to_ascii_lowercase();
    let limit = if word.chars().count() <= 4 { 1 } else { 2 };
    // A prefix either way ("hashing" for "hash", "conn" for "connections") counts as close.
    let prefix = |candidate: &str| {
        word.len().min(candidate.len()) >= 3
            && (word.starts_with(candidate) || candidate.starts_with(word.as_str()))
    };
    candidates
        .into_iter()
        .map(|candidate| {
            let distance = if prefix(candidate) {
                0
            } else {
                strsim::levenshtein(&word, candidate)
            };
            (distance, candidate)
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map_or_else(String::new, |(_, candidate)| {
            format!(" (did you mean \"{candidate}\"?)")
        })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{errors, one_error};
    use super::did_you_mean;

    #[test]
    fn a_value_error_points_at_the_value() {
        let text = "title = \"t\"\n\n[[workload]]\nid = \"w\"\nkind = \"echo\"\n  rate = 0\n";
        let error = one_error(text);
        assert_eq!((error.line, error.column), (6, 10));
        assert_eq!(error.source_line.as_deref(), Some("  rate = 0"));
        assert_eq!(
            error.to_string(),
            "dir/test.toml:6:10: workload[1].rate: must be at least 1, got 0 (allowed range: 1..=1000000)\n    6 |   rate = 0\n      |          ^"
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "title = \"t\"\nworkload = [{ id = \"é\", kind = \"echo\", rate = 0 }]\n";
        let errors = errors(text);
        let rate = errors
            .iter()
            .find(|e| e.key.as_deref() == Some("workload[1].rate"))
            .expect("a rate error");
        assert_eq!((rate.line, rate.column), (2, 47));
    }

    #[test]
    fn every_error_is_reported_in_file_order() {
        let text = "colour = 1\ntitle = \"t\"\n[[workload]]\nid = \"w\"\nkind = \"echo\"\nrate = 0\nzeta = 1\nconnections = 0\n";
        let errors = errors(text);
        let keys: Vec<_> = errors
            .iter()
            .map(|e| e.key.as_deref().unwrap_or(""))
            .collect();
        assert_eq!(
            keys,
            [
                "colour",
                "workload[1].rate",
                "workload[1].zeta",
                "workload[1].connections"
            ]
        );
    }

    #[test]
    fn a_syntax_error_is_reported_alone() {
        let error = one_error("title = \"t\nrate = 0\n[[workload]]\n");
        assert!(error.message.starts_with("invalid TOML: "), "{error}");
        assert_eq!(error.line, 1);
        assert_eq!(error.key, None);
    }

    #[test]
    fn near_misses() {
        assert_eq!(
            did_you_mean("Rate", ["rate", "work"]),
            " (did you mean \"rate\"?)"
        );
        assert_eq!(did_you_mean("speed", ["rate", "work"]), "");
        assert_eq!(
            did_you_mean("hashing", ["echo", "hash"]),
            " (did you mean \"hash\"?)"
        );
    }
}
