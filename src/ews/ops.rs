//! The operations: `GetFolder`, `FindFolder`, `FindItem`, `GetItem` and
//! `CreateItem`, each read from the request's element tree and answered
//! from the rule book's mailboxes, for one authenticated user.
//!
//! Invariants it keeps:
//! - a user reads and writes only their own mailbox. Every folder, item
//!   and mailbox a request names is resolved to its owner first, and any
//!   owner but the caller gets `ErrorAccessDenied`, before the folder or
//!   item is looked up, so the answer is the same whether it exists or not
//!   (DEC-075);
//! - a request that is refused changes nothing: `CreateItem` reaches the
//!   rule book only after every check here has passed, and the rule book
//!   leaves the state as it was when its own precondition fails;
//! - filing is the rule book's: `CreateItem` becomes one
//!   `Event::CreateItemArrives`, and the items it answers with are the
//!   ones `world::step` stored.
//!
//! What it deliberately does not do: authenticate (that is `http`), check
//! the schema (`schema`), or decide a class, a folder or a duplicate.

use super::ids::{FolderRef, ItemRef, folder_id, item_id};
use super::respond::{self, EwsError, leaf};
use super::xml::Element;
use crate::formats::encode::{Disposition, TargetFolder, email_of_user, shape_for, subject_of};
use crate::rules::dispatch::Route;
use crate::rules::domain::{Deployment, Folder, MessageId, UserId};
use crate::rules::mailbox::{Item, ItemKind};
use crate::rules::spooler::FailReason;
use crate::rules::world::{Event, StepError, World};
use std::collections::BTreeMap;

/// The folders of a mailbox that the endpoint shows, in SPEC.md's order,
/// all children of the message folder root (DEC-074).
pub const FOLDERS: [Folder; 5] = Folder::ALL;

/// What the endpoint keeps beside the world: the `t:InternetMessageId` of
/// each message a client created, so that a retried request is the same
/// message again (DEC-073).
#[derive(Debug, Default)]
pub struct Translation {
    /// (writer, InternetMessageId) → the message the rule book gave it.
    pub internet_ids: BTreeMap<(UserId, String), MessageId>,
}

