//! Reading the YAML into a [`FileConfig`] while collecting *every* shape
//! problem (a wrong type, an unknown key, a missing field), each with its
//! path, instead of stopping at serde's first error.
//!
//! Each round deserializes the whole document through
//! `serde_path_to_error`; the error's path says which node was wrong, that
//! node is set aside (a bad key removed, a missing field filled with an
//! empty value, a bad item replaced by an empty mapping — never removed, so
//! later items keep their positions) and the next round finds the next
//! problem. What was set aside is remembered, so semantic validation does
//! not report the same field again.

use std::collections::HashSet;

use serde_norway::{Mapping, Value};

use super::FileConfig;

/// A shape problem: the node's path (`endpoints[1].enabled`) and what is
/// wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeProblem {
    pub path: String,
    pub message: String,
}

/// What came of reading the document's shape.
#[derive(Debug, Default)]
pub struct Shaped {
    pub file: FileConfig,
    pub problems: Vec<ShapeProblem>,
    /// Paths already reported (semantic problems on them are not news).
    pub reported: HashSet<String>,
}

/// Rounds before giving up (each sets one node aside).
const MAX_ROUNDS: usize = 500;

pub fn read(mut value: Value) -> Shaped {
    let mut shaped = Shaped::default();
    for _ in 0..MAX_ROUNDS {
        let error = match serde_path_to_error::deserialize::<_, FileConfig>(value.clone()) {
            Ok(file) => {
                shaped.file = file;
                return shaped;
            }
            Err(error) => error,
        };
        let path = error.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let message = error.into_inner().to_string();
        let (problem, set_aside) = match quoted_after(&message, "unknown field `") {
            Some(key) => {
                let at = join(&path, &key);
                // serde names the field when the path stops at its map.
                let at = if !key.is_empty() && path.ends_with(&key) {
                    path.clone()
                } else {
                    at
                };
                let best = candidates(&message).and_then(|names| closest(&key, &names));
                let hint = best
                    .as_ref()
                    .map(|best| format!(" (did you mean `{best}`?)"))
                    .unwrap_or_default();
                // The field it was meant to be is missing for that reason:
                // not a second problem.
                if let Some(best) = &best {
                    let parent = at.rsplit_once('.').map_or("", |(parent, _)| parent);
                    shaped.reported.insert(join(parent, best));
                }
                (
                    ShapeProblem {
                        path: at.clone(),
                        message: format!("unknown key `{key}`{hint}"),
                    },
                    Edit::Remove(at),
                )
            }
            None => match quoted_after(&message, "missing field `") {
                Some(field) => {
                    let at = join(&path, &field);
                    (
                        ShapeProblem {
                            path: at.clone(),
                            message: format!("`{field}` is required"),
                        },
                        Edit::Fill(at),
                    )
                }
                None => (
                    ShapeProblem {
                        path: path.clone(),
                        message: clean(&message),
                    },
                    Edit::Remove(path.clone()),
                ),
            },
        };
        shaped.reported.insert(problem.path.clone());
        shaped.problems.push(problem);
        if !apply(&mut value, &set_aside) {
            return shaped;
        }
    }
    shaped
}

/// How a bad node is set aside.
enum Edit {
    /// Remove a key (or, for a sequence item, make it an empty mapping).
    Remove(String),
    /// Give a missing field an empty string.
    Fill(String),
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// One step of a path.
#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(Step::Key(key.to_owned()));
        }
        while let Some((index, after)) = rest.split_once(']') {
            if let Ok(index) = index.parse() {
                out.push(Step::Index(index));
            }
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    out
}

/// Apply `edit`; false when it could not be (the round would repeat).
fn apply(value: &mut Value, edit: &Edit) -> bool {
    let (path, fill) = match edit {
        Edit::Remove(path) => (path, false),
        Edit::Fill(path) => (path, true),
    };
    let mut steps = steps(path);
    let Some(last) = steps.pop() else {
        return false;
    };
    let mut node = value;
    for step in steps {
        let next = match (step, node) {
            (Step::Key(key), Value::Mapping(map)) => map.get_mut(key.as_str()),
            (Step::Index(index), Value::Sequence(items)) => items.get_mut(index),
            _ => None,
        };
        match next {
            Some(next) => node = next,
            None => return false,
        }
    }
    match (last, node) {
        (Step::Key(key), Value::Mapping(map)) if fill => {
            map.insert(Value::String(key), Value::String(String::new()));
            true
        }
        (Step::Key(key), Value::Mapping(map)) => map.remove(key.as_str()).is_some(),
        // An endpoint keeps its place (later ones keep their positions);
        // a bad element of a list inside one is dropped.
        (Step::Index(index), Value::Sequence(items))
            if path.starts_with("endpoints[") && !path.contains('.') =>
        {
            match items.get_mut(index) {
                Some(item) if *item != Value::Mapping(Mapping::new()) => {
                    *item = Value::Mapping(Mapping::new());
                    true
                }
                _ => false,
            }
        }
        (Step::Index(index), Value::Sequence(items)) if index < items.len() => {
            items.remove(index);
            true
        }
        _ => false,
    }
}

/// The text between `prefix` and the next backtick.
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let start = message.find(prefix)? + prefix.len();
    let end = message[start..].find('`')?;
    Some(message[start..start + end].to_owned())
}

/// serde's "expected one of `a`, `b`" list.
fn candidates(message: &str) -> Option<Vec<String>> {
    let list = message.split_once("expected one of ")?.1;
    Some(
        list.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect(),
    )
}

pub use crate::spelling::closest;

/// serde_norway's message without its own position (the caller gives a
/// better one).
fn clean(message: &str) -> String {
    message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shaped(text: &str) -> Shaped {
        read(serde_norway::from_str(text).expect("yaml"))
    }

    #[test]
    fn every_shape_problem_is_found_in_one_read() {
        let result = shaped(
            "endpoints:
  - id: a
    type: generic
    url: https://x.example/
    enabled: \"yes please\"
    concurrency: eight
  - id: b
    type: slack
    url: https://y.example/
    evnets: [ISSUE_CREATED]
  - id: c
    type: slack
",
        );
        let found: Vec<(&str, &str)> = result
            .problems
            .iter()
            .map(|p| (p.path.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].0 == "endpoints[0].enabled" && found[0].1.contains("boolean"));
        assert_eq!(found[1].0, "endpoints[0].concurrency");
        assert_eq!(
            found[2],
            (
                "endpoints[1].evnets",
                "unknown key `evnets` (did you mean `events`?)"
            )
        );
        assert_eq!(found[3], ("endpoints[2].url", "`url` is required"));
        // The endpoints keep their places.
        assert_eq!(result.file.endpoints.len(), 3);
        assert_eq!(result.file.endpoints[2].id, "c");
    }

    #[test]
    fn typos_are_matched_to_near_names_only() {
        let known = ["events", "enabled", "url"];
        assert_eq!(closest("evnets", &known).as_deref(), Some("events"));
        assert_eq!(closest("Enabled", &known).as_deref(), Some("enabled"));
        assert_eq!(closest("colour", &known), None);
    }

    #[test]
    fn paths_split_into_keys_and_indexes() {
        assert_eq!(
            steps("endpoints[2].events[0]"),
            [
                Step::Key("endpoints".into()),
                Step::Index(2),
                Step::Key("events".into()),
                Step::Index(0)
            ]
        );
    }
}
