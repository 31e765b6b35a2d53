//! The request: its shape, the rules that fill it, and its layout.
//!
//! What it owns:
//! - the shape of a `CreateItem` request (DEC-030): `Disposition`,
//!   `TargetFolder`, `Address`, `CreateItem`, and the namespaces;
//! - the rules that fill it: which request a spooled message becomes
//!   (`request_for`, DEC-030) and its subject (`subject_of`, DEC-031),
//!   each asked of the rule book rather than restated;
//! - its layout: the fixed opening of every request (one for each
//!   disposition, saved folder and class) and the fixed pieces between
//!   its text fields, all built at compile time, and `write_request`,
//!   which copies them and has an engine escape each field between them.
//!
//! It holds no unsafe code: it writes through `Wild` and lets an
//! `Escaper` escape the text.

use super::escape::{ESCAPE_EXPANSION_MAX, Escaper};
use super::writer::{Piece, Wild};
use crate::rules::dispatch::Route;
use crate::rules::domain::{Deployment, Folder, MessageClass, MessageId, UserId};
use crate::rules::mailbox;
use crate::rules::world::State;
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
    /// Stored in the mailbox, not sent: a missed message, written by the
    /// recipient's own client.
    SaveOnly,
    /// Sent, no copy kept: an offline message from a sender who keeps none.
    SendOnly,
    /// Sent, and a copy saved in `SavedItemFolderId`: an offline message
    /// from a sender who keeps one (`mailbox::keeps_sender_copy`).
    SendAndSaveCopy,
}

impl Disposition {
    /// Every disposition, in discriminant order (the openings are indexed
    /// by it).
    pub const ALL: [Disposition; 3] = [
        Disposition::SaveOnly,
        Disposition::SendOnly,
        Disposition::SendAndSaveCopy,
    ];

    /// The schema's spelling.
    pub const fn as_str(self) -> &'static str {
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
    /// `inbox`: where a missed `IPM.Note` goes.
    Inbox,
    /// `conversationhistory`: a sender's kept copy, and a missed
    /// `IM.Note.MissedConversation`.
    ConversationHistory,
}

impl TargetFolder {
    /// Every folder, for the decoder to match a spelling against.
    pub const ALL: [TargetFolder; 2] = [TargetFolder::Inbox, TargetFolder::ConversationHistory];

    /// The schema's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            TargetFolder::Inbox => "inbox",
            TargetFolder::ConversationHistory => "conversationhistory",
        }
    }
}

/// A `t:Mailbox`: display name and SMTP address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Address<'a> {
    /// The display name (`t:Name`).
    pub name: Cow<'a, str>,
    /// The SMTP address (`t:EmailAddress`): the SIP URI without `sip:`.
    pub email: Cow<'a, str>,
}

/// One `CreateItem` request carrying one message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CreateItem<'a> {
    /// The `MessageDisposition` attribute.
    pub disposition: Disposition,
    /// The `SavedItemFolderId`, if the request has one.
    pub saved_folder: Option<TargetFolder>,
    /// The item's `t:ItemClass`.
    pub class: MessageClass,
    /// The item's `t:Subject` (DEC-031).
    pub subject: Cow<'a, str>,
    /// The item's `t:Body`, as text.
    pub body: Cow<'a, str>,
    /// The one mailbox in `t:ToRecipients`.
    pub to: Address<'a>,
    /// The `t:From` mailbox.
    pub from: Address<'a>,
}

impl CreateItem<'_> {
    /// The six text fields, in the order the request writes them: subject,
    /// body, the recipient's name and address, the sender's name and
    /// address.
    #[inline(always)]
    pub fn text_fields(&self) -> [&str; 6] {
        [
            &self.subject,
            &self.body,
            &self.to.name,
            &self.to.email,
            &self.from.name,
            &self.from.email,
        ]
    }

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

/// The SMTP address of a SIP URI: the URI without `sip:` (DEC-030).
fn email_of(sip: &str) -> &str {
    sip.strip_prefix("sip:").unwrap_or(sip)
}

