//! From untrusted bytes to a UTF-8 XML tree, refusing what is hostile before anything is built:
//! the size is checked first, then the encoding is settled, then a linear pre-scan refuses
//! DOCTYPEs and deep nesting, and only then does `roxmltree` parse (DTDs off, node count bounded,
//! nothing ever fetched: roxmltree has no I/O and we give it no entity resolver).

use std::borrow::Cow;

use encoding_rs::Encoding;

use crate::IngestError;

/// Largest CAP document accepted, checked before anything else is done with the bytes. Real NWS
/// alerts reach 1.7 MB, so 2 MiB; the HTTP layer may set a smaller body limit of its own.
pub const MAX_CAP_BYTES: usize = 2 * 1024 * 1024;

/// Deepest element nesting accepted. CAP itself needs 4 (`alert/info/area/geocode/value` is 5
/// with the value); an enveloped XML signature reaches about 7.
pub const MAX_CAP_DEPTH: usize = 64;

/// Most XML nodes (elements, texts, comments, ...) accepted in one document.
pub const MAX_CAP_NODES: u32 = 200_000;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Checks the size, strips a BOM and transcodes a declared non-UTF-8 encoding to UTF-8.
pub(crate) fn to_utf8(bytes: &[u8]) -> Result<Cow<'_, str>, IngestError> {
    if bytes.len() > MAX_CAP_BYTES {
        return Err(IngestError::TooLarge(format!(
            "the CAP document is {} bytes; at most {MAX_CAP_BYTES} are accepted",
            bytes.len()
        )));
    }
    if let Some(rest) = bytes.strip_prefix(UTF8_BOM) {
        return utf8(rest, "UTF-8 (byte-order mark)");
    }
    if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
        // UTF-16 with its byte-order mark; the declaration inside (if any) is then moot.
        return enc
            .decode_without_bom_handling_and_without_replacement(&bytes[bom_len..])
            .map(|s| Cow::Owned(s.into_owned()))
            .ok_or_else(|| malformed(format!("the document is not valid {}", enc.name())));
    }
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let body = &bytes[start..];
    let Some(label) = declared_encoding(body)? else {
        return utf8(body, "UTF-8 (no encoding declared)");
    };
    let Some(enc) = Encoding::for_label(label.as_bytes()) else {
        return Err(malformed(format!("the XML declaration names an unknown encoding {label:?}")));
    };
    if enc == encoding_rs::UTF_8 {
        return utf8(body, "UTF-8 (declared)");
    }
    if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
        return Err(malformed(format!(
            "the XML declaration says {label:?} but the document is not UTF-16 (no byte-order mark)"
        )));
    }
    if enc == encoding_rs::REPLACEMENT || enc == encoding_rs::X_USER_DEFINED {
        return Err(malformed(format!("the encoding {label:?} is not supported")));
    }
    enc.decode_without_bom_handling_and_without_replacement(body)
        .map(|s| Cow::Owned(s.into_owned()))
        .ok_or_else(|| malformed(format!("the document is not valid {label} (read as {})", enc.name())))
}

fn malformed(m: String) -> IngestError {
    IngestError::Malformed(m)
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<Cow<'a, str>, IngestError> {
    std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| {
        malformed(format!(
            "invalid UTF-8 at byte {} of a document in {what}; declare its real encoding",
            e.valid_up_to()
        ))
    })
}

