//! Message templates: the words of calls, e-mails, notices and SMS replies, in Chinese and
//! English, from a TOML file users can edit (`config/templates.toml` holds the defaults, which
//! are also built in). Templates are compiled and checked once, at start: a bad one is a config
//! error naming its file and line. SMS texts are fitted to `max_segments` by shortening their
//! free texts; the reply code and the link are never cut (see `jiaoying_core::segments`).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use jiaoying_core::directive::Measure;
use jiaoying_core::message::{
    AlertText, CallReason, CallText, Language, Notice, NoticeText, Recipient, Reply, ReplyVars, Vars,
};
use jiaoying_core::segments::{self, FitError, Free};
use jiaoying_core::Tier;
use minijinja::{Environment, UndefinedBehavior, Value};
use toml_edit::{ImDocument, Item, TableLike};

/// The defaults, which are also the documentation users edit from.
const BUILTIN_SOURCE: &str = include_str!("../../../config/templates.toml");
const BUILTIN_FILE: &str = "built-in templates (config/templates.toml)";

/// The default number of segments an SMS may take.
pub const DEFAULT_MAX_SEGMENTS: usize = 2;
/// More than this many segments is a config mistake, not a message.
pub const MAX_SEGMENTS_LIMIT: usize = 10;

/// The purposes that are about an alert, and may be overridden per tier and event.
pub const ALERT_PURPOSES: [&str; 4] = ["call", "email_subject", "email_body", "notice"];
const TIER_KEYS: [&str; 5] = ["red", "orange", "yellow", "blue", "any"];

/// A link as long as the service makes them, to check templates against the SMS budget.
const SAMPLE_LINK: &str = "http://127.0.0.1:8080/a/123456.1kx3bz.AbCdEfGhIjKlMnOp";
const SAMPLE_CODE: &str = "4821";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("reading the templates file {file}: {message}")]
    Read { file: String, message: String },
    #[error("{file}: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}:{line}: template {template}: {message}")]
    Template { file: String, line: usize, template: String, message: String },
    #[error("messages.max_segments must be between 1 and {MAX_SEGMENTS_LIMIT}, not {0}")]
    Budget(usize),
}

