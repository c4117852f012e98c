//! The alert page's two pictures, drawn server-side as inline SVG from the view models: the
//! answer curve (answered share over time, with the tier's target) and the map (the registry's
//! area polygons coloured by answer rate, units as dots coloured by their calls). No tile server:
//! the service runs offline. Every piece of text goes through [`escape`].

use std::fmt::Write;

use jiaoying_tracker::board::{CurveView, MapView};

use super::i18n::{self, Lang};
use crate::html::escape;

const GREEN: &str = "#15803d";

/// Fill of an area by the share of its calls answered; grey without calls.
fn rate_colour(rate: Option<f64>) -> &'static str {
    match rate {
        None => "#e5e7eb",
        Some(r) if r >= 0.999 => "#22a04b",
        Some(r) if r >= 0.8 => "#a3c94a",
        Some(r) if r >= 0.5 => "#f5c400",
        Some(r) if r >= 0.2 => "#f08200",
        Some(_) => "#e34848",
    }
}

/// Colour of a unit's dot by the worst state of its calls (`MapUnit::status`).
fn status_colour(status: &str) -> &'static str {
    match status {
        "unreached" => "#7f1010",
        "overdue" => "#dc2626",
        "open" => "#4b6584",
        "escalated" => "#ea7a00",
        "answered" => GREEN,
        "ended" => "#9ca3af",
        _ => "#ffffff",
    }
}

/// Minutes between ticks so that a span shows about five of them.
fn tick_step_ms(span_ms: i64) -> i64 {
    const STEPS_MIN: [i64; 12] = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440];
    let target = span_ms / 5;
    STEPS_MIN.iter().map(|m| m * 60_000).find(|s| *s >= target).unwrap_or(1440 * 60_000)
}

fn minutes_label(lang: Lang, ms: i64) -> String {
    let min = ms / 60_000;
    match (lang, min) {
        (Lang::Zh, m) if m >= 60 && m % 60 == 0 => format!("{}小时", m / 60),
        (Lang::En, m) if m >= 60 && m % 60 == 0 => format!("{} h", m / 60),
        (Lang::Zh, m) => format!("{m}分"),
        (Lang::En, m) => format!("{m} min"),
    }
}

