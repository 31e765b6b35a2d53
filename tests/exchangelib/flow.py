#!/usr/bin/env python3
"""End-to-end check of `offline-im ews` driven by the real `exchangelib` client (tested with
exchangelib 5.6.0). tests/ews.rs runs it against an endpoint it starts; it is not run by hand.

The offline-IM items it creates follow DEC-030: the user sends an offline message to --other-user
(--disposition SendAndSaveCopy into conversationhistory, or SendOnly with no saved folder), and saves
a missed message from --other-user into the user's own --missed-folder (SaveOnly).

Prints one line per check: "ok: ...", "FAIL: ...", or informational "info: ...".
Exit status: 0 = all checks passed, 1 = at least one FAIL, 2 = bad arguments / exchangelib missing.

Example:
  python exchangelib_flow.py --url http://127.0.0.1:8080/EWS/Exchange.asmx \
      --user pat@contoso.com --password pw1 --other-user tony@contoso.com --other-password pw2 \
      --expect-class IM.Note.MissedConversation \
      --expect 'Conversation History=IM.Note.MissedConversation' \
      --expect-own 'Conversation History=IM.Note.MissedConversation' \
      --expect-folder Inbox --expect-folder 'Conversation History'

--expect / --expect-own take FOLDER=CLASS, FOLDER being a display name or distinguished id
(e.g. 'Conversation History' or 'conversationhistory'), case-insensitive. The check passes when the
mailbox (other user's for --expect, own for --expect-own) holds an item created by this run (subject
contains the run tag) with that item class in that folder. Prefix with '!' to require absence,
e.g. --expect '!Inbox=IM.Note.MissedConversation'. CLASS may be '*' (any class).
"""
import argparse
import sys
import time
import traceback
import uuid

try:
    import exchangelib
    from exchangelib import (BASIC, DELEGATE, Account, Build, Configuration, Credentials, ExtendedProperty,
                             Mailbox, Message, Version)
    from exchangelib.errors import EWSError
    from exchangelib.protocol import BaseProtocol
except ImportError as e:  # pragma: no cover
    print("FAIL: cannot import exchangelib: %s" % e)
    sys.exit(2)

FAILS = []
ITEM_FIELDS = ("item_class", "subject", "body", "sender", "to_recipients", "datetime_received")


def ok(msg):
    print("ok: " + msg, flush=True)


def fail(msg):
    FAILS.append(msg)
    print("FAIL: " + msg, flush=True)


def info(msg):
    print("info: " + msg, flush=True)


def short(e):
    s = str(e).replace("\n", " ")
    return "%s: %s" % (type(e).__name__, s[:300])


def check(desc, fn, *a, **kw):
    """Run fn; print ok/FAIL; return result or None on exception."""
    try:
        r = fn(*a, **kw)
    except Exception as e:  # noqa: BLE001
        fail("%s -> %s" % (desc, short(e)))
        if ARGS.verbose:
            traceback.print_exc()
        return None
    ok(desc)
    return r


# ------------------------------------------------------------------ helpers
def parse_build(s):
    parts = [int(x) for x in s.split(".")]
    while len(parts) < 4:
        parts.append(0)
    return Build(*parts[:4])


def make_account(mailbox, user, password):
    kw = {}
    if not ARGS.no_version:
        kw["version"] = Version(build=parse_build(ARGS.build))
    cfg = Configuration(service_endpoint=ARGS.url, credentials=Credentials(user, password), auth_type=BASIC, **kw)
    return Account(primary_smtp_address=mailbox, config=cfg, autodiscover=False, access_type=DELEGATE)


def enable_item_class():
    """exchangelib declares item_class read-only and silently drops it from CreateItem. Make it writable
    (-> <t:ItemClass>) and/or register PidTagMessageClass (0x001A) (-> <t:ExtendedProperty>)."""
    via = ARGS.item_class_via
    if via in ("field", "both"):
        Message.get_field_by_fieldname("item_class").is_read_only = False
    if via in ("extprop", "both"):
        class PidTagMessageClass(ExtendedProperty):
            property_tag = 0x001A
            property_type = "String"
        Message.register("pid_tag_message_class", PidTagMessageClass)


