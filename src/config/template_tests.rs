//! Config tests for message templates: defaults per platform, an
//! endpoint's own, and problems with the file's line and the template's.

use std::path::Path;

use super::routing_tests::problem_lines;
use super::*;

const TEMPLATED: &str = r#"
templates:
  slack:
    title: "Default: {{ title }}"
endpoints:
  - id: plain
    type: slack
    url: https://hooks.slack.com/services/T/B/X
    events: [PIPELINE_FAILED]
  - id: own
    type: slack
    url: https://hooks.slack.com/services/T/B/Y
    events: [PIPELINE_FAILED]
    template:
      text: |
        {% for t in data.failed_tasks %}- {{ t.name }}
        {% endfor %}
  - id: teams
    type: teams
    url: https://prod.example.com/workflows/x
    events: ["*"]
"#;

/// A platform's default goes to its endpoints without a template of their
/// own; an endpoint's own replaces it; other platforms have none; the
/// effective config shows both as written and reads back the same.
#[test]
fn defaults_apply_per_platform_and_an_endpoint_template_replaces_them() {
    let config =
        parse(TEMPLATED, Path::new("t.yaml"), Path::new("/nonexistent")).expect("valid config");
    let source = |id: &str| {
        let endpoint = config.endpoints.iter().find(|e| e.id == id).expect(id);
        endpoint.template.as_ref().map(|t| t.source().clone())
    };
    let plain = source("plain").expect("the slack default");
    assert_eq!(plain.title.as_deref(), Some("Default: {{ title }}"));
    let own = source("own").expect("its own");
    assert!(own.title.is_none() && own.text.is_some());
    assert!(source("teams").is_none());
    let effective = render_effective(&config);
    assert!(effective.contains("templates:"), "{effective}");
    let again = parse(&effective, Path::new("e.yaml"), Path::new("/nonexistent"))
        .expect("the effective config is valid");
    assert_eq!(again.templates, config.templates);
    assert_eq!(
        again
            .endpoints
            .iter()
            .map(|e| e.template.clone())
            .collect::<Vec<_>>(),
        config
            .endpoints
            .iter()
            .map(|e| e.template.clone())
            .collect::<Vec<_>>()
    );
}

/// Every template problem names the file's line of the part, the field,
/// and the line inside the template.
#[test]
fn template_problems_point_at_the_file_and_the_template_line() {
    let text = r#"
templates:
  slack:
    title: "{{ issue.titel }}"
  pager:
    title: x
endpoints:
  - id: ops
    type: slack
    url: https://hooks.slack.com/services/T/B/X
    events: [PIPELINE_FAILED]
    template:
      text: |
        ok
        {% for t in data.failed_tasks %}
  - id: hook
    type: generic
    url: https://example.com/hook
    secret: HERALD_TEST_NO_SUCH_SECRET
    events: ["*"]
    template:
      title: "{{ title }}"
"#;
    let lines = problem_lines(text, "t.yaml", Path::new("/nonexistent"));
    let has = |wanted: &[&str]| lines.iter().any(|l| wanted.iter().all(|w| l.contains(w)));
    assert!(
        has(&[
            "t.yaml:4:5: templates.slack.title: line 1: `titel` is not a field of `issue`",
            "did you mean `title`"
        ]),
        "{lines:#?}"
    );
    assert!(
        has(&["t.yaml:5:3: templates.pager: `pager` is not a type"]),
        "{lines:#?}"
    );
    assert!(
        has(&["t.yaml:13:7: endpoint `ops`: template.text: line 2: syntax error"]),
        "{lines:#?}"
    );
    assert!(
        has(&["endpoint `hook`: template: a generic endpoint's template is its `body`"]),
        "{lines:#?}"
    );
}
