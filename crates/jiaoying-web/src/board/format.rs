//! Times and durations as a duty officer reads them: China time (UTC+8), short spans in words.

use chrono::FixedOffset;
use jiaoying_core::Timestamp;

use super::i18n::Lang;

fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// `08:05:07` in China time.
pub fn clock_time(ms: i64) -> String {
    Timestamp(ms).to_datetime().with_timezone(&cst()).format("%H:%M:%S").to_string()
}

/// `08:05` in China time.
pub fn hm(ms: i64) -> String {
    Timestamp(ms).to_datetime().with_timezone(&cst()).format("%H:%M").to_string()
}

/// `2026-07-01 08:05:07` in China time.
pub fn full_time(ms: i64) -> String {
    Timestamp(ms).to_datetime().with_timezone(&cst()).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A span of time in two units at most: `2小时5分`, `3分12秒`, `45秒` / `2 h 5 min`.
pub fn span(lang: Lang, ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m, sec) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60, s % 60);
    let (ud, uh, um, us) = match lang {
        Lang::Zh => ("天", "小时", "分", "秒"),
        Lang::En => (" d", " h", " min", " s"),
    };
    let sep = match lang {
        Lang::Zh => "",
        Lang::En => " ",
    };
    if d > 0 {
        format!("{d}{ud}{sep}{h}{uh}")
    } else if h > 0 {
        format!("{h}{uh}{sep}{m}{um}")
    } else if m > 0 {
        format!("{m}{um}{sep}{sec}{us}")
    } else {
        format!("{sec}{us}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_in_two_units() {
        assert_eq!(span(Lang::Zh, 192_000), "3分12秒");
        assert_eq!(span(Lang::En, 7_500_000), "2 h 5 min");
        assert_eq!(span(Lang::Zh, -5), "0秒");
    }

    #[test]
    fn times_are_china_time() {
        // 2026-07-01T00:00:00Z is 08:00 in China.
        assert_eq!(clock_time(1_782_864_000_000), "08:00:00");
        assert_eq!(full_time(1_782_864_000_000), "2026-07-01 08:00:00");
    }
}