def class_kwargs(cls):
    via = ARGS.item_class_via
    kw = {}
    if via in ("field", "both"):
        kw["item_class"] = cls
    if via in ("extprop", "both"):
        kw["pid_tag_message_class"] = cls
    return kw


def folder_key_names(f):
    names = set()
    if f.name:
        names.add(f.name.lower())
    did = getattr(f, "DISTINGUISHED_FOLDER_ID", None)
    if did and getattr(f, "is_distinguished", False):
        names.add(did.lower())
    if getattr(f, "_distinguished_id", None) is not None:
        names.add(f._distinguished_id.id.lower())
    return names


def fmt_mbx(m):
    if m is None:
        return "-"
    return getattr(m, "email_address", None) or str(m)


def list_folders(account, label):
    folders = check("%s: walk folder tree (FindFolder Deep from root)" % label, lambda: list(account.root.walk()))
    if folders is None:
        return []
    for f in folders:
        info("%s: folder %r class=%s total=%s children=%s id=%s" % (
            label, f.name, f.folder_class, f.total_count, f.child_folder_count, (f.id or "")[:24]))
    if not folders:
        fail("%s: folder tree is empty (does FindFolder return ParentFolderId?)" % label)
    return folders


def list_items(folder, label, quiet=False):
    """Returns list of items (only() the interesting fields), or None on failure."""
    try:
        items = list(folder.all().only(*ITEM_FIELDS))
    except Exception as e:  # noqa: BLE001
        fail("%s: list items of %r -> %s" % (label, folder.name, short(e)))
        return None
    errs = [i for i in items if isinstance(i, Exception)]
    items = [i for i in items if not isinstance(i, Exception)]
    if errs:
        fail("%s: list items of %r returned errors: %s" % (label, folder.name, "; ".join(short(e) for e in errs)))
    if not quiet:
        ok("%s: folder %r has %d item(s)" % (label, folder.name, len(items)))
        for i in items:
            info("%s:   [%s] class=%s subject=%r from=%s to=%s received=%s" % (
                label, folder.name, i.item_class, i.subject, fmt_mbx(i.sender),
                ",".join(fmt_mbx(r) for r in (i.to_recipients or [])), i.datetime_received))
    return items


def find_tagged(account, tag, label):
    """Walk all folders of account; return list of (folder, item) whose subject contains tag."""
    found = []
    try:
        folders = list(account.root.walk())
    except Exception as e:  # noqa: BLE001
        fail("%s: walk folders -> %s" % (label, short(e)))
        return None
    for f in folders:
        items = list_items(f, label, quiet=True)
        for i in items or []:
            if i.subject and tag in i.subject:
                found.append((f, i))
    return found


def parse_expect(spec):
    neg = spec.startswith("!")
    if neg:
        spec = spec[1:]
    if "=" not in spec:
        raise SystemExit("bad expectation %r (want FOLDER=CLASS)" % spec)
    folder, cls = spec.rsplit("=", 1)
    return neg, folder.strip().lower(), cls.strip()


def check_expectations(found, specs, label):
    for spec in specs:
        neg, fname, cls = parse_expect(spec)
        hits = [(f, i) for f, i in found if fname in folder_key_names(f) and (cls == "*" or i.item_class == cls)]
        where = ", ".join("%s/%s" % (f.name, i.item_class) for f, i in found) or "nowhere"
        if neg and hits:
            fail("%s: expected NO %s item in %r, but found %d (items are in: %s)" % (label, cls, fname, len(hits), where))
        elif neg:
            ok("%s: no %s item in %r" % (label, cls, fname))
        elif hits:
            ok("%s: %s item filed in %r (%d hit(s))" % (label, cls, fname, len(hits)))
        else:
            fail("%s: expected %s item in %r; items of this run are in: %s" % (label, cls, fname, where))


