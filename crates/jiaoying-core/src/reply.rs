//! Reading what a person texted back: a reply code, a bare confirmation, a "done" report.

use crate::mobile::fold_fullwidth;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerKind {
    /// 收到: the warning reached them.
    Received,
    /// 已落实: the directive has been carried out, with an optional short report.
    Done { report: String },
    /// 3: "escalate now", the person asks for their superior to be called.
    EscalateNow,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The call's reply code when the text carried one; else the reply is bare and can only
    /// answer the sender's single open call.
    pub code: Option<String>,
    pub kind: AnswerKind,
}

/// Reply codes are digits; their length is fixed so a bare `1`, `2` or `3` is never a code.
pub const CODE_LEN: usize = 4;
const MAX_REPORT_CHARS: usize = 200;

/// Parses an SMS reply. Returns `None` for text that is not an answer (the caller replies with
/// help and counts it against the sender's cap).
pub fn parse_reply(text: &str) -> Option<Reply> {
    // Fold full-width forms and ASCII case char by char, so every slice of `folded` maps back to
    // the same characters of the original text (the report keeps the person's own punctuation).
    let folded: String = text.chars().map(|c| fold_fullwidth(c).to_ascii_lowercase()).collect();
    let t = folded.trim().trim_end_matches(['.', '。', '!', '！', ' ']);
    let (code, rest) = split_code(t);
    let rest = rest.trim_start_matches(SEPARATORS).trim();
    let kind = match parse_intent(rest, code.is_some())? {
        Intent::Received => AnswerKind::Received,
        Intent::EscalateNow => AnswerKind::EscalateNow,
        Intent::Done(report) => AnswerKind::Done { report: original_of(text, &folded, report) },
    };
    Some(Reply { code, kind })
}

/// The characters of `original` at the place where `slice` (a slice of `folded`) lies.
fn original_of(original: &str, folded: &str, slice: &str) -> String {
    let start_byte = slice.as_ptr() as usize - folded.as_ptr() as usize;
    let start = folded[..start_byte].chars().count();
    original.chars().skip(start).take(slice.chars().count()).take(MAX_REPORT_CHARS).collect()
}

fn split_code(t: &str) -> (Option<String>, &str) {
    let digits = t.chars().take_while(|c| c.is_ascii_digit()).count();
    if digits == CODE_LEN {
        (Some(t[..CODE_LEN].to_string()), &t[CODE_LEN..])
    } else {
        (None, t)
    }
}

const SEPARATORS: [char; 6] = [' ', ',', '，', ':', '：', '-'];

/// `已落实 ...`, `落实 ...`, or `2` standing alone or followed by a separator, so that
/// "20 人已撤离" is not read as "2".
fn strip_done(rest: &str) -> Option<&str> {
    for word in ["已落实", "落实"] {
        if let Some(r) = rest.strip_prefix(word) {
            return Some(r);
        }
    }
    let r = rest.strip_prefix('2')?;
    (r.is_empty() || r.starts_with(SEPARATORS)).then_some(r)
}

/// An answer's intent; the report is a slice of the folded text, mapped back by the caller.
enum Intent<'a> {
    Received,
    Done(&'a str),
    EscalateNow,
}

fn parse_intent(rest: &str, has_code: bool) -> Option<Intent<'_>> {
    if rest.is_empty() {
        return has_code.then_some(Intent::Received);
    }
    if matches!(rest, "1" | "收到" | "确认" | "ok" | "好" | "好的" | "已收到" | "y" | "yes") {
        return Some(Intent::Received);
    }
    if rest == "3" || rest == "升级" {
        return Some(Intent::EscalateNow);
    }
    if let Some(report) = strip_done(rest) {
        return Some(Intent::Done(report.trim_start_matches(SEPARATORS).trim()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(code: Option<&str>) -> Option<Reply> {
        Some(Reply { code: code.map(String::from), kind: AnswerKind::Received })
    }

    #[test]
    fn codes_and_bare_confirmations() {
        assert_eq!(parse_reply("4821"), received(Some("4821")));
        assert_eq!(parse_reply(" ４８２１ "), received(Some("4821")));
        assert_eq!(parse_reply("4821 收到"), received(Some("4821")));
        assert_eq!(parse_reply("1"), received(None));
        assert_eq!(parse_reply("收到。"), received(None));
        assert_eq!(parse_reply("确认"), received(None));
        assert_eq!(parse_reply("OK"), received(None));
        assert_eq!(parse_reply("ｏｋ！"), received(None));
    }

    #[test]
    fn done_with_a_report() {
        assert_eq!(
            parse_reply("2 已停工，撤离12人"),
            Some(Reply { code: None, kind: AnswerKind::Done { report: "已停工，撤离12人".into() } })
        );
        assert_eq!(
            parse_reply("4821 已落实：工地已停工"),
            Some(Reply { code: Some("4821".into()), kind: AnswerKind::Done { report: "工地已停工".into() } })
        );
        assert_eq!(parse_reply("2"), Some(Reply { code: None, kind: AnswerKind::Done { report: String::new() } }));
    }

    #[test]
    fn escalate_now() {
        assert_eq!(parse_reply("3"), Some(Reply { code: None, kind: AnswerKind::EscalateNow }));
    }

    #[test]
    fn other_text_is_not_an_answer() {
        for t in ["", "   ", "hello", "123", "12345", "20 人已撤离", "谁啊"] {
            assert_eq!(parse_reply(t), None, "{t:?}");
        }
    }
}
