//! Walks the XML tree into a [`CapAlert`], by element local name within the document's CAP
//! namespace (any prefix). Elements of other namespaces (XInclude, schema hints, extensions) are
//! ignored, never processed; unknown elements of the CAP namespace are ignored too. Every problem
//! found is collected, with the path of its element (`alert.info[0].area[1].polygon[0]`), and
//! reported together.

use chrono::{DateTime, FixedOffset};
use roxmltree::Node;

use super::model::*;
use super::validate::{check_id, parse_circle, parse_polygon, parse_reference, parse_time};
use crate::IngestError;

/// At most this many problems are listed in one error message.
const MAX_PROBLEMS: usize = 20;

#[derive(Default)]
pub(crate) struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, path: &str, msg: impl std::fmt::Display) {
        if self.0.len() < MAX_PROBLEMS {
            self.0.push(format!("{path}: {msg}"));
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn into_error(self) -> IngestError {
        if self.0.is_empty() {
            IngestError::Invalid("the CAP alert is invalid".into())
        } else {
            IngestError::Invalid(self.0.join("; "))
        }
    }
}

/// The CAP-namespace element children of one element, with that element's path.
struct Kids<'a, 'i> {
    path: String,
    nodes: Vec<Node<'a, 'i>>,
}

impl<'a, 'i> Kids<'a, 'i> {
    fn of(node: Node<'a, 'i>, ns: &str, path: String) -> Self {
        let nodes = node.children().filter(|c| c.is_element() && c.tag_name().namespace() == Some(ns)).collect();
        Kids { path, nodes }
    }

    fn path(&self, name: &str) -> String {
        format!("{}.{name}", self.path)
    }

    fn indexed(&self, name: &str, i: usize) -> String {
        format!("{}.{name}[{i}]", self.path)
    }

    fn all(&self, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> + '_ {
        self.nodes.iter().copied().filter(move |n| n.tag_name().name() == name)
    }

    /// The one element of that name; a second one is a problem (which would win is unclear).
    fn single(&self, name: &'static str, p: &mut Problems) -> Option<Node<'a, 'i>> {
        let mut it = self.all(name);
        let first = it.next();
        if it.next().is_some() {
            p.add(&self.path(name), "appears more than once");
        }
        first
    }

    /// The trimmed text of an optional element; empty is absent.
    fn text(&self, name: &'static str, p: &mut Problems) -> Option<String> {
        self.single(name, p).and_then(|n| text_of(n, || self.path(name), p))
    }

    /// The text of a required element; absent or empty is a problem.
    fn required(&self, name: &'static str, p: &mut Problems) -> Option<String> {
        let t = self.text(name, p);
        if t.is_none() {
            p.add(&self.path(name), "is required and missing or empty");
        }
        t
    }

    /// The non-empty texts of a repeatable element, with their indices.
    fn texts(&self, name: &'static str, p: &mut Problems) -> Vec<(usize, String)> {
        self.all(name)
            .enumerate()
            .filter_map(|(i, n)| text_of(n, || self.indexed(name, i), p).map(|t| (i, t)))
            .collect()
    }

    fn time(&self, name: &'static str, p: &mut Problems) -> Option<DateTime<FixedOffset>> {
        let t = self.text(name, p)?;
        parse_time(&t).map_err(|e| p.add(&self.path(name), e)).ok()
    }

    fn number(&self, name: &'static str, p: &mut Problems) -> Option<f64> {
        let t = self.text(name, p)?;
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() => Some(v),
            _ => {
                p.add(&self.path(name), format!("{t:?} is not a number"));
                None
            }
        }
    }

    /// A required enumeration, read by `read` (which ignores ASCII case).
    fn enumeration<T>(
        &self,
        name: &'static str,
        read: impl Fn(&str) -> Option<T>,
        allowed: &str,
        p: &mut Problems,
    ) -> Option<T> {
        let Some(t) = self.text(name, p) else {
            p.add(&self.path(name), format!("is required (one of {allowed}) and missing or empty"));
            return None;
        };
        let v = read(&t);
        if v.is_none() {
            p.add(&self.path(name), format!("{t:?} is not one of {allowed}"));
        }
        v
    }

    fn enumerations<T>(
        &self,
        name: &'static str,
        read: impl Fn(&str) -> Option<T>,
        allowed: &str,
        p: &mut Problems,
    ) -> Vec<T> {
        self.texts(name, p)
            .into_iter()
            .filter_map(|(i, t)| {
                let v = read(&t);
                if v.is_none() {
                    p.add(&self.indexed(name, i), format!("{t:?} is not one of {allowed}"));
                }
                v
            })
            .collect()
    }

    fn pairs(&self, name: &'static str, ns: &str, p: &mut Problems) -> Vec<ValuePair> {
        self.all(name)
            .enumerate()
            .filter_map(|(i, n)| {
                let kids = Kids::of(n, ns, self.indexed(name, i));
                let value_name = kids.required("valueName", p);
                let value = kids.text("value", p).unwrap_or_default();
                value_name.map(|value_name| ValuePair { value_name, value })
            })
            .collect()
    }
}

