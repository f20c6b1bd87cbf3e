//! Where each node of a YAML document is: a map from a node's path
//! (`endpoints[0].enabled`, as `serde_path_to_error` names it) to the line
//! and column of its key (or, for a sequence item, of the item), so every
//! config problem can point at the line. Built from the parser's marked
//! events (yaml-rust2); serde's `Value` keeps no positions.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A line and column, both from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Paths to positions; empty when the text does not parse.
#[derive(Debug, Default)]
pub struct Locations(HashMap<String, Position>);

enum Frame {
    Map {
        path: String,
        /// The key whose value comes next; `None`: a key comes next.
        key: Option<String>,
        /// A sequence item's path, placed at its first key.
        unplaced: Option<String>,
    },
    Seq {
        path: String,
        index: usize,
    },
}

#[derive(Default)]
struct Walker {
    stack: Vec<Frame>,
    found: HashMap<String, Position>,
}

fn position(mark: Marker) -> Position {
    Position {
        line: mark.line(),
        // yaml-rust2's column counts from 0.
        column: mark.col() + 1,
    }
}

impl Walker {
    /// A value (scalar or collection) starts here: its path, recorded.
    fn value_path(&mut self, mark: Marker) -> String {
        match self.stack.last_mut() {
            Some(Frame::Map { path, key, .. }) => {
                let key = key.take().unwrap_or_default();
                join(path, &key)
            }
            Some(Frame::Seq { path, index }) => {
                let item = format!("{path}[{index}]");
                *index += 1;
                self.found.entry(item.clone()).or_insert(position(mark));
                item
            }
            None => String::new(),
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl MarkedEventReceiver for Walker {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(text, ..) => {
                if let Some(Frame::Map {
                    path,
                    key: key @ None,
                    unplaced,
                }) = self.stack.last_mut()
                {
                    if let Some(item) = unplaced.take() {
                        // A mapping's start mark lies past its first key.
                        self.found.insert(item, position(mark));
                    }
                    let at = join(path, &text);
                    *key = Some(text);
                    self.found.entry(at).or_insert(position(mark));
                } else {
                    self.value_path(mark);
                }
            }
            Event::Alias(_) => {
                self.value_path(mark);
            }
            Event::MappingStart(..) => {
                let in_sequence = matches!(self.stack.last(), Some(Frame::Seq { .. }));
                let path = self.value_path(mark);
                let unplaced = in_sequence.then(|| path.clone());
                self.stack.push(Frame::Map {
                    path,
                    key: None,
                    unplaced,
                });
            }
            Event::SequenceStart(..) => {
                let path = self.value_path(mark);
                self.stack.push(Frame::Seq { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

impl Locations {
    pub fn of(text: &str) -> Locations {
        let mut walker = Walker::default();
        let mut parser = Parser::new_from_str(text);
        match parser.load(&mut walker, false) {
            Ok(()) => Locations(walker.found),
            Err(_) => Locations::default(),
        }
    }

    /// Where `path` is, or the nearest enclosing node that is known.
    pub fn find(&self, path: &str) -> Option<Position> {
        let mut path = path;
        loop {
            if let Some(found) = self.0.get(path) {
                return Some(*found);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
endpoints:
  - id: ops
    type: generic
    enabled: \"yes please\"
  - id: chat
    events: [A, B]
    concurrency: eight
links:
  issue: x
";

    #[test]
    fn keys_and_items_point_at_their_line_and_column() {
        let at = Locations::of(FILE);
        let pos = |line, column| Some(Position { line, column });
        assert_eq!(at.find("endpoints"), pos(1, 1));
        assert_eq!(at.find("endpoints[0]"), pos(2, 5));
        assert_eq!(at.find("endpoints[0].enabled"), pos(4, 5));
        assert_eq!(at.find("endpoints[1].concurrency"), pos(7, 5));
        assert_eq!(at.find("endpoints[1].events"), pos(6, 5));
        assert_eq!(at.find("links.issue"), pos(9, 3));
        // Unknown paths fall back to what encloses them.
        assert_eq!(at.find("endpoints[1].nope"), pos(5, 5));
        assert_eq!(at.find("nothing"), None);
    }
}
