//! XML Schema validation of EWS SOAP requests against Microsoft's `messages.xsd`.
#![allow(unsafe_code)]
//!
//! # How a request is validated
//!
//! `messages.xsd` (with `types.xsd` and `xml.xsd` beside it) defines every EWS request element, such as
//! `m:CreateItem` or `m:GetFolder`, and every SOAP header block, such as `t:RequestServerVersion`, as a
//! global element. It does not define the SOAP envelope. Rather than writing an envelope schema, this module
//! parses the whole request once with libxml2, checks the small envelope structure by hand (root
//! `soap:Envelope`, an optional `soap:Header`, then a `soap:Body` holding exactly one element), and then asks
//! libxml2 to validate the Body's element and each EWS header block *in place* with
//! `xmlSchemaValidateOneElement` (the `libxml` crate's `SchemaValidationContext::validate_node`). That
//! function treats the given element as the validation root, so each one is checked against the global
//! element declaration of the same name, exactly as `xmllint --schema messages.xsd` checks a bare
//! `m:CreateItem` document. Because the nodes are never copied into a new document, every line number that
//! libxml2 reports is a line of the original request, and namespace prefixes declared on `soap:Envelope`
//! keep working.
//!
//! An envelope schema (with `xs:any processContents="strict"` in the Body) would accept the same documents,
//! but it would need a copy of the SOAP 1.1 envelope schema, a wrapper schema importing both, and it would
//! give no better messages; the hand-written envelope check is a dozen lines and its messages are clearer.
//!
//! # Threads
//!
//! The `libxml` crate's `SchemaValidationContext` holds raw pointers, so it is neither `Send` nor `Sync`,
//! and it owns its parsed schema (the crate does not let two contexts share one `xmlSchema`). A libxml2
//! validation context must not be used by two threads at once, but it is not tied to the thread that made
//! it: libxml2 keeps no per-thread state in it, and the crate installs its error collector on the context
//! itself, not on the thread. [`SchemaValidator`] therefore keeps a pool of contexts behind a `Mutex`: a
//! call to [`SchemaValidator::validate`] takes one context out of the pool (parsing a new one only when all
//! are in use), validates with it without holding the lock, and puts it back. A context is thus used by
//! one thread at a time, the pool grows only to the highest number of concurrent validations, and
//! `SchemaValidator` is `Send + Sync`, so one instance can be shared by all tokio worker threads in an
//! `Arc`. The `unsafe impl Send` below is what asserts this. Compiling a schema on several threads at once
//! (which the pool does when it grows) is safe since the `libxml` crate calls libxml2's non-thread-safe
//! `xmlSchemaInitTypes` through a `OnceLock` (rust-libxml PR #159, in 0.3.23).
//!
//! # Hostile input
//!
//! The request is parsed with recovery off, with `XML_PARSE_NONET`, and without `XML_PARSE_NOENT`,
//! `XML_PARSE_DTDLOAD`, `XML_PARSE_DTDATTR` or `XML_PARSE_HUGE` (the `libxml` crate cannot even set the
//! first three, so entities are never substituted and no external DTD is read). On top of that a request
//! with a document type declaration is refused outright: a scan of the prolog finds `<!DOCTYPE` before
//! libxml2 sees the bytes, so an entity bomb ("billion laughs") is refused without any of its entities
//! being declared, let alone expanded; a DTD node that a non-UTF-8 encoding hid from the scan is refused
//! after parsing. The process-wide libxml2 external entity loader is replaced by
//! `xmlNoNetExternalEntityLoader`, so neither a request nor a schema can make libxml2 open a network
//! connection.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

use libxml::error::StructuredError;
use libxml::parser::{Parser, ParserOptions, XmlParseFailure};
use libxml::schemas::{SchemaParserContext, SchemaValidationContext};
use libxml::tree::{Document, Node, NodeType};

/// The SOAP 1.1 envelope namespace, the one EWS clients use.
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The namespace of EWS request and response elements (`messages.xsd`).
pub const MESSAGES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
/// The namespace of EWS types and of the SOAP header blocks (`types.xsd`).
pub const TYPES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/types";

/// The schema files that must be present in the directory given to [`SchemaValidator::load`]:
/// `messages.xsd` imports `types.xsd`, which imports `xml.xsd`, each by a relative `schemaLocation`.
const SCHEMA_FILES: [&str; 3] = ["messages.xsd", "types.xsd", "xml.xsd"];