/// The disposition, saved folder and class of the request that carries a
/// message of `route` from `from` to `to` (DEC-030), or `None` for a route
/// that no client spools (live, unavailable). The encoder writes this
/// shape, and the EWS endpoint holds an incoming request to it.
pub fn shape_for(
    d: &Deployment,
    route: Route,
    from: UserId,
    to: UserId,
) -> Option<(Disposition, Option<TargetFolder>, MessageClass)> {
    let class = mailbox::classify(d.user(from).org == d.user(to).org);
    let (disposition, saved_folder) = match route {
        Route::Offline => {
            let profile = d.org_of(from).profile;
            if mailbox::keeps_sender_copy(route, profile) {
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
    Some((disposition, saved_folder, class))
}

/// The SMTP address of a user: the SIP URI without `sip:` (DEC-030).
pub fn email_of_user(d: &Deployment, u: UserId) -> &str {
    email_of(&d.user(u).sip)
}

/// The request a spooled message becomes (DEC-030), or `None` for a
/// message that no client spools (live, unavailable).
pub fn request_for<'a>(d: &'a Deployment, s: &'a State, m: MessageId) -> Option<CreateItem<'a>> {
    let rec = s.ledger.get(m)?;
    let (disposition, saved_folder, class) = shape_for(d, rec.route, rec.from, rec.to)?;
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

/// The room for a request's opening, up to and including `<t:Subject>`.
const OPENING_BYTES_MAX: usize = 384;

/// The fixed opening of a request for one disposition, saved folder and
/// class: everything before the subject, built at compile time, so that a
/// request starts with one copy.
type Opening = Piece<OPENING_BYTES_MAX>;

impl Opening {
    /// The opening of a request with this disposition, saved folder and
    /// class.
    const fn of(d: Disposition, f: Option<TargetFolder>, c: MessageClass) -> Opening {
        let mut o = Opening::EMPTY
            .then(
                concat!(
                    "<m:CreateItem xmlns:m=\"",
                    ns_messages!(),
                    "\" xmlns:t=\"",
                    ns_types!(),
                    "\" MessageDisposition=\""
                )
                .as_bytes(),
            )
            .then(d.as_str().as_bytes())
            .then(b"\">");
        if let Some(f) = f {
            o = o
                .then(b"<m:SavedItemFolderId><t:DistinguishedFolderId Id=\"")
                .then(f.as_str().as_bytes())
                .then(b"\"/></m:SavedItemFolderId>");
        }
        o.then(b"<m:Items><t:Message><t:ItemClass>")
            .then(c.as_str().as_bytes())
            .then(b"</t:ItemClass><t:Subject>")
    }
}

/// The saved folders an opening can name, in the order `opening_index`
/// counts them.
const SAVED_FOLDERS: [Option<TargetFolder>; 3] = [
    Some(TargetFolder::Inbox),
    Some(TargetFolder::ConversationHistory),
    None,
];
/// The item classes, in discriminant order.
const CLASSES: [MessageClass; 2] = [MessageClass::MissedConversation, MessageClass::Note];

/// Every opening, indexed by `opening_index`.
static OPENINGS: [Opening; 18] = {
    let mut out = [Opening::EMPTY; 18];
    let mut i = 0;
    while i < out.len() {
        // `opening_index` indexes by discriminant: the build fails if the
        // order of `Disposition::ALL` or `CLASSES` ever departs from it.
        assert!(Disposition::ALL[i / 6] as usize == i / 6);
        assert!(CLASSES[i % 2] as usize == i % 2);
        out[i] = Opening::of(
            Disposition::ALL[i / 6],
            SAVED_FOLDERS[i / 2 % 3],
            CLASSES[i % 2],
        );
        i += 1;
    }
    out
};

/// A request's index in `OPENINGS`. The disposition and the class index
/// by their discriminants, which follow `Disposition::ALL` and `CLASSES`
/// (checked where `OPENINGS` is built).
fn opening_index(r: &CreateItem<'_>) -> usize {
    // In `SAVED_FOLDERS` order.
    let f = match r.saved_folder {
        Some(TargetFolder::Inbox) => 0,
        Some(TargetFolder::ConversationHistory) => 1,
        None => 2,
    };
    r.disposition as usize * 6 + f * 2 + r.class as usize
}

/// The fixed pieces between the text fields, in order.
const AFTER_SUBJECT: Piece<64> = Piece::new(b"</t:Subject><t:Body BodyType=\"Text\">");
const AFTER_BODY: Piece<64> = Piece::new(b"</t:Body><t:ToRecipients><t:Mailbox><t:Name>");
const AFTER_NAME: Piece<64> = Piece::new(b"</t:Name><t:EmailAddress>");
const AFTER_TO: Piece<64> = Piece::new(b"</t:EmailAddress></t:Mailbox></t:ToRecipients>");
const BEFORE_FROM_NAME: Piece<64> = Piece::new(b"<t:From><t:Mailbox><t:Name>");
const CLOSE: Piece<96> =
    Piece::new(b"</t:EmailAddress></t:Mailbox></t:From></t:Message></m:Items></m:CreateItem>");

/// Appends the request: its opening, then each text field escaped by
/// `engine` between the fixed pieces. Always inlined, so that each engine
/// gets its own instance with its escapes inlined into it: the portable
/// and SSE2 ones in `encode_create_item_on`, the AVX-512 one in
/// `avx512::encode_avx512`, which is compiled with the features.
#[inline(always)]
pub(super) fn write_request<E: Escaper>(engine: E, r: &CreateItem<'_>, out: &mut Vec<u8>) {
    let text_len = total_len(&r.text_fields());
    let fixed = OPENING_BYTES_MAX
        + AFTER_SUBJECT.bytes.len()
        + AFTER_BODY.bytes.len()
        + 2 * AFTER_NAME.bytes.len()
        + AFTER_TO.bytes.len()
        + BEFORE_FROM_NAME.bytes.len()
        + CLOSE.bytes.len();
    // One check for the whole request: each field escapes to at most
    // `ESCAPE_EXPANSION_MAX` bytes per input byte, so the fields' worst
    // cases add up to this, and the slack covers every wild store.
    let room = room_for(fixed, text_len);
    let mut w = Wild::new(out, room);
    w.assert_room(room);
    let opening = &OPENINGS[opening_index(r)];
    w.put_padded(&opening.bytes, opening.len);
    engine.escape(&r.subject, &mut w);
    w.put_padded(&AFTER_SUBJECT.bytes, AFTER_SUBJECT.len);
    engine.escape(&r.body, &mut w);
    engine.put_piece_then_escape(&AFTER_BODY, &r.to.name, &mut w);
    engine.put_piece_then_escape(&AFTER_NAME, &r.to.email, &mut w);
    w.put_padded(&AFTER_TO.bytes, AFTER_TO.len);
    engine.put_piece_then_escape(&BEFORE_FROM_NAME, &r.from.name, &mut w);
    engine.put_piece_then_escape(&AFTER_NAME, &r.from.email, &mut w);
    w.put_padded(&CLOSE.bytes, CLOSE.len);
    w.finish();
}

/// The fields' total length in bytes.
///
/// On a 64-bit target the plain sum is exact: every field lies in the
/// address space, at most 2^57 bytes even with five-level paging, so six of
/// them cannot reach 2^64. On a narrower target it saturates, so that no
/// input makes the reservation wrap round to a small number; a saturated
/// size fails to reserve instead of under-reserving. The hot path keeps its
/// instruction count (BENCHMARKS.md) on the targets that measure it.
#[inline(always)]
fn total_len(text: &[&str; 6]) -> usize {
    if cfg!(target_pointer_width = "64") {
        text.iter().map(|t| t.len()).sum()
    } else {
        text.iter().map(|t| t.len()).fold(0, usize::saturating_add)
    }
}

/// The bytes reserved for a request: the fixed pieces, and each field's
/// worst case of `ESCAPE_EXPANSION_MAX` bytes per input byte. On a 64-bit
/// target `fixed` plus five times a length below 2^60 cannot wrap (see
/// `total_len`); elsewhere the sum saturates.
#[inline(always)]
fn room_for(fixed: usize, text_len: usize) -> usize {
    let expanded = text_len.saturating_mul(ESCAPE_EXPANSION_MAX);
    if cfg!(target_pointer_width = "64") {
        fixed + expanded
    } else {
        fixed.saturating_add(expanded)
    }
}
