//! Geometry for targeting: alert polygons and circles, area polygons, and the three questions the
//! targeting rules ask of them (SPEC, "Which alerts call whom"): does the alert's geometry hold an
//! area's polygon wholly, does it only overlap it, and does it hold a unit's location.
//!
//! Coordinates are `[lon, lat]` in degrees, as in the registry and in alerts.
//!
//! Choices, each fixed here so that every caller gets the same answer:
//!
//! - **Planar polygons.** Polygons are related in the lon/lat plane (edges are straight in degrees,
//!   not great circles). At the scale of a street or a district the difference is centimetres.
//!   Nothing here handles polygons that cross the antimeridian or enclose a pole.
//! - **Circles.** A circle (centre, radius in km) is tested two ways:
//!   - a *location* is inside when its haversine (great-circle) distance from the centre is at most
//!     the radius: exact, and the circle's edge counts as inside;
//!   - for *area polygons* the circle is replaced by the polygon through [`CIRCLE_VERTICES`] points
//!     at the radius from the centre (haversine destination points, so the radius is in true km at
//!     any latitude). That polygon is inscribed in the circle, short of it by at most
//!     `r·(1 − cos(π/128))` ≈ 0.03 % of the radius (3 m at 10 km): an area it holds wholly is
//!     wholly inside the true circle, and an area it misses is, at most, grazed by the circle.
//! - **Boundaries.** A location exactly on an alert polygon's edge or vertex is *inside* (the
//!   polygon is closed; for a warning it is better to call one responsible person too many than
//!   one too few). An area polygon that shares an edge with the alert geometry counts as *wholly
//!   inside* when it has no point outside it ([`Coverage::Whole`] is DE-9IM "covers"), and an area
//!   that only touches the geometry along its edge or at a point, with no interior in common, is
//!   *not overlapped* ([`Coverage::Disjoint`]): a neighbour sharing a border is not affected.
//! - **Bad geometry.** A polygon with a non-finite or out-of-range coordinate, fewer than three
//!   distinct points or no area is unusable: [`AlertShape::polygon`] and [`AreaPolygon::new`] return
//!   `None`, and it reaches nothing. A ring that crosses itself (a "bow tie") is replaced by its
//!   convex hull, which covers every point the ring meant to cover: an alert over-calls rather than
//!   silently calling nobody. A circle whose radius is not a positive finite number is unusable.

use geo::coordinate_position::CoordPos;
use geo::dimensions::Dimensions;
use geo::{
    Area as _, BoundingRect, ConvexHull, Coord, CoordinatePosition, Destination, Distance, Haversine, Intersects,
    LineString, Point, Polygon, PreparedGeometry, Rect, Relate, RemoveRepeatedPoints, Validation,
};

use crate::alert::AlertArea;

/// How many vertices approximate an alert circle when it is related to area polygons.
pub const CIRCLE_VERTICES: usize = 128;

/// How an area's polygon lies with respect to an alert geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// No interior in common: apart, or touching only along edges or at points.
    Disjoint,
    /// Some of the area is inside the geometry and some is outside.
    Partial,
    /// No point of the area is outside the geometry (its edges may lie on the geometry's edges).
    Whole,
}

/// An area's polygon, converted once per targeting call.
#[derive(Debug, Clone)]
pub struct AreaPolygon {
    polygon: Polygon<f64>,
    bbox: Rect<f64>,
}

impl AreaPolygon {
    /// The area polygon for registry points (`[lon, lat]`, closed or not); `None` when unusable.
    pub fn new(points: &[[f64; 2]]) -> Option<Self> {
        let polygon = clean_polygon(points)?;
        let bbox = polygon.bounding_rect()?;
        Some(AreaPolygon { polygon, bbox })
    }

    pub fn polygon(&self) -> &Polygon<f64> {
        &self.polygon
    }

