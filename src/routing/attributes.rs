//! An event's attributes, as matchers see them (docs/routing.md lists them):
//!
//! | name | from |
//! | --- | --- |
//! | `type` | the event type |
//! | `endpoint` | the endpoint the delivery is for |
//! | `project`, `project_id` | the project's resource id and id |
//! | `issue_id`, `plan_id` | the related issue and plan |
//! | `instance`, `database`, `environment` | the plan's tasks (for `PIPELINE_FAILED`, the failed ones), taken when the event was emitted |
//! | `label` | the issue's labels |
//! | `risk_level` | the issue's risk level (Bytebase: `LOW`, `MODERATE`, `HIGH`) |
//! | any other name | a top-level field of the event's `data` holding text, a number, a boolean or a list of them (custom events' attributes; `role` of an approval request) |
//!
//! Built-in names win over `data` fields of the same name.

use serde_json::Value;

use super::matcher::Attributes;
use crate::events::Event;

/// Names herald fills itself; `data` cannot override them.
pub const BUILT_IN: [&str; 11] = [
    "type",
    "endpoint",
    "project",
    "project_id",
    "issue_id",
    "plan_id",
    "instance",
    "database",
    "environment",
    "label",
    "risk_level",
];

/// The names taken from what herald stored with the event at emit time.
const STORED: [&str; 5] = ["instance", "database", "environment", "label", "risk_level"];

/// At most this many `data` fields, and values this long, are attributes
/// (a hostile payload costs bounded work).
const MAX_DATA_FIELDS: usize = 64;
const MAX_VALUES: usize = 256;
const MAX_VALUE_LEN: usize = 1024;

/// `event`'s attributes for a delivery to `endpoint_id`; `stored` is the
/// event row's `attributes` column (`{"database": ["shop"], …}`).
pub fn of_event(event: &Event, stored: &Value, endpoint_id: &str) -> Attributes {
    let mut attributes = Attributes::new();
    let mut put = |name: &str, values: Vec<String>| {
        let mut values: Vec<String> = values
            .into_iter()
            .filter(|v| v.len() <= MAX_VALUE_LEN)
            .take(MAX_VALUES)
            .collect();
        values.sort();
        values.dedup();
        attributes.insert(name.to_owned(), values);
    };
    if let Value::Object(data) = &event.data {
        for (name, value) in data.iter().take(MAX_DATA_FIELDS) {
            if BUILT_IN.contains(&name.as_str()) {
                continue;
            }
            if let Some(values) = scalars(value) {
                put(name, values);
            }
        }
    }
    put("type", vec![event.event_type.clone()]);
    put("endpoint", vec![endpoint_id.to_owned()]);
    if let Some(project) = &event.project {
        put("project", vec![project.resource_id.clone()]);
        put("project_id", vec![project.id.to_string()]);
    }
    if let Some(issue) = &event.issue {
        put("issue_id", vec![issue.id.to_string()]);
    }
    if let Some(plan) = &event.plan {
        put("plan_id", vec![plan.id.to_string()]);
    }
    for name in STORED {
        if let Some(values) = stored.get(name).and_then(scalars) {
            put(name, values);
        }
    }
    attributes
}

/// A value as attribute values: text, a number or a boolean, or a list
/// of them; anything else is not an attribute.
fn scalars(value: &Value) -> Option<Vec<String>> {
    fn one(value: &Value) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    match value {
        Value::Array(items) => Some(items.iter().take(MAX_VALUES).filter_map(one).collect()),
        other => one(other).map(|v| vec![v]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(data: Value) -> Event {
        serde_json::from_value(json!({
            "id": "0190e0e0-0000-7000-8000-000000000001",
            "type": "PIPELINE_FAILED",
            "timestamp": "2026-12-06T00:00:00Z",
            "project": {"id": 7, "resource_id": "shop", "title": "Shop"},
            "issue": null, "plan": {"id": 3, "title": "p"}, "rollout": null,
            "data": data,
        }))
        .unwrap()
    }

    #[test]
    fn built_ins_stored_values_and_data_fields() {
        let e =
            event(json!({"generation": 2, "region": "eu", "tags": ["a", "b"], "nested": {"x": 1}}));
        let stored = json!({"environment": ["prod", "staging", "prod"], "database": ["shop"]});
        let a = of_event(&e, &stored, "oncall");
        assert_eq!(a["type"], ["PIPELINE_FAILED"]);
        assert_eq!(a["endpoint"], ["oncall"]);
        assert_eq!(a["project"], ["shop"]);
        assert_eq!(a["plan_id"], ["3"]);
        assert_eq!(a["environment"], ["prod", "staging"]);
        assert_eq!(a["generation"], ["2"]);
        assert_eq!(a["tags"], ["a", "b"]);
        assert!(!a.contains_key("nested"));
    }

    #[test]
    fn data_cannot_override_a_built_in() {
        let e = event(json!({"type": "x", "environment": "prod"}));
        let a = of_event(&e, &json!({"environment": ["dev"]}), "e");
        assert_eq!(a["type"], ["PIPELINE_FAILED"]);
        assert_eq!(a["environment"], ["dev"]);
    }
}
