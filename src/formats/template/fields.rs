//! Which names a template may use: the event's documented fields — read
//! from `docs/event.schema.json` itself, so the check and the documentation
//! cannot drift — plus what herald adds (`locale`, `title`, `severity`)
//! and the template functions.

use std::sync::OnceLock;

use serde_json::Value as Json;

/// The event schema the generic webhook documents.
const SCHEMA: &str = include_str!("../../../docs/event.schema.json");

/// Names a template may use besides the event's fields.
pub const EXTRA: [&str; 3] = ["locale", "title", "severity"];

/// Functions and globals (minijinja's and herald's).
const FUNCTIONS: [&str; 6] = ["mention", "bold", "range", "dict", "namespace", "debug"];

fn schema() -> &'static Json {
    static PARSED: OnceLock<Json> = OnceLock::new();
    PARSED.get_or_init(|| serde_json::from_str(SCHEMA).unwrap_or(Json::Null))
}

/// `node` with `$ref`s followed and `oneOf` members merged: the keys it
/// documents, or `None` when it documents none (a scalar, a list, any
/// JSON, an open map).
fn keys(node: &Json, depth: usize) -> Option<Vec<(String, Json)>> {
    if depth > 8 {
        return None;
    }
    if let Some(reference) = node["$ref"].as_str() {
        let name = reference.strip_prefix("#/$defs/")?;
        return keys(&schema()["$defs"][name], depth + 1);
    }
    if let Some(members) = node["oneOf"].as_array() {
        let merged: Vec<(String, Json)> = members
            .iter()
            .filter_map(|m| keys(m, depth + 1))
            .flatten()
            .collect();
        return (!merged.is_empty()).then_some(merged);
    }
    if node
        .get("additionalProperties")
        .is_some_and(|a| a.is_object())
    {
        return None; // an open map (`handles`)
    }
    let properties = node["properties"].as_object()?;
    Some(
        properties
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// The keys `data` has for herald's own types (each `allOf` branch).
fn data_keys() -> Vec<(String, Json)> {
    let mut out = Vec::new();
    for branch in schema()["allOf"].as_array().into_iter().flatten() {
        if let Some(found) = keys(&branch["then"]["properties"]["data"], 0) {
            out.extend(found);
        }
    }
    out
}

/// Whether `path` (`issue.creator.name`, as minijinja reports a name a
/// template uses) is documented. `open_data`: the endpoint takes custom
/// events, whose `data` is any JSON.
pub fn check(path: &str, open_data: bool) -> Result<(), String> {
    let mut segments = path.split('.');
    let root = segments.next().unwrap_or_default();
    if FUNCTIONS.contains(&root) || EXTRA.contains(&root) {
        return Ok(());
    }
    let top = schema()["properties"].as_object();
    let Some(node) = top.and_then(|t| t.get(root)) else {
        let mut known: Vec<&str> = top
            .map(|t| t.keys().map(String::as_str).collect())
            .unwrap_or_default();
        known.extend(EXTRA);
        return Err(unknown(root, "", &known));
    };
    let mut node = node.clone();
    let mut at = root.to_owned();
    let mut data = root == "data";
    for segment in segments {
        let known = if data {
            if open_data {
                return Ok(());
            }
            Some(data_keys())
        } else {
            keys(&node, 0)
        };
        let Some(known) = known else {
            return Ok(()); // nothing documented below: any key
        };
        match known.iter().find(|(k, _)| k == segment) {
            Some((_, next)) => node = next.clone(),
            None => {
                let names: Vec<&str> = known.iter().map(|(k, _)| k.as_str()).collect();
                return Err(unknown(segment, &at, &names));
            }
        }
        at = format!("{at}.{segment}");
        data = false;
    }
    Ok(())
}

fn unknown(name: &str, parent: &str, known: &[&str]) -> String {
    let mut known: Vec<&str> = known.to_vec();
    known.sort_unstable();
    known.dedup();
    let hint = crate::spelling::closest(name, &known)
        .map(|best| format!(" (did you mean `{best}`?)"))
        .unwrap_or_default();
    let place = if parent.is_empty() {
        "a field of the event".to_owned()
    } else {
        format!("a field of `{parent}`")
    };
    format!("`{name}` is not {place}{hint}; known: {}", known.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_fields_pass_and_typos_are_named() {
        for ok in [
            "issue.title",
            "issue.creator.name",
            "issue.creator.handles.slack",
            "data.failed_tasks",
            "data.approvers",
            "project.resource_id",
            "links.issue",
            "locale",
            "title",
            "mention",
        ] {
            assert_eq!(check(ok, false), Ok(()), "{ok}");
        }
        let typo = check("issue.titel", false).expect_err("typo");
        assert!(typo.contains("did you mean `title`"), "{typo}");
        let root = check("isue", false).expect_err("typo");
        assert!(root.contains("`issue`"), "{root}");
        assert!(check("data.faled_tasks", false).is_err());
        assert_eq!(check("data.anything", true), Ok(()));
    }
}
