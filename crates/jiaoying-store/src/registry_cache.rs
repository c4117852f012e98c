//! The registry held in memory between changes. Reading every person, unit and area costs about
//! 100 ms at 20 000 persons, and every alert and every timer step with work needs the registry;
//! a change bumps `registry_generation` in the same transaction, so one tiny read tells whether
//! the copy in memory is still current — on this instance and on every other one sharing the
//! database.

use std::sync::{Arc, Mutex};

use jiaoying_core::Registry;

#[derive(Default)]
pub(crate) struct RegistryCache {
    slot: Mutex<Option<(i64, Arc<Registry>)>>,
}

impl RegistryCache {
    /// The copy loaded at `generation`, if that is the one held.
    pub(crate) fn get(&self, generation: i64) -> Option<Arc<Registry>> {
        let slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref().filter(|(g, _)| *g == generation).map(|(_, r)| r.clone())
    }

    /// Keeps `registry`, loaded after reading `generation`. Loading after reading the counter
    /// means a change in between is at worst newer than its label, never older: the next read
    /// of the counter then differs and reloads.
    pub(crate) fn put(&self, generation: i64, registry: Arc<Registry>) {
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some((generation, registry));
    }
}
