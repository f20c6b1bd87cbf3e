//! How an endpoint's messages are presented beyond the platform's layout:
//! the language they are written in ([`Locale`]) and the links back to the
//! host application ([`LinkTemplates`], expanded per event into [`Links`]).
//!
//! Pure: templates are parsed and checked when the config is loaded, and
//! expanded without I/O when a message is rendered. Values that come from
//! the host application (a project's resource id) are percent-encoded, so
//! an event can never change a link's host, path shape or query.

use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;
use url::Url;

use crate::events::Event;

/// The language of an endpoint's messages (`locale:` in the config).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Locale {
    #[default]
    En,
    ZhCn,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::En, Locale::ZhCn];

    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::ZhCn => "zh-CN",
        }
    }

    pub fn parse(text: &str) -> Option<Locale> {
        Locale::ALL.into_iter().find(|l| l.as_str() == text)
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a link points at, in the order messages show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    Issue,
    Plan,
    Rollout,
    Project,
}

impl LinkKind {
    pub const ALL: [LinkKind; 4] = [
        LinkKind::Issue,
        LinkKind::Plan,
        LinkKind::Rollout,
        LinkKind::Project,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Issue => "issue",
            LinkKind::Plan => "plan",
            LinkKind::Rollout => "rollout",
            LinkKind::Project => "project",
        }
    }

    /// The placeholders a template of this kind may use: the ids an event
    /// about that thing always has.
    fn placeholders(self) -> &'static [Placeholder] {
        use Placeholder::*;
        match self {
            LinkKind::Issue => &[Project, ProjectId, IssueId],
            LinkKind::Plan => &[Project, ProjectId, PlanId],
            LinkKind::Rollout => &[Project, ProjectId, RolloutId, PlanId],
            LinkKind::Project => &[Project, ProjectId],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placeholder {
    /// The project's resource id (`{project}`), percent-encoded.
    Project,
    ProjectId,
    IssueId,
    PlanId,
    RolloutId,
}

impl Placeholder {
    const ALL: [Placeholder; 5] = [
        Placeholder::Project,
        Placeholder::ProjectId,
        Placeholder::IssueId,
        Placeholder::PlanId,
        Placeholder::RolloutId,
    ];

    fn name(self) -> &'static str {
        match self {
            Placeholder::Project => "project",
            Placeholder::ProjectId => "project_id",
            Placeholder::IssueId => "issue_id",
            Placeholder::PlanId => "plan_id",
            Placeholder::RolloutId => "rollout_id",
        }
    }

    /// The value for `event`, `None` when the event has no such thing.
    fn value(self, event: &Event) -> Option<String> {
        match self {
            // `.` and `..` would be dot segments, which URL parsing
            // resolves (even percent-encoded): no link rather than another path.
            Placeholder::Project => event
                .project
                .as_ref()
                .filter(|p| !matches!(p.resource_id.as_str(), "" | "." | ".."))
                .map(|p| utf8_percent_encode(&p.resource_id, COMPONENT).to_string()),
            Placeholder::ProjectId => event.project.as_ref().map(|p| p.id.to_string()),
            Placeholder::IssueId => event.issue.as_ref().map(|i| i.id.to_string()),
            Placeholder::PlanId => event.plan.as_ref().map(|p| p.id.to_string()),
            Placeholder::RolloutId => event.rollout.as_ref().map(|r| r.id.to_string()),
        }
    }

    /// Worst-case values used to check a template at load; two differ, so
    /// a placeholder that would choose the host is caught.
    fn sample(self, which: usize) -> &'static str {
        match (self, which) {
            (Placeholder::Project, 0) => "project-%E2%9C%93",
            (Placeholder::Project, _) => "other-project",
            (_, 0) => "9223372036854775807",
            _ => "1",
        }
    }
}

/// Everything but RFC 3986's unreserved characters is percent-encoded in a
/// substituted value: it stays inside one path segment or query value.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The longest link herald sends. The tightest documented limit among the
/// platforms that take a link is Slack's: a button's `url` is at most
/// 3,000 characters (https://api.slack.com/reference/block-kit/block-elements#button).
/// Kept well below it so a link never decides whether a message fits.
pub const MAX_LINK_CHARS: usize = 2_000;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Value(Placeholder),
}

/// One parsed URL template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
}