/// What an operation answers: a response body for the envelope, or a
/// whole-request refusal.
pub enum Answer {
    /// The operation's response element, for `respond::envelope`.
    Body(Vec<u8>),
    /// A SOAP fault: (code, message).
    Fault(&'static str, String),
    /// The writer's EWS is down in the served world: HTTP 503.
    Unavailable(String),
}

/// Runs the operation in `body` (the first child of `soap:Body`) for
/// `user`.
pub fn run(world: &mut World, names: &mut Translation, user: UserId, body: &Element) -> Answer {
    // A user without a mailbox has nothing to read and nowhere to write
    // (DEC-007, DEC-017).
    let own = world.deployment.user(user);
    if own.mailbox == crate::rules::domain::MailboxLocation::None {
        return Answer::Fault(
            "ErrorNonExistentMailbox",
            format!("{} has no mailbox (DEC-007).", own.name),
        );
    }
    match body.name.as_str() {
        "GetFolder" => Answer::Body(get_folder(&world.deployment, world, user, body)),
        "FindFolder" => Answer::Body(find_folder(&world.deployment, world, user, body)),
        "FindItem" => Answer::Body(find_item(&world.deployment, world, user, body)),
        "GetItem" => Answer::Body(get_item(world, user, body)),
        "CreateItem" => create_item(world, names, user, body),
        "ConvertId" => Answer::Body(convert_id(body)),
        other => Answer::Fault(
            "ErrorInvalidRequest",
            format!(
                "The request is invalid: found the operation {other}, expected one of GetFolder, FindFolder, FindItem, GetItem, CreateItem, ConvertId (this endpoint implements no other)."
            ),
        ),
    }
}

/// Every folder reference below `parent` (`t:DistinguishedFolderId` or
/// `t:FolderId`), resolved for `user`.
fn folder_refs(
    d: &Deployment,
    user: UserId,
    parent: Option<&Element>,
) -> Vec<Result<FolderRef, EwsError>> {
    let Some(parent) = parent else {
        return Vec::new();
    };
    parent
        .children
        .iter()
        .filter(|e| e.name == "DistinguishedFolderId" || e.name == "FolderId")
        .map(|e| FolderRef::resolve(d, user, e))
        .collect()
}

/// The number of items of `user`'s mailbox listed in `folder`.
fn count_in(world: &World, user: UserId, folder: Folder) -> usize {
    world.state.mailboxes[user.0 as usize]
        .in_folder(folder)
        .count()
}

/// Appends one `t:Folder`.
fn write_folder(out: &mut Vec<u8>, world: &World, user: UserId, f: FolderRef) {
    let (name, class, total, children) = match f {
        FolderRef::Root => ("Top of Information Store", "IPF.Note", 0, FOLDERS.len()),
        FolderRef::Folder(folder) => (
            folder.display_name(),
            "IPF.Note",
            count_in(world, user, folder),
            0,
        ),
    };
    out.extend_from_slice(b"<t:Folder>");
    out.extend_from_slice(
        format!(
            "<t:FolderId Id=\"{}\" ChangeKey=\"AQAAAA==\"/>",
            folder_id(user, f)
        )
        .as_bytes(),
    );
    if f != FolderRef::Root {
        out.extend_from_slice(
            format!(
                "<t:ParentFolderId Id=\"{}\" ChangeKey=\"AQAAAA==\"/>",
                folder_id(user, FolderRef::Root)
            )
            .as_bytes(),
        );
    }
    leaf(out, "FolderClass", class);
    leaf(out, "DisplayName", name);
    leaf(out, "TotalCount", &total.to_string());
    leaf(out, "ChildFolderCount", &children.to_string());
    leaf(out, "UnreadCount", "0");
    out.extend_from_slice(b"</t:Folder>");
}

/// One operation's response: a response message for each of `targets`,
/// in request order, as clients pair them by position. `write` appends
/// the body of a message that succeeded.
fn respond_each<T>(
    operation: &str,
    targets: Vec<Result<T, EwsError>>,
    mut write: impl FnMut(&mut Vec<u8>, T),
) -> Vec<u8> {
    let mut out = Vec::new();
    respond::open_response(&mut out, operation);
    for target in targets {
        match target {
            Ok(t) => {
                respond::open_success(&mut out, operation);
                write(&mut out, t);
                respond::close_success(&mut out, operation);
            }
            Err(e) => respond::error_message(&mut out, operation, &e),
        }
    }
    respond::close_response(&mut out, operation);
    out
}

fn get_folder(d: &Deployment, world: &World, user: UserId, body: &Element) -> Vec<u8> {
    respond_each(
        "GetFolder",
        folder_refs(d, user, body.child("FolderIds")),
        |out, f| {
            out.extend_from_slice(b"<m:Folders>");
            write_folder(out, world, user, f);
            out.extend_from_slice(b"</m:Folders>");
        },
    )
}

fn find_folder(d: &Deployment, world: &World, user: UserId, body: &Element) -> Vec<u8> {
    let parents = folder_refs(d, user, body.child("ParentFolderIds"));
    respond_each("FindFolder", parents, |out, parent| {
        let children: &[Folder] = match parent {
            FolderRef::Root => &FOLDERS,
            FolderRef::Folder(_) => &[],
        };
        out.extend_from_slice(
            format!(
                "<m:RootFolder IndexedPagingOffset=\"{n}\" TotalItemsInView=\"{n}\" IncludesLastItemInRange=\"true\"><t:Folders>",
                n = children.len()
            )
            .as_bytes(),
        );
        for f in children {
            write_folder(out, world, user, FolderRef::Folder(*f));
        }
        out.extend_from_slice(b"</t:Folders></m:RootFolder>");
    })
}

/// The paging of a `FindItem` (`m:IndexedPageItemView`): where the page
/// is counted from, its offset and its most entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Paging {
    /// `BasePoint="End"`: the offset counts back from the last item, and
    /// the page is the items just before that point (DEC-074).
    from_end: bool,
    offset: usize,
    entries_max: usize,
}

