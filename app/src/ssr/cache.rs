//! Decoded models kept in memory, keyed by user and checked against the stored
//! version on every use, so a retrain or a delete through any instance is seen by
//! all of them at their next request. Bounded by the models' in-memory bytes; the
//! least recently used go first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tweetgen_markov::Model;

pub struct ModelCache {
    max_bytes: usize,
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_user: HashMap<i64, Entry>,
    bytes: usize,
    /// Incremented on every use: the entry with the smallest stamp is the least recent.
    clock: u64,
}

struct Entry {
    version: i64,
    model: Arc<Model>,
    bytes: usize,
    last_used: u64,
}

impl ModelCache {
    pub fn new(max_bytes: usize) -> Self {
        Self { max_bytes, inner: Mutex::default() }
    }

    /// The user's model if it is cached at exactly `version`.
    pub fn get(&self, user_id: i64, version: i64) -> Option<Arc<Model>> {
        let mut entries = self.lock();
        entries.clock += 1;
        let now = entries.clock;
        let entry = entries.by_user.get_mut(&user_id).filter(|entry| entry.version == version)?;
        entry.last_used = now;
        Some(entry.model.clone())
    }

    /// Caches a model (replacing any other version of the user's), then evicts the
    /// least recently used until the total fits. A model larger than the whole
    /// cache is not kept.
    pub fn insert(&self, user_id: i64, version: i64, model: Arc<Model>) {
        let bytes = model.memory_bytes();
        let mut entries = self.lock();
        entries.remove(user_id);
        if bytes > self.max_bytes {
            return;
        }
        entries.clock += 1;
        let last_used = entries.clock;
        entries.bytes += bytes;
        entries.by_user.insert(user_id, Entry { version, model, bytes, last_used });
        while entries.bytes > self.max_bytes {
            let Some(oldest) = entries.by_user.iter().min_by_key(|(_, entry)| entry.last_used).map(|(&id, _)| id)
            else {
                break;
            };
            entries.remove(oldest);
        }
    }

    /// Frees a deleted user's model now (other instances never serve it either:
    /// every use checks the stored version first; they free it when it ages out).
    pub fn remove(&self, user_id: i64) {
        self.lock().remove(user_id);
    }

    pub fn cached_bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock cannot leave the map inconsistent: go on.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Entries {
    fn remove(&mut self, user_id: i64) {
        if let Some(entry) = self.by_user.remove(&user_id) {
            self.bytes -= entry.bytes;
        }
    }
}

impl std::fmt::Debug for ModelCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries = self.lock();
        f.debug_struct("ModelCache")
            .field("models", &entries.by_user.len())
            .field("bytes", &entries.bytes)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use tweetgen_markov::Tokenizer;

    use super::*;

    fn model(text: &str) -> Arc<Model> {
        Arc::new(Model::train(&Tokenizer::fallback(), &[text], 2).unwrap())
    }

    #[test]
    fn only_the_same_version_is_served() {
        let cache = ModelCache::new(1 << 20);
        cache.insert(1, 3, model("a b c"));
        assert!(cache.get(1, 3).is_some());
        assert!(cache.get(1, 4).is_none(), "a retrained model is a miss");
        assert!(cache.get(2, 3).is_none());
        cache.insert(1, 4, model("d e f"));
        assert!(cache.get(1, 3).is_none(), "the old version is gone");
        assert_eq!(cache.cached_bytes(), model("d e f").memory_bytes());
    }

    #[test]
    fn the_least_recently_used_go_first_when_full() {
        let one = model("a b c").memory_bytes();
        let cache = ModelCache::new(2 * one + one / 2);
        cache.insert(1, 1, model("a b c"));
        cache.insert(2, 1, model("a b d"));
        assert!(cache.get(1, 1).is_some()); // 2 is now the least recent
        cache.insert(3, 1, model("a b e"));
        assert!(cache.get(2, 1).is_none());
        assert!(cache.get(1, 1).is_some() && cache.get(3, 1).is_some());
        assert!(cache.cached_bytes() <= 2 * one + one / 2);
    }

    #[test]
    fn a_model_larger_than_the_cache_is_not_kept() {
        let cache = ModelCache::new(10);
        cache.insert(1, 1, model("a b c"));
        assert!(cache.get(1, 1).is_none());
        assert_eq!(cache.cached_bytes(), 0);
    }
}
