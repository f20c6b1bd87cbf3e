//! Platform fidelity with templates, as a property: arbitrary templates —
//! hostile words of their own (`<!channel>`, `[x](url)`, `<at id=all>`),
//! any of the event's fields, herald's `mention()` and `bold()`, loops over
//! a thousand failed tasks, up to 30 fields with hostile labels — over the
//! same hostile events as `fidelity.rs`, on every platform and in both
//! languages: every body is within its platform's limits, carries no
//! mention, link or tag that herald did not write, and a template is only
//! ever set aside because its message cannot fit (never an error, never an
//! undeliverable message).

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;

use super::fidelity::{event, every_link, hostile, linked, sound, FRAGMENTS};
use super::template::{FieldSource, MessageTemplate, TemplateSource};
use super::*;
use crate::presentation::Locale;

/// What a template may interpolate or do.
const PIECES: &[&str] = &[
    "{{ issue.title }}",
    "{{ plan.title }}",
    "{{ project.title }} ({{ project.resource_id }})",
    "{{ data.reason }}",
    "{{ data.role }}",
    "{{ type }}",
    "{{ title }}",
    "{{ data.note }}",
    "{{ links.issue }}",
    "{{ data | tojson }}",
    "{{ data.failed_tasks | length }}",
    "{{ data.first_failure_at | time }}",
    "{{ data.duration_seconds | duration }}",
    "{{ mention(issue.creator) }}",
    "{{ bold(issue.title) }}",
    "{{ bold(mention(issue.creator)) }}",
    "{% for a in data.approvers %}{{ mention(a) }}, {% endfor %}",
    "{% for t in data.failed_tasks %}- {{ t.name }} on {{ t.instance }}/{{ t.database }}: {{ t.error }}\n{% endfor %}",
    "{% if data.approver %}{{ mention(data.approver) }}{% endif %}",
    "{{ issue.creator.name | upper }}",
];

/// Template text: hostile words of its own and pieces, mixed.
fn template_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(FRAGMENTS).prop_map(str::to_owned),
            prop::sample::select(PIECES).prop_map(str::to_owned),
        ],
        0..10,
    )
    .prop_map(|parts| parts.concat())
}

/// A label: hostile words, but one line (the load check refuses others).
fn label() -> impl Strategy<Value = String> {
    hostile(120).prop_map(|text| {
        let line: String = text.chars().filter(|c| !c.is_control()).take(100).collect();
        if line.trim().is_empty() {
            "Label".to_owned()
        } else {
            line
        }
    })
}

fn template() -> impl Strategy<Value = TemplateSource> {
    (
        prop::option::of(template_text()),
        prop::option::of(prop::collection::vec((label(), template_text()), 0..=25)),
        prop::option::of(template_text()),
    )
        .prop_map(|(title, fields, text)| TemplateSource {
            // At least one part, as the load check requires.
            title: Some(title.unwrap_or_else(|| "{{ title }}".into())),
            fields: fields.map(|fields| {
                fields
                    .into_iter()
                    .map(|(label, value)| FieldSource { label, value })
                    .collect()
            }),
            text,
            body: None,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn every_templated_body_fits_and_carries_no_injected_markup(
        source in template(),
        event in event(),
    ) {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 5, 0).single().unwrap_or_default();
        let platforms = Platform::ALL.into_iter().filter(|p| *p != Platform::Generic);
        for platform in platforms {
            for (locale, links) in [(Locale::En, Default::default()), (Locale::ZhCn, every_link())] {
                let compiled = MessageTemplate::compile(&source, platform, &["*".into()], &[locale]);
                prop_assert!(compiled.is_ok(), "{platform}: {:?}", compiled.err());
                let mut endpoint = linked(platform, locale, links);
                endpoint.template = compiled.ok().map(Arc::new);
                let rendered = render_explained(&endpoint, &event, now);
                prop_assert!(rendered.is_ok(), "{platform}: {:?}", rendered.err());
                let (rendered, fallback) = rendered.expect("checked");
                if let Some(reason) = &fallback {
                    prop_assert!(reason.contains("cannot fit"), "{platform}: fell back: {reason}");
                }
                sound(platform, &rendered, &event)?;
            }
        }
    }
}
