//! The rules for CAP values: times, points, polygons, circles, references, identifiers. Each
//! returns a message without the element's path; the caller prefixes the path.

use chrono::{DateTime, FixedOffset};
use jiaoying_core::alert::Reference;
use jiaoying_core::Timestamp;

use super::model::{CapCircle, LatLon};

/// A CAP date-time. CAP wants `2026-07-01T08:00:00+08:00` (UTC written `-00:00`); real feeds
/// send `Z` and fractional seconds, which are accepted too. A time without an offset is refused:
/// it names no instant.
pub fn parse_time(s: &str) -> Result<DateTime<FixedOffset>, String> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .map_err(|_| format!("{s:?} is not a date-time with an offset such as 2026-07-01T08:00:00+08:00"))
}

/// `lat,lon` with WGS 84 ranges.
pub fn parse_point(s: &str) -> Result<LatLon, String> {
    let mut parts = s.split(',');
    let (Some(lat), Some(lon), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("point {s:?} is not \"lat,lon\""));
    };
    let num = |v: &str| v.trim().parse::<f64>().ok().filter(|f| f.is_finite());
    let (Some(lat), Some(lon)) = (num(lat), num(lon)) else {
        return Err(format!("point {s:?} is not \"lat,lon\" with decimal degrees"));
    };
    if !(-90.0..=90.0).contains(&lat) {
        return Err(format!("point {s:?}: latitude {lat} is outside -90..90"));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(format!("point {s:?}: longitude {lon} is outside -180..180"));
    }
    Ok(LatLon { lat, lon })
}

/// A polygon: `lat,lon` points separated by any whitespace (spaces, newlines, tabs), at least
/// four, the last equal to the first.
pub fn parse_polygon(s: &str) -> Result<Vec<LatLon>, String> {
    let points = s.split_whitespace().map(parse_point).collect::<Result<Vec<_>, _>>()?;
    if points.len() < 4 {
        return Err(format!("a polygon needs at least 4 points (a closed ring); this one has {}", points.len()));
    }
    if points.first() != points.last() {
        return Err("the polygon's ring is not closed: its last point must equal its first".into());
    }
    Ok(points)
}

/// A circle: `lat,lon radius`, the radius in km and not negative.
pub fn parse_circle(s: &str) -> Result<CapCircle, String> {
    let mut parts = s.split_whitespace();
    let (Some(center), Some(radius), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("circle {s:?} is not \"lat,lon radius\""));
    };
    let center = parse_point(center)?;
    match radius.parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 0.0 => Ok(CapCircle { center, radius_km: r }),
        _ => Err(format!("circle {s:?}: the radius {radius:?} must be a number of km, 0 or more")),
    }
}

/// One `sender,identifier,sent` triple. The CAP 1.0 pair form `sender,identifier` is accepted
/// with no `sent`.
pub fn parse_reference(s: &str) -> Result<Reference, String> {
    let parts: Vec<&str> = s.split(',').collect();
    let (sender, identifier, sent) = match parts.as_slice() {
        [sender, identifier] => (*sender, *identifier, None),
        [sender, identifier, sent] => (*sender, *identifier, Some(*sent)),
        _ => return Err(format!("{s:?} is not \"sender,identifier,sent\"")),
    };
    if sender.is_empty() || identifier.is_empty() {
        return Err(format!("{s:?} is not \"sender,identifier,sent\": sender and identifier must not be empty"));
    }
    let sent = sent
        .map(|t| parse_time(t).map(|dt| Timestamp::from_datetime(&dt)))
        .transpose()
        .map_err(|e| format!("{s:?}: the sent part {e}"))?;
    Ok(Reference { sender: sender.to_string(), identifier: identifier.to_string(), sent })
}

/// `identifier` and `sender` may not hold spaces, commas, `<` or `&` (CAP 1.2 §3.2.1): a comma or
/// space would break the references that name the message.
pub fn check_id(s: &str) -> Result<(), String> {
    match s.chars().find(|c| c.is_whitespace() || matches!(c, ',' | '<' | '&')) {
        Some(c) => Err(format!("{s:?} must not contain spaces, commas, '<' or '&' (found {c:?})")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_with_offset_z_and_minus_zero() {
        let a = parse_time("2026-07-01T08:00:00+08:00").unwrap();
        let b = parse_time("2026-07-01T00:00:00Z").unwrap();
        let c = parse_time(" 2026-07-01T00:00:00-00:00 ").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        for bad in ["2026-07-01T08:00:00", "2026-07-01", "yesterday", "2026-13-01T08:00:00+08:00", ""] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn polygons() {
        let p = parse_polygon("29.57,106.53\n\t29.57,106.55  29.59,106.55\t29.57,106.53").unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p[1], LatLon { lat: 29.57, lon: 106.55 });
        assert!(parse_polygon("1,2 3,4 1,2").unwrap_err().contains("at least 4"));
        assert!(parse_polygon("1,2 3,4 5,6 7,8").unwrap_err().contains("not closed"));
        assert!(parse_polygon("91,2 3,4 5,6 91,2").unwrap_err().contains("latitude 91"));
        assert!(parse_polygon("1,181 3,4 5,6 1,181").unwrap_err().contains("longitude"));
        assert!(parse_polygon("1,2 3,4, 5,6 1,2").is_err());
        assert!(parse_polygon("+41.12,-117.61 41,-117 40,-117 +41.12,-117.61").is_ok());
        assert!(parse_polygon("NaN,1 3,4 5,6 NaN,1").is_err());
    }

    #[test]
    fn circles() {
        assert_eq!(parse_circle("29.585,106.541 1.5").unwrap().radius_km, 1.5);
        assert_eq!(parse_circle("32.9525,-115.5527 0").unwrap().radius_km, 0.0);
        assert!(parse_circle("29.585,106.541 -1").is_err());
        assert!(parse_circle("29.585,106.541").is_err());
        assert!(parse_circle("95,106.541 1").is_err());
    }

    #[test]
    fn references() {
        let r = parse_reference("a@b,id-1,2026-07-01T08:00:00+08:00").unwrap();
        assert_eq!((r.sender.as_str(), r.identifier.as_str()), ("a@b", "id-1"));
        assert!(r.sent.is_some());
        assert_eq!(parse_reference("a@b,id-1").unwrap().sent, None);
        assert!(parse_reference("a@b").is_err());
        assert!(parse_reference(",id,2026-07-01T08:00:00+08:00").is_err());
        assert!(parse_reference("a,id,notatime").is_err());
    }
}