/// The answer curve: a step line of the answered share since the alert was taken, a dashed line
/// at the tier's answer window with its target share, and the escalation point.
pub fn curve(c: &CurveView, lang: Lang) -> String {
    let (w, h) = (640.0, 240.0);
    let (left, right, top, bottom) = (46.0, 16.0, 16.0, 40.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let last_t = c.points.iter().map(|p| p.t_ms).max().unwrap_or(0);
    let span = last_t.max(c.target.escalates_after.ms).max(c.target.within.ms).max(60_000);
    // Room to the right of the last point, so the target and the "now" end are not on the edge.
    let span = span + span / 10;
    let x = |t: i64| left + pw * (t.max(0) as f64 / span as f64);
    let y = |share: f64| top + ph * (1.0 - share.clamp(0.0, 1.0));

    let mut s = String::new();
    let title = format!("{} {}/{}", i18n::word(lang, "answer_curve"), c.answered, c.total);
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-label="{t}" id="curve-svg" data-answered="{a}" data-total="{n}"><title>{t}</title>"#,
        t = escape(&title),
        a = c.answered,
        n = c.total
    );
    // Grid and the share axis.
    for pct in [0, 25, 50, 75, 100] {
        let yy = y(pct as f64 / 100.0);
        let _ = write!(
            s,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{x2:.1}" y2="{yy:.1}" stroke="#d1d5db" stroke-width="1"/><text x="{tx:.1}" y="{ty:.1}" font-size="12" text-anchor="end" fill="#374151">{pct}%</text>"##,
            x2 = left + pw,
            tx = left - 6.0,
            ty = yy + 4.0
        );
    }
    // Time axis.
    let step = tick_step_ms(span);
    let mut t = 0;
    while t <= span {
        let xx = x(t);
        let _ = write!(
            s,
            r##"<line x1="{xx:.1}" y1="{y1:.1}" x2="{xx:.1}" y2="{y2:.1}" stroke="#9ca3af"/><text x="{xx:.1}" y="{ty:.1}" font-size="12" text-anchor="middle" fill="#374151">{l}</text>"##,
            y1 = top + ph,
            y2 = top + ph + 5.0,
            ty = top + ph + 18.0,
            l = escape(&minutes_label(lang, t))
        );
        t += step;
    }
    let _ = write!(
        s,
        r##"<text x="{xx:.1}" y="{yy:.1}" font-size="12" text-anchor="end" fill="#374151">{l}</text>"##,
        xx = left + pw,
        yy = h - 4.0,
        l = escape(i18n::word(lang, "since_alert"))
    );

    // The tier's target: everyone (target.share) answered by `within`.
    let tx = x(c.target.within.ms);
    let label = match lang {
        Lang::Zh => &c.target.label_zh,
        Lang::En => &c.target.label_en,
    };
    let tier_colour = match c.tier.as_str() {
        "red" => "#c8102e",
        "orange" => "#f08200",
        "yellow" => "#c79f00",
        _ => "#1f5fbf",
    };
    let _ = write!(
        s,
        r#"<g id="curve-target"><line x1="{left}" y1="{y0:.1}" x2="{tx:.1}" y2="{yt:.1}" stroke="{col}" stroke-width="2" stroke-dasharray="6 4"/><line x1="{tx:.1}" y1="{top}" x2="{tx:.1}" y2="{yb:.1}" stroke="{col}" stroke-width="1.5" stroke-dasharray="3 3"/><circle cx="{tx:.1}" cy="{yt:.1}" r="4" fill="{col}"/><text x="{lx:.1}" y="{ly:.1}" font-size="12" fill="{col}" font-weight="700">{l}</text></g>"#,
        y0 = y(0.0),
        yt = y(c.target.share),
        yb = top + ph,
        col = tier_colour,
        lx = (tx + 6.0).min(left + pw - 200.0).max(left + 4.0),
        ly = top + 12.0,
        l = escape(label)
    );
    if c.target.escalates_after.ms > c.target.within.ms {
        let ex = x(c.target.escalates_after.ms);
        let _ = write!(
            s,
            r##"<line x1="{ex:.1}" y1="{top}" x2="{ex:.1}" y2="{yb:.1}" stroke="#ea7a00" stroke-width="1.5" stroke-dasharray="2 4"/><text x="{lx:.1}" y="{ly:.1}" font-size="11" fill="#9a4d00">{l}</text>"##,
            yb = top + ph,
            lx = ex + 4.0,
            ly = top + 28.0,
            l = escape(i18n::word(lang, "escalation_starts"))
        );
    }

    // The curve itself: a step line (the share holds until the next answer), filled below.
    if let Some(first) = c.points.first() {
        let mut d = format!("M{:.1},{:.1}", x(first.t_ms), y(first.share));
        for p in &c.points[1..] {
            let _ = write!(d, " H{:.1} V{:.1}", x(p.t_ms), y(p.share));
        }
        let end_x = x(c.points.last().map_or(0, |p| p.t_ms));
        let _ = write!(
            s,
            r##"<path d="{d} V{yb:.1} H{x0:.1} Z" fill="#15803d" fill-opacity="0.15" stroke="none"/><path id="curve-line" d="{d}" fill="none" stroke="{GREEN}" stroke-width="3"/><circle cx="{end_x:.1}" cy="{ey:.1}" r="4" fill="{GREEN}"/>"##,
            yb = y(0.0),
            x0 = x(first.t_ms),
            ey = y(c.points.last().map_or(0.0, |p| p.share))
        );
    }
    s.push_str("</svg>");
    s
}

