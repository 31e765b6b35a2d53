//! EWS encoding: the `CreateItem` request that carries an offline message
//! (written by the sender's client) or a missed message (written by the
//! recipient's own client) into a mailbox, and its decoding with quick-xml.
//!
//! What it owns:
//! - `request_for`: which request a spooled message becomes (DEC-030): the
//!   `MessageDisposition`, the `SavedItemFolderId`, the `ItemClass`, the
//!   subject (DEC-031), the body and the two mailboxes;
//! - `encode_create_item` / `encode_envelope`: the hot-path writer, which
//!   appends to a caller's buffer and allocates nothing else;
//! - `escape_text`: XML 1.0 text escaping (DEC-032);
//! - `decode`: quick-xml reading back, for the round-trip property.
//!
//! Invariants it keeps:
//! - every request is well-formed XML 1.0 and valid against Microsoft's EWS
//!   schema (`messages.xsd`), which `tests/encode.rs` checks with xmllint;
//! - `decode(encode(r)) == r` for every request whose text is XML-legal,
//!   and `decode(encode(r))` equals `r` with forbidden characters replaced
//!   by U+FFFD otherwise;
//! - no rule is restated: the class comes from the ledger (`dispatch`,
//!   `mailbox::classify`), the sender copy from `mailbox::keeps_sender_copy`,
//!   and the folder of a saved item from `mailbox::delivered_folders`.
//!
//! What it deliberately does not do: send anything, or model the EWS
//! response. The world's `exchange-process` event stands for Exchange.

use crate::dispatch::Route;
use crate::domain::{Deployment, Folder, MessageClass, MessageId};
use crate::mailbox;
use crate::world::State;
use quick_xml::events::Event as XmlEvent;
use std::borrow::Cow;

// The namespaces as macros, so that `concat!` can build the fixed opening
// of a request from the one spelling.
macro_rules! ns_messages {
    () => {
        "http://schemas.microsoft.com/exchange/services/2006/messages"
    };
}
macro_rules! ns_types {
    () => {
        "http://schemas.microsoft.com/exchange/services/2006/types"
    };
}

/// The EWS messages namespace (prefix `m`).
pub const NS_MESSAGES: &str = ns_messages!();
/// The EWS types namespace (prefix `t`).
pub const NS_TYPES: &str = ns_types!();
/// The SOAP 1.1 envelope namespace.
pub const NS_SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// `t:MessageDispositionType` (types.xsd).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Disposition {
    SaveOnly,
    SendOnly,
    SendAndSaveCopy,
}

impl Disposition {
    pub const ALL: [Disposition; 3] = [
        Disposition::SaveOnly,
        Disposition::SendOnly,
        Disposition::SendAndSaveCopy,
    ];

    /// The schema's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::SaveOnly => "SaveOnly",
            Disposition::SendOnly => "SendOnly",
            Disposition::SendAndSaveCopy => "SendAndSaveCopy",
        }
    }
}

/// The `t:DistinguishedFolderIdNameType` values this crate uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum TargetFolder {
    Inbox,
    ConversationHistory,
}

impl TargetFolder {
    pub const ALL: [TargetFolder; 2] = [TargetFolder::Inbox, TargetFolder::ConversationHistory];

    /// The schema's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetFolder::Inbox => "inbox",
            TargetFolder::ConversationHistory => "conversationhistory",
        }
    }
}

/// A `t:Mailbox`: display name and SMTP address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Address<'a> {
    pub name: Cow<'a, str>,
    pub email: Cow<'a, str>,
}

/// One `CreateItem` request carrying one message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CreateItem<'a> {
    pub disposition: Disposition,
    pub saved_folder: Option<TargetFolder>,
    pub class: MessageClass,
    pub subject: Cow<'a, str>,
    pub body: Cow<'a, str>,
    pub to: Address<'a>,
    pub from: Address<'a>,
}

