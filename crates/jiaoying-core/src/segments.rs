//! SMS segment counting, and fitting a message into a number of segments by shortening its free
//! text (headline, description) while the reply code and answer link stay whole.
//!
//! A message is sent in GSM-7 when every character is in the GSM 03.38 default alphabet or its
//! extension table (an extension character costs two septets: an escape and the character);
//! otherwise in UCS-2, counted in UTF-16 code units. A single message holds 160 septets or 70
//! units; a concatenated one loses room to its header: 153 septets or 67 units a segment. An
//! escape pair or a surrogate pair is never split across two segments (handsets and gateways
//! refuse to), so a segment may hold one less than its nominal size.

use std::borrow::Cow;

/// Septets in a single GSM-7 message.
pub const GSM7_SINGLE: usize = 160;
/// Septets in each segment of a concatenated GSM-7 message.
pub const GSM7_MULTI: usize = 153;
/// UTF-16 units in a single UCS-2 message.
pub const UCS2_SINGLE: usize = 70;
/// UTF-16 units in each segment of a concatenated UCS-2 message.
pub const UCS2_MULTI: usize = 67;

/// The default ellipsis of a shortened text; a GSM-7 message uses `...` instead, because `…`
/// is not in the GSM alphabet and would turn the whole message into UCS-2 (70, not 160, a part).
pub const ELLIPSIS: &str = "…";
const GSM_ELLIPSIS: &str = "...";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// How a text goes out as SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// Messages the operator bills; an empty text is still one message.
    pub count: usize,
}

/// The GSM 03.38 default alphabet (one septet each). `\u{1b}` (escape) is left out on purpose:
/// it cannot be sent as a character of its own.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: escape + character, two septets each.
const GSM_EXTENSION: &str = "\u{0c}^{}\\[~]|€";

/// Septets of `c` in GSM-7, or `None` when it needs UCS-2.
pub fn gsm7_septets(c: char) -> Option<usize> {
    // ASCII letters and digits are by far the most common: answer them without a search.
    if c.is_ascii_alphanumeric() || c == ' ' {
        return Some(1);
    }
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Whether the whole of `text` can go out in GSM-7.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm7_septets(c).is_some())
}

/// The encoding, size and number of segments of `text`.
pub fn count(text: &str) -> Segments {
    if is_gsm7(text) {
        let sizes = text.chars().map(|c| gsm7_septets(c).unwrap_or(1));
        pack(Encoding::Gsm7, sizes, GSM7_SINGLE, GSM7_MULTI)
    } else {
        pack(Encoding::Ucs2, text.chars().map(char::len_utf16), UCS2_SINGLE, UCS2_MULTI)
    }
}

/// Fills segments with indivisible items (a character of 1 or 2 units).
fn pack(encoding: Encoding, sizes: impl Iterator<Item = usize> + Clone, single: usize, multi: usize) -> Segments {
    let units: usize = sizes.clone().sum();
    if units <= single {
        return Segments { encoding, units, count: 1 };
    }
    let (mut count, mut used) = (1, 0);
    for size in sizes {
        if used + size > multi {
            count += 1;
            used = 0;
        }
        used += size;
    }
    Segments { encoding, units, count }
}

/// A message fitted to its budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fitted {
    pub text: String,
    pub segments: Segments,
    /// Some free text was shortened (ends in an ellipsis).
    pub shortened: bool,
    /// Even with every free text emptied the message is longer than the budget. It is sent as
    /// it is (a long warning beats none); the caller should log it.
    pub over_budget: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FitError<E> {
    /// The renderer failed.
    #[error("{0}")]
    Render(E),
    /// A text that must be in the message (reply code, link) is not in what was rendered.
    #[error("the message does not contain {0:?}")]
    Lost(String),
}

/// A text of a message that may be shortened to fit (headline, description, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Free<'a> {
    pub text: &'a str,
    /// It is never cut below this many characters (the ellipsis included): 0 lets it vanish, as
    /// a headline may; a measure's text keeps its first words.
    pub keep: usize,
}

impl<'a> Free<'a> {
    pub fn new(text: &'a str) -> Self {
        Free { text, keep: 0 }
    }

    pub fn keeping(text: &'a str, keep: usize) -> Self {
        Free { text, keep }
    }
}

