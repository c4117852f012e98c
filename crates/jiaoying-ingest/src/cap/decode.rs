//! From untrusted bytes to a UTF-8 XML tree, refusing what is hostile before anything is built:
//! the size is checked first, then the encoding is settled, then a linear pre-scan refuses
//! DOCTYPEs and deep nesting, and only then does `roxmltree` parse (DTDs off, node count bounded,
//! nothing ever fetched: roxmltree has no I/O and we give it no entity resolver).

use std::borrow::Cow;

use crate::xml::{self, XmlError};
use crate::IngestError;

/// Largest CAP document accepted, checked before anything else is done with the bytes. Real NWS
/// alerts reach 1.7 MB, so 2 MiB; the HTTP layer may set a smaller body limit of its own.
pub const MAX_CAP_BYTES: usize = 2 * 1024 * 1024;

/// Deepest element nesting accepted. CAP itself needs 4 (`alert/info/area/geocode/value` is 5
/// with the value); an enveloped XML signature reaches about 7.
pub const MAX_CAP_DEPTH: usize = 64;

/// Most XML nodes (elements, texts, comments, ...) accepted in one document.
pub const MAX_CAP_NODES: u32 = 200_000;

/// Checks the size, then strips a BOM and transcodes a declared non-UTF-8 encoding to UTF-8
/// ([`xml::decode_text`]).
pub(crate) fn to_utf8(bytes: &[u8]) -> Result<Cow<'_, str>, IngestError> {
    if bytes.len() > MAX_CAP_BYTES {
        return Err(IngestError::TooLarge(format!(
            "the CAP document is {} bytes; at most {MAX_CAP_BYTES} are accepted",
            bytes.len()
        )));
    }
    xml::decode_text(bytes).map_err(ingest_error)
}

/// The linear pre-scan ([`xml::prescan`]) with CAP's depth limit, [`MAX_CAP_DEPTH`]: refuses a
/// DOCTYPE (and any other `<!` declaration) and deeper nesting before any tree is built.
pub(crate) fn prescan(text: &str) -> Result<(), IngestError> {
    xml::prescan(text, MAX_CAP_DEPTH).map_err(ingest_error)
}

fn ingest_error(e: XmlError) -> IngestError {
    match e {
        XmlError::Malformed(m) => IngestError::Malformed(m),
        XmlError::Unsafe(m) => IngestError::Unsafe(m),
    }
}

/// Parses the (pre-scanned) text into a tree, sorting the parser's errors into hostile (400
/// `Unsafe`) and merely broken (400 `Malformed`).
pub(crate) fn parse_tree(text: &str) -> Result<roxmltree::Document<'_>, IngestError> {
    let options = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: MAX_CAP_NODES, ..Default::default() };
    roxmltree::Document::parse_with_options(text, options).map_err(|e| {
        use roxmltree::Error as E;
        match e {
            E::DtdDetected => IngestError::Unsafe("a DOCTYPE (DTD) is refused".into()),
            E::UnknownEntityReference(name, pos) => IngestError::Unsafe(format!(
                "the entity &{name}; at {pos} is refused: only the five predefined XML entities \
                 (&amp; &lt; &gt; &quot; &apos;) and character references are accepted"
            )),
            E::EntityReferenceLoop(pos) => IngestError::Unsafe(format!("an entity reference loop at {pos} is refused")),
            E::NodesLimitReached => {
                IngestError::Unsafe(format!("the document has more than {MAX_CAP_NODES} XML nodes"))
            }
            E::AttributesLimitReached | E::NamespacesLimitReached => {
                IngestError::Unsafe(format!("the document has too many attributes or namespaces: {e}"))
            }
            other => IngestError::Malformed(format!("malformed XML: {other}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prescan_counts_depth_but_not_markup_inside_comments_cdata_and_quotes() {
        let deep = "<a>".repeat(MAX_CAP_DEPTH + 1);
        assert!(matches!(prescan(&deep), Err(IngestError::Unsafe(_))));
        let ok = format!("{}{}", "<a>".repeat(MAX_CAP_DEPTH), "</a>".repeat(MAX_CAP_DEPTH));
        assert!(prescan(&ok).is_ok());
        let siblings = "<a/>".repeat(10_000);
        assert!(prescan(&format!("<r>{siblings}</r>")).is_ok());
        let tricky = format!("<r x='>' y=\"<b>\"><!-- <c><c><c> --><![CDATA[<d><d>]]>{}</r>", "<e></e>".repeat(100));
        assert!(prescan(&tricky).is_ok());
        assert!(matches!(prescan("<!DOCTYPE a><a/>"), Err(IngestError::Unsafe(_))));
    }

    #[test]
    fn encodings() {
        assert_eq!(to_utf8(b"\xEF\xBB\xBF<a/>").unwrap(), "<a/>");
        let latin1 = b"<?xml version='1.0' encoding='ISO-8859-1'?><a>caf\xE9</a>";
        assert!(to_utf8(latin1).unwrap().contains("caf\u{e9}"));
        assert!(matches!(to_utf8(b"<a>caf\xE9</a>"), Err(IngestError::Malformed(m)) if m.contains("UTF-8")));
        let utf16: Vec<u8> =
            [0xFF, 0xFE].into_iter().chain("<a>é</a>".encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(to_utf8(&utf16).unwrap(), "<a>é</a>");
        assert!(to_utf8(b"<?xml version='1.0' encoding='no-such'?><a/>").is_err());
    }
}