impl Template {
    /// Parse `source` as a `kind` template: `{name}` placeholders among
    /// those `kind` allows, `{{` / `}}` for literal braces, an absolute
    /// http(s) URL once filled in.
    pub fn parse(kind: LinkKind, source: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = source;
        while let Some(at) = rest.find(['{', '}']) {
            text.push_str(&rest[..at]);
            let tail = &rest[at..];
            if tail.starts_with("{{") || tail.starts_with("}}") {
                text.push_str(&tail[..1]);
                rest = &tail[2..];
                continue;
            }
            if tail.starts_with('}') {
                return Err("has a `}` without its `{` (write `}}` for a literal brace)".into());
            }
            let Some(end) = tail.find('}') else {
                return Err("has a `{` that is never closed".into());
            };
            let name = &tail[1..end];
            let placeholder = Placeholder::ALL
                .into_iter()
                .find(|p| p.name() == name)
                .ok_or_else(|| format!("unknown placeholder `{{{name}}}`"))?;
            if !kind.placeholders().contains(&placeholder) {
                return Err(format!(
                    "`{{{name}}}` is not known for every {} event; {} links may use {}",
                    kind.as_str(),
                    kind.as_str(),
                    kind.placeholders()
                        .iter()
                        .map(|p| format!("{{{}}}", p.name()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Value(placeholder));
            rest = &tail[end + 1..];
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        let template = Template {
            source: source.to_string(),
            pieces,
        };
        let filled = |which| {
            let text = template
                .fill(|p| Some(p.sample(which).to_string()))
                .unwrap_or_default();
            let url = Url::parse(&text)
                .map_err(|error| format!("is not an absolute URL once filled in: {error}"))?;
            if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
                return Err("must be an http(s) URL with a host".to_string());
            }
            if text.chars().count() > MAX_LINK_CHARS {
                return Err(format!("is longer than {MAX_LINK_CHARS} characters"));
            }
            Ok(url)
        };
        let (one, other) = (filled(0)?, filled(1)?);
        if one.origin() != other.origin() {
            return Err(
                "has a placeholder in its scheme, host or port; ids may only fill the path or query"
                    .into(),
            );
        }
        Ok(template)
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    fn fill(&self, value: impl Fn(Placeholder) -> Option<String>) -> Option<String> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Value(placeholder) => out.push_str(&value(*placeholder)?),
            }
        }
        Some(out)
    }

    /// The link for `event`; `None` when the event lacks one of the ids.
    fn expand(&self, event: &Event) -> Option<Url> {
        let filled = self.fill(|p| p.value(event))?;
        let url = Url::parse(&filled).ok()?;
        (url.as_str().chars().count() <= MAX_LINK_CHARS).then_some(url)
    }
}

/// The `links:` section: one optional template per kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkTemplates {
    templates: Vec<(LinkKind, Template)>,
}

impl LinkTemplates {
    pub fn new(templates: Vec<(LinkKind, Template)>) -> Self {
        let mut templates = templates;
        templates.sort_by_key(|(kind, _)| *kind);
        LinkTemplates { templates }
    }

    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    /// Every kind under one project page `base` (e.g.
    /// `https://bb.example.com/projects/{project}`), in the host
    /// application's layout: `base/issues/{issue_id}`,
    /// `base/plans/{plan_id}`, `base/rollouts/{rollout_id}`, and `base`.
    pub fn under(base: &str) -> Result<LinkTemplates, String> {
        let sources = [
            (LinkKind::Issue, format!("{base}/issues/{{issue_id}}")),
            (LinkKind::Plan, format!("{base}/plans/{{plan_id}}")),
            (LinkKind::Rollout, format!("{base}/rollouts/{{rollout_id}}")),
            (LinkKind::Project, base.to_string()),
        ];
        let mut templates = Vec::new();
        for (kind, source) in sources {
            templates.push((kind, Template::parse(kind, &source)?));
        }
        Ok(LinkTemplates::new(templates))
    }

    pub fn get(&self, kind: LinkKind) -> Option<&Template> {
        self.templates
            .iter()
            .find_map(|(k, t)| (*k == kind).then_some(t))
    }

    /// The links `event` has: every template whose ids the event carries,
    /// in [`LinkKind`] order.
    pub fn expand(&self, event: &Event) -> Links {
        Links(
            self.templates
                .iter()
                .filter_map(|(kind, template)| Some((*kind, template.expand(event)?)))
                .collect(),
        )
    }
}

/// The links of one event, in [`LinkKind`] order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links(pub Vec<(LinkKind, Url)>);

impl Links {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The links a message shows as actions: the issue, plan and rollout
    /// it is about; the project only when there is none of those.
    pub fn actions(&self) -> Vec<(LinkKind, &Url)> {
        let specific: Vec<_> = self
            .0
            .iter()
            .filter(|(kind, _)| *kind != LinkKind::Project)
            .map(|(kind, url)| (*kind, url))
            .collect();
        if specific.is_empty() {
            self.0.iter().map(|(kind, url)| (*kind, url)).collect()
        } else {
            specific
        }
    }

    /// The first links whose URLs together have at most `max_chars`
    /// characters.
    pub fn within(&self, max_chars: usize) -> Links {
        let mut used = 0;
        Links(
            self.0
                .iter()
                .take_while(|(_, url)| {
                    used += url.as_str().chars().count();
                    used <= max_chars
                })
                .cloned()
                .collect(),
        )
    }

