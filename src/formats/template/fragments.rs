//! herald's own markup inside a template's output: the mentions and bold
//! text a template asks for with `mention(person)` and `bold(text)`.
//!
//! A template renders to *text*: everything in it — the template's own
//! words and every interpolated value alike — goes through the platform's
//! escape when it is laid out, so nothing in a template's output can become
//! a mention, a link or a tag. The only markup that survives is a fragment:
//! while rendering, each `mention(…)` / `bold(…)` is written as a token of
//! private-use characters (which every interpolated value has removed
//! beforehand, and a template may not contain), and [`resolve`] puts the
//! platform's markup in its place after escaping, with a zero-width space
//! on each side so that it cannot join the text around it into a syntax
//! (`[x]` + `(url)`).

use std::sync::{Arc, Mutex};

use minijinja::value::{Object, ObjectRepr};
use minijinja::{Error, ErrorKind, State, Value};

use crate::events::UserRef;
use crate::formats::summary::Markup;
use crate::formats::text::BREAK;

/// Opens a token; a token is `OPEN digits CLOSE`.
pub const OPEN: char = '\u{E000}';
/// Closes a token.
pub const CLOSE: char = '\u{E001}';

/// Where a render keeps the fragments it wrote (a `State` temp).
const TEMP: &str = "herald.fragments";

/// Markup a template asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Fragment {
    /// The person, as the platform mentions them (or names them where it
    /// cannot).
    Mention(UserRef),
    /// Text shown bold (escaped like any other text).
    Bold(String),
}

impl Fragment {
    /// As plain text: the person's name, the bold text.
    pub fn plain(&self) -> &str {
        match self {
            Fragment::Mention(user) => &user.name,
            Fragment::Bold(text) => text,
        }
    }
}

/// A fragment as a template value: printed by the formatter as a token,
/// turned into plain text by any filter that wants a string.
#[derive(Debug)]
pub struct FragmentValue(pub Fragment);

impl Object for FragmentValue {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result
    where
        Self: Sized + 'static,
    {
        f.write_str(self.0.plain())
    }
}

/// The fragments one render wrote, in token order.
#[derive(Debug, Default)]
struct Written(Mutex<Vec<Fragment>>);

impl Object for Written {}

/// Removes the token characters from text that did not come from
/// [`token`] (interpolated values).
pub fn without_tokens(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([OPEN, CLOSE]) {
        text.replace([OPEN, CLOSE], "").into()
    } else {
        text.into()
    }
}

/// The token for `fragment`, recorded in the render's state.
pub fn token(state: &State, fragment: &Fragment) -> Result<String, Error> {
    let written = state.get_or_set_temp_object(TEMP, Written::default);
    let mut list = written
        .0
        .lock()
        .map_err(|_| Error::new(ErrorKind::InvalidOperation, "fragment list poisoned"))?;
    list.push(fragment.clone());
    Ok(format!("{OPEN}{}{CLOSE}", list.len() - 1))
}

/// The fragments a finished render wrote.
pub fn written(state: &State) -> Vec<Fragment> {
    state
        .get_temp(TEMP)
        .and_then(|value| {
            value
                .downcast_object_ref::<Written>()
                .and_then(|w| w.0.lock().ok().map(|list| list.clone()))
        })
        .unwrap_or_default()
}

/// `mention(person)`: a person object of the event (`issue.creator`,
/// `data.approvers[0]`, …); nothing for a field the event does not have.
pub fn mention(person: Value) -> Result<Value, Error> {
    if person.is_undefined() || person.is_none() {
        return Ok(Value::from(""));
    }
    let json = serde_json::to_value(&person).map_err(|e| {
        Error::new(ErrorKind::InvalidOperation, "mention() takes a person").with_source(e)
    })?;
    let user: UserRef = serde_json::from_value(json).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            "mention() takes a person of the event (an object with id, name and email)",
        )
    })?;
    Ok(Value::from_object(FragmentValue(Fragment::Mention(user))))
}

/// `bold(text)`.
pub fn bold(text: Value) -> Value {
    let text = if text.is_undefined() || text.is_none() {
        String::new()
    } else {
        text.to_string()
    };
    Value::from_object(FragmentValue(Fragment::Bold(
        without_tokens(&text).into_owned(),
    )))
}

/// Template output with its fragments: text whose tokens index
/// `fragments`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub text: String,
    pub fragments: Arc<[Fragment]>,
}