/// Where an area's name goes: the centroid of its polygon (the ring without the closing point
/// that repeats the first), or the mean of its corners when it has no area to speak of.
fn label_point(ring: &[(f64, f64)]) -> Option<(f64, f64)> {
    let ring = match ring {
        [first, .., last] if first == last => &ring[..ring.len() - 1],
        _ => ring,
    };
    if ring.is_empty() {
        return None;
    }
    let (mut a, mut cx, mut cy) = (0.0, 0.0, 0.0);
    for (i, &(x0, y0)) in ring.iter().enumerate() {
        let (x1, y1) = ring[(i + 1) % ring.len()];
        let cross = x0 * y1 - x1 * y0;
        a += cross;
        cx += (x0 + x1) * cross;
        cy += (y0 + y1) * cross;
    }
    if a.abs() > 1e-6 {
        return Some((cx / (3.0 * a), cy / (3.0 * a)));
    }
    let n = ring.len() as f64;
    Some((ring.iter().map(|p| p.0).sum::<f64>() / n, ring.iter().map(|p| p.1).sum::<f64>() / n))
}

/// About how wide a label is: CJK characters a full em, others a bit over half.
fn text_width(text: &str, font: f64) -> f64 {
    text.chars().map(|c| if (c as u32) < 0x2E80 { 0.6 } else { 1.0 }).sum::<f64>() * font
}

/// The baseline of a label centred on (x, y), moved up or down by a line or two when a unit's dot
/// would sit under the text, so the label and the dots both stay visible.
fn label_y(x: f64, y: f64, half: f64, font: f64, dots: &[(f64, f64)]) -> f64 {
    let clear = |base: f64| {
        !dots.iter().any(|&(dx, dy)| (dx - x).abs() < half + 8.0 && dy > base - font - 8.0 && dy < base + 8.0)
    };
    let base = y + font * 0.35;
    [0.0, -1.3, 1.3, -2.6, 2.6].iter().map(|k| base + k * font).find(|b| clear(*b)).unwrap_or(base)
}

