//! Matchers in Alertmanager's syntax — `environment="prod"`,
//! `type!="ISSUE_CREATED"`, `database=~"shop_.*"`, `instance!~"dev-.*"`,
//! several separated by commas, optionally in braces
//! (`{environment=~"prod|staging", project="shop"}`) — and whether they
//! hold for an event's [`Attributes`].
//!
//! Semantics (as Alertmanager's, over attributes that may carry several
//! values — a plan's tasks run on several databases):
//! - an attribute the event does not have has the one value `""`, so
//!   `label=""` holds when it is absent;
//! - `=` holds when any value equals; `=~` when any value matches the
//!   regular expression, anchored at both ends (`prod` does not match
//!   `preprod`);
//! - `!=` and `!~` are their negations: no value equals / matches;
//! - a list of matchers holds when every one does.
//!
//! Regular expressions are Rust's `regex` syntax (RE2, as Alertmanager's
//! Go), compiled once with a size limit, so a hostile pattern costs
//! linear time and bounded memory.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;

/// An event's attributes: each name with its values (sorted, distinct).
pub type Attributes = BTreeMap<String, Vec<String>>;

/// The longest value or pattern a matcher may carry.
const MAX_VALUE_LEN: usize = 1024;
/// Compiled-regex memory limit (the crate's default is 10 MiB).
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Re,
    NotRe,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Re => "=~",
            Op::NotRe => "!~",
        }
    }
}

/// One matcher: an attribute name, an operator and a value or pattern.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: Op,
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the escapes `parse` reads back: `\"`, `\\`, `\n`.
        let mut quoted = String::with_capacity(self.value.len() + 2);
        for c in self.value.chars() {
            match c {
                '"' => quoted.push_str("\\\""),
                '\\' => quoted.push_str("\\\\"),
                '\n' => quoted.push_str("\\n"),
                c => quoted.push(c),
            }
        }
        write!(f, "{}{}\"{quoted}\"", self.name, self.op.as_str())
    }
}

impl Matcher {
    pub fn new(name: &str, op: Op, value: &str) -> Result<Matcher, String> {
        if !valid_name(name) {
            return Err(format!(
                "`{name}` is not an attribute name (letters, digits and `_`, not starting with a digit)"
            ));
        }
        if value.len() > MAX_VALUE_LEN {
            return Err(format!(
                "the value of `{name}` is longer than {MAX_VALUE_LEN} bytes"
            ));
        }
        let regex = match op {
            Op::Re | Op::NotRe => Some(
                regex::RegexBuilder::new(&format!("^(?:{value})$"))
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| {
                        format!("`{value}` is not a regular expression: {}", one_line(&e))
                    })?,
            ),
            Op::Eq | Op::Ne => None,
        };
        Ok(Matcher {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            regex,
        })
    }

    /// Whether it holds for `attributes`.
    pub fn holds(&self, attributes: &Attributes) -> bool {
        const ABSENT: &[String] = &[];
        let values = attributes.get(&self.name).map_or(ABSENT, Vec::as_slice);
        let any = |test: &dyn Fn(&str) -> bool| {
            if values.is_empty() {
                test("")
            } else {
                values.iter().any(|v| test(v))
            }
        };
        match (self.op, &self.regex) {
            (Op::Eq, _) => any(&|v| v == self.value),
            (Op::Ne, _) => !any(&|v| v == self.value),
            (Op::Re, Some(re)) => any(&|v| re.is_match(v)),
            (Op::NotRe, Some(re)) => !any(&|v| re.is_match(v)),
            // Built only by `new`, which compiles every pattern.
            (Op::Re | Op::NotRe, None) => false,
        }
    }
}

fn one_line(error: &regex::Error) -> String {
    error
        .to_string()
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .trim_start_matches("error: ")
        .to_owned()
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Matchers that must all hold (none: everything matches).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matchers(pub Vec<Matcher>);

impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

impl Matchers {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first matcher that does not hold, if any.
    pub fn first_failing(&self, attributes: &Attributes) -> Option<&Matcher> {
        self.0.iter().find(|m| !m.holds(attributes))
    }

    pub fn hold(&self, attributes: &Attributes) -> bool {
        self.first_failing(attributes).is_none()
    }

    /// Parse every text (each one or more matchers) into one list.
    pub fn parse_all<'a>(texts: impl IntoIterator<Item = &'a str>) -> Result<Matchers, String> {
        let mut all = Vec::new();
        for text in texts {
            all.extend(parse(text)?.0);
        }
        Ok(Matchers(all))
    }

    /// The texts that parse back into these matchers.
    pub fn texts(&self) -> Vec<String> {
        self.0.iter().map(Matcher::to_string).collect()
    }
}