/// Fits a message into `max_segments`. `free` are the texts that may be shortened (headline,
/// description, ...); `render` builds the whole message from (possibly shortened) versions of
/// them, in the same order. Each text in `must_keep` (the reply code, the answer link) must
/// appear whole in the result: they are never passed through `free`, so they are never cut, and
/// a renderer that drops them is an error.
///
/// Shortening is fair: every free text is held to one common length, the longest that fits, so
/// a long description is cut before a short headline is touched (but no text below its `keep`).
/// Each cut text ends in `…` (`...` when the rest of the message is GSM-7, so that the cut does
/// not change the encoding).
pub fn fit<E>(
    free: &[Free<'_>],
    max_segments: usize,
    must_keep: &[&str],
    mut render: impl FnMut(&[Cow<'_, str>]) -> Result<String, E>,
) -> Result<Fitted, FitError<E>> {
    let max_segments = max_segments.max(1);
    let whole: Vec<Cow<'_, str>> = free.iter().map(|f| Cow::Borrowed(f.text)).collect();
    let text = render(&whole).map_err(FitError::Render)?;
    check(&text, must_keep)?;
    let segments = count(&text);
    if segments.count <= max_segments {
        return Ok(Fitted { text, segments, shortened: false, over_budget: false });
    }
    // The message with every free text at its shortest decides the encoding of the cut marks
    // (its own `…` aside, which a GSM-7 message would not carry).
    let at = |cap: usize, ellipsis: &str| -> Vec<Cow<'_, str>> {
        free.iter().map(|f| shorten(f.text, cap.max(f.keep), ellipsis)).collect()
    };
    let shortest = render(&at(0, ELLIPSIS)).map_err(FitError::Render)?;
    let ellipsis =
        if shortest.chars().all(|c| c == '…' || gsm7_septets(c).is_some()) { GSM_ELLIPSIS } else { ELLIPSIS };
    // No free text longer than the largest message can matter; searching past it is waste.
    let longest = free.iter().map(|f| f.text.chars().count()).max().unwrap_or(0);
    let (mut lo, mut hi) = (0usize, longest.min(GSM7_SINGLE * max_segments));
    let mut best: Option<(String, Segments)> = None;
    // Binary search for the largest cap that fits (a longer cap never takes fewer segments),
    // probing first where arithmetic says it is, and then its neighbour: usually two renders.
    let guess = estimate(free, &segments, max_segments).min(hi);
    let mut probe = Some(guess);
    while lo <= hi {
        let mid = probe.take().filter(|p| (lo..=hi).contains(p)).unwrap_or(lo + (hi - lo) / 2);
        let text = render(&at(mid, ellipsis)).map_err(FitError::Render)?;
        let segments = count(&text);
        if segments.count <= max_segments {
            best = Some((text, segments));
            lo = mid + 1;
            probe = (mid == guess).then_some(mid + 1);
        } else if mid == 0 {
            break;
        } else {
            hi = mid - 1;
            probe = (mid == guess).then_some(mid - 1);
        }
    }
    let (text, segments, over_budget) = match best {
        Some((text, segments)) => (text, segments, false),
        None => {
            let text =
                if ellipsis == ELLIPSIS { shortest } else { render(&at(0, ellipsis)).map_err(FitError::Render)? };
            let segments = count(&text);
            (text, segments, true)
        }
    };
    check(&text, must_keep)?;
    Ok(Fitted { text, segments, shortened: true, over_budget })
}

/// The cap at which the free texts lose just what the whole message is over by, were every
/// character one unit and every free text shown once: where the search starts.
fn estimate(free: &[Free<'_>], whole: &Segments, max_segments: usize) -> usize {
    let capacity = match (whole.encoding, max_segments) {
        (Encoding::Gsm7, 1) => GSM7_SINGLE,
        (Encoding::Gsm7, n) => GSM7_MULTI * n,
        (Encoding::Ucs2, 1) => UCS2_SINGLE,
        (Encoding::Ucs2, n) => UCS2_MULTI * n,
    };
    let lens: Vec<(usize, usize)> = free.iter().map(|f| (f.text.chars().count(), f.keep)).collect();
    let total: usize = lens.iter().map(|(len, _)| len).sum();
    let allowed = total.saturating_sub(whole.units.saturating_sub(capacity).max(1));
    let cost = |cap: usize| -> usize { lens.iter().map(|&(len, keep)| len.min(cap.max(keep))).sum() };
    let (mut lo, mut hi) = (0usize, lens.iter().map(|(len, _)| *len).max().unwrap_or(0));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if cost(mid) <= allowed {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

fn check<E>(text: &str, must_keep: &[&str]) -> Result<(), FitError<E>> {
    match must_keep.iter().find(|k| !text.contains(**k)) {
        Some(k) => Err(FitError::Lost(k.to_string())),
        None => Ok(()),
    }
}

/// `s` held to `cap` characters, the ellipsis included; empty when not even one character and
/// the ellipsis fit. Trailing spaces before the ellipsis are dropped.
pub fn shorten<'a>(s: &'a str, cap: usize, ellipsis: &str) -> Cow<'a, str> {
    if s.chars().count() <= cap {
        return Cow::Borrowed(s);
    }
    let keep = cap.saturating_sub(ellipsis.chars().count());
    if keep == 0 {
        return Cow::Borrowed("");
    }
    let end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
    Cow::Owned(format!("{}{ellipsis}", s[..end].trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn seg(text: &str) -> (Encoding, usize, usize) {
        let s = count(text);
        (s.encoding, s.units, s.count)
    }

    #[test]
    fn segment_counting_table() {
        use Encoding::*;
        let cases: Vec<(String, (Encoding, usize, usize))> = vec![
            (String::new(), (Gsm7, 0, 1)),
            ("a".repeat(160), (Gsm7, 160, 1)),
            ("a".repeat(161), (Gsm7, 161, 2)),
            ("a".repeat(306), (Gsm7, 306, 2)),
            ("a".repeat(307), (Gsm7, 307, 3)),
            // One Chinese character makes the whole message UCS-2.
            (format!("{}中", "a".repeat(69)), (Ucs2, 70, 1)),
            (format!("{}中", "a".repeat(70)), (Ucs2, 71, 2)),
            ("中".repeat(70), (Ucs2, 70, 1)),
            ("中".repeat(71), (Ucs2, 71, 2)),
            ("中".repeat(134), (Ucs2, 134, 2)),
            ("中".repeat(135), (Ucs2, 135, 3)),
            // Extension characters cost two septets and keep GSM-7.
            ("€".repeat(80), (Gsm7, 160, 1)),
            (format!("{}{{", "a".repeat(159)), (Gsm7, 161, 2)),
            ("{}[]~|^\\".to_string(), (Gsm7, 16, 1)),
            // Accented letters of the basic table are one septet; others force UCS-2.
            ("èéùìòÇØøÅåÆæßÉÄÖÑÜäöñüà£¥§¿¡".to_string(), (Gsm7, 28, 1)),
            ("ç".to_string(), (Ucs2, 1, 1)),
            ("`".to_string(), (Ucs2, 1, 1)),
            ("…".to_string(), (Ucs2, 1, 1)),
            // An emoji is two UTF-16 units.
            ("😀".repeat(35), (Ucs2, 70, 1)),
            ("😀".repeat(36), (Ucs2, 72, 2)),
        ];
        for (text, want) in cases {
            assert_eq!(seg(&text), want, "{text:?}");
        }
    }

    #[test]
    fn the_tables_are_the_gsm_alphabet() {
        // 128 positions less the escape; 10 extension characters.
        assert_eq!(GSM_BASIC.chars().count(), 127);
        assert_eq!(GSM_BASIC.chars().collect::<std::collections::BTreeSet<_>>().len(), 127);
        assert_eq!(GSM_EXTENSION.chars().count(), 10);
        assert!((' '..='~').filter(|c| !"`".contains(*c)).all(|c| gsm7_septets(c).is_some()));
    }

    #[test]
    fn pairs_are_not_split_across_segments() {
        // 152 plain septets then an escape pair: the pair does not fit in segment one's last
        // septet, so it starts segment two.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(seg(&text), (Encoding::Gsm7, 306, 3));
        let text = format!("{}😀{}", "中".repeat(66), "中".repeat(66));
        assert_eq!(seg(&text), (Encoding::Ucs2, 134, 3));
    }

    fn message(free: &[Cow<'_, str>]) -> Result<String, std::convert::Infallible> {
        Ok(format!("【街道】{}：{}。回复1234确认，或点击 http://x.example/a/1.abc.def", free[0], free[1]))
    }

    #[test]
    fn a_message_that_fits_is_left_alone() {
        let f = fit(&[Free::new("标题"), Free::new("说明")], 2, &["1234"], message).unwrap();
        assert_eq!(f.text, "【街道】标题：说明。回复1234确认，或点击 http://x.example/a/1.abc.def");
        assert!(!f.shortened && !f.over_budget);
    }

    #[test]
    fn the_longer_free_text_is_cut_first() {
        let description = "很".repeat(300);
        let free = [Free::new("暴雨红色预警"), Free::new(&description)];
        let f = fit(&free, 2, &["1234", "http://x.example/a/1.abc.def"], message).unwrap();
        assert!(f.text.contains("暴雨红色预警："), "{}", f.text);
        assert!(f.text.contains("很…。回复1234"), "{}", f.text);
        assert_eq!(f.segments.count, 2);
        // As long as fits: one more character would not.
        assert_eq!(f.segments.units, 2 * UCS2_MULTI);
        assert!(f.shortened && !f.over_budget);
    }

    #[test]
    fn fitting_takes_few_renders() {
        let description = "很".repeat(300);
        let free = [Free::new("暴雨红色预警"), Free::new(&description)];
        let mut renders = 0;
        let f = fit(&free, 2, &[], |f: &[Cow<'_, str>]| {
            renders += 1;
            message(f)
        })
        .unwrap();
        // The whole, the shortest, the estimate and its neighbour.
        assert!(f.shortened && f.segments.units == 2 * UCS2_MULTI && renders <= 4, "{renders} renders");
    }

    #[test]
    fn a_gsm_message_is_cut_with_dots_and_stays_gsm() {
        let render = |free: &[Cow<'_, str>]| -> Result<String, ()> { Ok(format!("[Office] {} Reply 1234", free[0])) };
        let f = fit(&[Free::new(&"word ".repeat(100))], 1, &["1234"], render).unwrap();
        assert_eq!(f.segments.encoding, Encoding::Gsm7);
        assert!(f.text.ends_with("... Reply 1234") && !f.text.contains('…'), "{}", f.text);
        assert!(f.segments.units <= GSM7_SINGLE);
    }

    #[test]
    fn a_message_too_long_without_free_text_is_sent_whole_and_flagged() {
        let render = |free: &[Cow<'_, str>]| -> Result<String, ()> { Ok(format!("{}{}", "长".repeat(200), free[0])) };
        let f = fit(&[Free::new("标题")], 2, &[], render).unwrap();
        assert!(f.over_budget && f.text == "长".repeat(200));
    }

    #[test]
    fn a_kept_text_keeps_its_first_words() {
        let headline = "标".repeat(100);
        let free = [Free::new(&headline), Free::keeping("立即停止户外作业，撤离危险区域人员", 8)];
        let with = |fixed: usize| {
            move |free: &[Cow<'_, str>]| -> Result<String, ()> {
                Ok(format!("{}{}{}", "长".repeat(fixed), free[0], free[1]))
            }
        };
        // Room for both at 15: both cut alike.
        let f = fit(&free, 1, &[], with(40)).unwrap();
        assert_eq!(f.text, format!("{}{}…立即停止户外作业，撤离危险区…", "长".repeat(40), "标".repeat(14)));
        // Room for less: the headline goes on shrinking, the measure stops at 8.
        let f = fit(&free, 1, &[], with(55)).unwrap();
        assert_eq!(f.text, format!("{}{}…立即停止户外作…", "长".repeat(55), "标".repeat(6)));
        let f = fit(&free, 1, &[], with(80)).unwrap();
        assert!(f.over_budget && f.text.ends_with("长立即停止户外作…"), "{}", f.text);
    }

    #[test]
    fn a_renderer_that_drops_the_code_is_an_error() {
        let render = |free: &[Cow<'_, str>]| -> Result<String, ()> { Ok(free[0].to_string()) };
        assert_eq!(fit(&[Free::new("x")], 2, &["1234"], render), Err(FitError::Lost("1234".into())));
    }

    #[test]
    fn shorten_counts_the_ellipsis() {
        assert_eq!(shorten("abcdef", 6, "…"), "abcdef");
        assert_eq!(shorten("abcdef", 4, "…"), "abc…");
        assert_eq!(shorten("ab  cdef", 5, "…"), "ab…");
        assert_eq!(shorten("abcdef", 1, "…"), "");
        assert_eq!(shorten("abcdef", 4, "..."), "a...");
    }

    proptest! {
        #[test]
        fn fitted_messages_keep_code_and_link_and_fit(
            headline in "[\\p{Han}a-zA-Z0-9 ，。€{]{0,400}",
            description in "[\\p{Han}a-z😀 ]{0,600}",
            max in 2usize..5,
        ) {
            let link = "http://127.0.0.1:8080/a/123456.1kx3bz.AbCdEfGhIjKlMnOp";
            let render = |free: &[Cow<'_, str>]| -> Result<String, ()> {
                Ok(format!("【街道】{}：{} 回复4821，或点击 {link}", free[0], free[1]))
            };
            let f = fit(&[Free::new(&headline), Free::new(&description)], max, &["4821", link], render).unwrap();
            prop_assert!(f.text.contains("回复4821") && f.text.ends_with(link));
            prop_assert!(f.segments.count <= max, "{} segments: {}", f.segments.count, f.text);
            prop_assert_eq!(f.segments, count(&f.text));
        }
    }
}