impl CreateItem<'_> {
    /// The same request with every borrowed string owned.
    pub fn into_owned(self) -> CreateItem<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        CreateItem {
            disposition: self.disposition,
            saved_folder: self.saved_folder,
            class: self.class,
            subject: own(self.subject),
            body: own(self.body),
            to: Address {
                name: own(self.to.name),
                email: own(self.to.email),
            },
            from: Address {
                name: own(self.from.name),
                email: own(self.from.email),
            },
        }
    }
}

/// The longest subject, in characters (DEC-031).
pub const SUBJECT_CHARS_MAX: usize = 80;

/// The subject of an item: the body's first line, at most
/// `SUBJECT_CHARS_MAX` characters (DEC-031). Borrowed, never allocated.
pub fn subject_of(body: &str) -> &str {
    let line = body.split(['\r', '\n']).next().unwrap_or("");
    match line.char_indices().nth(SUBJECT_CHARS_MAX) {
        Some((cut, _)) => &line[..cut],
        None => line,
    }
}

/// The SMTP address of a user: the SIP URI without its scheme (DEC-030).
fn email_of(sip: &str) -> &str {
    sip.strip_prefix("sip:").unwrap_or(sip)
}

/// The request a spooled message becomes (DEC-030), or `None` for a
/// message that no client spools (live, unavailable).
pub fn request_for<'a>(d: &'a Deployment, s: &'a State, m: MessageId) -> Option<CreateItem<'a>> {
    let rec = s.ledger.get(m)?;
    let class = mailbox::classify(d.user(rec.from).org == d.user(rec.to).org);
    let (disposition, saved_folder) = match rec.route {
        Route::Offline => {
            let profile = d.org_of(rec.from).profile;
            if mailbox::keeps_sender_copy(rec.route, profile) {
                (
                    Disposition::SendAndSaveCopy,
                    Some(TargetFolder::ConversationHistory),
                )
            } else {
                (Disposition::SendOnly, None)
            }
        }
        Route::MissedMessage => {
            let folders = mailbox::delivered_folders(class);
            let folder = if folders.contains(Folder::ConversationHistory) {
                TargetFolder::ConversationHistory
            } else {
                TargetFolder::Inbox
            };
            (Disposition::SaveOnly, Some(folder))
        }
        Route::Live | Route::Unavailable(_) => return None,
    };
    let address = |u| {
        let user = d.user(u);
        Address {
            name: Cow::Borrowed(user.name.as_str()),
            email: Cow::Borrowed(email_of(&user.sip)),
        }
    };
    Some(CreateItem {
        disposition,
        saved_folder,
        class,
        subject: Cow::Borrowed(subject_of(&rec.body)),
        body: Cow::Borrowed(rec.body.as_str()),
        to: address(rec.to),
        from: address(rec.from),
    })
}

/// Whether XML 1.0 allows the character at all (its `Char` production).
pub fn xml_legal(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Whether a byte may need escaping: markup, any control character, or
/// the lead byte 0xEF of U+FFFE and U+FFFF. Tabs and newlines are flagged
/// too and then copied as they are.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline]
fn flagged(b: u8) -> bool {
    matches!(b, b'&' | b'<' | b'>' | 0xEF | 0..=0x1F)
}

/// The length of the prefix of `bytes` with no flagged byte. On x86_64 it
/// tests 16 bytes per step with SSE2, which every x86_64 processor has.
#[inline]
fn clean_prefix_len(bytes: &[u8]) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8,
        };
        // The flagged lanes of 16 bytes, as a bit mask.
        #[inline(always)]
        fn flagged16(chunk: &[u8; 16]) -> u32 {
            // SAFETY: SSE2 is part of the x86_64 baseline, and the load
            // reads exactly the 16 bytes of `chunk`.
            unsafe {
                let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
                let control_max = _mm_set1_epi8(0x1F);
                // max(v, 0x1F) == 0x1F exactly where v <= 0x1F, unsigned.
                let control = _mm_cmpeq_epi8(_mm_max_epu8(v, control_max), control_max);
                let markup = _mm_or_si128(
                    _mm_or_si128(
                        _mm_cmpeq_epi8(v, _mm_set1_epi8(b'&' as i8)),
                        _mm_cmpeq_epi8(v, _mm_set1_epi8(b'<' as i8)),
                    ),
                    _mm_or_si128(
                        _mm_cmpeq_epi8(v, _mm_set1_epi8(b'>' as i8)),
                        _mm_cmpeq_epi8(v, _mm_set1_epi8(0xEFu8 as i8)),
                    ),
                );
                _mm_movemask_epi8(_mm_or_si128(markup, control)) as u32
            }
        }
        let mut chunks = bytes.chunks_exact(16);
        let mut i = 0;
        for chunk in &mut chunks {
            let mask = flagged16(chunk.try_into().unwrap_or(&[0; 16]));
            if mask != 0 {
                return i + mask.trailing_zeros() as usize;
            }
            i += 16;
        }
        // The tail, padded with spaces, which are never flagged.
        let rest = chunks.remainder();
        if rest.is_empty() {
            return i;
        }
        let mut padded = [b' '; 16];
        padded[..rest.len()].copy_from_slice(rest);
        let mask = flagged16(&padded);
        i + if mask == 0 {
            rest.len()
        } else {
            mask.trailing_zeros() as usize
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        bytes
            .iter()
            .position(|b| flagged(*b))
            .unwrap_or(bytes.len())
    }
}