/// One piece of rendered text: words, or a fragment.
enum Piece<'a> {
    Text(&'a str),
    Fragment(&'a Fragment),
}

/// The text split into words and fragments; a token that is cut off or
/// names no fragment is left out.
fn pieces<'a>(text: &'a str, fragments: &'a [Fragment]) -> Vec<Piece<'a>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(OPEN) {
        out.push(Piece::Text(&rest[..open]));
        let after = &rest[open + OPEN.len_utf8()..];
        match after.find(CLOSE) {
            Some(close) => {
                if let Some(fragment) = after[..close]
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| fragments.get(i))
                {
                    out.push(Piece::Fragment(fragment));
                }
                rest = &after[close + CLOSE.len_utf8()..];
            }
            None => {
                // Cut inside a token: the digits are not text.
                rest = after.trim_start_matches(|c: char| c.is_ascii_digit());
            }
        }
    }
    out.push(Piece::Text(rest));
    out
}

impl Rendered {
    /// As plain text (fragments as their words), for titles and labels.
    pub fn plain(&self) -> String {
        pieces(&self.text, &self.fragments)
            .into_iter()
            .map(|piece| match piece {
                Piece::Text(text) => without_tokens(text).into_owned(),
                Piece::Fragment(fragment) => fragment.plain().to_owned(),
            })
            .collect()
    }

    /// Laid out with `markup`: the words escaped in one pass (a fragment's
    /// place held by one private-use character, so escaping sees no
    /// syntax across it), then each fragment's markup between zero-width
    /// spaces.
    pub fn render(&self, markup: &Markup) -> String {
        let pieces = pieces(&self.text, &self.fragments);
        let mut words = String::with_capacity(self.text.len());
        let mut shown = Vec::new();
        for piece in &pieces {
            match piece {
                Piece::Text(text) => words.push_str(&without_tokens(text)),
                Piece::Fragment(fragment) => {
                    words.push(OPEN);
                    shown.push(*fragment);
                }
            }
        }
        let escaped = (markup.escape)(&words);
        let mut out = String::with_capacity(escaped.len() + shown.len() * 16);
        let mut shown = shown.into_iter();
        for (index, part) in escaped.split(OPEN).enumerate() {
            if index > 0 {
                if let Some(fragment) = shown.next() {
                    let markup = match fragment {
                        Fragment::Mention(user) => (markup.mention)(user),
                        Fragment::Bold(text) if text.trim().is_empty() => String::new(),
                        Fragment::Bold(text) => (markup.bold)(&(markup.escape)(text)),
                    };
                    if !markup.is_empty() {
                        out.push(BREAK);
                        out.push_str(&markup);
                        out.push(BREAK);
                    }
                }
            }
            out.push_str(part);
        }
        out
    }

    /// The people it mentions.
    pub fn mentioned(&self) -> impl Iterator<Item = &UserRef> {
        self.fragments.iter().filter_map(|f| match f {
            Fragment::Mention(user) => Some(user),
            Fragment::Bold(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::summary::markdown_bold;
    use crate::formats::text::defuse_markup;

    fn person(name: &str) -> UserRef {
        UserRef {
            id: 1,
            name: name.into(),
            email: "p@example.com".into(),
            phone: None,
            handles: Default::default(),
        }
    }

    const MARKUP: Markup = Markup {
        bold: markdown_bold,
        escape: defuse_markup,
        mention: |u| format!("@{}", defuse_markup(&u.name)),
    };

    /// A fragment cannot join the text around it into a link: `[x]` from
    /// a name and `(http://…)` from a value stay apart.
    #[test]
    fn fragments_stand_apart_from_the_text_around_them() {
        let rendered = Rendered {
            text: format!("see {OPEN}0{CLOSE}(http://evil.example)"),
            fragments: vec![Fragment::Bold("[click]".into())].into(),
        };
        let out = rendered.render(&MARKUP);
        assert!(!out.contains("]("), "{out}");
        assert!(out.contains("**[click]**"), "{out}");
        assert_eq!(rendered.plain(), "see [click](http://evil.example)");
    }

    /// A token cut off by fitting, or naming no fragment, leaves nothing.
    #[test]
    fn broken_tokens_leave_nothing() {
        let rendered = Rendered {
            text: format!("a{OPEN}7{CLOSE}b{OPEN}0{CLOSE}c{OPEN}1"),
            fragments: vec![Fragment::Mention(person("Ann"))].into(),
        };
        assert_eq!(
            rendered.render(&MARKUP),
            format!("a b{BREAK}@Ann{BREAK}c").replace(' ', "")
        );
        assert_eq!(rendered.plain(), "abAnnc");
    }

    #[test]
    fn stray_token_characters_are_removed_from_values() {
        assert_eq!(without_tokens(&format!("x{OPEN}0{CLOSE}y")), "x0y");
    }
}