/// Why the schema could not be loaded. Every variant names the file it is about.
#[derive(Debug)]
pub enum SchemaLoadError {
    /// A schema file is missing or unreadable.
    Io {
        /// The file.
        file: PathBuf,
        /// What reading it gave.
        error: std::io::Error,
    },
    /// A path that libxml2 cannot be given (not UTF-8, or holding a NUL byte).
    BadPath {
        /// The file.
        file: PathBuf,
    },
    /// libxml2 rejected the schema; each message carries the file and line libxml2 reported.
    Invalid {
        /// The file.
        file: PathBuf,
        /// libxml2's messages.
        messages: Vec<String>,
    },
}

impl std::fmt::Display for SchemaLoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchemaLoadError::Io { file, error } => {
                write!(f, "cannot read schema {}: {error}", file.display())
            }
            SchemaLoadError::BadPath { file } => {
                write!(f, "schema path {} is not usable by libxml2", file.display())
            }
            SchemaLoadError::Invalid { file, messages } => {
                write!(
                    f,
                    "schema {} does not compile: {}",
                    file.display(),
                    messages.join("; ")
                )
            }
        }
    }
}

impl std::error::Error for SchemaLoadError {}

/// One reason why a request is not valid.
///
/// `line` and `column` are 1-based positions in the original request; 0 means libxml2 did not say (schema
/// validation errors carry only the element's line, so their `column` is 0; parse errors carry both).
/// libxml2 2.9 stores an element's line in 16 bits unless `XML_PARSE_BIG_LINES` is set, which the `libxml`
/// crate's `ParserOptions` cannot set, so a schema error past line 65535 reports line 65535.
/// `element` is the element the rule is about, as `{namespace}local-name` (libxml2's notation) or empty
/// when the request is not well-formed. `message` is libxml2's own text, such as
/// `Element '{...}Foo': This element is not expected. Expected is ( {...}Items ).`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaViolation {
    /// The line of the request, from 1; 0 if libxml2 did not say.
    pub line: u32,
    /// The column, from 1; 0 if libxml2 did not say.
    pub column: u32,
    /// The element the rule is about, as `{namespace}local-name`.
    pub element: String,
    /// libxml2's text of the rule that failed.
    pub message: String,
}

impl std::fmt::Display for SchemaViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}:{}: {}", self.line, self.column, self.message)
    }
}

/// A validation context that is moved between threads but only ever used by one at a time.
struct PooledContext(SchemaValidationContext);

// SAFETY: a libxml2 schema validation context (and the schema it owns) has no affinity to the thread
// that created it; it only must not be used by two threads at once. `SchemaValidator` guarantees that by
// handing each context to one caller at a time through its `Mutex`-guarded pool. The error log the
// `libxml` crate attaches is a heap `Vec` reached only through the context. No `Rc` is inside.
unsafe impl Send for PooledContext {}

/// The EWS schema, compiled, ready to validate requests from any number of threads.
///
/// Build it once with [`SchemaValidator::load`] (about a tenth of a second) and share it, for example in an
/// `Arc`. See the module documentation for why it holds a pool of libxml2 contexts.
pub struct SchemaValidator {
    /// The path of `messages.xsd`, kept so that the pool can compile another context when it runs dry.
    messages_xsd: String,
    /// Idle validation contexts. Its length is at most the peak number of concurrent validations.
    pool: Mutex<Vec<PooledContext>>,
}

impl SchemaValidator {
    /// Compiles `messages.xsd` (and through it `types.xsd` and `xml.xsd`) from `dir`.
    ///
    /// The files are checked first so that a missing one is named in the error; then libxml2 compiles the
    /// schema, resolving each `schemaLocation` relative to the file that holds it, so nothing is fetched
    /// from the network (and the no-network entity loader installed here would refuse it anyway).
    pub fn load(dir: &Path) -> Result<SchemaValidator, SchemaLoadError> {
        install_no_network_loader();
        for name in SCHEMA_FILES {
            let file = dir.join(name);
            fs::metadata(&file)
                .and_then(|m| {
                    if m.is_file() {
                        Ok(())
                    } else {
                        Err(std::io::Error::other("not a regular file"))
                    }
                })
                .map_err(|error| SchemaLoadError::Io {
                    file: file.clone(),
                    error,
                })?;
        }
        let file = dir.join("messages.xsd");
        // An absolute path gives libxml2 a base URI from which the relative imports resolve, whatever the
        // process's working directory is later.
        let file = fs::canonicalize(&file).map_err(|error| SchemaLoadError::Io {
            file: file.clone(),
            error,
        })?;
        let messages_xsd = match file.to_str() {
            Some(s) if !s.contains('\0') => s.to_owned(),
            _ => return Err(SchemaLoadError::BadPath { file }),
        };
        let first = compile(&messages_xsd)
            .map_err(|messages| SchemaLoadError::Invalid { file, messages })?;
        Ok(SchemaValidator {
            messages_xsd,
            pool: Mutex::new(vec![PooledContext(first)]),
        })
    }