/// Appends `text` as XML 1.0 character data (DEC-032): `&`, `<` and `>`
/// become entity references (quotes need none outside attributes), a
/// carriage return becomes `&#xD;` so that end-of-line normalisation cannot
/// change it, and each character that XML 1.0 forbids becomes U+FFFD.
/// Everything else, non-BMP characters included, is copied as UTF-8. Clean
/// runs are found 16 bytes at a time and copied in one call.
pub fn escape_text(text: &str, out: &mut Vec<u8>) {
    out.reserve(text.len().saturating_mul(ESCAPE_EXPANSION_MAX));
    let mut w = Reserved::new(out);
    escape_into(text, &mut w);
    w.finish();
}

/// The most bytes one input byte escapes to (`&amp;` and `&#xD;`).
const ESCAPE_EXPANSION_MAX: usize = 5;

/// Writes into capacity reserved beforehand, without a capacity check per
/// copy: the hot path's copies are many and short. The caller reserves
/// enough for the worst case, and `finish` publishes the written length.
struct Reserved<'a> {
    out: &'a mut Vec<u8>,
    len: usize,
}

impl<'a> Reserved<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        let len = out.len();
        Reserved { out, len }
    }

    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        // The positive and the negative space of the reservation: a write
        // past it would be a bug in the caller's arithmetic.
        assert!(
            bytes.len() <= self.out.capacity() - self.len,
            "reservation too small"
        );
        // SAFETY: the assertion keeps the write inside the allocation, the
        // source is a distinct slice, and `finish` sets the length only
        // over bytes written here.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.out.as_mut_ptr().add(self.len),
                bytes.len(),
            );
        }
        self.len += bytes.len();
    }

    fn finish(self) {
        // SAFETY: every byte below `len` was written by `put` (or was
        // already initialised), and `len` never exceeds the capacity.
        unsafe { self.out.set_len(self.len) }
    }
}

fn escape_into(text: &str, out: &mut Reserved<'_>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    // Each step consumes at least one byte, so this loop ends.
    while i < bytes.len() {
        let clean = clean_prefix_len(&bytes[i..]);
        out.put(&bytes[i..i + clean]);
        i += clean;
        let Some(&b) = bytes.get(i) else { break };
        let (replacement, consumed): (&[u8], usize) = match b {
            b'&' => (b"&amp;", 1),
            b'<' => (b"&lt;", 1),
            b'>' => (b"&gt;", 1),
            b'\r' => (b"&#xD;", 1),
            b'\t' => (b"\t", 1),
            b'\n' => (b"\n", 1),
            0..=0x1F => ("\u{FFFD}".as_bytes(), 1),
            // U+FFFE and U+FFFF are EF BF BE and EF BF BF in UTF-8; any
            // other character starting with 0xEF is copied whole.
            _ => match bytes.get(i + 1..i + 3) {
                Some([0xBF, 0xBE | 0xBF]) => ("\u{FFFD}".as_bytes(), 3),
                _ => (&bytes[i..i + 1], 1),
            },
        };
        out.put(replacement);
        i += consumed;
    }
}

