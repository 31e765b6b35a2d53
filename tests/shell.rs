//! The Management Shell subset beyond the seeds (DEC-019): which identities,
//! values and parameter spellings `rules::cmdlets` accepts, what it rejects
//! and with which error, and the "did you mean" of a mistyped cmdlet or
//! parameter name.

mod common;

use offline_im::rules::cmdlets::{self, Cmdlet, CmdletError, Parsed};
use offline_im::rules::domain::OrgId;
use offline_im::rules::policy::{OrgConfig, Scope};

fn ok(line: &str) -> Parsed {
    cmdlets::parse(line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn rejected(line: &str) -> CmdletError {
    match cmdlets::parse(line) {
        Ok(p) => panic!("{line}: accepted as {:?}", p.cmdlet),
        Err(e) => e,
    }
}

/// The rejection of `line`, asserted to point at the first `at` in it.
fn rejected_at(line: &str, at: &str) -> CmdletError {
    let e = rejected(line);
    let column = line[..line.find(at).expect("`at` is in the line")]
        .chars()
        .count()
        + 1;
    assert_eq!(e.column, column, "{line}: {e}");
    e
}

/// Runs `lines` in Contoso of `common::BASE` and returns the output of the
/// last one.
fn run_in_contoso(lines: &[&str]) -> Result<Vec<String>, CmdletError> {
    let s = common::load(common::BASE);
    let d = &s.deployment;
    let mut config = OrgConfig::initial(d.org(OrgId(0)));
    let mut out = Vec::new();
    for line in lines {
        out = cmdlets::apply(&ok(line), OrgId(0), d, &mut config)?;
    }
    Ok(out)
}

#[test]
fn dec_019_only_the_documented_identity_forms_are_accepted() {
    for (identity, scope) in [
        ("Global", Scope::Global),
        ("gLoBaL", Scope::Global),
        ("site:Redmond", Scope::Site("Redmond".into())),
        ("\"Site:Redmond\"", Scope::Site("Redmond".into())),
        ("TAG:Sales", Scope::Tag("Sales".into())),
        ("SalesClientPolicy", Scope::Tag("SalesClientPolicy".into())),
    ] {
        let line = format!("Get-CsClientPolicy -Identity {identity}");
        assert_eq!(
            ok(&line).cmdlet,
            Cmdlet::GetClientPolicy {
                identity: Some(scope)
            },
            "{line}"
        );
    }
    for (identity, at, found) in [
        ("Global:x", "Global:x", "`Global:x`"),
        ("a:b", "a:b", "the scope `a:`"),
        ("Tag:", "Tag:", "`Tag:` with no name"),
        ("Site:", "Site:", "`Site:` with no name"),
        ("Site:a:b", ":b", "a second `:`"),
        ("\"\"", "\"\"", "an empty identity"),
        ("contoso\\ken", "\\", "a domain\\logon name"),
        ("Fo*", "*", "the wildcard `*`"),
        ("Site:Red?ond", "?", "the wildcard `?`"),
    ] {
        let line = format!("Set-CsClientPolicy -Identity {identity} -EnableIMAutoArchiving $False");
        let e = rejected_at(&line, at);
        assert!(e.found.contains(found), "{line}: {e}");
        assert!(e.expected.contains("`Site:<name>`"), "{line}: {e}");
    }
    // Grant-CsClientPolicy names a user: wildcards, domain\logon and
    // distinguished names are rejected when the line is parsed.
    for (user, found) in [
        ("\"* Smith\"", "the wildcard `*`"),
        ("contoso\\tony", "a domain\\logon name"),
        (
            "\"CN=Tony Smith,OU=Sales,DC=contoso\"",
            "a distinguished name",
        ),
        ("\"\"", "an empty user identity"),
    ] {
        let line = format!("Grant-CsClientPolicy -Identity {user} -PolicyName OfflineIM");
        let e = rejected(&line);
        assert!(e.found.contains(found), "{line}: {e}");
        assert!(e.expected.contains("SIP address"), "{line}: {e}");
    }
}

#[test]
fn dec_019_variables_are_rejected() {
    for (line, at) in [
        ("Get-CsClientPolicy -Identity $x", "$x"),
        ("Get-CsImConfiguration $Null", "$Null"),
        ("Set-CsClientPolicy -Identity Sales$x", "$x"),
        (
            "Grant-CsClientPolicy -Identity $user -PolicyName OfflineIM",
            "$user",
        ),
        ("Grant-CsClientPolicy \"Tony Smith\" $policy", "$policy"),
        ("Grant-CsClientPolicy \"Tony Smith\" Offline$x", "$x"),
    ] {
        let e = rejected_at(line, at);
        assert!(
            e.expected.contains("variables are not modelled"),
            "{line}: {e}"
        );
    }
}

#[test]
fn dec_019_null_unsets_enable_im_auto_archiving_and_is_rejected_for_enable_offline_im() {
    assert_eq!(
        ok("Set-CsClientPolicy -Identity Global -EnableIMAutoArchiving $Null").cmdlet,
        Cmdlet::SetClientPolicy {
            identity: Scope::Global,
            enable_im_auto_archiving: Some(None),
        }
    );
    assert_eq!(
        ok("New-CsClientPolicy -Identity Sales -EnableIMAutoArchiving $null").cmdlet,
        Cmdlet::NewClientPolicy {
            identity: Scope::Tag("Sales".into()),
            enable_im_auto_archiving: None,
        }
    );
    // A set value is cleared: Get-CsClientPolicy shows it blank again, and
    // the gate reads the default (DEC-011).
    let out = run_in_contoso(&[
        "Set-CsClientPolicy -Identity Global -EnableIMAutoArchiving $False",
        "Set-CsClientPolicy -Identity Global -EnableIMAutoArchiving $Null",
        "Get-CsClientPolicy -Identity Global",
    ])
    .unwrap();
    assert_eq!(
        out,
        ["Identity              : Global", "EnableIMAutoArchiving : "]
    );
    // Leaving the parameter out leaves the value as it is.
    let out = run_in_contoso(&[
        "Set-CsClientPolicy -Identity Global -EnableIMAutoArchiving $False",
        "Set-CsClientPolicy -Identity Global",
        "Get-CsClientPolicy -Identity Global",
    ])
    .unwrap();
    assert_eq!(out[1], "EnableIMAutoArchiving : False");
    for line in [
        "Set-CsImConfiguration -EnableOfflineIm $Null",
        "New-CsImConfiguration -Identity Site:Redmond -EnableOfflineIm $Null",
        "Remove-CsClientPolicy -Identity Sales -Force:$Null",
    ] {
        let e = rejected_at(line, "$Null");
        assert!(e.expected.contains("cannot be unset"), "{line}: {e}");
    }
}

#[test]
fn dec_019_quoted_values_are_strings_never_booleans_or_null() {
    for (line, at, found) in [
        (
            "Set-CsClientPolicy -EnableIMAutoArchiving \"$True\"",
            "$True",
            "`$` inside the quoted string",
        ),
        (
            "Set-CsClientPolicy -EnableIMAutoArchiving '$False'",
            "$False",
            "`$` inside the quoted string",
        ),
        (
            "Grant-CsClientPolicy -Identity \"Tony Smith\" -PolicyName \"$Null\"",
            "$Null",
            "`$` inside the quoted string",
        ),
        (
            "Set-CsImConfiguration -EnableOfflineIm \"True\"",
            "\"True\"",
            "the quoted string `True`",
        ),
    ] {
        let e = rejected_at(line, at);
        assert!(e.found.contains(found), "{line}: {e}");
        assert!(e.expected.contains("without quotes"), "{line}: {e}");
    }
}

#[test]
fn dec_019_a_space_after_the_colon_still_binds_the_next_word() {
    assert_eq!(
        ok("Grant-CsClientPolicy -Identity: \"Tony Smith\" -PolicyName: OfflineIM").cmdlet,
        Cmdlet::GrantClientPolicy {
            user: "Tony Smith".into(),
            policy_name: Some("OfflineIM".into()),
        }
    );
    // A quote right after the colon starts the value.
    assert_eq!(
        ok("Grant-CsClientPolicy -Identity:\"Tony Smith\" -PolicyName:$Null").cmdlet,
        Cmdlet::GrantClientPolicy {
            user: "Tony Smith".into(),
            policy_name: None,
        }
    );
    assert_eq!(
        ok("Set-CsImConfiguration -Identity: Site:Redmond -EnableOfflineIm: $False").cmdlet,
        Cmdlet::SetImConfiguration {
            identity: Scope::Site("Redmond".into()),
            enable_offline_im: Some(false),
        }
    );
    let line = "Grant-CsClientPolicy -Identity \"Tony Smith\" -PolicyName:";
    let e = rejected(line);
    assert_eq!(e.found, "the end of the command");
    assert_eq!(e.column, line.chars().count() + 1);
    let line = "Set-CsImConfiguration -EnableOfflineIm: -Identity Global";
    let e = rejected_at(line, "-Identity");
    assert!(e.expected.contains("a value for `-EnableOfflineIm`"), "{e}");
}

#[test]
fn dec_019_force_is_accepted_only_where_the_reference_lists_it() {
    for line in [
        "Set-CsImConfiguration -EnableOfflineIm $True -Force",
        "New-CsImConfiguration -Identity Site:Redmond -Force",
        "Remove-CsImConfiguration -Identity Site:Redmond -Force",
        "Set-CsClientPolicy -Identity Global -Force",
        "New-CsClientPolicy -Identity Sales -Force",
        "Remove-CsClientPolicy -Identity Sales -Force",
    ] {
        ok(line);
    }
    for line in [
        "Get-CsImConfiguration -Force",
        "Get-CsClientPolicy -Identity Global -Force",
        "Grant-CsClientPolicy -Identity \"Tony Smith\" -PolicyName OfflineIM -Force",
    ] {
        let e = rejected_at(line, "-Force");
        assert!(e.found.contains("parameter `-Force`"), "{line}: {e}");
    }
    for (line, force) in [
        ("Remove-CsClientPolicy -Identity Sales -Force:$False", false),
        (
            "Remove-CsClientPolicy -Identity Sales -Force: $False",
            false,
        ),
        ("Remove-CsClientPolicy -Identity Sales -Force:$True", true),
        ("Remove-CsClientPolicy -Identity Sales -Force", true),
        ("Remove-CsClientPolicy -Identity Sales", false),
    ] {
        assert_eq!(
            ok(line).cmdlet,
            Cmdlet::RemoveClientPolicy {
                identity: Scope::Tag("Sales".into()),
                force
            },
            "{line}"
        );
    }
    // -Force:$False does not remove an assigned policy.
    let e = run_in_contoso(&[
        "New-CsClientPolicy -Identity Sales",
        "Grant-CsClientPolicy -Identity \"Tony Smith\" -PolicyName Sales",
        "Remove-CsClientPolicy -Identity Sales -Force:$False",
    ])
    .unwrap_err();
    assert!(e.expected.contains("`-Force`"), "{e}");
}

#[test]
fn dec_019_policy_name_is_the_identity_minus_tag() {
    for policy in ["Tag:OfflineIM", "tag:OfflineIM"] {
        let line = format!("Grant-CsClientPolicy -Identity \"Tony Smith\" -PolicyName {policy}");
        let e = rejected_at(&line, policy);
        assert!(e.found.contains("`Tag:`"), "{line}: {e}");
        assert!(
            e.expected.contains("(did you mean `OfflineIM`?)"),
            "{line}: {e}"
        );
    }
    for (policy, found) in [
        ("Site:Redmond", "the policy name `Site:Redmond`"),
        ("Global", "the policy name `Global`"),
        ("Sales*", "the wildcard `*`"),
    ] {
        let line = format!("Grant-CsClientPolicy -Identity \"Tony Smith\" -PolicyName {policy}");
        let e = rejected(&line);
        assert!(e.found.contains(found), "{line}: {e}");
    }
}

#[test]
fn dec_019_parameter_names_are_not_abbreviated() {
    for (line, abbreviated, full) in [
        (
            "Set-CsImConfiguration -EnableOffline $True",
            "-EnableOffline",
            "-EnableOfflineIm",
        ),
        (
            "Grant-CsClientPolicy -Id \"Tony Smith\" -PolicyName OfflineIM",
            "-Id",
            "-Identity",
        ),
        ("Remove-CsClientPolicy -Identity Sales -f", "-f", "-Force"),
    ] {
        let e = rejected_at(line, abbreviated);
        assert!(
            e.found
                .contains(&format!("the abbreviated parameter `{abbreviated}`")),
            "{line}: {e}"
        );
        assert!(
            e.expected.contains(&format!("(did you mean `{full}`?)")),
            "{line}: {e}"
        );
    }
}

#[test]
fn dec_019_a_mistyped_cmdlet_or_parameter_gets_the_closest_name() {
    for (line, suggestion) in [
        (
            "Set-CsImConfig -EnableOfflineIm $True",
            Some("`Set-CsImConfiguration`"),
        ),
        ("set-csclientpolicies", Some("`Set-CsClientPolicy`")),
        (
            "Grant-CsClientPolcy -Identity \"Tony Smith\" -PolicyName OfflineIM",
            Some("`Grant-CsClientPolicy`"),
        ),
        (
            "Xet-CsImConfiguration",
            Some("`Get-CsImConfiguration` or `Set-CsImConfiguration`"),
        ),
        ("Get-CsUser", None),
        ("Frobnicate", None),
        (
            "Set-CsClientPolicy -Identity Global -EnableIMAutoArchive $False",
            Some("`-EnableIMAutoArchiving`"),
        ),
        ("Get-CsClientPolicy -Identiy Global", Some("`-Identity`")),
        (
            "Grant-CsClientPolicy -Identity \"Tony Smith\" -PolicyNmae OfflineIM",
            Some("`-PolicyName`"),
        ),
        (
            "Set-CsClientPolicy -Identity Global -DisableSavingIM $True",
            None,
        ),
    ] {
        let e = rejected(line);
        let message = e.to_string();
        match suggestion {
            Some(s) => assert!(
                message.contains(&format!("(did you mean {s}?)")),
                "{line}: {message}"
            ),
            None => assert!(!message.contains("did you mean"), "{line}: {message}"),
        }
        // The list of what is accepted is kept.
        assert!(e.expected.starts_with("one of "), "{line}: {message}");
    }
}
