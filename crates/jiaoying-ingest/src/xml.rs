//! The format-neutral first steps of reading untrusted XML bytes, shared by the CAP parser and the
//! feed index reader: settle the encoding ([`decode_text`]), then a linear pre-scan refusing
//! DOCTYPEs and deep nesting ([`prescan`]) before any tree is built. Size limits, node limits and
//! the wording of the caller's own errors are the caller's.

use std::borrow::Cow;

use encoding_rs::Encoding;

/// Why untrusted XML bytes were refused before parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Not readable as XML text: an encoding that is unknown, unsupported or not what the bytes
    /// are, or an unreadable XML declaration.
    #[error("{0}")]
    Malformed(String),
    /// Hostile markup: a DOCTYPE or other `<!` declaration, or nesting deeper than the limit.
    #[error("{0}")]
    Unsafe(String),
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Strips a BOM and transcodes a declared non-UTF-8 encoding (as the WHATWG Encoding Standard
/// reads its label) to UTF-8. UTF-16 is accepted only with its byte-order mark; the
/// `replacement` and `x-user-defined` encodings are refused. The size is not checked here.
pub fn decode_text(bytes: &[u8]) -> Result<Cow<'_, str>, XmlError> {
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

fn malformed(m: String) -> XmlError {
    XmlError::Malformed(m)
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<Cow<'a, str>, XmlError> {
    std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| {
        malformed(format!(
            "invalid UTF-8 at byte {} of a document in {what}; declare its real encoding",
            e.valid_up_to()
        ))
    })
}

/// The `encoding` pseudo-attribute of an XML declaration at the start of `body`, if any. The
/// declaration is ASCII in every ASCII-compatible encoding, so it is read from the raw bytes.
fn declared_encoding(body: &[u8]) -> Result<Option<String>, XmlError> {
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
/// declaration) and nesting deeper than `max_depth`. Comments, CDATA sections, processing
/// instructions and quoted attribute values are skipped, so a `>` or `<` inside them does not
/// count. Anything it cannot make sense of (a truncated tag) is left to the parser to report.
pub fn prescan(text: &str, max_depth: usize) -> Result<(), XmlError> {
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
            return Err(XmlError::Unsafe(
                "a DOCTYPE or other DTD declaration (<!...>) is refused: DTDs carry entity attacks (billion \
                 laughs, external entities)"
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
                if depth > max_depth {
                    return Err(XmlError::Unsafe(format!("elements are nested more than {max_depth} levels deep")));
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
    fn prescan_takes_its_depth_limit_from_the_caller() {
        assert!(prescan("<a><b><c/></b></a>", 2).is_ok());
        assert_eq!(
            prescan("<a><b><c></c></b></a>", 2),
            Err(XmlError::Unsafe("elements are nested more than 2 levels deep".into()))
        );
        assert!(matches!(prescan("<!DOCTYPE a><a/>", 64), Err(XmlError::Unsafe(m)) if m.contains("DOCTYPE")));
    }

    #[test]
    fn decode_text_does_not_check_the_size() {
        let big = format!("<a>{}</a>", " ".repeat(8 * 1024 * 1024));
        assert_eq!(decode_text(big.as_bytes()).unwrap().len(), big.len());
        assert!(matches!(decode_text(b"<a>caf\xE9</a>"), Err(XmlError::Malformed(m)) if m.contains("UTF-8")));
    }
}
