//! The bytes the endpoint answers with: the SOAP envelope and its
//! `ServerVersionInfo` header, response messages, and SOAP faults.
//!
//! Text goes through the encoder's escaper (`escape_text`, DEC-032), so
//! that the endpoint's answers and the client's requests escape alike.

use crate::formats::encode::{NS_MESSAGES, NS_SOAP, NS_TYPES, escape_text};
use crate::rules::domain::{Org, Profile, ServerVersion};

/// The EWS errors namespace, in which a fault's detail names its code.
pub const NS_ERRORS: &str = "http://schemas.microsoft.com/exchange/services/2006/errors";

/// The Exchange build an organisation's EWS reports in `ServerVersionInfo`
/// (DEC-076): Exchange 2016 beside Skype for Business Server 2015,
/// Exchange 2019 beside Server 2019, and Exchange Online beside Online.
/// Returns (major, minor, major build, minor build, schema version).
pub fn server_version(org: &Org) -> (u32, u32, u32, u32, &'static str) {
    match (org.profile, org.server_version) {
        (Profile::Online, _) => (15, 20, 8198, 0, "V2018_01_08"),
        (Profile::Server, Some(ServerVersion::Server2019)) => (15, 2, 1118, 7, "V2017_07_11"),
        (Profile::Server, _) => (15, 1, 2507, 6, "V2017_07_11"),
    }
}

/// Appends `text` escaped as XML character data.
pub fn text(out: &mut Vec<u8>, s: &str) {
    escape_text(s, out);
}

/// Appends `<t:NAME>text</t:NAME>`.
pub fn leaf(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(b"<t:");
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
    text(out, value);
    out.extend_from_slice(b"</t:");
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
}

/// A whole response: the envelope with the organisation's
/// `ServerVersionInfo` header around `body`, which holds the operation's
/// response element.
pub fn envelope(org: &Org, body: &[u8]) -> Vec<u8> {
    let (major, minor, build, build_minor, version) = server_version(org);
    let mut out = Vec::with_capacity(body.len() + 640);
    out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"");
    out.extend_from_slice(NS_SOAP.as_bytes());
    out.extend_from_slice(b"\"><s:Header><h:ServerVersionInfo xmlns:h=\"");
    out.extend_from_slice(NS_TYPES.as_bytes());
    out.extend_from_slice(
        format!(
            "\" MajorVersion=\"{major}\" MinorVersion=\"{minor}\" MajorBuildNumber=\"{build}\" MinorBuildNumber=\"{build_minor}\" Version=\"{version}\"/></s:Header><s:Body>"
        )
        .as_bytes(),
    );
    out.extend_from_slice(body);
    out.extend_from_slice(b"</s:Body></s:Envelope>");
    out
}

/// Opens an operation's response element and its `m:ResponseMessages`.
pub fn open_response(out: &mut Vec<u8>, operation: &str) {
    out.extend_from_slice(format!("<m:{operation}Response xmlns:m=\"{NS_MESSAGES}\" xmlns:t=\"{NS_TYPES}\"><m:ResponseMessages>").as_bytes());
}

/// Closes what `open_response` opened.
pub fn close_response(out: &mut Vec<u8>, operation: &str) {
    out.extend_from_slice(format!("</m:ResponseMessages></m:{operation}Response>").as_bytes());
}

/// An EWS error code and its text, as one response message carries them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EwsError {
    /// The `m:ResponseCode`, e.g. `ErrorAccessDenied`.
    pub code: &'static str,
    /// The `m:MessageText`.
    pub text: String,
}

impl EwsError {
    /// The error every request for another user's mailbox gets, whether or
    /// not the folder or item exists (DEC-075), with Exchange's text.
    pub fn access_denied() -> EwsError {
        EwsError {
            code: "ErrorAccessDenied",
            text: "Access is denied. Check credentials and try again.".to_string(),
        }
    }

    /// An error with a code and a text.
    pub fn new(code: &'static str, text: impl Into<String>) -> EwsError {
        EwsError {
            code,
            text: text.into(),
        }
    }
}

/// One response message that failed: `ResponseClass="Error"` with its text
/// and code, and the empty container the schema requires of the
/// operation's response message (`m:Items` for `GetItem` and `CreateItem`,
/// `m:Folders` for `GetFolder`), as Exchange sends it.
pub fn error_message(out: &mut Vec<u8>, operation: &str, e: &EwsError) {
    let container = match operation {
        "GetItem" | "CreateItem" => "<m:Items/>",
        "GetFolder" => "<m:Folders/>",
        _ => "",
    };
    out.extend_from_slice(
        format!("<m:{operation}ResponseMessage ResponseClass=\"Error\"><m:MessageText>").as_bytes(),
    );
    text(out, &e.text);
    out.extend_from_slice(
        format!(
            "</m:MessageText><m:ResponseCode>{}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{container}</m:{operation}ResponseMessage>",
            e.code
        )
        .as_bytes(),
    );
}

/// Opens one response message that succeeded.
pub fn open_success(out: &mut Vec<u8>, operation: &str) {
    out.extend_from_slice(
        format!(
            "<m:{operation}ResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode>"
        )
        .as_bytes(),
    );
}

/// Closes what `open_success` opened.
pub fn close_success(out: &mut Vec<u8>, operation: &str) {
    out.extend_from_slice(format!("</m:{operation}ResponseMessage>").as_bytes());
}

/// Where a schema-validation fault points: the line and column of the
/// request, and the rule that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The line of the request, from 1.
    pub line: u32,
    /// The column, from 1.
    pub column: u32,
    /// What was wrong: the element and the schema rule, in libxml2's or
    /// the reader's words.
    pub message: String,
}

/// A SOAP 1.1 fault, with Exchange's fault code and the EWS detail: the
/// response code, its message and, for a schema fault, where the request
/// broke the schema. No envelope header: a fault can come before the user
/// is known.
pub fn fault(code: &str, message: &str, violation: Option<&Violation>) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"utf-8\"?><s:Envelope xmlns:s=\"");
    out.extend_from_slice(NS_SOAP.as_bytes());
    out.extend_from_slice(b"\"><s:Body><s:Fault><faultcode xmlns:a=\"");
    out.extend_from_slice(NS_TYPES.as_bytes());
    out.extend_from_slice(
        format!("\">a:{code}</faultcode><faultstring xml:lang=\"en-US\">").as_bytes(),
    );
    text(&mut out, message);
    if let Some(v) = violation {
        text(&mut out, " ");
        text(&mut out, &v.message);
    }
    out.extend_from_slice(b"</faultstring><detail><e:ResponseCode xmlns:e=\"");
    out.extend_from_slice(NS_ERRORS.as_bytes());
    out.extend_from_slice(format!("\">{code}</e:ResponseCode><e:Message xmlns:e=\"").as_bytes());
    out.extend_from_slice(NS_ERRORS.as_bytes());
    out.extend_from_slice(b"\">");
    text(&mut out, message);
    out.extend_from_slice(b"</e:Message>");
    if let Some(v) = violation {
        out.extend_from_slice(b"<t:MessageXml xmlns:t=\"");
        out.extend_from_slice(NS_TYPES.as_bytes());
        out.extend_from_slice(
            format!(
                "\"><t:LineNumber>{}</t:LineNumber><t:LinePosition>{}</t:LinePosition><t:Violation>",
                v.line, v.column
            )
            .as_bytes(),
        );
        text(&mut out, &v.message);
        out.extend_from_slice(b"</t:Violation></t:MessageXml>");
    }
    out.extend_from_slice(b"</detail></s:Fault></s:Body></s:Envelope>");
    out
}
