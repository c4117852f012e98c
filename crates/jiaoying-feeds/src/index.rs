//! Index feeds: Atom and RSS (2.0, and 1.0/RDF) documents whose entries link to CAP documents,
//! read from untrusted bytes.
//!
//! What is refused, before or while parsing, and never with a panic:
//! - more than [`MAX_INDEX_BYTES`] (`TooLarge`), checked before anything else;
//! - a DOCTYPE or any other `<!` declaration, an entity other than the five predefined ones,
//!   nesting deeper than [`MAX_INDEX_DEPTH`], more than [`MAX_INDEX_NODES`] nodes (`Unsafe`);
//! - bytes that are not well-formed XML in their declared encoding (`Malformed`);
//! - a root element other than Atom's `<feed>`, RSS's `<rss>`/`<rdf:RDF>` or CAP's `<alert>`
//!   (`NotAFeed`).
//!
//! Which URL an entry gives: Atom, the `<link href>` whose `type` is `application/cap+xml`,
//! else the one with `rel="alternate"` (the default rel), else the entry's `<id>` when it is an
//! http(s) URL; RSS, an `<enclosure>` of type `application/cap+xml`, else `<link>`, else a
//! `<guid>` that is an http(s) URL. Relative URLs are resolved against the feed's URL. Entries
//! with no http(s) URL are skipped; repeated URLs are kept once; at most [`MAX_INDEX_ENTRIES`]
//! entries are read (feeds list the newest first).
//!
//! A feed that is itself a CAP document (`<alert>` root) is one entry: its URL is the feed's,
//! its id `sender,identifier,sent`, and it is marked `inline` (the bytes at hand are the document).

use std::collections::HashSet;

use jiaoying_core::Timestamp;
use jiaoying_ingest::xml::{decode_text, prescan, XmlError};
use reqwest::Url;
use roxmltree::Node;

use crate::FeedError;

/// Largest index accepted, checked before parsing. Google's CAP feed guide asks for at most
/// 900 KB; national feeds with hundreds of active alerts are larger.
pub const MAX_INDEX_BYTES: usize = 4 * 1024 * 1024;

/// Deepest element nesting accepted. Atom needs 3 (`feed/entry/link`); extensions add a few.
pub const MAX_INDEX_DEPTH: usize = 64;

/// Most XML nodes (elements, texts, comments, ...) accepted in one index.
pub const MAX_INDEX_NODES: u32 = 1_000_000;

/// Most entries read from one index.
pub const MAX_INDEX_ENTRIES: usize = 5_000;

/// One entry of an index: the document it links to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    /// The linked document, absolute, http or https.
    pub url: Url,
    /// Atom `<id>`, RSS `<guid>`, or a CAP document's `sender,identifier,sent`.
    pub id: Option<String>,
    /// Atom `<updated>` (else `<published>`), RSS `<pubDate>` (else `<dc:date>`), CAP `<sent>`,
    /// when present and readable as RFC 3339 or RFC 2822.
    pub updated: Option<Timestamp>,
    /// The feed is itself this CAP document: there is nothing to fetch.
    pub inline: bool,
}

impl FeedEntry {
    /// What the poller remembers the entry by (take-once): the document URL; for a feed that is
    /// itself a CAP document, the URL and the message's key, since the same URL serves each new
    /// message in turn.
    pub fn key(&self) -> String {
        if self.inline {
            format!("{}#{}", self.url, self.id.as_deref().unwrap_or("no-identifier"))
        } else {
            self.url.to_string()
        }
    }
}

/// Parses an index feed (or a bare CAP document) fetched from `base`, returning its entries in
/// document order.
pub fn parse_index(bytes: &[u8], base: &Url) -> Result<Vec<FeedEntry>, FeedError> {
    if bytes.len() > MAX_INDEX_BYTES {
        return Err(FeedError::TooLarge(format!(
            "the index is {} bytes; at most {MAX_INDEX_BYTES} are accepted",
            bytes.len()
        )));
    }
    // Settles the encoding, then refuses DOCTYPEs and nesting deeper than MAX_INDEX_DEPTH before
    // any tree is built.
    let text = decode_text(bytes).map_err(feed_error)?;
    prescan(&text, MAX_INDEX_DEPTH).map_err(feed_error)?;
    let options = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: MAX_INDEX_NODES, ..Default::default() };
    let doc = roxmltree::Document::parse_with_options(&text, options).map_err(xml_error)?;
    let root = doc.root_element();
    let entries = match root.tag_name().name() {
        "feed" => atom(root, base),
        "rss" => rss(child(root, "channel").map(|c| c.children()).into_iter().flatten(), base),
        "RDF" => rss(root.children(), base),
        "alert" => vec![cap_entry(root, base)],
        other => {
            let name: String = other.chars().take(64).collect();
            return Err(FeedError::NotAFeed(format!(
                "the root element is <{name}>; expected an Atom <feed>, an RSS <rss> or a CAP <alert>"
            )));
        }
    };
    let mut seen = HashSet::new();
    Ok(entries.into_iter().filter(|e| seen.insert(e.key())).collect())
}