/// `text` as `decode(encode(text))` gives it back: forbidden characters
/// replaced by U+FFFD.
pub fn sanitized(text: &str) -> Cow<'_, str> {
    if text.chars().all(xml_legal) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(
            text.chars()
                .map(|c| if xml_legal(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

/// The fixed opening of a request up to its disposition attribute.
const OPEN: &[u8] = concat!(
    "<m:CreateItem xmlns:m=\"",
    ns_messages!(),
    "\" xmlns:t=\"",
    ns_types!(),
    "\" MessageDisposition=\""
)
.as_bytes();

/// Appends the `m:CreateItem` element, with its namespaces declared on it:
/// the part of the request that the EWS schema defines.
pub fn encode_create_item(r: &CreateItem<'_>, out: &mut Vec<u8>) {
    let text = [
        &r.subject,
        &r.body,
        &r.to.name,
        &r.to.email,
        &r.from.name,
        &r.from.email,
    ];
    let text_len: usize = text.iter().map(|t| t.len()).sum();
    // The fixed parts are under 700 bytes; escaping at most quintuples text.
    out.reserve(700 + text_len.saturating_mul(ESCAPE_EXPANSION_MAX));
    let mut w = Reserved::new(out);
    w.put(OPEN);
    w.put(r.disposition.as_str().as_bytes());
    w.put(b"\">");
    if let Some(f) = r.saved_folder {
        w.put(b"<m:SavedItemFolderId><t:DistinguishedFolderId Id=\"");
        w.put(f.as_str().as_bytes());
        w.put(b"\"/></m:SavedItemFolderId>");
    }
    w.put(b"<m:Items><t:Message><t:ItemClass>");
    w.put(r.class.as_str().as_bytes());
    w.put(b"</t:ItemClass><t:Subject>");
    escape_into(&r.subject, &mut w);
    w.put(b"</t:Subject><t:Body BodyType=\"Text\">");
    escape_into(&r.body, &mut w);
    w.put(b"</t:Body><t:ToRecipients><t:Mailbox><t:Name>");
    escape_into(&r.to.name, &mut w);
    w.put(b"</t:Name><t:EmailAddress>");
    escape_into(&r.to.email, &mut w);
    w.put(b"</t:EmailAddress></t:Mailbox></t:ToRecipients><t:From><t:Mailbox><t:Name>");
    escape_into(&r.from.name, &mut w);
    w.put(b"</t:Name><t:EmailAddress>");
    escape_into(&r.from.email, &mut w);
    w.put(b"</t:EmailAddress></t:Mailbox></t:From></t:Message></m:Items></m:CreateItem>");
    w.finish();
}

/// Appends the whole SOAP request: XML declaration, envelope, body.
pub fn encode_envelope(r: &CreateItem<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(
        b"<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"",
    );
    out.extend_from_slice(NS_SOAP.as_bytes());
    out.extend_from_slice(b"\"><soap:Body>");
    encode_create_item(r, out);
    out.extend_from_slice(b"</soap:Body></soap:Envelope>");
}

/// The SOAP request as a string.
pub fn encode(r: &CreateItem<'_>) -> String {
    let mut out = Vec::with_capacity(1024);
    encode_envelope(r, &mut out);
    // The writer only appends UTF-8: ASCII markup and escaped `&str` text.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Why a document is not a request this crate can read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset}: {message}")]
pub struct DecodeError {
    pub offset: u64,
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
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name: &str = r.as_ref();
                        quick_xml::escape::resolve_predefined_entity(name)
                            .ok_or_else(|| err(&reader, format!("unknown entity &{name};")))?
                            .to_string()
                    }
                    Err(e) => return Err(err(&reader, e.to_string())),
                };
                text.push_str(&resolved);
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