/// The map: area polygons (outer areas first, so the inner ones lie on top) coloured by answer
/// rate, and units as dots coloured by their calls. Equirectangular, corrected for latitude:
/// true enough at the scale of a district.
pub fn map(m: &MapView, lang: Lang) -> String {
    let Some([min_lon, min_lat, max_lon, max_lat]) = m.bbox else {
        return format!(r#"<p class="muted" id="map-empty">{}</p>"#, escape(i18n::word(lang, "map_empty")));
    };
    // A single unit, or areas on a line: give the box some size.
    let pad_lon = ((max_lon - min_lon) * 0.05).max(0.002);
    let pad_lat = ((max_lat - min_lat) * 0.05).max(0.002);
    let (min_lon, max_lon, min_lat, max_lat) =
        (min_lon - pad_lon, max_lon + pad_lon, min_lat - pad_lat, max_lat + pad_lat);
    let k = ((min_lat + max_lat) / 2.0).to_radians().cos().max(0.1);
    let (dx, dy) = ((max_lon - min_lon) * k, max_lat - min_lat);
    let w = 640.0;
    let h = (w * dy / dx).clamp(200.0, 380.0);
    let scale = (w / dx).min(h / dy);
    let (ox, oy) = ((w - dx * scale) / 2.0, (h - dy * scale) / 2.0);
    let px = |lon: f64| ox + (lon - min_lon) * k * scale;
    let py = |lat: f64| oy + (max_lat - lat) * scale;

    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h:.0}" role="img" aria-label="{t}" id="map-svg"><title>{t}</title><rect x="0" y="0" width="{w}" height="{h:.0}" fill="#f8fafc"/>"##,
        t = escape(i18n::word(lang, "map"))
    );
    let mut areas: Vec<_> = m.areas.iter().collect();
    // Deeper codes are smaller areas: draw them last.
    areas.sort_by_key(|a| (a.code.len(), a.code.clone()));
    for a in &areas {
        let points: Vec<String> =
            a.polygon.iter().map(|[lon, lat]| format!("{:.1},{:.1}", px(*lon), py(*lat))).collect();
        let rate = a.rate.map(|r| format!(" {:.0}%", r * 100.0)).unwrap_or_default();
        let _ = write!(
            s,
            r##"<polygon class="map-area" data-area-code="{code}" data-rate="{r}" points="{p}" fill="{fill}" fill-opacity="0.75" stroke="#1f2937" stroke-width="1.2"><title>{name} {ans}/{tot}{rate}</title></polygon>"##,
            code = escape(&a.code),
            r = a.rate.map(|r| format!("{r:.3}")).unwrap_or_default(),
            p = points.join(" "),
            fill = rate_colour(a.rate),
            name = escape(&a.name),
            ans = a.answered,
            tot = a.total,
            rate = escape(&rate)
        );
    }
    for u in &m.units {
        let calls: Vec<String> =
            u.calls.iter().map(|c| format!("{} {}", c.name, i18n::state_word(lang, c.state.as_str()))).collect();
        let _ = write!(
            s,
            r##"<circle class="map-unit" data-unit-id="{id}" data-status="{st}" cx="{x:.1}" cy="{y:.1}" r="{r}" fill="{fill}" stroke="#111827" stroke-width="2"><title>{name} ({kind}) {calls}</title></circle>"##,
            id = escape(&u.id),
            st = escape(u.status),
            x = px(u.location[0]),
            y = py(u.location[1]),
            r = if u.calls.is_empty() { 4 } else { 7 },
            fill = status_colour(u.status),
            name = escape(&u.name),
            kind = escape(&i18n::kind_label(lang, u.kind)),
            calls = escape(&calls.join(", "))
        );
    }
    // Names of the innermost areas with calls (an outer area's name would sit on its
    // children's), drawn last so no dot covers them, with a white halo so they read on any fill.
    // Sized to the map (the picture is scaled to its box): about 16 px on a laptop.
    let font = (w / 30.0_f64).round();
    let dots: Vec<(f64, f64)> = m.units.iter().map(|u| (px(u.location[0]), py(u.location[1]))).collect();
    let is_parent = |code: &str| areas.iter().any(|c| c.parent.as_deref() == Some(code));
    for a in areas.iter().filter(|a| a.total > 0 && !is_parent(&a.code)) {
        let ring: Vec<(f64, f64)> = a.polygon.iter().map(|[lon, lat]| (px(*lon), py(*lat))).collect();
        let Some((cx, cy)) = label_point(&ring) else { continue };
        let text = format!("{} {}/{}", a.name, a.answered, a.total);
        let half = text_width(&text, font) / 2.0;
        let x = cx.clamp(half.min(w / 2.0), (w - half).max(w / 2.0));
        let y = label_y(x, cy, half, font, &dots).clamp(font, h - font * 0.4);
        let _ = write!(
            s,
            r##"<text class="map-label" data-area-code="{code}" x="{x:.1}" y="{y:.1}" font-size="{font}" font-weight="700" text-anchor="middle" fill="#111827" stroke="#ffffff" stroke-width="{halo:.1}" stroke-linejoin="round" paint-order="stroke">{t}</text>"##,
            code = escape(&a.code),
            halo = font / 4.0,
            t = escape(&text)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiaoying_tracker::board::{At, CurvePoint, Dur, MapArea, MapUnit, TargetLine};

    fn curve_view(label: &str) -> CurveView {
        let start = 1_782_864_000_000;
        CurveView {
            alert_id: 1,
            tier: jiaoying_core::Tier::Red,
            start: At::new(start),
            now: At::new(start + 600_000),
            total: 4,
            answered: 1,
            points: vec![
                CurvePoint { t_ms: 0, at: At::new(start), answered: 0, share: 0.0 },
                CurvePoint { t_ms: 60_000, at: At::new(start + 60_000), answered: 1, share: 0.25 },
                CurvePoint { t_ms: 600_000, at: At::new(start + 600_000), answered: 1, share: 0.25 },
            ],
            target: TargetLine {
                within: Dur::new(300_000),
                share: 1.0,
                escalates_after: Dur::new(600_000),
                label_zh: label.into(),
                label_en: label.into(),
            },
        }
    }

    #[test]
    fn the_curve_steps_and_escapes_its_labels() {
        let svg = curve(&curve_view("<script>x</script>"), Lang::Zh);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(r#"id="curve-line""#) && svg.contains(" H"));
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"));
    }

    #[test]
    fn the_map_colours_areas_and_units_and_escapes_names() {
        let m = MapView {
            alert_id: Some(1),
            bbox: Some([106.52, 29.57, 106.56, 29.6]),
            areas: vec![MapArea {
                code: "500105002".into(),
                name: "<b>街道</b>".into(),
                parent: None,
                polygon: vec![[106.52, 29.57], [106.56, 29.57], [106.56, 29.6], [106.52, 29.57]],
                answered: 1,
                total: 4,
                rate: Some(0.25),
            }],
            areas_without_polygon: vec![],
            units: vec![MapUnit {
                id: "u-1".into(),
                name: "小学".into(),
                kind: "school",
                kind_zh: "学校",
                area: "500105002".into(),
                location: [106.54, 29.58],
                status: "overdue",
                calls: vec![],
            }],
            units_without_location: 0,
        };
        let svg = map(&m, Lang::En);
        assert!(svg.contains(r#"data-area-code="500105002""#) && svg.contains(rate_colour(Some(0.25))));
        assert!(svg.contains(r#"data-status="overdue""#));
        assert!(!svg.contains("<b>") && svg.contains("&lt;b&gt;"));
        let label = svg.find(r#"class="map-label""#).expect("the area's name");
        assert!(svg.rfind("<circle").unwrap() < label, "names are drawn over the dots");
        assert!(svg[label..].contains(r#"paint-order="stroke""#), "with a halo");
        let empty = MapView { bbox: None, areas: vec![], units: vec![], ..m };
        assert!(map(&empty, Lang::Zh).contains("map-empty"));
    }

    #[test]
    fn a_label_sits_at_the_centroid_not_counting_the_closing_point() {
        // A square given closed (first point repeated): the mean of the five points would be
        // pulled towards the first corner; the centroid is the middle.
        let square = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (0.0, 0.0)];
        let (x, y) = label_point(&square).unwrap();
        assert!((x - 5.0).abs() < 1e-9 && (y - 5.0).abs() < 1e-9, "({x}, {y})");
        // An L shape: the centroid weighs the bigger arm, unlike the mean of the corners.
        let l = [(0.0, 0.0), (30.0, 0.0), (30.0, 10.0), (10.0, 10.0), (10.0, 30.0), (0.0, 30.0)];
        let (x, y) = label_point(&l).unwrap();
        assert!((x - 11.0).abs() < 1e-9 && (y - 11.0).abs() < 1e-9, "({x}, {y})");
        assert_eq!(label_point(&[(3.0, 4.0), (3.0, 4.0)]), Some((3.0, 4.0)), "no area: the point");
        assert_eq!(label_point(&[]), None);
    }

    #[test]
    fn a_label_moves_off_a_dot_under_it() {
        let y = label_y(100.0, 100.0, 40.0, 20.0, &[(100.0, 95.0)]);
        assert!((y - 81.0).abs() < 1e-9, "moved a line up, clear of the dot: {y}");
        assert_eq!(label_y(100.0, 100.0, 40.0, 20.0, &[(300.0, 95.0)]), 107.0, "nothing under it: stays");
    }
}