fn atom(feed: Node, base: &Url) -> Vec<FeedEntry> {
    let mut out = Vec::new();
    for entry in feed.children().filter(|n| n.has_tag_name_local("entry")).take(MAX_INDEX_ENTRIES) {
        let id = child_text(entry, "id");
        let updated = child_text(entry, "updated").or_else(|| child_text(entry, "published")).and_then(|t| time(&t));
        let mut best: Option<(u8, &str)> = None;
        for link in entry.children().filter(|n| n.has_tag_name_local("link")) {
            let Some(href) = link.attribute("href").map(str::trim).filter(|h| !h.is_empty()) else { continue };
            let rel = link.attribute("rel").map(str::trim).unwrap_or("alternate");
            let cap_type = link.attribute("type").is_some_and(is_cap_type);
            let rank = if cap_type && !rel.eq_ignore_ascii_case("self") {
                0
            } else if rel.eq_ignore_ascii_case("alternate") {
                1
            } else {
                continue;
            };
            if best.is_none_or(|(r, _)| rank < r) {
                best = Some((rank, href));
            }
        }
        let url = match best {
            Some((_, href)) => resolve(base, href),
            None => id.as_deref().and_then(absolute_http),
        };
        match url {
            Some(url) => out.push(FeedEntry { url, id, updated, inline: false }),
            None => tracing::debug!(entry_id = ?id, "index entry without an http(s) link skipped"),
        }
    }
    out
}

fn rss<'a, 'i: 'a>(items: impl Iterator<Item = Node<'a, 'i>>, base: &Url) -> Vec<FeedEntry> {
    let mut out = Vec::new();
    for item in items.filter(|n| n.has_tag_name_local("item")).take(MAX_INDEX_ENTRIES) {
        let guid = child(item, "guid");
        let id = child_text(item, "guid");
        let updated = child_text(item, "pubDate").or_else(|| child_text(item, "date")).and_then(|t| time(&t));
        let enclosure = item
            .children()
            .filter(|n| n.has_tag_name_local("enclosure"))
            .find(|n| n.attribute("type").is_some_and(is_cap_type))
            .and_then(|n| n.attribute("url"))
            .and_then(|u| resolve(base, u.trim()));
        let permalink = guid.is_some_and(|g| g.attribute("isPermaLink").is_none_or(|p| p.trim() != "false"));
        let url = enclosure
            .or_else(|| child_text(item, "link").and_then(|l| resolve(base, &l)))
            .or_else(|| id.as_deref().filter(|_| permalink).and_then(absolute_http));
        match url {
            Some(url) => out.push(FeedEntry { url, id, updated, inline: false }),
            None => tracing::debug!(entry_id = ?id, "index item without an http(s) link skipped"),
        }
    }
    out
}

fn cap_entry(alert: Node, base: &Url) -> FeedEntry {
    let sent = child_text(alert, "sent");
    let id = match (child_text(alert, "sender"), child_text(alert, "identifier"), &sent) {
        (Some(sender), Some(identifier), Some(sent)) => Some(format!("{sender},{identifier},{sent}")),
        _ => None,
    };
    FeedEntry { url: base.clone(), id, updated: sent.and_then(|t| time(&t)), inline: true }
}

trait LocalName {
    fn has_tag_name_local(&self, name: &str) -> bool;
}

impl LocalName for Node<'_, '_> {
    fn has_tag_name_local(&self, name: &str) -> bool {
        self.is_element() && self.tag_name().name() == name
    }
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| n.has_tag_name_local(name))
}

