//! A replica's copy of the silences, shared by its delivery actors and
//! read again only when their generation moved: every batch of a queue is
//! read with the generation current then, so no delivery is judged on a
//! list older than its batch.

use std::sync::Arc;

use tokio::sync::Mutex;

use crate::routing::Silence;
use crate::store::{Store, StoreError};

/// The silences as of a generation.
type Known = Option<(i64, Arc<Vec<Silence>>)>;

#[derive(Clone, Default)]
pub struct SilenceBook(Arc<Mutex<Known>>);

impl SilenceBook {
    /// The silences as of `generation` or later.
    pub async fn at(
        &self,
        store: &Store,
        generation: i64,
    ) -> Result<Arc<Vec<Silence>>, StoreError> {
        let mut book = self.0.lock().await;
        if let Some((known, silences)) = &*book {
            if *known >= generation {
                return Ok(silences.clone());
            }
        }
        let (known, silences) = store.live_silences().await?;
        let silences = Arc::new(silences);
        *book = Some((known, silences.clone()));
        Ok(silences)
    }
}
