//! A request read into a small element tree with quick-xml, bounded so
//! that a hostile document cannot make it loop, nest without end or expand
//! entities.
//!
//! Why a tree: an EWS request names its folders, items and fields in
//! nested elements whose order the schema fixes but whose presence varies
//! by client, and the operations read a handful of them by path. A tree of
//! local names, attributes and text is the smallest thing that lets each
//! operation say what it reads.
//!
//! What it deliberately does not do: validate against the schema (that is
//! `schema`, with libxml2), or resolve namespaces. Elements are matched by
//! local name only, as the operations need nothing more; the schema check,
//! where it is built in, holds the namespaces to the rules.

use crate::formats::encode::resolve_reference;
use quick_xml::events::Event as XmlEvent;

/// The most elements one request may hold. An EWS request of this
/// endpoint's operations has a few dozen.
pub const ELEMENTS_MAX: usize = 20_000;
/// The deepest nesting one request may have.
pub const DEPTH_MAX: usize = 64;

/// One element: its local name, its attributes by local name, its text
/// and its child elements in document order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    /// The local name, without its prefix.
    pub name: String,
    /// The attributes, by local name, in document order.
    pub attributes: Vec<(String, String)>,
    /// The character data directly inside the element, entities resolved.
    pub text: String,
    /// The child elements in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// The first child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The element at a path of local names below this one.
    pub fn at(&self, path: &[&str]) -> Option<&Element> {
        path.iter().try_fold(self, |e, name| e.child(name))
    }

    /// The text of the element at `path`, if there is one.
    pub fn text_at(&self, path: &[&str]) -> Option<&str> {
        self.at(path).map(|e| e.text.as_str())
    }

    /// An attribute's value by local name.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a document is not one this endpoint reads: where the reader stood,
/// and what it found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct XmlError {
    /// The line of the document, from 1.
    pub line: u32,
    /// The column, in bytes from 1.
    pub column: u32,
    /// What was found, and what was expected.
    pub message: String,
}