    /// Whether a location lies in the area, its edges included.
    pub fn contains_point(&self, point: [f64; 2]) -> bool {
        in_rect(&self.bbox, point) && in_closed_polygon(&self.polygon, point)
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Polygon,
    Circle { center: Point<f64>, radius_m: f64 },
}

/// An alert's geometry, prepared once for relating to many areas and locations.
pub struct AlertShape {
    kind: Kind,
    /// The polygon itself, or the inscribed polygon of a circle.
    prepared: PreparedGeometry<'static, Polygon<f64>>,
    bbox: Rect<f64>,
}

impl std::fmt::Debug for AlertShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertShape").field("kind", &self.kind).field("outline", self.outline()).finish()
    }
}

impl AlertShape {
    /// The shape of one alert area; `None` for a code (it is not geometry) and for unusable geometry.
    pub fn from_alert_area(area: &AlertArea) -> Option<Self> {
        match area {
            AlertArea::Code(_) => None,
            AlertArea::Polygon(points) => Self::polygon(points),
            AlertArea::Circle([lon, lat, radius_km]) => Self::circle([*lon, *lat], *radius_km),
        }
    }

    /// An alert polygon (`[lon, lat]` points, closed or not).
    pub fn polygon(points: &[[f64; 2]]) -> Option<Self> {
        Self::prepare(Kind::Polygon, clean_polygon(points)?)
    }

    /// An alert circle around `center` (`[lon, lat]`) of `radius_km` kilometres.
    pub fn circle(center: [f64; 2], radius_km: f64) -> Option<Self> {
        if !valid_lon_lat(center) || !radius_km.is_finite() || radius_km <= 0.0 {
            return None;
        }
        let center = Point::new(center[0], center[1]);
        let radius_m = radius_km * 1000.0;
        let ring = circle_ring(center, radius_m, CIRCLE_VERTICES);
        // A circle too large for the plane (or astride the antimeridian) gives a ring that is not
        // simple; `clean_polygon` then takes its hull, and locations are still tested exactly.
        let polygon = clean_polygon(&ring)?;
        Self::prepare(Kind::Circle { center, radius_m }, polygon)
    }

    fn prepare(kind: Kind, polygon: Polygon<f64>) -> Option<Self> {
        let bbox = polygon.bounding_rect()?;
        // Locations in a circle are tested by distance, and the inscribed polygon falls short of
        // the circle, so the circle's own bounding box is the one to pre-filter them with.
        let bbox = match kind {
            Kind::Polygon => bbox,
            Kind::Circle { .. } => grow(bbox, 0.01),
        };
        Some(AlertShape { kind, prepared: PreparedGeometry::from(polygon), bbox })
    }

    /// The polygon related to areas: the alert polygon, or the circle's inscribed polygon.
    pub fn outline(&self) -> &Polygon<f64> {
        self.prepared.geometry()
    }

    /// Whether a location is inside the geometry. The edge counts as inside (see the module doc).
    pub fn contains_point(&self, point: [f64; 2]) -> bool {
        if !in_rect(&self.bbox, point) {
            return false;
        }
        match self.kind {
            Kind::Polygon => in_closed_polygon(self.outline(), point),
            Kind::Circle { center, radius_m } => Haversine.distance(center, Point::new(point[0], point[1])) <= radius_m,
        }
    }

    /// How the area lies with respect to this geometry.
    pub fn coverage(&self, area: &AreaPolygon) -> Coverage {
        if !self.bbox.intersects(&area.bbox) {
            return Coverage::Disjoint;
        }
        let matrix = self.prepared.relate(&area.polygon);
        if matrix.is_covers() {
            Coverage::Whole
        } else if matrix.get(CoordPos::Inside, CoordPos::Inside) != Dimensions::Empty {
            Coverage::Partial
        } else {
            Coverage::Disjoint
        }
    }
}

/// The points of a geodesic circle: `vertices` haversine destination points at `radius_m` metres
/// from `center`, clockwise from north, the first repeated at the end.
pub fn circle_ring(center: Point<f64>, radius_m: f64, vertices: usize) -> Vec<[f64; 2]> {
    let vertices = vertices.max(3);
    let mut ring: Vec<[f64; 2]> = (0..vertices)
        .map(|i| {
            let bearing = 360.0 * i as f64 / vertices as f64;
            let p = Haversine.destination(center, bearing, radius_m);
            [p.x(), p.y()]
        })
        .collect();
    ring.push(ring[0]);
    ring
}