    /// Validates one SOAP request (the raw HTTP body) against the EWS schema.
    ///
    /// Returns every violation libxml2 found, or one violation when the request is not well-formed, has a
    /// DOCTYPE, or its envelope is wrong. Never panics on any input.
    pub fn validate(&self, request: &[u8]) -> Result<(), Vec<SchemaViolation>> {
        let doc = parse_request(request)?;
        let targets = envelope_targets(&doc)?;
        let mut ctx = self.take_context()?;
        let mut violations = Vec::new();
        for node in &targets {
            if let Err(errors) = ctx.0.validate_node(node) {
                let fallback = (node_line(node), qualified_name(node));
                violations.extend(errors.iter().map(|e| violation(e, &fallback)));
            }
        }
        // Errors are drained by `validate_node`, so the context is clean for its next user.
        self.pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ctx);
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }

    /// Takes an idle context out of the pool, or compiles a new one when every context is in use.
    fn take_context(&self) -> Result<PooledContext, Vec<SchemaViolation>> {
        if let Some(ctx) = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(ctx);
        }
        // The same files compiled once already, so this fails only if they changed on disk since.
        compile(&self.messages_xsd)
            .map(PooledContext)
            .map_err(|messages| {
                vec![SchemaViolation {
                    line: 0,
                    column: 0,
                    element: String::new(),
                    message: format!(
                        "internal error: schema no longer compiles: {}",
                        messages.join("; ")
                    ),
                }]
            })
    }
}

/// Compiles the schema at `path` into a fresh validation context, or returns libxml2's messages.
fn compile(path: &str) -> Result<SchemaValidationContext, Vec<String>> {
    let mut parser = SchemaParserContext::from_file(path);
    SchemaValidationContext::from_parser(&mut parser).map_err(|errors| {
        let mut messages: Vec<String> = errors
            .iter()
            .map(|e| {
                let msg = e.message.as_deref().unwrap_or("").trim_end();
                match (&e.filename, e.line) {
                    (Some(f), Some(l)) => format!("{f}:{l}: {msg}"),
                    _ => msg.to_owned(),
                }
            })
            .collect();
        if messages.is_empty() {
            messages.push("libxml2 gave no reason".to_owned());
        }
        messages
    })
}

/// Makes libxml2 refuse every `http://` and `ftp://` resource, for schemas and documents alike.
///
/// The loader is process-wide in libxml2, so it is installed once; local files are still read, which is
/// how `types.xsd` and `xml.xsd` are found.
fn install_no_network_loader() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        libxml::init_parser();
        // SAFETY: `xmlNoNetExternalEntityLoader` is libxml2's own loader with the signature that
        // `xmlSetExternalEntityLoader` expects; setting it touches only a libxml2 global, once.
        unsafe {
            libxml::bindings::xmlSetExternalEntityLoader(Some(
                libxml::bindings::xmlNoNetExternalEntityLoader,
            ))
        };
    });
}