impl TemplateError {
    /// The line of the file the error is on, when it is about one template.
    pub fn line(&self) -> Option<usize> {
        match self {
            TemplateError::Template { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// One template as written: where, and its text.
#[derive(Debug, Clone)]
struct Entry {
    /// `zh.red.暴雨.call`, as users read it.
    display: String,
    file: Arc<str>,
    source: String,
    /// The file line of each byte of `source` (one more for its end); empty when the literal
    /// could not be mapped, and then every error points at `first_line`.
    lines: Vec<usize>,
    first_line: usize,
}

impl Entry {
    /// The file line of a byte offset of the template.
    fn line_at(&self, offset: usize) -> usize {
        self.lines.get(offset.min(self.lines.len().saturating_sub(1))).copied().unwrap_or(self.first_line)
    }

    /// The file line of a line (1-based) of the template.
    fn line_of_template_line(&self, line: usize) -> usize {
        let offset = if line <= 1 {
            0
        } else {
            self.source.match_indices('\n').nth(line - 2).map_or(self.source.len(), |(i, _)| i + 1)
        };
        if self.lines.is_empty() {
            self.first_line + line.saturating_sub(1)
        } else {
            self.line_at(offset)
        }
    }

    fn error(&self, line: usize, message: impl Into<String>) -> TemplateError {
        TemplateError::Template {
            file: self.file.to_string(),
            line,
            template: self.display.clone(),
            message: message.into(),
        }
    }

    fn jinja_error(&self, e: &minijinja::Error) -> TemplateError {
        let line = match (e.range(), e.line()) {
            (Some(r), _) if !self.lines.is_empty() => self.line_at(r.start),
            (_, Some(l)) => self.line_of_template_line(l),
            _ => self.first_line,
        };
        let message = match e.detail() {
            Some(d) => format!("{}: {d}", e.kind()),
            None => e.kind().to_string(),
        };
        self.error(line, message)
    }
}

/// The internal name of a template: language, optional tier (or `any`) and event, purpose.
/// `\u{1f}` cannot occur in TOML keys users type, so names never collide.
fn key(lang: &str, tier: Option<&str>, event: Option<&str>, purpose: &str) -> String {
    let mut k = String::from(lang);
    for part in [tier, event].into_iter().flatten() {
        k.push('\u{1f}');
        k.push_str(part);
    }
    k.push('\u{1f}');
    k.push_str(purpose);
    k
}

/// Line starts of a file, for turning byte offsets into lines.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> Self {
        LineIndex(std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect())
    }
    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

/// Decodes a TOML string literal at `span` of `file` the way TOML does, recording the source
/// offset of every decoded byte, so that a template error points at its line in the file.
fn decode_literal(file: &str, span: Range<usize>) -> Option<(String, Vec<usize>)> {
    let raw = file.get(span.clone())?;
    let (delim, multi, basic) = if raw.starts_with("\"\"\"") {
        (3, true, true)
    } else if raw.starts_with("'''") {
        (3, true, false)
    } else if raw.starts_with('"') {
        (1, false, true)
    } else if raw.starts_with('\'') {
        (1, false, false)
    } else {
        return None;
    };
    if raw.len() < 2 * delim {
        return None;
    }
    let (mut i, end) = (span.start + delim, span.end - delim);
    if multi {
        if file[i..end].starts_with("\r\n") {
            i += 2;
        } else if file[i..end].starts_with('\n') {
            i += 1;
        }
    }
    let (mut out, mut map) = (String::new(), Vec::new());
    let mut push = |out: &mut String, c: char, at: usize| {
        out.push(c);
        map.extend(std::iter::repeat_n(at, c.len_utf8()));
    };
    while i < end {
        let c = file.get(i..end)?.chars().next()?;
        if !(basic && c == '\\') {
            push(&mut out, c, i);
            i += c.len_utf8();
            continue;
        }
        let rest = file.get(i + 1..end)?;
        let simple = match rest.chars().next()? {
            'b' => Some('\u{8}'),
            't' => Some('\t'),
            'n' => Some('\n'),
            'f' => Some('\u{c}'),
            'r' => Some('\r'),
            'e' => Some('\u{1b}'),
            '"' => Some('"'),
            '\\' => Some('\\'),
            _ => None,
        };
        if let Some(c) = simple {
            push(&mut out, c, i);
            i += 2;
            continue;
        }
        let hex = |n: usize| rest.get(1..1 + n).and_then(|h| u32::from_str_radix(h, 16).ok()).and_then(char::from_u32);
        match rest.chars().next()? {
            'u' => {
                push(&mut out, hex(4)?, i);
                i += 6;
            }
            'U' => {
                push(&mut out, hex(8)?, i);
                i += 10;
            }
            // A line-ending backslash: the newline and all whitespace after it are dropped.
            _ if multi && rest.trim_start_matches([' ', '\t']).starts_with(['\n', '\r']) => {
                let skipped = rest.len() - rest.trim_start_matches([' ', '\t', '\n', '\r']).len();
                i += 1 + skipped;
            }
            _ => return None,
        }
    }
    map.push(end);
    Some((out, map))
}

/// Reads a templates file into entries keyed by internal name, over those already there.
fn parse_file(file: &str, text: &str, out: &mut BTreeMap<String, Entry>) -> Result<(), TemplateError> {
    let doc = ImDocument::parse(text)
        .map_err(|e| TemplateError::Syntax { file: file.to_string(), message: e.to_string().trim_end().to_string() })?;
    let mut reader = Reader { file: Arc::from(file), text, index: LineIndex::new(text), out };
    let root: &dyn TableLike = doc.as_table();
    for (lang, item) in root.iter() {
        let display = lang.to_string();
        let at = reader.key_span(root, lang);
        let Some(table) = item.as_table_like() else {
            return Err(reader.problem(at, &display, format!("[{lang}] must be a table of templates")));
        };
        if Language::parse(lang).is_none() {
            return Err(reader.problem(at, &display, format!("unknown language {lang:?}: use zh or en")));
        }
        reader.language(lang, table)?;
    }
    Ok(())
}

/// Walks the tables of one file: language → purposes and tiers → purposes and events → purposes.
struct Reader<'a> {
    file: Arc<str>,
    text: &'a str,
    index: LineIndex,
    out: &'a mut BTreeMap<String, Entry>,
}

impl Reader<'_> {
    fn key_span(&self, table: &dyn TableLike, key: &str) -> Option<Range<usize>> {
        table.get_key_value(key).and_then(|(k, _)| k.span())
    }

    fn problem(&self, span: Option<Range<usize>>, display: &str, message: String) -> TemplateError {
        TemplateError::Template {
            file: self.file.to_string(),
            line: span.map_or(0, |s| self.index.line(s.start)),
            template: display.to_string(),
            message,
        }
    }

    /// Records the template `item` (which must be a string) as `name`.
    fn add(&mut self, display: String, name: String, item: &Item) -> Result<(), TemplateError> {
        let Some(source) = item.as_str() else {
            return Err(self.problem(item.span(), &display, "a template must be a string".into()));
        };
        let span = item.span().unwrap_or(0..0);
        let first_line = self.index.line(span.start);
        // The line of every byte, when the literal decodes here exactly as TOML decoded it.
        let lines = match decode_literal(self.text, span) {
            Some((decoded, map)) if decoded == source => map.into_iter().map(|o| self.index.line(o)).collect(),
            _ => Vec::new(),
        };
        let entry = Entry { display, file: self.file.clone(), source: source.to_string(), lines, first_line };
        self.out.insert(name, entry);
        Ok(())
    }

    fn language(&mut self, lang: &str, table: &dyn TableLike) -> Result<(), TemplateError> {
        let all = ALERT_PURPOSES.iter().chain(Reply::PURPOSES.iter()).copied().collect::<Vec<_>>().join(", ");
        for (k, item) in table.iter() {
            let display = format!("{lang}.{k}");
            match item.as_table_like() {
                None if ALERT_PURPOSES.contains(&k) || Reply::PURPOSES.contains(&k) => {
                    self.add(display, key(lang, None, None, k), item)?
                }
                None => {
                    let at = self.key_span(table, k);
                    return Err(self.problem(at, &display, format!("unknown purpose {k:?}: the purposes are {all}")));
                }
                Some(_) if !TIER_KEYS.contains(&k) => {
                    let at = self.key_span(table, k);
                    let message = format!("unknown tier {k:?}: use red, orange, yellow, blue or any");
                    return Err(self.problem(at, &display, message));
                }
                Some(tier_table) => self.tier(lang, k, tier_table)?,
            }
        }
        Ok(())
    }

    fn tier(&mut self, lang: &str, tier: &str, table: &dyn TableLike) -> Result<(), TemplateError> {
        for (k, item) in table.iter() {
            let display = format!("{lang}.{tier}.{k}");
            match item.as_table_like() {
                None if ALERT_PURPOSES.contains(&k) => self.add(display, key(lang, Some(tier), None, k), item)?,
                None => {
                    let at = self.key_span(table, k);
                    let message = format!("a tier table takes {} or event tables", ALERT_PURPOSES.join(", "));
                    return Err(self.problem(at, &display, message));
                }
                Some(event_table) => {
                    for (p, item) in event_table.iter() {
                        let display = format!("{lang}.{tier}.{k}.{p}");
                        if !ALERT_PURPOSES.contains(&p) || item.as_table_like().is_some() {
                            let at = self.key_span(event_table, p);
                            let message = format!("an event table takes {}", ALERT_PURPOSES.join(", "));
                            return Err(self.problem(at, &display, message));
                        }
                        self.add(display, key(lang, Some(tier), Some(k), p), item)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Compiled templates: the built-in ones with a file's over them.
struct Library {
    env: Environment<'static>,
    entries: BTreeMap<String, Entry>,
}

impl Library {
    fn compile(entries: BTreeMap<String, Entry>) -> Result<Library, TemplateError> {
        let mut env = Environment::new();
        // Every variable is always given; a name that is not one is a typo to report.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        for (name, entry) in &entries {
            env.add_template_owned(name.clone(), entry.source.clone()).map_err(|e| entry.jinja_error(&e))?;
        }
        Ok(Library { env, entries })
    }

    fn has(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// The most specific template of `purpose`: tier+event, any+event, tier, the language's.
    fn find(&self, lang: Language, purpose: &str, tier: Option<Tier>, event: Option<&str>) -> Option<String> {
        let lang = lang.as_str();
        let mut candidates = Vec::with_capacity(4);
        if let (Some(tier), Some(event)) = (tier, event) {
            candidates.push(key(lang, Some(tier.as_str()), Some(event), purpose));
            candidates.push(key(lang, Some("any"), Some(event), purpose));
        }
        if let Some(tier) = tier {
            candidates.push(key(lang, Some(tier.as_str()), None, purpose));
        }
        candidates.push(key(lang, None, None, purpose));
        candidates.into_iter().find(|k| self.has(k))
    }

    fn render<S: serde::Serialize>(&self, name: &str, vars: &S) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(Value::from_serialize(vars))
    }

    /// Checks every template once, with sample values: unknown variables, errors when rendered,
    /// a call text without its code or link, a call SMS over budget even without free text.
    fn check(&self, language: Language, max_segments: usize) -> Result<(), TemplateError> {
        let alert_vars = variable_names(&Vars::call(&sample_call(CallReason::First, None, false, ""), language));
        let reply_vars = variable_names(&ReplyVars::new("街道", &Reply::NoOpenCall, language));
        let globals: HashSet<String> = self.env.globals().map(|(n, _)| n.to_string()).collect();
        for (name, entry) in &self.entries {
            let purpose = name.rsplit('\u{1f}').next().unwrap_or_default();
            let lang = name.split('\u{1f}').next().and_then(Language::parse).unwrap_or_default();
            let is_reply = purpose.starts_with("reply_");
            let known = if is_reply { &reply_vars } else { &alert_vars };
            let template = self.env.get_template(name).map_err(|e| entry.jinja_error(&e))?;
            let mut unknown: Vec<String> = template
                .undeclared_variables(false)
                .into_iter()
                .filter(|v| !known.contains(v) && !globals.contains(v))
                .collect();
            unknown.sort();
            if let Some(v) = unknown.first() {
                let line = find_word(&entry.source, v).map_or(entry.first_line, |at| entry.line_at(at));
                let list = known.iter().cloned().collect::<Vec<_>>().join(", ");
                return Err(entry.error(line, format!("unknown variable {v:?}; the variables are {list}")));
            }
            if is_reply {
                for reply in sample_replies() {
                    self.render(name, &ReplyVars::new("街道", &reply, lang)).map_err(|e| entry.jinja_error(&e))?;
                }
                continue;
            }
            for c in sample_calls() {
                let text = self.render(name, &Vars::call(&c, lang)).map_err(|e| entry.jinja_error(&e))?;
                let lacks = |s: &str| !text.contains(s);
                match purpose {
                    "call" if lacks(SAMPLE_CODE) || lacks(SAMPLE_LINK) => {
                        return Err(entry.error(
                            entry.first_line,
                            "a call must show the reply code and the link: {{ code }} and {{ link }}",
                        ))
                    }
                    "email_body" if lacks(SAMPLE_LINK) => {
                        return Err(entry.error(entry.first_line, "a call e-mail must show the link: {{ link }}"))
                    }
                    _ => {}
                }
            }
            for n in sample_notices() {
                self.render(name, &Vars::notice(&n, lang)).map_err(|e| entry.jinja_error(&e))?;
            }
            if purpose == "call" && lang == language {
                let plain = Vars::call(&sample_call(CallReason::First, None, false, ""), lang);
                let text = self.render(name, &plain).map_err(|e| entry.jinja_error(&e))?;
                let s = segments::count(&text);
                if s.count > max_segments {
                    return Err(entry.error(
                        entry.first_line,
                        format!(
                            "even with no headline a call takes {} SMS segments ({} characters), more than \
                             messages.max_segments = {max_segments}: shorten the template or allow more segments",
                            s.count, s.units
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn variable_names<S: serde::Serialize>(vars: &S) -> BTreeSet<String> {
    let v = Value::from_serialize(vars);
    v.try_iter().map(|keys| keys.map(|k| k.to_string()).collect()).unwrap_or_default()
}

/// The byte offset of `word` standing alone in `source` (not part of a longer name).
fn find_word(source: &str, word: &str) -> Option<usize> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    source.match_indices(word).map(|(i, _)| i).find(|&i| {
        !source[..i].chars().next_back().is_some_and(ident)
            && !source[i + word.len()..].chars().next().is_some_and(ident)
    })
}

fn sample_alert(drill: bool, headline: &'static str) -> AlertText<'static> {
    AlertText {
        event: "暴雨",
        tier: Tier::Red,
        headline,
        description: "过去3小时降雨量已达100毫米以上",
        instruction: "停止户外作业",
        drill,
        signature: "观音桥街道",
    }
}

const SAMPLE_RECIPIENT: Recipient<'static> = Recipient { name: "网格员乙", role: "grid", area: "500105002003" };

fn sample_call(
    reason: CallReason<'static>,
    directive: Option<(Measure, &'static str)>,
    drill: bool,
    headline: &'static str,
) -> CallText<'static> {
    CallText {
        alert: sample_alert(drill, headline),
        reason,
        code: SAMPLE_CODE,
        link: SAMPLE_LINK,
        directive,
        recipient: SAMPLE_RECIPIENT,
    }
}

/// Every branch a default template takes, so that each is rendered once at start.
fn sample_calls() -> Vec<CallText<'static>> {
    let reasons = [
        CallReason::First,
        CallReason::Repeat { attempt: 2 },
        CallReason::Raised,
        CallReason::Escalated { name: "网格员甲", role: "grid" },
    ];
    let mut out = Vec::new();
    for reason in reasons {
        for directive in [None, Some((Measure::Stop, "立即停止户外作业"))] {
            for drill in [false, true] {
                out.push(sample_call(reason, directive, drill, "江北区气象台发布暴雨红色预警"));
            }
        }
    }
    out
}

fn sample_notices() -> Vec<NoticeText<'static>> {
    [
        Notice::Raised,
        Notice::Updated,
        Notice::Lifted,
        Notice::Unanswered { name: "网格员甲", role: "grid" },
        Notice::Answered { name: "网格员甲" },
        Notice::DirectiveOverdue { unit: "某小学", measure: Measure::Stop, text: "立即停课" },
        Notice::Other("已更新"),
    ]
    .into_iter()
    .map(|notice| NoticeText {
        alert: sample_alert(false, "江北区气象台发布暴雨红色预警"),
        notice,
        recipient: SAMPLE_RECIPIENT,
    })
    .collect()
}

fn sample_replies() -> Vec<Reply<'static>> {
    static OPEN: OnceLock<Vec<(String, String)>> = OnceLock::new();
    let open = OPEN.get_or_init(|| vec![("1111".into(), "暴雨".into()), ("2222".into(), "地质灾害".into())]);
    vec![
        Reply::Answered { code: SAMPLE_CODE },
        Reply::AlreadyAnswered { code: SAMPLE_CODE, when: "07-01 08:05" },
        Reply::Closed { code: SAMPLE_CODE },
        Reply::Done { code: SAMPLE_CODE },
        Reply::AlreadyDone { code: SAMPLE_CODE },
        Reply::UnknownCode { code: SAMPLE_CODE },
        Reply::NotUnderstood,
        Reply::NoOpenCall,
        Reply::EscalatedNow,
        Reply::ChooseCode { open },
    ]
}

fn builtin_library() -> &'static Arc<Library> {
    static BUILTIN: OnceLock<Arc<Library>> = OnceLock::new();
    BUILTIN.get_or_init(|| {
        let mut entries = BTreeMap::new();
        parse_file(BUILTIN_FILE, BUILTIN_SOURCE, &mut entries).expect("the built-in templates parse");
        let lib = Library::compile(entries).expect("the built-in templates compile");
        lib.check(Language::Zh, DEFAULT_MAX_SEGMENTS).expect("the built-in templates are valid");
        Arc::new(lib)
    })
}

/// The templates in use, with the language and the SMS budget. Cheap to clone.
#[derive(Clone)]
pub struct Templates {
    lib: Arc<Library>,
    language: Language,
    max_segments: usize,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("language", &self.language)
            .field("max_segments", &self.max_segments)
            .field("templates", &self.lib.entries.len())
            .finish()
    }
}

impl Templates {
    /// The built-in templates, in Chinese, two segments an SMS.
    pub fn builtin() -> Templates {
        Templates { lib: builtin_library().clone(), language: Language::Zh, max_segments: DEFAULT_MAX_SEGMENTS }
    }

    /// The built-in templates with the file at `path` (if any) over them.
    pub fn load(path: Option<&Path>, language: Language, max_segments: usize) -> Result<Templates, TemplateError> {
        match path {
            None => Templates::from_source(None, language, max_segments),
            Some(p) => {
                let file = p.display().to_string();
                let text = std::fs::read_to_string(p)
                    .map_err(|e| TemplateError::Read { file: file.clone(), message: e.to_string() })?;
                Templates::from_source(Some((&file, &text)), language, max_segments)
            }
        }
    }

    /// As [`Templates::load`], from the text of a file named `file` (for messages).
    pub fn from_source(
        file: Option<(&str, &str)>,
        language: Language,
        max_segments: usize,
    ) -> Result<Templates, TemplateError> {
        if !(1..=MAX_SEGMENTS_LIMIT).contains(&max_segments) {
            return Err(TemplateError::Budget(max_segments));
        }
        let lib = match file {
            None => {
                let lib = builtin_library().clone();
                // Built-in templates are checked against two segments; a smaller budget is
                // checked here so that it fails at start, not on the first alert.
                lib.check(language, max_segments)?;
                lib
            }
            Some((name, text)) => {
                let mut entries = builtin_library().entries.clone();
                parse_file(name, text, &mut entries)?;
                let lib = Library::compile(entries)?;
                lib.check(language, max_segments)?;
                Arc::new(lib)
            }
        };
        Ok(Templates { lib, language, max_segments })
    }

    pub fn language(&self) -> Language {
        self.language
    }

    pub fn max_segments(&self) -> usize {
        self.max_segments
    }

    /// The internal name of the template used for `purpose` of an alert of `tier` and `event`,
    /// falling back tier+event → any+event → tier → default. Shown as written, e.g. `zh.red.call`.
    pub fn chosen(&self, purpose: &str, tier: Tier, event: &str) -> Option<String> {
        let name = self.lib.find(self.language, purpose, Some(tier), Some(event))?;
        self.lib.entries.get(&name).map(|e| e.display.clone())
    }

    /// Renders `purpose` with this library, or, should that fail at run time (it was checked at
    /// start, so only odd data can make it), with the built-in one: a message always goes out.
    fn render_or_builtin<S: serde::Serialize>(
        &self,
        purpose: &str,
        tier: Option<Tier>,
        event: Option<&str>,
        vars: &S,
    ) -> String {
        for lib in [&self.lib, builtin_library()] {
            let Some(name) = lib.find(self.language, purpose, tier, event) else { continue };
            match lib.render(&name, vars) {
                Ok(text) => return text,
                Err(e) => tracing::error!(template = %shown(lib, &name), "message template failed: {e:#}"),
            }
        }
        String::new()
    }

    /// Renders an SMS, fitted to the budget: free texts shortened, `must_keep` whole.
    fn render_sms<'v>(
        &self,
        purpose: &str,
        tier: Option<Tier>,
        event: Option<&str>,
        free: &[Free<'v>],
        must_keep: &[&str],
        vars: impl Fn(&[Cow<'_, str>]) -> Value,
    ) -> Option<String> {
        for lib in [&self.lib, builtin_library()] {
            let Some(name) = lib.find(self.language, purpose, tier, event) else { continue };
            let template = match lib.env.get_template(&name) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(template = %shown(lib, &name), "message template failed: {e:#}");
                    continue;
                }
            };
            match segments::fit(free, self.max_segments, must_keep, |f| template.render(vars(f))) {
                Ok(fitted) => {
                    if fitted.over_budget {
                        tracing::warn!(
                            template = %shown(lib, &name),
                            segments = fitted.segments.count,
                            max_segments = self.max_segments,
                            "an SMS is over its segment budget even with its free texts emptied; sent as it is"
                        );
                    }
                    return Some(fitted.text);
                }
                Err(FitError::Render(e)) => {
                    tracing::error!(template = %shown(lib, &name), "message template failed: {e:#}")
                }
                Err(FitError::Lost(what)) => {
                    tracing::error!(template = %shown(lib, &name), "message template dropped {what:?}")
                }
            }
        }
        None
    }

    /// The SMS text of a call: within the budget, with its reply code and link whole.
    pub fn sms_call(&self, c: &CallText<'_>) -> String {
        let vars = Vars::call(c, self.language);
        let free = vars.free();
        let text = self.render_sms("call", Some(c.alert.tier), Some(c.alert.event), &free, &[c.code, c.link], |f| {
            Value::from_serialize(vars.with_free(f))
        });
        // Only reached if even the built-in template failed: still a message that can be answered.
        text.unwrap_or_else(|| {
            format!(
                "{}【{}】{}{}预警。回复{}确认收到，或点击 {}",
                vars.drill, vars.signature, vars.tier_zh, vars.event, c.code, c.link
            )
        })
    }

    pub fn email_subject(&self, c: &CallText<'_>) -> String {
        let vars = Vars::call(c, self.language);
        self.render_or_builtin("email_subject", Some(c.alert.tier), Some(c.alert.event), &vars)
    }

    pub fn email_body(&self, c: &CallText<'_>) -> String {
        let vars = Vars::call(c, self.language);
        let body = self.render_or_builtin("email_body", Some(c.alert.tier), Some(c.alert.event), &vars);
        if body.contains(c.link) {
            body
        } else {
            format!("{body}\n\n{}\n", c.link)
        }
    }

    /// A notice as SMS (fitted to the budget).
    pub fn sms_notice(&self, n: &NoticeText<'_>) -> String {
        let vars = Vars::notice(n, self.language);
        let free = vars.free();
        self.render_sms("notice", Some(n.alert.tier), Some(n.alert.event), &free, &[], |f| {
            Value::from_serialize(vars.with_free(f))
        })
        .unwrap_or_default()
    }

    /// A notice as e-mail: not shortened.
    pub fn email_notice(&self, n: &NoticeText<'_>) -> String {
        let vars = Vars::notice(n, self.language);
        self.render_or_builtin("notice", Some(n.alert.tier), Some(n.alert.event), &vars)
    }

    /// The service's SMS answer to a reply (fitted to the budget).
    pub fn reply(&self, signature: &str, reply: &Reply<'_>) -> String {
        let vars = ReplyVars::new(signature, reply, self.language);
        let list = vars.list.clone();
        self.render_sms(reply.purpose(), None, None, &[Free::new(&list)], &[], |f| {
            Value::from_serialize(vars.with_list(f.first().cloned().unwrap_or_default()))
        })
        .unwrap_or_default()
    }
}

fn shown(lib: &Library, name: &str) -> String {
    lib.entries.get(name).map_or_else(|| name.replace('\u{1f}', "."), |e| format!("{} ({})", e.display, e.file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LINK: &str = "http://127.0.0.1:8080/a/123456.1kx3bz.AbCdEfGhIjKlMnOp";

    fn alert<'a>(headline: &'a str, description: &'a str, drill: bool) -> AlertText<'a> {
        AlertText {
            event: "暴雨",
            tier: Tier::Red,
            headline,
            description,
            instruction: "停止户外作业",
            drill,
            signature: "观音桥街道",
        }
    }

    fn call<'a>(headline: &'a str, reason: CallReason<'a>, directive: Option<(Measure, &'a str)>) -> CallText<'a> {
        CallText {
            alert: alert(headline, "过去3小时降雨量已达100毫米以上", false),
            reason,
            code: "4821",
            link: LINK,
            directive,
            recipient: Recipient { name: "网格员乙", role: "grid", area: "500105002003" },
        }
    }

    fn with_file(text: &str) -> Result<Templates, TemplateError> {
        Templates::from_source(Some(("my/templates.toml", text)), Language::Zh, 2)
    }

    #[test]
    fn a_call_sms_carries_code_and_link_and_fits_two_segments() {
        let t = Templates::builtin();
        for headline in ["江北区气象台发布暴雨红色预警", &"很长的标题".repeat(40), ""] {
            let text = t.sms_call(&call(headline, CallReason::First, None));
            assert!(text.contains("回复4821确认"), "{text}");
            assert!(text.ends_with(LINK), "{text}");
            assert!(segments::count(&text).count <= 2, "{text}");
            assert!(text.starts_with("【观音桥街道】红色暴雨预警"), "{text}");
        }
        assert_eq!(
            t.sms_call(&call("江北区气象台发布暴雨红色预警", CallReason::First, None)),
            format!("【观音桥街道】红色暴雨预警：江北区气象台发布暴雨红色预警。回复4821确认收到，或点击 {LINK}")
        );
    }

    #[test]
    fn drills_repeats_and_escalations_say_so() {
        let t = Templates::builtin();
        let mut c = call("x", CallReason::Repeat { attempt: 2 }, None);
        c.alert.drill = true;
        let text = t.sms_call(&c);
        assert!(text.starts_with("【演练】【观音桥街道】第2次提醒：红色暴雨预警"), "{text}");
        let text = t.sms_call(&call("x", CallReason::Escalated { name: "网格员甲", role: "grid" }, None));
        assert!(text.contains("网格员甲（网格员）未应答，请督促"), "{text}");
        let text = t.sms_call(&call("x", CallReason::Raised, None));
        assert!(text.contains("预警升级：红色暴雨预警"), "{text}");
    }

    #[test]
    fn a_directive_call_names_the_measure_and_how_to_report_it() {
        let t = Templates::builtin();
        let text = t.sms_call(&call(
            "江北区气象台发布暴雨红色预警",
            CallReason::First,
            Some((Measure::Stop, "立即停止户外作业，撤离危险区域人员")),
        ));
        assert!(text.contains("【熔断·停】立即停止户外作业"), "{text}");
        assert!(text.contains("落实后回复2") && text.ends_with(LINK), "{text}");
        assert!(segments::count(&text).count <= 2, "{text}");
    }

    #[test]
    fn email_has_full_text_and_both_languages() {
        let t = Templates::builtin();
        let c = call("标题", CallReason::First, Some((Measure::Stop, "立即停课")));
        let body = t.email_body(&c);
        assert!(body.starts_with("【观音桥街道】红色暴雨预警：标题\n\n熔断要求（停）：立即停课\n"), "{body}");
        assert!(body.contains("过去3小时降雨量") && body.contains("防御指引：停止户外作业"), "{body}");
        assert!(body.contains(LINK) && body.contains("reply code 4821"), "{body}");
        assert!(!body.contains("\n\n\n"), "{body:?}");
        assert_eq!(t.email_subject(&c), "红色暴雨预警：标题（回复码 4821）");
    }

    #[test]
    fn replies_keep_their_words() {
        let t = Templates::builtin();
        let open = [("1111".to_string(), "暴雨".to_string()), ("2222".to_string(), "地质灾害".to_string())];
        assert_eq!(
            t.reply("街道", &Reply::ChooseCode { open: &open }),
            "【街道】您有2条待确认预警，请回复对应代码：1111 暴雨；2222 地质灾害"
        );
        assert_eq!(t.reply("街道", &Reply::Answered { code: "4821" }), "【街道】已确认收到（代码4821），谢谢。");
        assert_eq!(
            t.reply("街道", &Reply::AlreadyAnswered { code: "4821", when: "07-01 08:05" }),
            "【街道】代码4821已于07-01 08:05确认，无需重复回复。"
        );
        let many: Vec<(String, String)> = (0..60).map(|i| (format!("{:04}", 1000 + i), "暴雨".to_string())).collect();
        let long = t.reply("街道", &Reply::ChooseCode { open: &many });
        assert!(segments::count(&long).count <= 2 && long.ends_with('…'), "{long}");
    }

    #[test]
    fn notices_name_what_happened() {
        let t = Templates::builtin();
        let n = |notice| NoticeText { alert: alert("标题", "", false), notice, recipient: Recipient::default() };
        assert_eq!(t.sms_notice(&n(Notice::from("已解除"))), "【观音桥街道】红色暴雨预警已解除：标题");
        assert_eq!(
            t.sms_notice(&n(Notice::Answered { name: "网格员甲" })),
            "【观音桥街道】红色暴雨预警：网格员甲 已应答，无需督促：标题"
        );
        let overdue =
            t.sms_notice(&n(Notice::DirectiveOverdue { unit: "某小学", measure: Measure::Stop, text: "停课" }));
        assert!(overdue.contains("【熔断逾期·停】某小学未报告落实“停课”"), "{overdue}");
        assert_eq!(t.email_notice(&n(Notice::Other("自定义"))), "【观音桥街道】红色暴雨预警自定义：标题");
    }

    #[test]
    fn english_renders_english() {
        let t = Templates::load(None, Language::En, 2).unwrap();
        let c =
            call("Rainstorm red warning for Jiangbei", CallReason::Escalated { name: "Grid A", role: "grid" }, None);
        let text = t.sms_call(&c);
        assert!(
            text.starts_with("【观音桥街道】Grid A (grid worker) did not answer, follow up: Red Rainstorm warning"),
            "{text}"
        );
        assert!(text.contains("Reply 4821 to confirm") && text.ends_with(LINK), "{text}");
        assert!(t.email_subject(&c).starts_with("Red Rainstorm warning"), "{}", t.email_subject(&c));
        assert!(t.email_body(&c).contains("To confirm receipt, open"), "{}", t.email_body(&c));
        assert_eq!(t.reply("JY", &Reply::Answered { code: "4821" }), "【JY】Receipt confirmed (code 4821). Thank you.");
        let n =
            NoticeText {
                alert: alert("", "", true), notice: Notice::from("已解除"), recipient: Recipient::default()
            };
        assert_eq!(t.sms_notice(&n), "【演练】【观音桥街道】Red Rainstorm warning lifted");
    }

    #[test]
    fn the_most_specific_template_wins() {
        let t = with_file(
            r#"
[zh.red]
call = "红色 {{ code }} {{ link }}"
[zh.red."暴雨"]
call = "红色暴雨 {{ code }} {{ link }}"
[zh.any."地质灾害"]
call = "地灾 {{ code }} {{ link }}"
[zh.orange]
email_subject = "橙色主题"
"#,
        )
        .unwrap();
        let mut c = call("标题", CallReason::First, None);
        let mut render = |tier: Tier, event: &'static str| {
            c.alert.tier = tier;
            c.alert.event = event;
            (t.sms_call(&c), t.email_subject(&c))
        };
        assert_eq!(render(Tier::Red, "暴雨").0, format!("红色暴雨 4821 {LINK}"));
        assert_eq!(render(Tier::Red, "大风").0, format!("红色 4821 {LINK}"));
        assert_eq!(render(Tier::Red, "地质灾害").0, format!("地灾 4821 {LINK}"));
        assert_eq!(render(Tier::Blue, "地质灾害").0, format!("地灾 4821 {LINK}"));
        let (sms, subject) = render(Tier::Orange, "暴雨");
        assert!(sms.starts_with("【观音桥街道】橙色暴雨预警"), "the default call: {sms}");
        assert_eq!(subject, "橙色主题");
        assert_eq!(render(Tier::Yellow, "暴雨").1, "黄色暴雨预警：标题（回复码 4821）");
        assert_eq!(t.chosen("call", Tier::Red, "暴雨").as_deref(), Some("zh.red.暴雨.call"));
        assert_eq!(t.chosen("call", Tier::Yellow, "暴雨").as_deref(), Some("zh.call"));
    }

    #[test]
    fn a_file_overrides_only_what_it_names() {
        let t = with_file("[zh]\nreply_answered = \"好的 {{ code }}\"\n").unwrap();
        assert_eq!(t.reply("街道", &Reply::Answered { code: "1" }), "好的 1");
        assert_eq!(t.reply("街道", &Reply::NoOpenCall), "【街道】您目前没有待确认的预警。");
        assert!(t.sms_call(&call("标题", CallReason::First, None)).starts_with("【观音桥街道】"));
    }

    #[test]
    fn a_template_error_names_file_and_line() {
        let text = "[zh]\nreply_answered = \"ok\"\ncall = \"\"\"\n{{ code }} {{ link }}\n{% if headline %}\n\"\"\"\n";
        let err = with_file(text).unwrap_err();
        // The `if` that is never closed.
        assert_eq!(err.line(), Some(5), "{err}");
        let msg = err.to_string();
        assert!(msg.starts_with("my/templates.toml:5: template zh.call: syntax error"), "{msg}");

        let text = "[zh]\n\n[zh.red]\nnotice = \"\"\"\\\n{{ signature }}\\\n {{ headlin }}\"\"\"\n";
        let err = with_file(text).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("my/templates.toml:6: template zh.red.notice: unknown variable \"headlin\""), "{msg}");

        let err = with_file("[zh]\ncall = \"{{ headline }}\"\n").unwrap_err().to_string();
        assert!(err.contains("my/templates.toml:2: template zh.call: a call must show the reply code"), "{err}");

        let err = with_file("[zh]\ncall = \"{{ code }} {{ link }} {{ headline|nosuchfilter }}\"\n").unwrap_err();
        assert_eq!(err.line(), Some(2), "{err}");
        assert!(err.to_string().contains("nosuchfilter"), "{err}");
    }

    #[test]
    fn a_file_with_unknown_keys_is_refused() {
        let cases = [
            ("[zh]\ncal = \"x\"\n", "my/templates.toml:2: template zh.cal: unknown purpose"),
            ("[fr]\ncall = \"x\"\n", "unknown language \"fr\""),
            ("[zh.purple]\ncall = \"x\"\n", "my/templates.toml:1: template zh.purple: unknown tier \"purple\""),
            ("[zh.red]\nreply_answered = \"x\"\n", "my/templates.toml:2: template zh.red.reply_answered: a tier table"),
            ("[zh.red.\"暴雨\"]\nx = \"x\"\n", "my/templates.toml:2: template zh.red.暴雨.x: an event table takes"),
            ("[zh]\ncall = 3\n", "my/templates.toml:2: template zh.call: a template must be a string"),
            ("[zh\n", "my/templates.toml: TOML parse error"),
        ];
        for (text, want) in cases {
            let err = with_file(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_budget_the_call_cannot_meet_is_refused_at_start() {
        let err = Templates::load(None, Language::Zh, 1).unwrap_err().to_string();
        assert!(err.contains("more than messages.max_segments = 1"), "{err}");
        assert!(Templates::load(None, Language::Zh, 0).is_err());
        assert!(Templates::load(None, Language::Zh, 11).is_err());
        // Every call template must fit, the reachability test's (通联测试) too.
        let terse = "[zh]\ncall = \"{{ code }} {{ link }}\"\n[zh.any.\"通联测试\"]\ncall = \"{{ code }} {{ link }}\"\n";
        assert!(Templates::from_source(Some(("t.toml", terse)), Language::Zh, 1).is_ok());
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let err = Templates::load(Some(Path::new("/nonexistent/templates.toml")), Language::Zh, 2).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/templates.toml"), "{err}");
    }

    #[test]
    fn the_config_file_is_the_builtin() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/templates.toml");
        let t = Templates::load(Some(&path), Language::Zh, 2).unwrap();
        let c = call("标题", CallReason::First, None);
        assert_eq!(t.sms_call(&c), Templates::builtin().sms_call(&c));
    }

    #[test]
    fn literals_decode_as_toml_does() {
        let file = "a = \"x\\ty\\u00e9\"\nb = \"\"\"\nl1 \\\n   l2\n\"\"\"\nc = '''\nraw \\n'''\n";
        let doc = ImDocument::parse(file).unwrap();
        for (k, item) in doc.as_table().iter() {
            let (decoded, map) = decode_literal(file, item.span().unwrap()).unwrap();
            assert_eq!(decoded, item.as_str().unwrap(), "{k}");
            assert_eq!(map.len(), decoded.len() + 1);
        }
        assert_eq!(doc["b"].as_str(), Some("l1 l2\n"));
    }

    fn reason_of(i: u8) -> CallReason<'static> {
        match i % 4 {
            0 => CallReason::First,
            1 => CallReason::Repeat { attempt: 2 },
            2 => CallReason::Raised,
            _ => CallReason::Escalated { name: "网格员甲", role: "administrative" },
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Chinese, the default two segments: whatever the headline, description and measure,
        /// and whatever the reason, the SMS fits and carries the code and the whole link.
        #[test]
        fn every_chinese_sms_keeps_code_and_link_and_fits(
            headline in "[\\p{Han}a-zA-Z0-9 ，。:{€]{0,300}",
            description in "[\\p{Han}a-z😀 ]{0,500}",
            directive in "[\\p{Han}]{0,80}",
            reason in any::<u8>(),
            drill in any::<bool>(),
        ) {
            let t = Templates::builtin();
            let d = if directive.is_empty() { None } else { Some((Measure::Stop, directive.as_str())) };
            let mut c = call(&headline, reason_of(reason), d);
            c.alert.description = &description;
            c.alert.drill = drill;
            let text = t.sms_call(&c);
            prop_assert!(text.contains("回复4821确认收到") && text.ends_with(LINK), "{}", text);
            prop_assert!(segments::count(&text).count <= 2, "{} segments: {}", segments::count(&text).count, text);
            if let Some((_, d)) = d {
                let first: String = d.chars().take(jiaoying_core::message::DIRECTIVE_KEEP - 1).collect();
                prop_assert!(text.contains(&format!("【熔断·停】{first}")), "the measure's first words: {}", text);
            }
        }

        /// Any language and budget: the code and link are always whole, and the SMS fits
        /// whenever the template without its free texts does (else it cannot, and goes as is).
        #[test]
        fn every_sms_fits_when_its_template_can(
            headline in "[\\p{Han}a-zA-Z0-9 ，。:{€]{0,300}",
            description in "[\\p{Han}a-z ]{0,500}",
            directive in "[\\p{Han}a-z ]{0,80}",
            reason in any::<u8>(),
            english in any::<bool>(),
            max in 2usize..5,
        ) {
            let lang = if english { Language::En } else { Language::Zh };
            let t = Templates::load(None, lang, max).unwrap();
            let d = if directive.is_empty() { None } else { Some((Measure::Stop, directive.as_str())) };
            let mut c = call(&headline, reason_of(reason), d);
            c.alert.description = &description;
            let text = t.sms_call(&c);
            prop_assert!(text.contains("4821") && text.contains(LINK), "{}", text);
            let kept = segments::shorten(&directive, jiaoying_core::message::DIRECTIVE_KEEP, "…");
            let mut bare = call("", reason_of(reason), d.map(|(m, _)| (m, &*kept)));
            bare.alert.description = "";
            bare.alert.instruction = "";
            let skeleton = segments::count(&t.sms_call(&bare)).count;
            let got = segments::count(&text).count;
            prop_assert!(got <= max || skeleton > max, "{} segments (skeleton {}): {}", got, skeleton, text);
        }
    }
}