/// The text of an element that must hold text only: trimmed, `None` when empty.
fn text_of(n: Node, path: impl FnOnce() -> String, p: &mut Problems) -> Option<String> {
    // The path is built only when there is a problem to report: building it for every element
    // was a large share of the parse.
    if n.children().any(|c| c.is_element()) {
        p.add(&path(), "must hold text, not elements");
        return None;
    }
    let mut texts = n.children().filter(|c| c.is_text()).filter_map(|c| c.text());
    let first = texts.next().unwrap_or("");
    let t = match texts.next() {
        // The common case, one text node: trimmed and copied once.
        None => first.trim().to_string(),
        Some(second) => {
            let mut all = String::from(first);
            all.push_str(second);
            texts.for_each(|t| all.push_str(t));
            all.trim().to_string()
        }
    };
    (!t.is_empty()).then_some(t)
}

/// The whole document: the root must be `<alert>` in the CAP 1.2 or 1.1 namespace.
pub(crate) fn alert(doc: &roxmltree::Document, text: &str) -> Result<CapAlert, IngestError> {
    let root = doc.root_element();
    let ns = root.tag_name().namespace().unwrap_or("");
    let version = match (root.tag_name().name(), CapVersion::from_namespace(ns)) {
        ("alert", Some(v)) => v,
        (name, _) => {
            let shown = if ns.is_empty() { "no namespace".to_string() } else { format!("namespace {ns}") };
            return Err(IngestError::Invalid(format!(
                "not a CAP alert: the root element is <{name}> in {shown}; expected <alert> in {CAP_1_2_NS} \
                 (or {CAP_1_1_NS})"
            )));
        }
    };
    let ns = version.namespace();
    let mut p = Problems::default();
    let k = Kids::of(root, ns, "alert".into());

    let identifier = k.required("identifier", &mut p);
    let sender = k.required("sender", &mut p);
    for (name, v) in [("identifier", &identifier), ("sender", &sender)] {
        if let Some(Err(e)) = v.as_deref().map(check_id) {
            p.add(&k.path(name), e);
        }
    }
    let sent = k.required("sent", &mut p).and_then(|t| parse_time(&t).map_err(|e| p.add("alert.sent", e)).ok());
    let status = k.enumeration("status", status_from_cap, "Actual, Exercise, System, Test, Draft", &mut p);
    let msg_type = k.enumeration("msgType", msg_type_from_cap, "Alert, Update, Cancel, Ack, Error", &mut p);
    let scope = k.enumeration("scope", Scope::from_cap, &Scope::allowed(), &mut p);
    let source = k.text("source", &mut p);
    let restriction = k.text("restriction", &mut p);
    let addresses = k.text("addresses", &mut p);
    let codes = k.texts("code", &mut p).into_iter().map(|(_, t)| t).collect();
    let note = k.text("note", &mut p);
    let mut references = Vec::new();
    for triple in k.text("references", &mut p).unwrap_or_default().split_whitespace() {
        match parse_reference(triple) {
            Ok(r) => references.push(r),
            Err(e) => p.add("alert.references", e),
        }
    }
    let incidents = k.text("incidents", &mut p).map(|t| t.split_whitespace().map(String::from).collect());
    let infos: Vec<Option<CapInfo>> =
        k.all("info").enumerate().map(|(i, n)| info(n, version, k.indexed("info", i), &mut p)).collect();
    let signature = root
        .children()
        .find(|c| c.is_element() && c.tag_name().name() == "Signature" && c.tag_name().namespace() == Some(XMLDSIG_NS))
        .map(|n| text[n.range()].to_string());

    let (Some(identifier), Some(sender), Some(sent), Some(status), Some(msg_type), Some(scope)) =
        (identifier, sender, sent, status, msg_type, scope)
    else {
        return Err(p.into_error());
    };
    let alert = CapAlert {
        version,
        identifier,
        sender,
        sent,
        status,
        msg_type,
        source,
        scope,
        restriction,
        addresses,
        codes,
        note,
        references,
        incidents: incidents.unwrap_or_default(),
        infos: infos.into_iter().flatten().collect(),
        signature,
    };
    if matches!(msg_type, jiaoying_core::MsgType::Update | jiaoying_core::MsgType::Cancel)
        && alert.references_to_others().is_empty()
    {
        let why = if alert.references.is_empty() { "none is given" } else { "it names only this message itself" };
        p.add(
            "alert.references",
            format!("an {msg_type:?} must name the message(s) it changes as sender,identifier,sent; {why}"),
        );
    }
    if p.is_empty() {
        Ok(alert)
    } else {
        Err(p.into_error())
    }
}