    /// `{"issue": "https://…", …}` (the generic payload's `links`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.0
                .iter()
                .map(|(kind, url)| (kind.as_str().to_string(), url.as_str().into()))
                .collect(),
        )
    }
}

/// How one endpoint's messages are presented.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Presentation {
    pub locale: Locale,
    pub links: std::sync::Arc<LinkTemplates>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::samples;

    fn template(kind: LinkKind, source: &str) -> Result<Template, String> {
        Template::parse(kind, source)
    }

    #[test]
    fn templates_are_checked_at_load() {
        let ok = [
            (
                LinkKind::Issue,
                "https://bb.example.com/projects/{project}/issues/{issue_id}",
            ),
            (
                LinkKind::Rollout,
                "https://bb.example.com/p/{project_id}/plans/{plan_id}/rollout/{rollout_id}",
            ),
            (
                LinkKind::Plan,
                "http://127.0.0.1:8080/plan?id={plan_id}&x={{literal}}",
            ),
        ];
        for (kind, source) in ok {
            template(kind, source).unwrap_or_else(|e| panic!("{source}: {e}"));
        }
        let bad = [
            (
                LinkKind::Issue,
                "https://x/{issue}",
                "unknown placeholder `{issue}`",
            ),
            (
                LinkKind::Issue,
                "https://x/{plan_id}",
                "not known for every issue event",
            ),
            (
                LinkKind::Project,
                "https://x/{issue_id}",
                "not known for every project event",
            ),
            (LinkKind::Issue, "https://x/{issue_id", "never closed"),
            (LinkKind::Issue, "https://x/issue_id}", "without its `{`"),
            (LinkKind::Issue, "/issues/{issue_id}", "not an absolute URL"),
            (
                LinkKind::Issue,
                "javascript:alert({issue_id})",
                "http(s) URL with a host",
            ),
            (
                LinkKind::Issue,
                "ftp://x/{issue_id}",
                "http(s) URL with a host",
            ),
            (
                LinkKind::Issue,
                "https://{project}.corp.example/i/{issue_id}",
                "host or port",
            ),
            (LinkKind::Issue, "https://x:{issue_id}/", "invalid port"),
        ];
        for (kind, source, expected) in bad {
            let error = template(kind, source).expect_err(source);
            assert!(error.contains(expected), "{source}: {error}");
        }
        let long = format!("https://x/{}/{{issue_id}}", "a".repeat(MAX_LINK_CHARS));
        assert!(template(LinkKind::Issue, &long).is_err());
    }

    #[test]
    fn host_values_cannot_escape_their_segment() {
        let mut event = samples::sample("ISSUE_CREATED");
        if let Some(project) = event.project.as_mut() {
            project.resource_id = "../../evil.example/?x=1#frag @user".into();
        }
        let links = LinkTemplates::new(vec![(
            LinkKind::Issue,
            template(
                LinkKind::Issue,
                "https://bb.example.com/projects/{project}/issues/{issue_id}",
            )
            .unwrap_or_else(|e| panic!("{e}")),
        )]);
        let expanded = links.expand(&event);
        let (_, url) = &expanded.0[0];
        assert_eq!(url.host_str(), Some("bb.example.com"));
        assert_eq!(url.query(), None);
        assert_eq!(url.fragment(), None);
        assert_eq!(url.path_segments().map(|s| s.count()), Some(4), "{url}");
        assert!(
            url.as_str()
                .contains("..%2F..%2Fevil.example%2F%3Fx%3D1%23frag%20%40user"),
            "{url}"
        );
        for dots in [".", ".."] {
            if let Some(project) = event.project.as_mut() {
                project.resource_id = dots.into();
            }
            assert!(
                links.expand(&event).is_empty(),
                "{dots:?} would change the path"
            );
        }
    }

    #[test]
    fn an_event_without_the_ids_gets_no_link_and_actions_prefer_the_specific() {
        let links = LinkTemplates::new(vec![
            (
                LinkKind::Project,
                template(LinkKind::Project, "https://bb/p/{project}")
                    .unwrap_or_else(|e| panic!("{e}")),
            ),
            (
                LinkKind::Issue,
                template(LinkKind::Issue, "https://bb/i/{issue_id}")
                    .unwrap_or_else(|e| panic!("{e}")),
            ),
        ]);
        let mut event = samples::sample("PIPELINE_COMPLETED");
        event.issue = None;
        let expanded = links.expand(&event);
        assert_eq!(expanded.0.len(), 1);
        assert_eq!(expanded.actions()[0].0, LinkKind::Project);
        let event = samples::sample("ISSUE_CREATED");
        let expanded = links.expand(&event);
        assert_eq!(expanded.0.len(), 2);
        let kinds: Vec<_> = expanded.actions().iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, vec![LinkKind::Issue]);
        assert_eq!(
            expanded.to_json()["project"]
                .as_str()
                .map(|s| s.starts_with("https://bb/p/")),
            Some(true)
        );
    }
}