/// Parses the request bytes strictly, refusing any document type declaration.
fn parse_request(request: &[u8]) -> Result<Document, Vec<SchemaViolation>> {
    if let Some((line, column)) = find_doctype(request) {
        return Err(vec![SchemaViolation {
            line,
            column,
            element: String::new(),
            message: "A document type declaration (DOCTYPE) is not allowed in a request."
                .to_owned(),
        }]);
    }
    let options = ParserOptions {
        recover: false, // a malformed request is an error, not something to be guessed at
        no_net: true,   // XML_PARSE_NONET
        no_error: true, // keep libxml2 from printing to stderr; the errors are collected instead
        no_warning: true,
        huge: false, // keep libxml2's size, depth and entity amplification limits
        ..ParserOptions::default()
    };
    let parsed = Parser::default().parse_string_with_diagnostics(request, options);
    let (doc, diagnostics) = match parsed {
        Ok(ok) => ok,
        Err(XmlParseFailure::ParseFailed(errors)) if !errors.is_empty() => {
            return Err(errors
                .iter()
                .map(|e| violation(e, &(0, String::new())))
                .collect());
        }
        Err(other) => {
            return Err(vec![SchemaViolation {
                line: 0,
                column: 0,
                element: String::new(),
                message: other.to_string(),
            }]);
        }
    };
    // With recovery off a document is returned only when it is well-formed, but some libxml2 versions
    // still report namespace errors (such as an undeclared prefix) as errors on a returned document.
    let errors: Vec<SchemaViolation> = diagnostics
        .iter()
        .filter(|e| {
            !matches!(
                e.level,
                libxml::error::XmlErrorLevel::Warning | libxml::error::XmlErrorLevel::None
            )
        })
        .map(|e| violation(e, &(0, String::new())))
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    // A DTD can only get here if an encoding other than UTF-8/ASCII hid it from `find_doctype`. Its
    // entities were not substituted (no XML_PARSE_NOENT), but the request is refused all the same.
    let mut child = doc.as_node().get_first_child();
    while let Some(node) = child {
        if matches!(
            node.get_type(),
            Some(NodeType::DTDNode | NodeType::DocumentTypeNode)
        ) {
            return Err(vec![SchemaViolation {
                line: 1,
                column: 0,
                element: String::new(),
                message: "A document type declaration (DOCTYPE) is not allowed in a request."
                    .to_owned(),
            }]);
        }
        child = node.get_next_sibling();
    }
    Ok(doc)
}