impl Paging {
    fn of(body: &Element) -> Paging {
        let Some(view) = body.child("IndexedPageItemView") else {
            return Paging {
                from_end: false,
                offset: 0,
                entries_max: usize::MAX,
            };
        };
        let number = |name: &str, default: usize| {
            view.attribute(name)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(default)
        };
        Paging {
            from_end: view.attribute("BasePoint") == Some("End"),
            offset: number("Offset", 0),
            entries_max: number("MaxEntriesReturned", usize::MAX),
        }
    }

    /// The range of a list of `total` items that the page holds.
    fn range(self, total: usize) -> std::ops::Range<usize> {
        if self.from_end {
            let end = total.saturating_sub(self.offset);
            end.saturating_sub(self.entries_max)..end
        } else {
            let start = self.offset.min(total);
            start..start.saturating_add(self.entries_max).min(total)
        }
    }
}

/// Whether a response should carry the item's body: `GetItem` always
/// does; `FindItem` never does, as Exchange's does not.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Summary,
    Full,
}

/// Appends one `t:Message`, its fields in the schema's order
/// (`t:ItemType`, then `t:MessageType`).
fn write_item(
    out: &mut Vec<u8>,
    world: &World,
    owner: UserId,
    index: usize,
    listed_in: Folder,
    shape: Shape,
) {
    let d = &world.deployment;
    let item: &Item = &world.state.mailboxes[owner.0 as usize].items[index];
    let body = world
        .state
        .ledger
        .get(item.message)
        .map(|r| r.body.as_str())
        .unwrap_or("");
    let received = super::ids::virtual_time(item.at_ms);
    let ids = format!(
        "<t:ItemId Id=\"{}\" ChangeKey=\"CQAAAA==\"/><t:ParentFolderId Id=\"{}\" ChangeKey=\"AQAAAA==\"/>",
        item_id(owner, index),
        folder_id(owner, FolderRef::Folder(listed_in))
    );
    out.extend_from_slice(b"<t:Message>");
    out.extend_from_slice(ids.as_bytes());
    leaf(out, "ItemClass", item.class.as_str());
    leaf(out, "Subject", subject_of(body));
    if shape == Shape::Full {
        out.extend_from_slice(b"<t:Body BodyType=\"Text\">");
        respond::text(out, body);
        out.extend_from_slice(b"</t:Body>");
    }
    leaf(out, "DateTimeReceived", &received);
    leaf(out, "Size", &body.len().to_string());
    leaf(
        out,
        "IsSubmitted",
        if item.kind == ItemKind::Draft {
            "false"
        } else {
            "true"
        },
    );
    leaf(
        out,
        "IsDraft",
        if item.kind == ItemKind::Draft {
            "true"
        } else {
            "false"
        },
    );
    leaf(
        out,
        "IsFromMe",
        if item.from == owner { "true" } else { "false" },
    );
    leaf(out, "DateTimeSent", &received);
    leaf(out, "DateTimeCreated", &received);
    let mailbox = |out: &mut Vec<u8>, u: UserId| {
        out.extend_from_slice(b"<t:Mailbox>");
        leaf(out, "Name", &d.user(u).name);
        leaf(out, "EmailAddress", email_of_user(d, u));
        leaf(out, "RoutingType", "SMTP");
        leaf(out, "MailboxType", "Mailbox");
        out.extend_from_slice(b"</t:Mailbox>");
    };
    out.extend_from_slice(b"<t:Sender>");
    mailbox(out, item.from);
    out.extend_from_slice(b"</t:Sender><t:ToRecipients>");
    mailbox(out, item.to);
    out.extend_from_slice(b"</t:ToRecipients><t:From>");
    mailbox(out, item.from);
    out.extend_from_slice(b"</t:From>");
    leaf(
        out,
        "InternetMessageId",
        &format!("<{}@offline-im>", item.message),
    );
    leaf(out, "IsRead", if item.notified { "true" } else { "false" });
    out.extend_from_slice(b"</t:Message>");
}