def expect_denied(desc, fn):
    allowed = [x.strip() for x in ARGS.denied_error.split(",") if x.strip()]
    try:
        r = fn()
    except Exception as e:  # noqa: BLE001
        if type(e).__name__ in allowed:
            ok("%s denied as expected -> %s" % (desc, short(e)))
        else:
            fail("%s: expected one of %s, got %s" % (desc, allowed, short(e)))
        return
    # exchangelib returns some per-item errors (e.g. ErrorItemNotFound) inline instead of raising
    if isinstance(r, list) and r and all(isinstance(x, Exception) for x in r):
        names = {type(x).__name__ for x in r}
        if names <= set(allowed):
            ok("%s denied as expected -> %s" % (desc, "; ".join(short(x) for x in r)))
        else:
            fail("%s: expected one of %s, got inline %s" % (desc, allowed, "; ".join(short(x) for x in r)))
        return
    fail("%s: expected access denied, but the call succeeded and returned %r" % (desc, r if not isinstance(r, list) else "%d result(s)" % len(r)))


# ------------------------------------------------------------------ main flow
def main():
    global ARGS
    # The subject of every item is the first line of its body (DEC-031), so the run tag is there.
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="EWS endpoint, e.g. http://127.0.0.1:8080/EWS/Exchange.asmx")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--other-user", required=True, help="recipient; also used for the access-denied check")
    ap.add_argument("--other-password", required=True)
    ap.add_argument("--expect-class", default="IM.Note.MissedConversation", help="item class of created items")
    ap.add_argument("--expect", action="append", default=[], help="FOLDER=CLASS in the recipient's mailbox")
    ap.add_argument("--expect-own", action="append", default=[], help="FOLDER=CLASS in the sender's mailbox")
    ap.add_argument("--expect-folder", action="append", default=[], help="folder (name or distinguished id) that must exist for --user")
    ap.add_argument("--item-class-via", choices=("field", "extprop", "both", "none"), default="field",
                    help="how to send the item class: <t:ItemClass> (field), PidTagMessageClass extended property, both, or none (plain exchangelib)")
    ap.add_argument("--no-version", action="store_true", help="do not pass version=; let exchangelib guess it (ConvertId)")
    ap.add_argument("--build", default="15.1.2507.6", help="server build to assume when not guessing")
    ap.add_argument("--denied-error", default="ErrorAccessDenied", help="comma-separated exception class names accepted as 'denied'")
    ap.add_argument("--disposition", choices=("SendAndSaveCopy", "SendOnly"), default="SendAndSaveCopy",
                    help="how the offline message is sent (DEC-030: SendAndSaveCopy when the sender keeps a copy)")
    ap.add_argument("--missed-folder", choices=("conversationhistory", "inbox"), default="conversationhistory",
                    help="the SavedItemFolderId of the missed message (DEC-030)")
    ap.add_argument("--skip-denied", action="store_true")
    ap.add_argument("--wait", type=float, default=10.0, help="seconds to poll the recipient mailbox for delivery")
    ap.add_argument("--http-timeout", type=int, default=30)
    ap.add_argument("--verbose", action="store_true", help="tracebacks on failures")
    ap.add_argument("--debug-xml", action="store_true", help="log all request/response XML (exchangelib debug logging)")
    ARGS = ap.parse_args()
    for s in ARGS.expect + ARGS.expect_own:
        parse_expect(s)

    BaseProtocol.TIMEOUT = ARGS.http_timeout
    if ARGS.debug_xml:
        import logging
        from exchangelib.util import PrettyXmlHandler
        logging.basicConfig(level=logging.DEBUG, handlers=[PrettyXmlHandler()])
    info("exchangelib %s, endpoint %s" % (exchangelib.__version__, ARGS.url))
    enable_item_class()
    tag = uuid.uuid4().hex[:10]
    info("run tag %s" % tag)

    # 1. connect (no autodiscover)
    me = check("connect as %s (autodiscover=False, BASIC auth)" % ARGS.user,
               make_account, ARGS.user, ARGS.user, ARGS.password)
    if me is None:
        return
    v = check("%s: server version" % ARGS.user, lambda: me.version)
    if v is not None:
        info("version: %s" % v)

    # 2. folders
    for attr in ("root", "msg_folder_root", "inbox", "drafts", "sent", "conversation_history"):
        f = check("%s: distinguished folder %s (GetFolder)" % (ARGS.user, attr), getattr, me, attr)
        if f is not None:
            info("%s: %s -> %r class=%s total=%s" % (ARGS.user, attr, f.name, f.folder_class, f.total_count))
    folders = list_folders(me, ARGS.user)
    names = set()
    for f in folders:
        names |= folder_key_names(f)
    for want in ARGS.expect_folder:
        if want.lower() in names:
            ok("%s: folder %r present" % (ARGS.user, want))
        else:
            fail("%s: folder %r missing (have %s)" % (ARGS.user, want, sorted(names)))

    # 3. items of each folder + fetch one by id
    first = None
    for f in folders:
        items = list_items(f, ARGS.user)
        if items and first is None:
            first = items[0]
    if first is not None:
        got = check("%s: GetItem by id (account.fetch)" % ARGS.user,
                    lambda: list(me.fetch(ids=[(first.id, first.changekey)])))
        if got:
            if isinstance(got[0], Exception):
                fail("%s: fetch returned %s" % (ARGS.user, short(got[0])))
            elif got[0].id != first.id or got[0].subject != first.subject:
                fail("%s: fetch returned a different item (%r vs %r)" % (ARGS.user, got[0].subject, first.subject))
            else:
                ok("%s: fetched %r class=%s body=%r" % (ARGS.user, got[0].subject, got[0].item_class,
                                                       (str(got[0].body or ""))[:60]))
    else:
        info("%s: no items anywhere; skipping fetch-by-id" % ARGS.user)

    # 4. create offline IM items like a client would
    ch = check("%s: resolve conversation_history for SavedItemFolderId" % ARGS.user, lambda: me.conversation_history)
    if ch is None:
        return
    cls = ARGS.expect_class
    author = Mailbox(email_address=ARGS.user)
    if ARGS.disposition == "SendAndSaveCopy":
        sas = Message(account=me, folder=ch, subject="Offline message [%s] sent" % tag,
                      body="Offline message [%s] sent\noffline IM from %s (SendAndSaveCopy)" % (tag, ARGS.user),
                      to_recipients=[Mailbox(email_address=ARGS.other_user)], author=author, **class_kwargs(cls))
        check("%s: CreateItem SendAndSaveCopy to %s, SavedItemFolderId=conversationhistory, class %s"
              % (ARGS.user, ARGS.other_user, cls), sas.send_and_save)
    else:
        so = Message(account=me, subject="Offline message [%s] sent" % tag, body="Offline message [%s] sent\noffline IM (SendOnly)" % tag,
                     to_recipients=[Mailbox(email_address=ARGS.other_user)], author=author, **class_kwargs(cls))
        check("%s: CreateItem SendOnly to %s, class %s" % (ARGS.user, ARGS.other_user, cls), so.send, save_copy=False)
    # A missed message is written by the recipient's own client into its own mailbox (OIM-017): from
    # the other user, to this one.
    missed = ch if ARGS.missed_folder == "conversationhistory" else me.inbox
    saved = Message(account=me, folder=missed, subject="Missed message [%s] saveonly" % tag,
                    body="Missed message [%s] saveonly\nfrom %s (SaveOnly)" % (tag, ARGS.other_user),
                    to_recipients=[Mailbox(email_address=ARGS.user)],
                    author=Mailbox(email_address=ARGS.other_user), **class_kwargs(cls))
    check("%s: CreateItem SaveOnly into %s, class %s" % (ARGS.user, ARGS.missed_folder, cls), saved.save)
    if saved.id:
        ok("%s: SaveOnly returned ItemId %s... ChangeKey %s" % (ARGS.user, saved.id[:24], saved.changekey))
        got = check("%s: fetch SaveOnly item back" % ARGS.user, lambda: list(me.fetch(ids=[(saved.id, saved.changekey)])))
        if got and not isinstance(got[0], Exception):
            it = got[0]
            info("%s: saved item class=%s subject=%r parent=%s" % (
                ARGS.user, it.item_class, it.subject, it.parent_folder_id.id[:24] if it.parent_folder_id else None))
            if ARGS.item_class_via != "none":
                if it.item_class == cls:
                    ok("%s: saved item has class %s" % (ARGS.user, cls))
                else:
                    fail("%s: saved item has class %r, expected %r" % (ARGS.user, it.item_class, cls))
            if it.parent_folder_id is not None and missed is not None and missed.id:
                if it.parent_folder_id.id == missed.id:
                    ok("%s: saved item is in %s" % (ARGS.user, missed.name))
                else:
                    fail("%s: saved item parent %s != %s %s" % (ARGS.user, it.parent_folder_id.id, missed.name, missed.id))
        elif got:
            fail("%s: fetch SaveOnly item -> %s" % (ARGS.user, short(got[0])))
    else:
        fail("%s: SaveOnly did not return an ItemId" % ARGS.user)

    own = find_tagged(me, tag, ARGS.user)
    if own is not None:
        for f, i in own:
            info("%s: own copy filed in %r class=%s subject=%r" % (ARGS.user, f.name, i.item_class, i.subject))
        check_expectations(own, ARGS.expect_own, ARGS.user)

    # 5. recipient reads own mailbox
    other = check("connect as %s" % ARGS.other_user, make_account, ARGS.other_user, ARGS.other_user, ARGS.other_password)
    if other is not None:
        list_folders(other, ARGS.other_user)
        deadline = time.time() + ARGS.wait
        found = []
        while True:
            found = find_tagged(other, tag, ARGS.other_user)
            if found is None or found or time.time() >= deadline:
                break
            time.sleep(0.5)
        if found is not None:
            if found:
                ok("%s: received %d item(s) of this run" % (ARGS.other_user, len(found)))
            else:
                fail("%s: no item of this run (tag %s) in any folder" % (ARGS.other_user, tag))
            for f, i in found:
                info("%s: item filed in folder %r class=%s subject=%r from=%s" % (
                    ARGS.other_user, f.name, i.item_class, i.subject, fmt_mbx(i.sender)))
            if any("saveonly" in (i.subject or "") for _, i in found):
                fail("%s: SaveOnly item leaked into the recipient's mailbox" % ARGS.other_user)
            check_expectations(found, ARGS.expect, ARGS.other_user)

    # 6. other user's credentials must not open the first user's mailbox
    if not ARGS.skip_denied:
        intruder = check("Account(%s) with %s's credentials" % (ARGS.user, ARGS.other_user),
                         make_account, ARGS.user, ARGS.other_user, ARGS.other_password)
        if intruder is not None:
            expect_denied("%s's creds: GetFolder %s inbox" % (ARGS.other_user, ARGS.user), lambda: intruder.inbox)
            expect_denied("%s's creds: FindItem %s inbox" % (ARGS.other_user, ARGS.user),
                          lambda: list(intruder.inbox.all().only("subject")))
            expect_denied("%s's creds: walk %s folders" % (ARGS.other_user, ARGS.user),
                          lambda: list(intruder.root.walk()))
            if saved.id:
                expect_denied("%s's creds: GetItem %s's item via Account(%s)" % (ARGS.other_user, ARGS.user, ARGS.user),
                              lambda: list(intruder.fetch(ids=[(saved.id, saved.changekey)])))
                if other is not None:
                    # exchangelib resolves the root folder first, so the above is denied at GetFolder already;
                    # this one reaches GetItem with a foreign ItemId in the caller's own session.
                    expect_denied("%s's creds: GetItem %s's item id from own Account(%s)" % (ARGS.other_user, ARGS.user, ARGS.other_user),
                                  lambda: list(other.fetch(ids=[(saved.id, saved.changekey)])))


if __name__ == "__main__":
    ARGS = None
    try:
        main()
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001
        fail("unexpected: %s" % short(e))
        traceback.print_exc()
    if FAILS:
        print("FAIL: %d check(s) failed" % len(FAILS), flush=True)
    else:
        print("ok: all checks passed", flush=True)
    sys.exit(1 if FAILS else 0)