fn child_text(node: Node, name: &str) -> Option<String> {
    let c = child(node, name)?;
    let text: String = c.children().filter(|n| n.is_text()).filter_map(|n| n.text()).collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn is_cap_type(t: &str) -> bool {
    t.trim().to_ascii_lowercase().starts_with("application/cap+xml")
}

/// `href` resolved against the feed's URL; only http and https are kept.
pub(crate) fn resolve(base: &Url, href: &str) -> Option<Url> {
    let url = base.join(href.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

fn absolute_http(s: &str) -> Option<Url> {
    let url = Url::parse(s.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// RFC 3339 (Atom, CAP) or RFC 2822 (RSS); anything else is left out rather than refused.
fn time(s: &str) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc3339(s)
        .or_else(|_| chrono::DateTime::parse_from_rfc2822(s))
        .ok()
        .map(|t| Timestamp::from_datetime(&t))
}

/// A refusal of the shared decoding and pre-scan steps, as the feed's error.
fn feed_error(e: XmlError) -> FeedError {
    match e {
        XmlError::Malformed(m) => FeedError::Malformed(m),
        XmlError::Unsafe(m) => FeedError::Unsafe(m),
    }
}

fn xml_error(e: roxmltree::Error) -> FeedError {
    use roxmltree::Error as E;
    match e {
        E::DtdDetected => FeedError::Unsafe("a DOCTYPE (DTD) is refused".into()),
        E::UnknownEntityReference(name, pos) => FeedError::Unsafe(format!(
            "the entity &{}; at {pos} is refused: only the five predefined XML entities and character \
             references are accepted",
            name.chars().take(64).collect::<String>()
        )),
        E::EntityReferenceLoop(pos) => FeedError::Unsafe(format!("an entity reference loop at {pos} is refused")),
        E::NodesLimitReached => FeedError::Unsafe(format!("the index has more than {MAX_INDEX_NODES} XML nodes")),
        E::AttributesLimitReached | E::NamespacesLimitReached => {
            FeedError::Unsafe(format!("the index has too many attributes or namespaces: {e}"))
        }
        other => FeedError::Malformed(format!("malformed XML: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://feeds.example/cma/index.atom?region=cq").unwrap()
    }

    #[test]
    fn relative_urls_resolve_against_the_feed_url() {
        let b = base();
        assert_eq!(resolve(&b, "cap/1.xml").unwrap().as_str(), "https://feeds.example/cma/cap/1.xml");
        assert_eq!(resolve(&b, "/alerts/2.xml").unwrap().as_str(), "https://feeds.example/alerts/2.xml");
        assert_eq!(resolve(&b, "../3.xml").unwrap().as_str(), "https://feeds.example/3.xml");
        assert_eq!(resolve(&b, "//cdn.example/4.xml").unwrap().as_str(), "https://cdn.example/4.xml");
        assert_eq!(resolve(&b, "?id=5").unwrap().as_str(), "https://feeds.example/cma/index.atom?id=5");
        assert_eq!(resolve(&b, " http://other.example/6.xml ").unwrap().as_str(), "http://other.example/6.xml");
        assert_eq!(resolve(&b, "file:///etc/passwd"), None);
        assert_eq!(resolve(&b, "javascript:alert(1)"), None);
    }

    #[test]
    fn atom_prefers_the_cap_typed_link_then_alternate_then_the_id() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <entry>
    <id>urn:oid:2.49.0.1.156.1</id>
    <updated>2026-07-01T08:00:00+08:00</updated>
    <link rel="alternate" type="text/html" href="page/1.html"/>
    <link rel="related" type="application/cap+xml" href="cap/1.xml"/>
  </entry>
  <entry>
    <id>e2</id>
    <link rel="self" href="self/2"/>
    <link href="cap/2.xml"/>
  </entry>
  <entry><id>https://feeds.example/by-id/3.xml</id></entry>
  <entry><id>urn:no-link</id><link rel="self" href="x"/></entry>
  <entry><id>dup</id><link href="cap/2.xml"/></entry>
</feed>"#;
        let entries = parse_index(xml.as_bytes(), &base()).unwrap();
        let urls: Vec<&str> = entries.iter().map(|e| e.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://feeds.example/cma/cap/1.xml",
                "https://feeds.example/cma/cap/2.xml",
                "https://feeds.example/by-id/3.xml"
            ]
        );
        assert_eq!(entries[0].id.as_deref(), Some("urn:oid:2.49.0.1.156.1"));
        assert_eq!(entries[0].updated, Some(Timestamp(1_782_864_000_000)));
        assert_eq!(entries[1].updated, None);
        assert!(entries.iter().all(|e| !e.inline));
    }

    #[test]
    fn rss_reads_enclosure_link_and_permalink_guid() {
        let xml = r#"<rss version="2.0"><channel><title>t</title>
  <item><guid isPermaLink="false">a</guid><link>https://x.example/a.html</link>
        <enclosure url="/cap/a.xml" type="application/cap+xml" length="1"/>
        <pubDate>Wed, 01 Jul 2026 00:00:00 GMT</pubDate></item>
  <item><link> cap/b.xml </link></item>
  <item><guid>https://x.example/c.xml</guid></item>
  <item><guid isPermaLink="false">https://x.example/d.xml</guid></item>
</channel></rss>"#;
        let entries = parse_index(xml.as_bytes(), &base()).unwrap();
        let urls: Vec<&str> = entries.iter().map(|e| e.url.as_str()).collect();
        assert_eq!(
            urls,
            ["https://feeds.example/cap/a.xml", "https://feeds.example/cma/cap/b.xml", "https://x.example/c.xml"]
        );
        assert_eq!(entries[0].id.as_deref(), Some("a"));
        assert_eq!(entries[0].updated, Some(Timestamp(1_782_864_000_000)));
    }

    #[test]
    fn the_nws_sample_index_gives_its_links() {
        let xml = include_bytes!("../tests/fixtures/nws-atom-index-cap1.1.atom");
        let entries = parse_index(xml, &Url::parse("http://www.weather.gov/alerts-beta/us.php?x=0").unwrap()).unwrap();
        assert!(!entries.is_empty());
        assert!(entries[0].url.as_str().starts_with("http://www.weather.gov/alerts-beta/wwacapget.php?x=CT2010"));
        assert!(entries.iter().all(|e| e.id.is_some() && e.updated.is_some()));
    }

    #[test]
    fn a_cap_document_is_its_own_single_entry() {
        let xml = r#"<?xml version="1.0"?><cap:alert xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2">
  <cap:identifier>ID-1</cap:identifier><cap:sender>s@example</cap:sender>
  <cap:sent>2026-07-01T08:00:00+08:00</cap:sent></cap:alert>"#;
        let entries = parse_index(xml.as_bytes(), &base()).unwrap();
        assert_eq!(entries.len(), 1);
        assert!(entries[0].inline);
        assert_eq!(entries[0].url, base());
        assert_eq!(entries[0].id.as_deref(), Some("s@example,ID-1,2026-07-01T08:00:00+08:00"));
        assert!(entries[0].key().ends_with("#s@example,ID-1,2026-07-01T08:00:00+08:00"));
    }

    #[test]
    fn declared_legacy_encodings_are_transcoded() {
        let mut xml = b"<?xml version='1.0' encoding='GB18030'?><rss><channel><item><guid>".to_vec();
        xml.extend_from_slice(&encoding_rs::GB18030.encode("预警").0);
        xml.extend_from_slice(b"</guid><link>a.xml</link></item></channel></rss>");
        let entries = parse_index(&xml, &base()).unwrap();
        assert_eq!(entries[0].id.as_deref(), Some("预警"));
    }

    #[test]
    fn hostile_and_broken_input_is_refused_with_a_reason() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"<?xml version='1.0'?><!DOCTYPE feed [<!ENTITY a 'x'>]><feed>&a;</feed>".to_vec(), "unsafe feed"),
            (b"<feed><entry><id>&xxe;</id></entry></feed>".to_vec(), "entity &xxe;"),
            (format!("<feed>{}", "<a>".repeat(200_000)).into_bytes(), "nested more than"),
            (vec![b' '; MAX_INDEX_BYTES + 1], "too large"),
            (b"<feed><entry></feed>".to_vec(), "malformed"),
            (b"\xff\xfe\xfd".to_vec(), "malformed"),
            (b"<html><body/></html>".to_vec(), "root element is <html>"),
            (b"".to_vec(), "malformed"),
        ];
        for (bytes, want) in cases {
            let err = parse_index(&bytes, &base()).unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
    }
}