/// The line and column, from 1, of a byte offset.
pub fn line_column(doc: &[u8], offset: usize) -> (u32, u32) {
    let before = &doc[..offset.min(doc.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = before.len()
        - before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// Reads a document into its root element. A document type declaration is
/// refused before anything in it is read: EWS requests never carry one,
/// and refusing it is what keeps entity expansion (an "XML bomb") from
/// ever starting. Only the five predefined entities and character
/// references are resolved.
pub fn parse(doc: &[u8]) -> Result<Element, XmlError> {
    let text = std::str::from_utf8(doc).map_err(|e| {
        let (line, column) = line_column(doc, e.valid_up_to());
        XmlError {
            line,
            column,
            message: "found bytes that are not UTF-8, expected a UTF-8 request".to_string(),
        }
    })?;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let err = |offset: u64, message: String| {
        let (line, column) = line_column(doc, usize::try_from(offset).unwrap_or(usize::MAX));
        XmlError {
            line,
            column,
            message,
        }
    };
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        let at = reader.buffer_position();
        let event = reader.read_event().map_err(|e| {
            err(
                reader.error_position(),
                format!("found malformed XML ({e})"),
            )
        })?;
        match event {
            XmlEvent::DocType(_) => {
                return Err(err(
                    at,
                    "found a document type declaration, expected none: DTDs are prohibited in EWS requests"
                        .to_string(),
                ));
            }
            XmlEvent::Start(ref e) | XmlEvent::Empty(ref e) => {
                elements += 1;
                if elements > ELEMENTS_MAX {
                    return Err(err(
                        at,
                        format!("found more than {ELEMENTS_MAX} elements, expected fewer"),
                    ));
                }
                if stack.len() >= DEPTH_MAX {
                    return Err(err(
                        at,
                        format!("found elements nested deeper than {DEPTH_MAX}, expected fewer"),
                    ));
                }
                if root.is_some() {
                    return Err(err(
                        at,
                        "found a second root element, expected one".to_string(),
                    ));
                }
                let mut element = Element {
                    name: e.local_name().as_ref().to_string(),
                    ..Element::default()
                };
                for a in e.attributes() {
                    let a = a.map_err(|x| err(at, format!("found a malformed attribute ({x})")))?;
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::default())
                        .map_err(|x| err(at, format!("found a malformed attribute value ({x})")))?;
                    element
                        .attributes
                        .push((a.key.local_name().as_ref().to_string(), value.into_owned()));
                }
                if matches!(event, XmlEvent::Empty(_)) {
                    close(&mut stack, &mut root, element);
                } else {
                    stack.push(element);
                }
            }
            XmlEvent::End(_) => {
                let element = stack
                    .pop()
                    .ok_or_else(|| err(at, "found an end tag with no element open".to_string()))?;
                close(&mut stack, &mut root, element);
            }
            XmlEvent::Text(t) => {
                let text = t.xml10_content();
                push_text(&mut stack, &text, || {
                    err(at, "found text outside the root element".into())
                })?;
            }
            XmlEvent::CData(t) => {
                let text = t.into_inner();
                push_text(&mut stack, &text, || {
                    err(at, "found text outside the root element".into())
                })?;
            }
            XmlEvent::GeneralRef(r) => {
                let resolved = resolve_reference(&r).map_err(|m| err(at, m))?;
                push_text(&mut stack, &resolved, || {
                    err(at, "found a reference outside the root element".into())
                })?;
            }
            XmlEvent::Eof => {
                if !stack.is_empty() {
                    return Err(err(
                        at,
                        format!(
                            "found the end of the document with <{}> still open, expected its end tag",
                            stack.last().map(|e| e.name.as_str()).unwrap_or("")
                        ),
                    ));
                }
                return root
                    .ok_or_else(|| err(at, "found no element, expected a SOAP envelope".into()));
            }
            XmlEvent::Decl(_) | XmlEvent::PI(_) | XmlEvent::Comment(_) => {}
        }
    }
}

/// Attaches a finished element to its parent, or makes it the root.
fn close(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

/// Appends character data to the open element. Whitespace between
/// elements outside the root is allowed; anything else there is an error.
fn push_text(
    stack: &mut [Element],
    text: &str,
    outside: impl FnOnce() -> XmlError,
) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(open) => {
            open.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(outside()),
    }
}

#[cfg(test)]
mod tests {
    use crate::ews::xml::{DEPTH_MAX, parse};

    #[test]
    fn a_document_type_declaration_is_refused_before_any_entity_is_expanded() {
        let bomb = concat!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\">",
            "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\n",
            "<lolz>&lol2;</lolz>"
        );
        let e = parse(bomb.as_bytes()).unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("document type declaration"), "{e}");
    }

    #[test]
    fn malformed_xml_names_its_line_and_column() {
        let e = parse(b"<a>\n  <b></c>\n</a>").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(e.message.contains("malformed"), "{e}");
        let e = parse(b"<a>").unwrap_err();
        assert!(e.message.contains("still open"), "{e}");
    }

    #[test]
    fn a_tree_keeps_local_names_attributes_and_resolved_text() {
        let doc = br#"<s:E xmlns:s="x"><s:B Id="inbox">a &amp; b&#x21;</s:B><s:C/></s:E>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "E");
        let b = root.child("B").unwrap();
        assert_eq!(b.attribute("Id"), Some("inbox"));
        assert_eq!(b.text, "a & b!");
        assert!(root.child("C").is_some());
        assert!(root.child("D").is_none());
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "<a>".repeat(DEPTH_MAX + 1) + &"</a>".repeat(DEPTH_MAX + 1);
        let e = parse(deep.as_bytes()).unwrap_err();
        assert!(e.message.contains("nested deeper"), "{e}");
        let shallow = "<a>".repeat(DEPTH_MAX) + &"</a>".repeat(DEPTH_MAX);
        assert!(parse(shallow.as_bytes()).is_ok());
    }
}
