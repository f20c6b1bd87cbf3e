//! [`RecordText`]: the one way text from outside (a receiver's answer, a
//! platform's error message, a transport error) reaches a herald table.
//!
//! PostgreSQL `text` cannot hold NUL, and a statement that binds one fails
//! as a whole — with the group-commit recorder that was every endpoint's
//! record in the batch (issue 21). A `RecordText` is valid UTF-8 (it is a
//! Rust string), holds no NUL (each becomes U+FFFD) and is at most its cap
//! in bytes, cut at a character boundary with an ellipsis.

use std::fmt;

/// Longest error text kept with an attempt or an endpoint's health, bytes.
pub const ERROR_MAX_BYTES: usize = 2000;
/// Longest response excerpt kept with an attempt, bytes.
pub const EXCERPT_MAX_BYTES: usize = 1024;

/// Text that can always be written to a `text` column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordText(String);

impl RecordText {
    /// `text` with NUL replaced and cut to `cap` bytes.
    pub fn capped(text: &str, cap: usize) -> RecordText {
        RecordText(crate::formats::text::cut_bytes(
            &text.replace('\0', "\u{fffd}"),
            cap,
        ))
    }

    /// An error message (at most [`ERROR_MAX_BYTES`]).
    pub fn error(text: &str) -> RecordText {
        RecordText::capped(text, ERROR_MAX_BYTES)
    }

    /// The start of a response body, decoded lossily (at most
    /// [`EXCERPT_MAX_BYTES`]).
    pub fn excerpt(body: &[u8]) -> RecordText {
        let head = &body[..body.len().min(EXCERPT_MAX_BYTES)];
        RecordText::capped(&String::from_utf8_lossy(head), EXCERPT_MAX_BYTES)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for RecordText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_replaced() {
        let text = RecordText::error("bad\0x");
        assert_eq!(text.as_str(), "bad\u{fffd}x");
        assert!(!text.as_str().contains('\0'));
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let text = RecordText::capped(&"é".repeat(100), 11);
        assert!(text.as_str().len() <= 11, "{}", text.as_str().len());
        assert!(text.as_str().ends_with('…'));
        assert!(text.as_str().starts_with("éééé"));
        let short = RecordText::capped("short", 11);
        assert_eq!(short.as_str(), "short");
    }

    #[test]
    fn excerpts_decode_invalid_utf8_and_cap_bytes() {
        let mut body = vec![0xff, 0x00, b'o', b'k'];
        body.extend(std::iter::repeat_n(b'a', 5000));
        let text = RecordText::excerpt(&body);
        assert!(text.as_str().starts_with("\u{fffd}\u{fffd}ok"));
        assert!(text.as_str().len() <= EXCERPT_MAX_BYTES);
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_recordable(text in ".*", cap in 0usize..64) {
            let recorded = RecordText::capped(&text, cap);
            proptest::prop_assert!(!recorded.as_str().contains('\0'));
            let clean = text.replace('\0', "\u{fffd}");
            proptest::prop_assert!(recorded.as_str().len() <= cap || recorded.as_str() == clean);
        }
    }
}