/// The great-circle distance in kilometres between two `[lon, lat]` points.
pub fn haversine_km(a: [f64; 2], b: [f64; 2]) -> f64 {
    Haversine.distance(Point::new(a[0], a[1]), Point::new(b[0], b[1])) / 1000.0
}

/// Turns `[lon, lat]` points into a usable polygon, or `None` (see "Bad geometry" above).
pub fn clean_polygon(points: &[[f64; 2]]) -> Option<Polygon<f64>> {
    if !points.iter().all(|p| valid_lon_lat(*p)) {
        return None;
    }
    let coords: Vec<Coord<f64>> = points.iter().map(|&[x, y]| Coord { x, y }).collect();
    // `Polygon::new` closes the ring; repeated consecutive points are dropped so that a ring that
    // lingers on a vertex is not taken for one that crosses itself.
    let polygon = Polygon::new(LineString::new(coords), vec![]).remove_repeated_points();
    // A closed ring of three distinct points has four coordinates.
    if polygon.exterior().0.len() < 4 {
        return None;
    }
    // (The area is checked after the hull: a bow tie's two lobes cancel out in the signed area.)
    let polygon = if polygon.is_valid() { polygon } else { polygon.convex_hull() };
    (polygon.unsigned_area() > 0.0 && polygon.is_valid()).then_some(polygon)
}

fn valid_lon_lat([lon, lat]: [f64; 2]) -> bool {
    (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)
}

fn in_rect(rect: &Rect<f64>, [x, y]: [f64; 2]) -> bool {
    // `Rect::contains` excludes the boundary; the boundary is inside here.
    let (min, max) = (rect.min(), rect.max());
    min.x <= x && x <= max.x && min.y <= y && y <= max.y
}

fn in_closed_polygon(polygon: &Polygon<f64>, [x, y]: [f64; 2]) -> bool {
    if !x.is_finite() || !y.is_finite() {
        return false;
    }
    polygon.coordinate_position(&Coord { x, y }) != CoordPos::Outside
}

