//! Folder and item ids, what they name, and the wall-clock spelling of
//! the virtual clock (DEC-074).
//!
//! An id names its owner, so that a request for another user's folder or
//! item is refused from the id alone, before anything is looked up: the
//! answer cannot tell whether the folder or item exists (DEC-075).

use super::respond::EwsError;
use super::xml::Element;
use crate::rules::domain::{Deployment, Folder, UserId};
use crate::rules::world::World;

/// A folder of the caller's own mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FolderRef {
    /// The message folder root (`msgfolderroot`, and `root`), whose
    /// children are the five folders.
    Root,
    /// One of the five folders of SPEC.md.
    Folder(Folder),
}

/// The spelling of a folder in ids, and its `t:DistinguishedFolderIdNameType`
/// where the schema has one (Missed Conversations has none, DEC-030).
fn folder_name(f: FolderRef) -> &'static str {
    match f {
        FolderRef::Root => "msgfolderroot",
        FolderRef::Folder(Folder::Inbox) => "inbox",
        FolderRef::Folder(Folder::Drafts) => "drafts",
        FolderRef::Folder(Folder::SentItems) => "sentitems",
        FolderRef::Folder(Folder::ConversationHistory) => "conversationhistory",
        FolderRef::Folder(Folder::MissedConversations) => "missedconversations",
    }
}

/// The folder an id spelling names.
fn folder_of_name(name: &str, distinguished: bool) -> Option<FolderRef> {
    if distinguished && name == "root" {
        return Some(FolderRef::Root);
    }
    [FolderRef::Root]
        .into_iter()
        .chain(Folder::ALL.into_iter().map(FolderRef::Folder))
        // Missed Conversations is not a distinguished folder: only its id
        // names it.
        .filter(|f| !distinguished || *f != FolderRef::Folder(Folder::MissedConversations))
        .find(|f| folder_name(*f) == name)
}

/// The `Id` of a folder of `owner`'s mailbox.
pub fn folder_id(owner: UserId, f: FolderRef) -> String {
    format!("OIM.F.{}.{}", owner.0, folder_name(f))
}

/// The `Id` of the item at `index` of `owner`'s mailbox.
pub fn item_id(owner: UserId, index: usize) -> String {
    format!("OIM.I.{}.{index}", owner.0)
}

/// The owner and the rest of an id `OIM.<kind>.<owner>.<rest>`.
fn split_id<'a>(id: &'a str, kind: &str) -> Option<(UserId, &'a str)> {
    let rest = id
        .strip_prefix("OIM.")?
        .strip_prefix(kind)?
        .strip_prefix('.')?;
    let (owner, rest) = rest.split_once('.')?;
    // Digits only: `u32::from_str` would also take a leading `+`.
    if owner.is_empty() || !owner.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((UserId(owner.parse().ok()?), rest))
}

fn malformed(id: &str) -> EwsError {
    EwsError::new(
        "ErrorInvalidIdMalformed",
        format!("Id is malformed: found {id:?}, expected an id this endpoint gave"),
    )
}

impl FolderRef {
    /// Resolves a `t:DistinguishedFolderId` or `t:FolderId` for `user`.
    /// Another user's mailbox, named by a `t:Mailbox` or by an id, is
    /// refused before the folder is looked up.
    pub fn resolve(d: &Deployment, user: UserId, e: &Element) -> Result<FolderRef, EwsError> {
        let id = e.attribute("Id").unwrap_or("");
        match e.name.as_str() {
            "DistinguishedFolderId" => {
                if let Some(mailbox) = e.child("Mailbox") {
                    let email = mailbox.text_at(&["EmailAddress"]).unwrap_or("").trim();
                    if d.find_user(email) != Some(user) {
                        return Err(EwsError::access_denied());
                    }
                }
                folder_of_name(id, true).ok_or_else(|| {
                    EwsError::new(
                        "ErrorFolderNotFound",
                        format!(
                            "The specified folder could not be found in the store: found {id:?}, expected msgfolderroot, inbox, drafts, sentitems or conversationhistory"
                        ),
                    )
                })
            }
            "FolderId" => {
                let (owner, name) = split_id(id, "F").ok_or_else(|| malformed(id))?;
                if owner != user {
                    return Err(EwsError::access_denied());
                }
                folder_of_name(name, false).ok_or_else(|| malformed(id))
            }
            other => Err(EwsError::new(
                "ErrorInvalidRequest",
                format!("found t:{other}, expected t:DistinguishedFolderId or t:FolderId"),
            )),
        }
    }
}

/// An item of the caller's own mailbox: its index in arrival order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemRef {
    /// The mailbox's owner, who is the caller.
    pub owner: UserId,
    /// The item's index in the mailbox.
    pub index: usize,
}

impl ItemRef {
    /// Resolves an `ItemId` for `user`: another user's item is refused
    /// before it is looked up.
    pub fn resolve(world: &World, user: UserId, id: &str) -> Result<ItemRef, EwsError> {
        let (owner, index) = split_id(id, "I").ok_or_else(|| malformed(id))?;
        if owner != user {
            return Err(EwsError::access_denied());
        }
        if !index.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed(id));
        }
        let index: usize = index.parse().map_err(|_| malformed(id))?;
        if index >= world.state.mailboxes[user.0 as usize].items.len() {
            return Err(EwsError::new(
                "ErrorItemNotFound",
                "The specified object was not found in the store.",
            ));
        }
        Ok(ItemRef { owner, index })
    }
}

/// The virtual clock's zero as a wall-clock time (DEC-074):
/// 2026-01-05T00:00:00Z, a Monday, in days since 1970-01-01.
const VIRTUAL_ZERO_DAYS: i64 = 20_458;

/// A virtual time in milliseconds as an `xs:dateTime` in UTC, to the
/// second.
pub fn virtual_time(at_ms: u64) -> String {
    let seconds = i64::try_from(at_ms / 1000).unwrap_or(i64::MAX / 2);
    let days = VIRTUAL_ZERO_DAYS + seconds / 86_400;
    let in_day = seconds % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        in_day / 3600,
        in_day / 60 % 60,
        in_day % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01, by
/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use crate::ews::ids::{FolderRef, civil_from_days, folder_of_name, split_id, virtual_time};
    use crate::rules::domain::{Folder, UserId};

    #[test]
    fn the_virtual_clock_starts_on_monday_5_january_2026() {
        assert_eq!(virtual_time(0), "2026-01-05T00:00:00Z");
        assert_eq!(virtual_time(122_000), "2026-01-05T00:02:02Z");
        assert_eq!(
            virtual_time(27 * 86_400_000 + 3_600_000),
            "2026-02-01T01:00:00Z"
        );
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn ids_name_their_owner_and_nothing_else_parses() {
        assert_eq!(split_id("OIM.I.3.7", "I"), Some((UserId(3), "7")));
        assert_eq!(split_id("OIM.F.0.inbox", "F"), Some((UserId(0), "inbox")));
        for bad in [
            "",
            "OIM.I.+3.7",
            "OIM.I..7",
            "OIM.X.3.7",
            "AAMkAD",
            "OIM.I.3",
        ] {
            assert_eq!(split_id(bad, "I"), None, "{bad}");
        }
        assert_eq!(folder_of_name("missedconversations", true), None);
        assert_eq!(
            folder_of_name("missedconversations", false),
            Some(FolderRef::Folder(Folder::MissedConversations))
        );
    }
}
