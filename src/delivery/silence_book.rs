//! A replica's copy of the silences, shared by its delivery actors and
//! read again only when their generation moved: every batch of a queue is
//! read with the generation current then, so no delivery is judged on a
//! list older than its batch.

use std::sync::{Arc, RwLock};

use tokio::sync::Mutex;

use crate::routing::Silence;
use crate::store::{Store, StoreError};

/// The silences as of a generation.
type Known = Option<(i64, Arc<Vec<Silence>>)>;

/// Read by every delivery of every actor (a read lock, uncontended), and
/// refreshed by one of them at a time when the generation moved.
#[derive(Clone, Default)]
pub struct SilenceBook {
    known: Arc<RwLock<Known>>,
    refreshing: Arc<Mutex<()>>,
}

impl SilenceBook {
    fn current(&self, generation: i64) -> Option<Arc<Vec<Silence>>> {
        let known = self.known.read().unwrap_or_else(|p| p.into_inner());
        match &*known {
            Some((at, silences)) if *at >= generation => Some(silences.clone()),
            _ => None,
        }
    }

    /// The silences as of `generation` or later.
    pub async fn at(
        &self,
        store: &Store,
        generation: i64,
    ) -> Result<Arc<Vec<Silence>>, StoreError> {
        if let Some(silences) = self.current(generation) {
            return Ok(silences);
        }
        let _one = self.refreshing.lock().await;
        // Another actor may have read them while this one waited.
        if let Some(silences) = self.current(generation) {
            return Ok(silences);
        }
        let (at, silences) = store.live_silences().await?;
        let silences = Arc::new(silences);
        *self.known.write().unwrap_or_else(|p| p.into_inner()) = Some((at, silences.clone()));
        Ok(silences)
    }
}