fn find_item(d: &Deployment, world: &World, user: UserId, body: &Element) -> Vec<u8> {
    let paging = Paging::of(body);
    let parents = folder_refs(d, user, body.child("ParentFolderIds"));
    respond_each("FindItem", parents, |out, parent| {
        let listed: Vec<(usize, Folder)> = match parent {
            FolderRef::Root => Vec::new(),
            FolderRef::Folder(f) => world.state.mailboxes[user.0 as usize]
                .items
                .iter()
                .enumerate()
                .filter(|(_, i)| i.folders.contains(f))
                .map(|(k, _)| (k, f))
                .collect(),
        };
        let total = listed.len();
        let range = paging.range(total);
        let next = range.end;
        let page = &listed[range];
        out.extend_from_slice(
            format!(
                "<m:RootFolder IndexedPagingOffset=\"{next}\" TotalItemsInView=\"{total}\" IncludesLastItemInRange=\"{}\"><t:Items>",
                next >= total
            )
            .as_bytes(),
        );
        for (k, f) in page {
            write_item(out, world, user, *k, *f, Shape::Summary);
        }
        out.extend_from_slice(b"</t:Items></m:RootFolder>");
    })
}

fn get_item(world: &World, user: UserId, body: &Element) -> Vec<u8> {
    let ids: Vec<Result<ItemRef, EwsError>> = body
        .child("ItemIds")
        .map(|e| e.children_named("ItemId").collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|e| ItemRef::resolve(world, user, e.attribute("Id").unwrap_or("")))
        .collect();
    respond_each("GetItem", ids, |out, ItemRef { owner, index }| {
        let item = &world.state.mailboxes[owner.0 as usize].items[index];
        let listed_in = item.folders.iter().next().unwrap_or(Folder::Inbox);
        out.extend_from_slice(b"<m:Items>");
        write_item(out, world, owner, index, listed_in, Shape::Full);
        out.extend_from_slice(b"</m:Items>");
    })
}

/// `ConvertId`: this endpoint's ids have no other format, so every id is
/// answered as malformed. Clients call it to read `ServerVersionInfo`
/// (exchangelib guesses the version this way), which the envelope carries.
fn convert_id(body: &Element) -> Vec<u8> {
    let ids = body
        .child("SourceIds")
        .map_or(0, |s| s.children.len())
        .max(1);
    let malformed = EwsError::new(
        "ErrorInvalidIdMalformed",
        "Id is malformed: this endpoint's ids have one format and cannot be converted.",
    );
    respond_each("ConvertId", vec![Err::<(), _>(malformed); ids], |_, ()| {})
}

/// The user a `t:Mailbox` names by its `t:EmailAddress`.
fn mailbox_user(d: &Deployment, mailbox: Option<&Element>) -> Option<UserId> {
    let email = mailbox?.text_at(&["EmailAddress"])?.trim();
    d.find_user(email)
}