/// Parse `a="b", c=~"d"` (optionally in braces; values quoted with `"`
/// and `\"`, `\\`, `\n` escapes, or unquoted up to the next comma).
pub fn parse(text: &str) -> Result<Matchers, String> {
    let mut rest = text.trim();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner
            .strip_suffix('}')
            .ok_or_else(|| format!("`{text}` opens a `{{` it does not close"))?
            .trim();
    }
    let mut matchers = Vec::new();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        let after = rest[name_end..].trim_start();
        let (op, after) = [
            ("=~", Op::Re),
            ("!~", Op::NotRe),
            ("!=", Op::Ne),
            ("=", Op::Eq),
        ]
        .into_iter()
        .find_map(|(token, op)| after.strip_prefix(token).map(|a| (op, a)))
        .ok_or_else(|| format!("expected `=`, `!=`, `=~` or `!~` after `{name}` in `{text}`"))?;
        let after = after.trim_start();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            unquote(quoted).ok_or_else(|| format!("unterminated quoted value in `{text}`"))?
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim_end().to_owned(), &after[end..])
        };
        matchers.push(Matcher::new(name, op, &value)?);
        rest = after.trim_start();
        if let Some(next) = rest.strip_prefix(',') {
            rest = next.trim_start();
        } else if !rest.is_empty() {
            return Err(format!(
                "expected `,` between matchers in `{text}`, found `{rest}`"
            ));
        }
    }
    if matchers.is_empty() {
        return Err("no matcher given".into());
    }
    Ok(Matchers(matchers))
}

/// The text of a quoted value (after its opening `"`) and what follows
/// its closing quote.
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            other => value.push(other),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &[&str])]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn parses_alertmanager_syntax_with_and_without_braces() {
        let m = parse(r#"{environment=~"prod|staging", type!="ISSUE_CREATED"}"#).unwrap();
        assert_eq!(m.0.len(), 2);
        assert_eq!(m.0[0].op, Op::Re);
        assert_eq!(m.0[1].value, "ISSUE_CREATED");
        let bare = parse("project=shop, database!~dev_.*").unwrap();
        assert_eq!(bare.0[0].value, "shop");
        assert_eq!(bare.0[1].op, Op::NotRe);
        let escaped = parse(r#"comment="a \"b\", c""#).unwrap();
        assert_eq!(escaped.0[0].value, "a \"b\", c");
    }

    #[test]
    fn bad_matchers_say_what_is_wrong() {
        assert!(parse("environment").unwrap_err().contains("expected `=`"));
        assert!(parse(r#"a=~"(""#)
            .unwrap_err()
            .contains("not a regular expression"));
        assert!(parse(r#"a="b" c="d""#)
            .unwrap_err()
            .contains("expected `,`"));
        assert!(parse(r#"a="b"#).unwrap_err().contains("unterminated"));
        assert!(parse("9a=b").unwrap_err().contains("not an attribute name"));
        assert!(parse("{a=b").unwrap_err().contains("does not close"));
        assert!(parse("").is_err());
    }

    #[test]
    fn round_trips_through_display() {
        let m = Matchers(vec![
            Matcher::new("a", Op::Eq, "x\"y\\z\nw\t\u{200b}").unwrap(),
            Matcher::new("b", Op::Re, "p.*").unwrap(),
        ]);
        let again = Matchers::parse_all(m.texts().iter().map(String::as_str)).unwrap();
        assert_eq!(m, again);
    }

    #[test]
    fn regexes_are_anchored() {
        let m = parse(r#"environment=~"prod""#).unwrap();
        assert!(m.hold(&attrs(&[("environment", &["prod"])])));
        assert!(!m.hold(&attrs(&[("environment", &["preprod"])])));
    }

    #[test]
    fn several_values_hold_if_any_and_negations_if_none() {
        let a = attrs(&[("database", &["shop", "billing"])]);
        assert!(parse("database=shop").unwrap().hold(&a));
        assert!(!parse("database!=shop").unwrap().hold(&a));
        assert!(parse("database!=other").unwrap().hold(&a));
        assert!(parse(r#"database=~"bill.*""#).unwrap().hold(&a));
        assert!(!parse(r#"database!~"bill.*""#).unwrap().hold(&a));
    }

    #[test]
    fn an_absent_attribute_is_the_empty_string() {
        let a = Attributes::new();
        assert!(parse(r#"label="""#).unwrap().hold(&a));
        assert!(!parse("label=x").unwrap().hold(&a));
        assert!(parse("label!=x").unwrap().hold(&a));
    }

    #[test]
    fn the_first_failing_matcher_is_named() {
        let m = parse(r#"type="PIPELINE_FAILED", environment="prod""#).unwrap();
        let a = attrs(&[
            ("type", &["PIPELINE_FAILED"]),
            ("environment", &["staging"]),
        ]);
        assert_eq!(
            m.first_failing(&a).unwrap().to_string(),
            r#"environment="prod""#
        );
    }
}