/// The `encoding` pseudo-attribute of an XML declaration at the start of `body`, if any. The
/// declaration is ASCII in every ASCII-compatible encoding, so it is read from the raw bytes.
fn declared_encoding(body: &[u8]) -> Result<Option<String>, IngestError> {
    if !body.starts_with(b"<?xml") || body.get(5).is_some_and(|b| !b.is_ascii_whitespace()) {
        return Ok(None);
    }
    let head = &body[..body.len().min(512)];
    let Some(end) = find(head, b"?>", 0) else {
        return Err(malformed("the XML declaration is not closed with ?>".into()));
    };
    let decl = String::from_utf8_lossy(&head[5..end]);
    let Some(at) = decl.find("encoding") else { return Ok(None) };
    let rest = decl[at + "encoding".len()..].trim_start();
    let Some(rest) = rest.strip_prefix('=') else {
        return Err(malformed("the XML declaration's encoding has no value".into()));
    };
    let rest = rest.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'');
    let Some(q) = quote else {
        return Err(malformed("the XML declaration's encoding value is not quoted".into()));
    };
    let value = &rest[1..];
    match value.find(q) {
        Some(close) => Ok(Some(value[..close].trim().to_string())),
        None => Err(malformed("the XML declaration's encoding value is not closed".into())),
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from >= hay.len() {
        return None;
    }
    hay[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// A linear pass over the markup, before any tree is built: refuses a DOCTYPE (and any other `<!`
/// declaration) and nesting deeper than [`MAX_CAP_DEPTH`]. Comments, CDATA sections, processing
/// instructions and quoted attribute values are skipped, so a `>` or `<` inside them does not
/// count. Anything it cannot make sense of (a truncated tag) is left to the parser to report.
pub(crate) fn prescan(text: &str) -> Result<(), IngestError> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        i += off;
        let rest = &b[i..];
        if rest.starts_with(b"<!--") {
            let Some(end) = find(b, b"-->", i + 4) else { return Ok(()) };
            i = end + 3;
        } else if rest.starts_with(b"<![CDATA[") {
            let Some(end) = find(b, b"]]>", i + 9) else { return Ok(()) };
            i = end + 3;
        } else if rest.starts_with(b"<!") {
            return Err(IngestError::Unsafe(
                "a DOCTYPE or other DTD declaration (<!...>) is refused: CAP needs none, and DTDs carry entity \
                 attacks (billion laughs, external entities such as SYSTEM \"file:///etc/passwd\")"
                    .into(),
            ));
        } else if rest.starts_with(b"<?") {
            let Some(end) = find(b, b"?>", i + 2) else { return Ok(()) };
            i = end + 2;
        } else {
            let closing = rest.starts_with(b"</");
            let Some(end) = tag_end(b, i + 1) else { return Ok(()) };
            if closing {
                depth = depth.saturating_sub(1);
            } else if b[end - 1] != b'/' {
                depth += 1;
                if depth > MAX_CAP_DEPTH {
                    return Err(IngestError::Unsafe(format!(
                        "elements are nested more than {MAX_CAP_DEPTH} levels deep"
                    )));
                }
            }
            i = end + 1;
        }
    }
    Ok(())
}

/// The index of the `>` ending the tag whose name starts at `from`, skipping quoted values.
fn tag_end(b: &[u8], mut from: usize) -> Option<usize> {
    while from < b.len() {
        match b[from] {
            b'>' => return Some(from),
            q @ (b'"' | b'\'') => {
                from += 1 + b[from + 1..].iter().position(|&c| c == q)?;
            }
            _ => {}
        }
        from += 1;
    }
    None
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
    fn declared_encoding_is_read_with_spaces_and_either_quote() {
        let e = |s: &str| declared_encoding(s.as_bytes()).unwrap();
        assert_eq!(e(r#"<?xml version = "1.0" encoding = "UTF-8"?><a/>"#).as_deref(), Some("UTF-8"));
        assert_eq!(e("<?xml version='1.0' encoding='ISO-8859-1' standalone='yes'?>").as_deref(), Some("ISO-8859-1"));
        assert_eq!(e("<?xml version='1.0'?><a/>"), None);
        assert_eq!(e("<a/>"), None);
        assert_eq!(e("<?xml-stylesheet href='x'?><a/>"), None);
        assert!(declared_encoding(b"<?xml version='1.0' encoding='UTF-8'").is_err());
    }

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
