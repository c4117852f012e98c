//! The registry the focused benchmarks use: one street and `n` grid workers in it.

use jiaoying_core::registry::{Area, Person, Role};
use jiaoying_core::{AreaCode, MobileNumber, PersonId, Registry};

/// `n` grid workers `<prefix>-<i>` with mobiles `<mobile_prefix><i, 7 digits>` (mobile_prefix is
/// four digits starting with 1), all in street 500105002.
pub fn registry(n: usize, prefix: &str, mobile_prefix: &str) -> Registry {
    let street = AreaCode::parse("500105002").expect("code");
    let mut r = Registry::default();
    r.areas.push(Area { code: street.clone(), name: "街道".into(), parent: None, polygon: None });
    for i in 0..n {
        r.persons.push(Person {
            id: PersonId::parse(&format!("{prefix}-{i}")).expect("id"),
            name: format!("网格员{i}"),
            mobile: MobileNumber::parse(&format!("{mobile_prefix}{i:07}")).expect("mobile"),
            email: None,
            roles: vec![Role::parse("grid").expect("role")],
            area: street.clone(),
            superior: None,
        });
    }
    r
}