fn info(n: Node, version: CapVersion, path: String, p: &mut Problems) -> Option<CapInfo> {
    let ns = version.namespace();
    let k = Kids::of(n, ns, path);
    let language = k.text("language", p).unwrap_or_else(|| "en-US".to_string());
    let before = p.0.len();
    let categories = k.enumerations("category", Category::from_cap, &Category::allowed(), p);
    if categories.is_empty() && p.0.len() == before {
        p.add(
            &k.path("category"),
            format!("is required (at least one of {}) and missing or empty", Category::allowed()),
        );
    }
    let event = k.required("event", p);
    let response_types = k.enumerations("responseType", ResponseType::from_cap, &ResponseType::allowed(), p);
    let urgency = k.enumeration("urgency", Urgency::from_cap, &Urgency::allowed(), p);
    let severity = k.enumeration("severity", Severity::from_cap, &Severity::allowed(), p);
    let certainty = k.enumeration("certainty", Certainty::from_cap_lenient, &Certainty::allowed(), p);
    let audience = k.text("audience", p);
    let event_codes = k.pairs("eventCode", ns, p);
    let effective = k.time("effective", p);
    let onset = k.time("onset", p);
    let expires = k.time("expires", p);
    let sender_name = k.text("senderName", p);
    let headline = k.text("headline", p);
    let description = k.text("description", p);
    let instruction = k.text("instruction", p);
    let web = k.text("web", p);
    let contact = k.text("contact", p);
    let parameters = k.pairs("parameter", ns, p);
    let resources: Vec<_> =
        k.all("resource").enumerate().filter_map(|(i, r)| resource(r, version, k.indexed("resource", i), p)).collect();
    let areas: Vec<_> = k.all("area").enumerate().filter_map(|(i, a)| area(a, ns, k.indexed("area", i), p)).collect();
    Some(CapInfo {
        language,
        categories,
        event: event?,
        response_types,
        urgency: urgency?,
        severity: severity?,
        certainty: certainty?,
        audience,
        event_codes,
        effective,
        onset,
        expires,
        sender_name,
        headline,
        description,
        instruction,
        web,
        contact,
        parameters,
        resources,
        areas,
    })
}

fn resource(n: Node, version: CapVersion, path: String, p: &mut Problems) -> Option<CapResource> {
    let k = Kids::of(n, version.namespace(), path);
    let resource_desc = k.required("resourceDesc", p);
    let mime_type = match version {
        CapVersion::V1_2 => k.required("mimeType", p),
        CapVersion::V1_1 => k.text("mimeType", p),
    };
    let size = k.text("size", p).and_then(|s| {
        s.parse::<u64>().map_err(|_| p.add(&k.path("size"), format!("{s:?} is not a whole number of bytes"))).ok()
    });
    Some(CapResource {
        resource_desc: resource_desc?,
        mime_type,
        size,
        uri: k.text("uri", p),
        deref_uri: k.text("derefUri", p),
        digest: k.text("digest", p),
    })
}

fn area(n: Node, ns: &str, path: String, p: &mut Problems) -> Option<CapArea> {
    let k = Kids::of(n, ns, path);
    let area_desc = k.required("areaDesc", p);
    // An empty <polygon/> or <circle/> is absent, as real feeds mean it.
    let polygons = k
        .texts("polygon", p)
        .into_iter()
        .filter_map(|(i, t)| parse_polygon(&t).map_err(|e| p.add(&k.indexed("polygon", i), e)).ok())
        .collect();
    let circles = k
        .texts("circle", p)
        .into_iter()
        .filter_map(|(i, t)| parse_circle(&t).map_err(|e| p.add(&k.indexed("circle", i), e)).ok())
        .collect();
    let geocodes = k.pairs("geocode", ns, p);
    let altitude = k.number("altitude", p);
    let ceiling = k.number("ceiling", p);
    Some(CapArea { area_desc: area_desc?, polygons, circles, geocodes, altitude, ceiling })
}
