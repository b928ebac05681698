//! The `[[workload]]` array: each entry needs a unique id, a known kind and only its kind's keys.

use std::collections::HashMap;
use std::ops::Range;

use strum::{IntoEnumIterator, VariantNames};
use toml::de::{DeTable, DeValue};

use super::checker::{Checker, Got, describe, did_you_mean, path};
use super::kinds::keys_of;
use crate::scenario::spec::{WorkloadKind, WorkloadSpec};

/// Keys every workload has, whatever its kind.
const WORKLOAD_KEYS: &[&str] = &["id", "kind"];

impl Checker<'_> {
    pub(super) fn workloads(&mut self, root: &DeTable<'_>) -> Vec<WorkloadSpec> {
        let Some(value) = root.get("workload") else {
            let (last, first) = WorkloadKind::VARIANTS
                .split_last()
                .expect("there are kinds");
            self.error_at_top(
                "workload",
                format!(
                    "no workloads; add at least one [[workload]] table with an id and a kind \
                     ({} or {})",
                    first.join(", "),
                    last
                ),
            );
            return Vec::new();
        };
        let Some(items) = self.array_of_tables("workload", value) else {
            return Vec::new();
        };
        if items.is_empty() {
            self.error_at(
                value.span(),
                Some("workload".into()),
                "no workloads; add at least one [[workload]] table with an id and a kind",
            );
        }

        let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
        let mut workloads = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let prefix = format!("workload[{}]", index + 1);
            let DeValue::Table(table) = item.get_ref() else {
                self.error_at(
                    item.span(),
                    Some(prefix),
                    format!(
                        "expected a table with an id and a kind, got {}",
                        describe(item.get_ref())
                    ),
                );
                continue;
            };
            if let Some(workload) = self.workload(table, item.span(), &prefix, index, &mut seen) {
                workloads.push(workload);
            }
        }
        workloads
    }

    fn workload(
        &mut self,
        table: &DeTable<'_>,
        span: Range<usize>,
        prefix: &str,
        index: usize,
        seen: &mut HashMap<String, (usize, usize)>,
    ) -> Option<WorkloadSpec> {
        let id = match self.field(table, prefix, "id", Self::id) {
            Got::Good(id, span) => {
                let line = self.position(span.start).0;
                if let Some((first, first_line)) = seen.get(&id) {
                    self.error_at(
                        span,
                        Some(path(prefix, "id")),
                        format!(
                            "duplicate id \"{id}\": workload[{first}] (line {first_line}) already \
                             uses it; ids must be unique"
                        ),
                    );
                } else {
                    seen.insert(id.clone(), (index + 1, line));
                }
                Some(id)
            }
            Got::Bad => None,
            Got::Absent => {
                self.error_at(
                    span.clone(),
                    Some(path(prefix, "id")),
                    "missing required key; every workload needs a unique id \
                     (letters, digits, '_' and '-'), e.g. id = \"api\"",
                );
                None
            }
        };

        let kind = match self.field(table, prefix, "kind", |c, p, v| c.choice("kind", p, v)) {
            Got::Good(kind, _) => Some(kind),
            Got::Bad => None,
            Got::Absent => {
                self.error_at(
                    span,
                    Some(path(prefix, "kind")),
                    format!(
                        "missing required key; allowed: {}",
                        WorkloadKind::VARIANTS.join(", ")
                    ),
                );
                None
            }
        };

        // Keys: those of the workload's kind, or, when the kind is unknown, those of any kind.
        let kinds: Vec<(&str, Vec<&str>)> = WorkloadKind::iter()
            .map(|kind| (kind.name(), keys_of(&kind)))
            .collect();
        for key in table.keys() {
            let name: &str = key.get_ref();
            if WORKLOAD_KEYS.contains(&name) {
                continue;
            }
            let owners: Vec<&str> = kinds
                .iter()
                .filter(|(_, keys)| keys.contains(&name))
                .map(|(kind, _)| *kind)
                .collect();
            let message = match &kind {
                Some(kind) if !keys_of(kind).contains(&name) => {
                    let (kind_name, keys) = (kind.name(), keys_of(kind));
                    let allowed = [WORKLOAD_KEYS, keys.as_slice()].concat().join(", ");
                    if owners.is_empty() {
                        format!(
                            "unknown key{}; keys allowed for kind \"{kind_name}\": {allowed}",
                            did_you_mean(name, WORKLOAD_KEYS.iter().chain(&keys).copied())
                        )
                    } else {
                        format!(
                            "not allowed for kind \"{kind_name}\" (it is a key of {}); \
                             keys allowed for {kind_name}: {allowed}",
                            owners.join(", ")
                        )
                    }
                }
                None if owners.is_empty() => {
                    let by_kind: Vec<String> = kinds
                        .iter()
                        .map(|(kind, keys)| format!("{kind}: {}", keys.join(", ")))
                        .collect();
                    format!(
                        "unknown key{}; allowed: id, kind and the keys of the kind ({})",
                        did_you_mean(
                            name,
                            WORKLOAD_KEYS
                                .iter()
                                .chain(kinds.iter().flat_map(|(_, keys)| keys))
                                .copied()
                        ),
                        by_kind.join("; ")
                    )
                }
                _ => continue,
            };
            self.error_at(key.span(), Some(path(prefix, name)), message);
        }

        let kind = self.kind(kind?, table, prefix);
        Some(WorkloadSpec { id: id?, kind })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{errors, one_error, with_workload};

    #[test]
    fn missing_required_keys() {
        let errors = errors("[[workload]]\nkind = \"spawn\"\n[[workload]]\nid = \"b\"\n");
        let shown: Vec<_> = errors
            .iter()
            .map(|e| (e.key.as_deref().unwrap_or(""), e.line))
            .collect();
        assert_eq!(
            shown,
            [("title", 1), ("workload[1].id", 1), ("workload[2].kind", 3)]
        );
        let error = one_error("title = \"t\"\n");
        assert_eq!(error.key.as_deref(), Some("workload"));
        assert!(error.message.starts_with("no workloads"), "{error}");
    }

    #[test]
    fn ids_must_be_unique_and_plain() {
        let text = "title = \"t\"\n[[workload]]\nid = \"a\"\nkind = \"spawn\"\n\
                    [[workload]]\nid = \"a\"\nkind = \"spawn\"\n";
        let error = one_error(text);
        assert_eq!(error.key.as_deref(), Some("workload[2].id"));
        assert_eq!((error.line, error.column), (6, 6));
        assert!(error.message.contains("workload[1] (line 3)"), "{error}");
        let error = one_error(&with_workload("spawn", "").replace("\"w\"", "\"a b\""));
        assert!(error.message.starts_with("may contain only"), "{error}");
    }

    #[test]
    fn a_key_of_another_kind_names_both_kinds() {
        let error = one_error(&with_workload("echo", "placement = \"worker\""));
        assert_eq!(
            error.message,
            "not allowed for kind \"echo\" (it is a key of hash); keys allowed for echo: \
             id, kind, connections, rate, payload, timeout"
        );
    }
}
