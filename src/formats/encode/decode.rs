//! The decoder: a request read back with quick-xml (an envelope, or a bare
//! `m:CreateItem`), for the round-trip property `decode(encode(r)) == r`.
//! It is not on the hot path and allocates freely; it reads only the
//! elements and attributes the encoder writes, and bounds the events it
//! reads, so a hostile document cannot make it loop.

use super::request::{Address, CreateItem, Disposition, TargetFolder};
use crate::rules::domain::MessageClass;
use quick_xml::events::Event as XmlEvent;
use std::borrow::Cow;

/// Why a document is not a request this crate can read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset}: {message}")]
pub struct DecodeError {
    /// The byte of the document where the reader stood.
    pub offset: u64,
    /// What was wrong, and what was expected.
    pub message: String,
}

/// The bound on XML events per document, so a hostile input cannot loop.
pub const DECODE_EVENTS_MAX: usize = 10_000;

/// Reads a request back (an envelope, or a bare `m:CreateItem`).
pub fn decode(xml: &str) -> Result<CreateItem<'static>, DecodeError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut disposition = None;
    let mut saved_folder = None;
    let mut class = None;
    let (mut subject, mut body) = (None, None);
    let (mut to_name, mut to_email, mut from_name, mut from_email) = (None, None, None, None);
    let err = |reader: &quick_xml::Reader<&[u8]>, message: String| DecodeError {
        offset: reader.buffer_position(),
        message,
    };
    for _ in 0..DECODE_EVENTS_MAX {
        let event = reader
            .read_event()
            .map_err(|e| err(&reader, e.to_string()))?;
        match event {
            XmlEvent::Start(e) => {
                read_attributes(&e, &mut disposition, &mut saved_folder)
                    .map_err(|m| err(&reader, m))?;
                text.clear();
                path.push(e.local_name().as_ref().to_string());
            }
            XmlEvent::Empty(e) => {
                read_attributes(&e, &mut disposition, &mut saved_folder)
                    .map_err(|m| err(&reader, m))?;
            }
            XmlEvent::Text(t) => text.push_str(&t.xml10_content()),
            XmlEvent::GeneralRef(r) => {
                text.push_str(&resolve_reference(&r).map_err(|m| err(&reader, m))?);
            }
            XmlEvent::End(_) => {
                let leaf = path.pop().unwrap_or_default();
                let parent = path.last().map(String::as_str).unwrap_or("");
                let grand = path.iter().rev().nth(1).map(String::as_str).unwrap_or("");
                let value = std::mem::take(&mut text);
                match (grand, parent, leaf.as_str()) {
                    (_, "Message", "ItemClass") => {
                        class = [MessageClass::MissedConversation, MessageClass::Note]
                            .into_iter()
                            .find(|c| c.as_str() == value);
                    }
                    (_, "Message", "Subject") => subject = Some(value),
                    (_, "Message", "Body") => body = Some(value),
                    ("ToRecipients", "Mailbox", "Name") => to_name = Some(value),
                    ("ToRecipients", "Mailbox", "EmailAddress") => to_email = Some(value),
                    ("From", "Mailbox", "Name") => from_name = Some(value),
                    ("From", "Mailbox", "EmailAddress") => from_email = Some(value),
                    _ => {}
                }
            }
            XmlEvent::Eof => {
                let missing = |what: &str| err(&reader, format!("found no {what}, expected one"));
                return Ok(CreateItem {
                    disposition: disposition.ok_or_else(|| missing("MessageDisposition"))?,
                    saved_folder,
                    class: class.ok_or_else(|| missing("known t:ItemClass"))?,
                    subject: Cow::Owned(subject.ok_or_else(|| missing("t:Subject"))?),
                    body: Cow::Owned(body.ok_or_else(|| missing("t:Body"))?),
                    to: Address {
                        name: Cow::Owned(to_name.ok_or_else(|| missing("recipient t:Name"))?),
                        email: Cow::Owned(
                            to_email.ok_or_else(|| missing("recipient t:EmailAddress"))?,
                        ),
                    },
                    from: Address {
                        name: Cow::Owned(from_name.ok_or_else(|| missing("sender t:Name"))?),
                        email: Cow::Owned(
                            from_email.ok_or_else(|| missing("sender t:EmailAddress"))?,
                        ),
                    },
                });
            }
            _ => {}
        }
    }
    Err(err(
        &reader,
        format!("found more than {DECODE_EVENTS_MAX} XML events, expected one request"),
    ))
}

/// Reads the two attributes a request carries: the disposition on
/// `CreateItem` and the folder on `DistinguishedFolderId`.
fn read_attributes(
    e: &quick_xml::events::BytesStart<'_>,
    disposition: &mut Option<Disposition>,
    saved_folder: &mut Option<TargetFolder>,
) -> Result<(), String> {
    let element = e.local_name();
    for a in e.attributes() {
        let a = a.map_err(|x| x.to_string())?;
        let value = a
            .normalized_value(quick_xml::XmlVersion::default())
            .map_err(|x| x.to_string())?;
        match (element.as_ref(), a.key.local_name().as_ref()) {
            ("CreateItem", "MessageDisposition") => {
                *disposition = Disposition::ALL.into_iter().find(|d| d.as_str() == value);
            }
            ("DistinguishedFolderId", "Id") => {
                *saved_folder = TargetFolder::ALL.into_iter().find(|f| f.as_str() == value);
            }
            _ => {}
        }
    }
    Ok(())
}

/// The text a general reference stands for: a character reference, or
/// one of the five predefined entities. Any other entity is an error that
/// names it: neither the encoder nor EWS requests declare entities.
pub fn resolve_reference(r: &quick_xml::events::BytesRef<'_>) -> Result<String, String> {
    match r.resolve_char_ref() {
        Ok(Some(c)) => Ok(c.to_string()),
        Ok(None) => {
            let name: &str = r.as_ref();
            quick_xml::escape::resolve_predefined_entity(name)
                .map(str::to_string)
                .ok_or_else(|| {
                    format!("found the entity &{name};, expected only the predefined ones")
                })
        }
        Err(e) => Err(format!("found a bad character reference ({e})")),
    }
}