/// Finds a `<!DOCTYPE` in the prolog (before the root element) and returns its line and column.
///
/// Only the prolog is scanned, so the text `<!DOCTYPE html>` inside a CDATA section of an HTML item body
/// does not trip it. The scan understands the XML declaration, processing instructions, comments and
/// whitespace; anything else ends it, because it is either the root element or an error libxml2 reports.
fn find_doctype(input: &[u8]) -> Option<(u32, u32)> {
    let mut i = if input.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    loop {
        while i < input.len() && input[i].is_ascii_whitespace() {
            i += 1;
        }
        let rest = &input[i..];
        if rest.starts_with(b"<?") {
            i += find(rest, b"?>")? + 2;
        } else if rest.starts_with(b"<!--") {
            i += find(rest, b"-->")? + 3;
        } else if rest.starts_with(b"<!DOCTYPE") {
            let before = &input[..i];
            let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
            let column = 1 + before.iter().rev().take_while(|&&b| b != b'\n').count();
            return Some((line as u32, column as u32));
        } else {
            return None;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Checks the SOAP envelope and returns the elements to validate: the EWS header blocks, then the Body's
/// element.
///
/// Header blocks in other namespaces (WS-Security, WS-Addressing, ...) are not validated: SOAP lets a
/// receiver ignore header blocks it does not know, and messages.xsd has no declaration for them.
fn envelope_targets(doc: &Document) -> Result<Vec<Node>, Vec<SchemaViolation>> {
    let root = doc
        .get_root_element()
        .ok_or_else(|| vec![plain(1, "", "The request has no root element.")])?;
    if !is(&root, SOAP_NS, "Envelope") {
        return Err(vec![plain(
            node_line(&root),
            &qualified_name(&root),
            &format!("The root element must be {{{SOAP_NS}}}Envelope."),
        )]);
    }
    let mut children = root.get_child_elements().into_iter();
    let mut targets = Vec::new();
    let mut next = children.next();
    if let Some(header) = next.as_ref().filter(|n| is(n, SOAP_NS, "Header")) {
        for block in header.get_child_elements() {
            if matches!(namespace(&block).as_str(), TYPES_NS | MESSAGES_NS) {
                targets.push(block);
            }
        }
        next = children.next();
    }
    let body = match next {
        Some(body) if is(&body, SOAP_NS, "Body") => body,
        Some(other) => {
            return Err(vec![plain(
                node_line(&other),
                &qualified_name(&other),
                &format!("Expected {{{SOAP_NS}}}Body (after an optional {{{SOAP_NS}}}Header)."),
            )]);
        }
        None => {
            return Err(vec![plain(
                node_line(&root),
                &qualified_name(&root),
                "The envelope has no Body.",
            )]);
        }
    };
    if let Some(extra) = children.next() {
        return Err(vec![plain(
            node_line(&extra),
            &qualified_name(&extra),
            "Nothing may follow the SOAP Body.",
        )]);
    }
    let mut parts = body.get_child_elements().into_iter();
    let request = parts.next().ok_or_else(|| {
        vec![plain(
            node_line(&body),
            &qualified_name(&body),
            "The SOAP Body holds no request element.",
        )]
    })?;
    if let Some(extra) = parts.next() {
        return Err(vec![plain(
            node_line(&extra),
            &qualified_name(&extra),
            "The SOAP Body must hold exactly one element.",
        )]);
    }
    if namespace(&request) != MESSAGES_NS {
        return Err(vec![plain(
            node_line(&request),
            &qualified_name(&request),
            &format!("The request element must be in the namespace {MESSAGES_NS}."),
        )]);
    }
    targets.push(request);
    Ok(targets)
}

fn namespace(node: &Node) -> String {
    node.get_namespace()
        .map(|ns| ns.get_href())
        .unwrap_or_default()
}

fn is(node: &Node, ns: &str, local: &str) -> bool {
    node.get_name() == local && namespace(node) == ns
}

/// The element's name in libxml2's `{namespace}local` notation.
fn qualified_name(node: &Node) -> String {
    match namespace(node).as_str() {
        "" => node.get_name(),
        ns => format!("{{{ns}}}{}", node.get_name()),
    }
}

/// The line of `node` in the original request.
fn node_line(node: &Node) -> u32 {
    // SAFETY: `node_ptr` is a live node of a document that outlives this call; `xmlGetLineNo` only reads it.
    let line = unsafe { libxml::bindings::xmlGetLineNo(node.node_ptr()) };
    u32::try_from(line).unwrap_or(0)
}

fn plain(line: u32, element: &str, message: &str) -> SchemaViolation {
    SchemaViolation {
        line,
        column: 0,
        element: element.to_owned(),
        message: message.to_owned(),
    }
}

/// Turns a libxml2 error into a violation. The element is read from libxml2's message
/// (`Element '{ns}Name': ...` or `Element '{ns}Name', attribute 'X': ...`); `fallback` is the line and name of
/// the validated element, used when libxml2 gives neither.
fn violation(error: &StructuredError, fallback: &(u32, String)) -> SchemaViolation {
    let message = error
        .message
        .as_deref()
        .unwrap_or("libxml2 gave no message")
        .trim_end()
        .to_owned();
    let element = message
        .strip_prefix("Element '")
        .and_then(|rest| rest.find('\'').map(|end| rest[..end].to_owned()))
        .unwrap_or_else(|| fallback.1.clone());
    let line = error
        .line
        .and_then(|l| u32::try_from(l).ok())
        .unwrap_or(fallback.0);
    let column = error.col.and_then(|c| u32::try_from(c).ok()).unwrap_or(0);
    SchemaViolation {
        line,
        column,
        element,
        message,
    }
}

#[cfg(test)]
mod tests {
    use crate::ews::schema::{MESSAGES_NS, SchemaValidator, TYPES_NS};
    use std::path::Path;
    use std::sync::{Arc, OnceLock};

    /// The schema folder that .cargo/config.toml points at.
    const SCHEMA_DIR: &str = env!("OFFLINE_IM_EWS_SCHEMA");

    fn validator() -> &'static SchemaValidator {
        static V: OnceLock<SchemaValidator> = OnceLock::new();
        V.get_or_init(|| SchemaValidator::load(Path::new(SCHEMA_DIR)).expect("schema loads"))
    }

    const CREATE_ITEM: &str = r#"<m:CreateItem xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" MessageDisposition="SendOnly"><m:Items><t:Message><t:ItemClass>IPM.Note</t:ItemClass><t:Subject>hi</t:Subject><t:Body BodyType="Text">hi</t:Body><t:ToRecipients><t:Mailbox><t:Name>Pat</t:Name><t:EmailAddress>pat@contoso.com</t:EmailAddress></t:Mailbox></t:ToRecipients><t:From><t:Mailbox><t:Name>Tony</t:Name><t:EmailAddress>tony@contoso.com</t:EmailAddress></t:Mailbox></t:From></t:Message></m:Items></m:CreateItem>"#;

    /// Wraps a body element (and optional header blocks) in a SOAP envelope; the body starts on line 8.
    fn envelope(header: &str, body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
               xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
               xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
  <soap:Header>{header}
  </soap:Header>
  <soap:Body>
{body}
  </soap:Body>
</soap:Envelope>
"#
        )
    }

    #[test]
    fn valid_create_item_passes() {
        assert_eq!(
            validator().validate(envelope("", CREATE_ITEM).as_bytes()),
            Ok(())
        );
    }

    #[test]
    fn bad_attribute_value_names_element_and_line() {
        let body = CREATE_ITEM.replace("SendOnly", "Bogus");
        let errs = validator()
            .validate(envelope("", &body).as_bytes())
            .unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].line, 8);
        assert_eq!(errs[0].element, format!("{{{MESSAGES_NS}}}CreateItem"));
        assert!(
            errs[0].message.contains("attribute 'MessageDisposition'"),
            "{}",
            errs[0].message
        );
        assert!(errs[0].message.contains("'Bogus'"), "{}", errs[0].message);
    }

    #[test]
    fn misplaced_element_names_element_and_line() {
        // Subject before ItemClass breaks the sequence of ItemType; put it on its own line to check the line.
        let body = CREATE_ITEM.replace(
            "<t:ItemClass>IPM.Note</t:ItemClass><t:Subject>hi</t:Subject>",
            "<t:Subject>hi</t:Subject>\n<t:ItemClass>IPM.Note</t:ItemClass>",
        );
        let errs = validator()
            .validate(envelope("", &body).as_bytes())
            .unwrap_err();
        assert_eq!(errs[0].line, 9, "{errs:?}");
        assert_eq!(errs[0].element, format!("{{{TYPES_NS}}}ItemClass"));
        assert!(
            errs[0].message.contains("This element is not expected."),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn missing_items_reports_expected() {
        let body = r#"<m:CreateItem MessageDisposition="SendOnly"><m:Foo/></m:CreateItem>"#;
        let errs = validator()
            .validate(envelope("", body).as_bytes())
            .unwrap_err();
        assert_eq!(errs[0].line, 8);
        assert_eq!(errs[0].element, format!("{{{MESSAGES_NS}}}Foo"));
        assert!(
            errs[0].message.contains("Expected is"),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn get_folder_passes() {
        let body = r#"<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>"#;
        assert_eq!(validator().validate(envelope("", body).as_bytes()), Ok(()));
    }

    #[test]
    fn request_server_version_header_passes() {
        let header = r#"<t:RequestServerVersion Version="Exchange2016"/>"#;
        assert_eq!(
            validator().validate(envelope(header, CREATE_ITEM).as_bytes()),
            Ok(())
        );
    }

    #[test]
    fn bad_header_is_reported() {
        let header = "\n<t:RequestServerVersion Version=\"Exchange1999\"/>";
        let errs = validator()
            .validate(envelope(header, CREATE_ITEM).as_bytes())
            .unwrap_err();
        assert_eq!(errs[0].line, 6, "{errs:?}");
        assert_eq!(
            errs[0].element,
            format!("{{{TYPES_NS}}}RequestServerVersion")
        );
    }

    #[test]
    fn foreign_header_blocks_are_ignored() {
        let header = r#"<a:Action xmlns:a="http://www.w3.org/2005/08/addressing">x</a:Action>"#;
        assert_eq!(
            validator().validate(envelope(header, CREATE_ITEM).as_bytes()),
            Ok(())
        );
    }

    #[test]
    fn unknown_request_element_is_reported() {
        let errs = validator()
            .validate(envelope("", "<m:NoSuchRequest/>").as_bytes())
            .unwrap_err();
        assert_eq!(errs[0].line, 8);
        assert!(
            errs[0].message.contains("No matching global"),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn envelope_errors() {
        let v = validator();
        assert!(
            v.validate(CREATE_ITEM.as_bytes()).unwrap_err()[0]
                .message
                .contains("Envelope")
        );
        let no_body = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"/>"#;
        assert!(
            v.validate(no_body.as_bytes()).unwrap_err()[0]
                .message
                .contains("no Body")
        );
        let two = envelope("", &format!("{CREATE_ITEM}{CREATE_ITEM}"));
        assert!(
            v.validate(two.as_bytes()).unwrap_err()[0]
                .message
                .contains("exactly one")
        );
    }

    #[test]
    fn malformed_xml_gives_line_and_column() {
        let bad = envelope("", CREATE_ITEM).replace("</m:Items>", "</m:Itemz>");
        let errs = validator().validate(bad.as_bytes()).unwrap_err();
        assert_eq!(errs[0].line, 8, "{errs:?}");
        assert!(errs[0].column > 0, "{errs:?}");
        for input in [
            &b""[..],
            b"<",
            b"\xff\xfe\x00",
            b"<a xmlns:x='y'><x:b></a>",
            b"<undeclared:a/>",
        ] {
            assert!(validator().validate(input).is_err());
        }
    }

    fn billion_laughs() -> String {
        let mut s =
            String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
        for i in 1..10 {
            let prev = if i == 1 {
                "lol".to_owned()
            } else {
                format!("lol{}", i - 1)
            };
            s += &format!("<!ENTITY lol{i} \"{}\">\n", format!("&{prev};").repeat(10));
        }
        s += "]>\n<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>&lol9;</soap:Body></soap:Envelope>";
        s
    }

    #[test]
    fn billion_laughs_is_refused_at_its_doctype() {
        let v = validator();
        let errs = v.validate(billion_laughs().as_bytes()).unwrap_err();
        assert_eq!((errs[0].line, errs[0].column), (2, 1));
        assert!(errs[0].message.contains("DOCTYPE"));
    }

    #[test]
    fn doctype_hidden_by_utf16_is_refused() {
        // The prolog scan reads bytes as ASCII, so UTF-16 hides the DOCTYPE from it; libxml2 must then
        // not expand the entities (no XML_PARSE_NOENT) and the DTD node check refuses the document.
        let doc = billion_laughs().replace(
            "<?xml version=\"1.0\"?>",
            "<?xml version=\"1.0\" encoding=\"UTF-16\"?>",
        );
        let mut bytes = vec![0xFF, 0xFE];
        for unit in doc.encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let errs = validator().validate(&bytes).unwrap_err();
        assert!(!errs.is_empty());
        // Refused, whether at the DTD node or at libxml2's entity-loop
        // guard, and never by expanding ten levels of entities.
        assert!(errs.iter().all(|e| e.message.len() < 1000), "{errs:?}");
    }

    #[test]
    fn doctype_inside_cdata_is_fine() {
        let body = CREATE_ITEM.replace(
            r#"<t:Body BodyType="Text">hi</t:Body>"#,
            r#"<t:Body BodyType="HTML"><![CDATA[<!DOCTYPE html><html><body>hi</body></html>]]></t:Body>"#,
        );
        assert_eq!(validator().validate(envelope("", &body).as_bytes()), Ok(()));
    }

    #[test]
    fn external_entity_is_not_loaded() {
        // Refused by the DOCTYPE rule before any attempt to load /etc/passwd.
        let xxe = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>";
        assert!(
            validator().validate(xxe.as_bytes()).unwrap_err()[0]
                .message
                .contains("DOCTYPE")
        );
    }

    #[test]
    fn schema_location_hints_are_ignored() {
        // libxml2 validates against the compiled schema only; an xsi:schemaLocation hint is not fetched.
        let body = CREATE_ITEM.replace(
            "MessageDisposition",
            r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:x http://127.0.0.1:9/x.xsd" MessageDisposition"#,
        );
        assert_eq!(validator().validate(envelope("", &body).as_bytes()), Ok(()));
    }

    #[test]
    fn load_error_names_the_file() {
        let err = SchemaValidator::load(Path::new("/nonexistent-dir"))
            .err()
            .expect("fails");
        assert!(
            err.to_string().contains("/nonexistent-dir/messages.xsd"),
            "{err}"
        );
    }

    #[test]
    fn shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<SchemaValidator>();
        let v = Arc::new(SchemaValidator::load(Path::new(SCHEMA_DIR)).unwrap());
        let good = envelope("", CREATE_ITEM);
        let bad = envelope("", &CREATE_ITEM.replace("SendOnly", "Bogus"));
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (v, good, bad) = (v.clone(), good.clone(), bad.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        assert_eq!(v.validate(good.as_bytes()), Ok(()), "thread {i}");
                        assert_eq!(
                            v.validate(bad.as_bytes()).unwrap_err().len(),
                            1,
                            "thread {i}"
                        );
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(v.pool.lock().unwrap().len() <= 4);
    }
}