/// One `CreateItem`: its message read and held to DEC-030's shape, then
/// handed to the rule book as one `Event::CreateItemArrives`.
fn create_item(world: &mut World, names: &mut Translation, user: UserId, body: &Element) -> Answer {
    let mut out = Vec::new();
    respond::open_response(&mut out, "CreateItem");
    let messages: Vec<&Element> = body
        .child("Items")
        .map(|items| items.children.iter().collect())
        .unwrap_or_default();
    for message in messages {
        match create_one(world, names, user, body, message) {
            Ok(Created::Saved(index)) => {
                respond::open_success(&mut out, "CreateItem");
                out.extend_from_slice(b"<m:Items><t:Message>");
                out.extend_from_slice(
                    format!(
                        "<t:ItemId Id=\"{}\" ChangeKey=\"CQAAAA==\"/>",
                        item_id(user, index)
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(b"</t:Message></m:Items>");
                respond::close_success(&mut out, "CreateItem");
            }
            Ok(Created::Sent) => {
                respond::open_success(&mut out, "CreateItem");
                out.extend_from_slice(b"<m:Items/>");
                respond::close_success(&mut out, "CreateItem");
            }
            Err(Refusal::Error(e)) => respond::error_message(&mut out, "CreateItem", &e),
            Err(Refusal::Unavailable(why)) => return Answer::Unavailable(why),
        }
    }
    respond::close_response(&mut out, "CreateItem");
    Answer::Body(out)
}

/// What one created message became.
enum Created {
    /// Saved in the writer's own mailbox (`SaveOnly`): the item's index.
    Saved(usize),
    /// Sent (`SendOnly`, `SendAndSaveCopy`): Exchange answers no item.
    Sent,
}

/// Why one message was not created.
enum Refusal {
    Error(EwsError),
    Unavailable(String),
}

fn create_one(
    world: &mut World,
    names: &mut Translation,
    user: UserId,
    request: &Element,
    message: &Element,
) -> Result<Created, Refusal> {
    let d = std::sync::Arc::clone(&world.deployment);
    let err = |code, text: String| Refusal::Error(EwsError::new(code, text));
    if message.name != "Message" {
        return Err(err(
            "ErrorInvalidRequest",
            format!(
                "found a t:{}, expected a t:Message: offline IM creates only messages (DEC-030)",
                message.name
            ),
        ));
    }
    let disposition = match request.attribute("MessageDisposition") {
        Some(text) => Disposition::ALL
            .into_iter()
            .find(|x| x.as_str() == text)
            .ok_or_else(|| err("ErrorInvalidRequest", format!("found MessageDisposition=\"{text}\", expected SaveOnly, SendOnly or SendAndSaveCopy")))?,
        None => {
            return Err(err(
                "ErrorMessageDispositionRequired",
                "MessageDisposition is required for a message.".to_string(),
            ));
        }
    };
    // The saved folder is in the caller's own mailbox, or nowhere.
    let saved = match request.child("SavedItemFolderId") {
        Some(s) => {
            let e = s.children.first().ok_or_else(|| {
                err(
                    "ErrorInvalidRequest",
                    "found an empty SavedItemFolderId, expected a folder".into(),
                )
            })?;
            Some(FolderRef::resolve(&d, user, e).map_err(Refusal::Error)?)
        }
        None => None,
    };
    let route = match disposition {
        Disposition::SaveOnly => Route::MissedMessage,
        Disposition::SendOnly | Disposition::SendAndSaveCopy => Route::Offline,
    };
    let to_boxes: Vec<&Element> = message
        .child("ToRecipients")
        .map(|t| t.children_named("Mailbox").collect())
        .unwrap_or_default();
    let [to_box] = to_boxes.as_slice() else {
        return Err(err(
            "ErrorInvalidRecipients",
            format!(
                "found {} recipients, expected exactly one: an offline IM has one recipient (DEC-030)",
                to_boxes.len()
            ),
        ));
    };
    let to = mailbox_user(&d, Some(to_box)).ok_or_else(|| {
        err(
            "ErrorInvalidRecipients",
            format!(
                "found the recipient {:?}, expected a user of the deployment",
                to_box.text_at(&["EmailAddress"]).unwrap_or("")
            ),
        )
    })?;
    let from = match message.at(&["From", "Mailbox"]) {
        Some(m) => mailbox_user(&d, Some(m)).ok_or_else(|| {
            err(
                "ErrorInvalidRecipients",
                format!(
                    "found the sender {:?}, expected a user of the deployment",
                    m.text_at(&["EmailAddress"]).unwrap_or("")
                ),
            )
        })?,
        // A message a client sends is from its own user.
        None if route == Route::Offline => user,
        None => {
            return Err(err(
                "ErrorInvalidRequest",
                "found no t:From, expected the sender of the missed message (DEC-030)".into(),
            ));
        }
    };
    // A client writes only as itself: the sender of what it sends, the
    // recipient of what it saves. Anything else would reach another
    // user's mailbox.
    match route {
        Route::Offline if from != user => {
            return Err(err(
                "ErrorSendAsDenied",
                "The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account.".into(),
            ));
        }
        Route::MissedMessage if to != user => {
            return Err(Refusal::Error(EwsError::access_denied()));
        }
        _ => {}
    }
    // exchangelib treats `item_class` as read-only, so a client may set
    // PidTagMessageClass (0x001A) as an extended property instead.
    let class_text = message
        .text_at(&["ItemClass"])
        .or_else(|| {
            message
                .children_named("ExtendedProperty")
                .find(|p| {
                    p.child("ExtendedFieldURI")
                        .and_then(|u| u.attribute("PropertyTag"))
                        .is_some_and(|t| {
                            t.eq_ignore_ascii_case("0x1a") || t.eq_ignore_ascii_case("0x001a")
                        })
                })
                .and_then(|p| p.text_at(&["Value"]))
        })
        .unwrap_or("")
        .trim();
    let (want_disposition, want_folder, want_class) = shape_for(&d, route, from, to)
        .unwrap_or_else(|| unreachable!("offline and missed-message routes have a shape"));
    let got_folder = saved.map(|f| match f {
        FolderRef::Folder(Folder::Inbox) => Some(TargetFolder::Inbox),
        FolderRef::Folder(Folder::ConversationHistory) => Some(TargetFolder::ConversationHistory),
        _ => None,
    });
    let folder_ok = match (got_folder, want_folder) {
        (None, None) => true,
        (Some(Some(g)), Some(w)) => g == w,
        _ => false,
    };
    if disposition != want_disposition || !folder_ok || class_text != want_class.as_str() {
        let folder_name = |f: Option<TargetFolder>| f.map_or("none", TargetFolder::as_str);
        return Err(err(
            "ErrorInvalidRequest",
            format!(
                "found MessageDisposition {}, SavedItemFolderId {} and ItemClass {:?}; DEC-030 expects {}, {} and {} for this message from {} to {}",
                disposition.as_str(),
                match got_folder {
                    None => "none".to_string(),
                    Some(Some(f)) => f.as_str().to_string(),
                    Some(None) => "another folder".to_string(),
                },
                class_text,
                want_disposition.as_str(),
                folder_name(want_folder),
                want_class.as_str(),
                d.user(from).name,
                d.user(to).name
            ),
        ));
    }
    let body = message.text_at(&["Body"]).unwrap_or("").to_string();
    let internet_id = message
        .text_at(&["InternetMessageId"])
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    let again = internet_id
        .as_ref()
        .and_then(|i| names.internet_ids.get(&(user, i.clone())).copied());
    let event = Event::CreateItemArrives {
        writer: user,
        route,
        from,
        to,
        body,
        again,
    };
    let before = world.state.mailboxes[user.0 as usize].items.len();
    let org = d.user(user).org;
    if !world.state.ews_up[org.0 as usize] {
        return Err(Refusal::Unavailable(format!(
            "EWS of {} is down",
            d.org(org).name
        )));
    }
    let outcome = match world.apply(&event) {
        Ok(o) => o,
        Err(StepError::Precondition(why)) => return Err(err("ErrorInvalidRequest", why)),
        Err(e) => return Err(err("ErrorInvalidRequest", e.to_string())),
    };
    let Some((id, result)) = outcome.created else {
        unreachable!("CreateItemArrives always answers `created`")
    };
    if let Some(i) = internet_id {
        names.internet_ids.entry((user, i)).or_insert(id);
    }
    match result {
        Ok(()) if route == Route::MissedMessage => {
            // The saved item is the writer's own delivered item of `id`;
            // deduplication may have kept the earlier one.
            let index = world.state.mailboxes[user.0 as usize]
                .items
                .iter()
                .position(|i| i.message == id && i.kind == ItemKind::Delivered)
                .unwrap_or(before);
            Ok(Created::Saved(index))
        }
        Ok(()) => Ok(Created::Sent),
        Err(FailReason::RecipientHasNoMailbox) => Err(err(
            "ErrorInvalidRecipients",
            format!("{} has no mailbox (DEC-007)", d.user(to).name),
        )),
        Err(FailReason::DraftsFault) => Err(err(
            "ErrorInternalServerError",
            format!(
                "the message was left in {}'s Drafts and not sent: the client predates the 2016-06-14 fix and the mailbox is on premises (OIM-014, DEC-013)",
                d.user(user).name
            ),
        )),
        Err(other) => Err(err(
            "ErrorInternalServerError",
            format!("CreateItem failed: {}", other.name()),
        )),
    }
}