fn grow(rect: Rect<f64>, by: f64) -> Rect<f64> {
    let (min, max) = (rect.min(), rect.max());
    let by_x = (max.x - min.x) * by;
    let by_y = (max.y - min.y) * by;
    Rect::new(Coord { x: min.x - by_x, y: min.y - by_y }, Coord { x: max.x + by_x, y: max.y + by_y })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<[f64; 2]> {
        vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    }

    #[test]
    fn coverage_of_area_polygons() {
        let shape = AlertShape::polygon(&rect(0.0, 0.0, 2.0, 2.0)).unwrap();
        let cases: &[(&str, Vec<[f64; 2]>, Coverage)] = &[
            ("strictly inside", rect(0.5, 0.5, 1.5, 1.5), Coverage::Whole),
            ("sharing two edges", rect(0.0, 0.0, 1.0, 1.0), Coverage::Whole),
            ("the same polygon", rect(0.0, 0.0, 2.0, 2.0), Coverage::Whole),
            ("straddling an edge", rect(1.5, 0.5, 2.5, 1.5), Coverage::Partial),
            ("holding the shape", rect(-1.0, -1.0, 3.0, 3.0), Coverage::Partial),
            ("touching along an edge", rect(2.0, 0.0, 3.0, 1.0), Coverage::Disjoint),
            ("touching at a corner", rect(2.0, 2.0, 3.0, 3.0), Coverage::Disjoint),
            ("apart", rect(5.0, 5.0, 6.0, 6.0), Coverage::Disjoint),
        ];
        for (name, area, want) in cases {
            let area = AreaPolygon::new(area).unwrap();
            assert_eq!(shape.coverage(&area), *want, "{name}");
        }
    }

    #[test]
    fn a_concave_alert_polygon_does_not_wholly_hold_an_area_across_its_notch() {
        // A U shape: the area spans the notch, so part of it is outside.
        let u = vec![[0.0, 0.0], [3.0, 0.0], [3.0, 3.0], [2.0, 3.0], [2.0, 1.0], [1.0, 1.0], [1.0, 3.0], [0.0, 3.0]];
        let shape = AlertShape::polygon(&u).unwrap();
        let area = AreaPolygon::new(&rect(0.5, 2.0, 2.5, 2.5)).unwrap();
        assert_eq!(shape.coverage(&area), Coverage::Partial);
        let in_notch = AreaPolygon::new(&rect(1.2, 1.5, 1.8, 2.5)).unwrap();
        assert_eq!(shape.coverage(&in_notch), Coverage::Disjoint);
    }

    #[test]
    fn points_on_the_edge_or_a_vertex_are_inside() {
        let shape = AlertShape::polygon(&rect(0.0, 0.0, 2.0, 2.0)).unwrap();
        let cases: &[([f64; 2], bool)] = &[
            ([1.0, 1.0], true),
            ([0.0, 1.0], true),
            ([2.0, 2.0], true),
            ([1.0, 0.0], true),
            ([2.000_000_1, 1.0], false),
            ([-1.0, 1.0], false),
            ([f64::NAN, 1.0], false),
        ];
        for (p, want) in cases {
            assert_eq!(shape.contains_point(*p), *want, "{p:?}");
        }
    }

    #[test]
    fn a_circle_holds_locations_by_great_circle_distance() {
        let center = [106.5, 29.5];
        let shape = AlertShape::circle(center, 1.0).unwrap();
        // 0.008° of latitude is about 890 m, 0.01° about 1.11 km.
        assert!(shape.contains_point(center));
        assert!(shape.contains_point([106.5, 29.508]));
        assert!(!shape.contains_point([106.5, 29.51]));
        assert!(!shape.contains_point([106.52, 29.5]));
        // The approximating polygon has its vertices on the circle, at the radius in true km.
        let ring = circle_ring(Point::new(center[0], center[1]), 1000.0, CIRCLE_VERTICES);
        assert_eq!(ring.len(), CIRCLE_VERTICES + 1);
        for p in &ring {
            assert!((haversine_km(center, *p) - 1.0).abs() < 1e-9, "{p:?}");
        }
        // An area well inside the circle is wholly held; one across its edge is partly.
        let small = AreaPolygon::new(&rect(106.499, 29.499, 106.501, 29.501)).unwrap();
        assert_eq!(shape.coverage(&small), Coverage::Whole);
        let across = AreaPolygon::new(&rect(106.505, 29.499, 106.52, 29.501)).unwrap();
        assert_eq!(shape.coverage(&across), Coverage::Partial);
    }

    #[test]
    fn unusable_geometry_is_refused_and_a_bow_tie_becomes_its_hull() {
        assert!(AlertShape::polygon(&[]).is_none());
        assert!(AlertShape::polygon(&[[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]]).is_none());
        assert!(AlertShape::polygon(&[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]).is_none());
        assert!(AlertShape::polygon(&[[0.0, 0.0], [f64::NAN, 1.0], [1.0, 0.0]]).is_none());
        assert!(AlertShape::polygon(&[[0.0, 0.0], [200.0, 1.0], [1.0, 0.0]]).is_none());
        assert!(AlertShape::circle([106.5, 29.5], 0.0).is_none());
        assert!(AlertShape::circle([106.5, 29.5], f64::INFINITY).is_none());
        assert!(AlertShape::circle([106.5, 95.0], 1.0).is_none());
        // Open rings are closed, repeated points dropped.
        assert!(AlertShape::polygon(&[[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 1.0]]).is_some());
        let bow_tie = AlertShape::polygon(&[[0.0, 0.0], [2.0, 2.0], [2.0, 0.0], [0.0, 2.0], [0.0, 0.0]]).unwrap();
        assert!(bow_tie.contains_point([1.0, 0.2]));
        assert!(bow_tie.contains_point([0.2, 1.0]));
    }
}
