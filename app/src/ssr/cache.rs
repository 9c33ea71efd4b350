//! Decoded models (and card images, mixes' blends) kept in memory, keyed by user
//! and checked against the stored version on every use, so a retrain or a delete
//! through any instance is seen by all of them at their next request. Bounded by
//! bytes; the least recently used go first. And [`SingleFlight`], so that what
//! goes in is made once however many requests want it at the same moment.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use tweetgen_markov::Model;

/// Decoded models by user id.
pub type ModelCache = VersionedCache<i64, Arc<Model>>;

/// Values derived from a stored model (or the model itself), each valid for one
/// version of it.
pub struct VersionedCache<K, V> {
    max_bytes: usize,
    inner: Mutex<Entries<K, V>>,
}

struct Entries<K, V> {
    by_key: HashMap<K, Entry<V>>,
    bytes: usize,
    /// Incremented on every use: the entry with the smallest stamp is the least recent.
    clock: u64,
}

struct Entry<V> {
    version: i64,
    value: V,
    bytes: usize,
    last_used: u64,
}

impl<K: Hash + Eq + Clone, V: Clone> VersionedCache<K, V> {
    pub fn new(max_bytes: usize) -> Self {
        Self { max_bytes, inner: Mutex::new(Entries { by_key: HashMap::new(), bytes: 0, clock: 0 }) }
    }

    /// The value if it is cached at exactly `version`.
    pub fn get(&self, key: &K, version: i64) -> Option<V> {
        let mut entries = self.lock();
        entries.clock += 1;
        let now = entries.clock;
        let entry = entries.by_key.get_mut(key).filter(|entry| entry.version == version)?;
        entry.last_used = now;
        Some(entry.value.clone())
    }

    /// Caches a value of `bytes` (replacing any other version of it), then evicts
    /// the least recently used until the total fits. A value larger than the whole
    /// cache is not kept.
    pub fn insert(&self, key: K, version: i64, value: V, bytes: usize) {
        let mut entries = self.lock();
        entries.remove(&key);
        if bytes > self.max_bytes {
            return;
        }
        entries.clock += 1;
        let last_used = entries.clock;
        entries.bytes += bytes;
        entries.by_key.insert(key, Entry { version, value, bytes, last_used });
        while entries.bytes > self.max_bytes {
            let Some(oldest) =
                entries.by_key.iter().min_by_key(|(_, entry)| entry.last_used).map(|(key, _)| key.clone())
            else {
                break;
            };
            entries.remove(&oldest);
        }
    }

    /// Frees an entry now (e.g. a deleted user's model). Other instances never
    /// serve theirs either: every use checks the stored version first; they free
    /// it when it ages out.
    pub fn remove(&self, key: &K) {
        self.lock().remove(key);
    }

    pub fn cached_bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<K, V>> {
        // A panic while holding the lock cannot leave the map inconsistent: go on.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Work under way, by key: the first request for a key does it, the others
/// that come meanwhile wait for its result (a shared link's first hundred
/// visitors cost one card render, or one blend build, not a hundred). If the
/// request doing it goes away, a waiting one takes over.
pub struct SingleFlight<K, V> {
    flights: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K: Hash + Eq + Clone, V: Clone> SingleFlight<K, V> {
    pub fn new() -> Self {
        Self { flights: Mutex::new(HashMap::new()) }
    }

    /// `work`'s result for `key`: this call's, or that of the call already doing it.
    pub async fn run<F: Future<Output = V>>(&self, key: K, work: impl FnOnce() -> F) -> V {
        let flight = self.lock().entry(key.clone()).or_default().clone();
        let value = flight.get_or_init(work).await.clone();
        // Done: the next call for this key starts afresh (by then its result is
        // cached, or it failed and may be tried again).
        let mut flights = self.lock();
        if flights.get(&key).is_some_and(|current| Arc::ptr_eq(current, &flight)) {
            flights.remove(&key);
        }
        value
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Arc<OnceCell<V>>>> {
        // A panic while holding the lock cannot leave the map inconsistent: go on.
        self.flights.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<K, V> std::fmt::Debug for SingleFlight<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let flights = self.flights.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f.debug_struct("SingleFlight").field("under_way", &flights.len()).finish()
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl ModelCache {
    pub fn insert_model(&self, user_id: i64, version: i64, model: Arc<Model>) {
        let bytes = model.memory_bytes();
        self.insert(user_id, version, model, bytes);
    }
}

impl<K: Hash + Eq, V> Entries<K, V> {
    fn remove(&mut self, key: &K) {
        if let Some(entry) = self.by_key.remove(key) {
            self.bytes -= entry.bytes;
        }
    }
}

impl<K, V> std::fmt::Debug for VersionedCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f.debug_struct("VersionedCache")
            .field("entries", &entries.by_key.len())
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
        cache.insert_model(1, 3, model("a b c"));
        assert!(cache.get(&1, 3).is_some());
        assert!(cache.get(&1, 4).is_none(), "a retrained model is a miss");
        assert!(cache.get(&2, 3).is_none());
        cache.insert_model(1, 4, model("d e f"));
        assert!(cache.get(&1, 3).is_none(), "the old version is gone");
        assert_eq!(cache.cached_bytes(), model("d e f").memory_bytes());
    }

    #[test]
    fn the_least_recently_used_go_first_when_full() {
        let one = model("a b c").memory_bytes();
        let cache = ModelCache::new(2 * one + one / 2);
        cache.insert_model(1, 1, model("a b c"));
        cache.insert_model(2, 1, model("a b d"));
        assert!(cache.get(&1, 1).is_some()); // 2 is now the least recent
        cache.insert_model(3, 1, model("a b e"));
        assert!(cache.get(&2, 1).is_none());
        assert!(cache.get(&1, 1).is_some() && cache.get(&3, 1).is_some());
        assert!(cache.cached_bytes() <= 2 * one + one / 2);
    }

    #[tokio::test]
    async fn work_wanted_at_once_is_done_once() {
        let flights: Arc<SingleFlight<u8, u32>> = Arc::new(SingleFlight::new());
        let done = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let wanted = (0..8).map(|_| {
            let (flights, done) = (flights.clone(), done.clone());
            tokio::spawn(async move {
                flights
                    .run(1, || async move {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 100
                    })
                    .await
            })
        });
        let results: Vec<u32> = futures_results(wanted.collect()).await;
        assert_eq!(results, [100; 8], "every caller got the one result");
        assert_eq!(done.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(flights.run(1, || async { 7 }).await, 7, "done work is not kept");
    }

    async fn futures_results(tasks: Vec<tokio::task::JoinHandle<u32>>) -> Vec<u32> {
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    }

    #[test]
    fn a_model_larger_than_the_cache_is_not_kept() {
        let cache = ModelCache::new(10);
        cache.insert_model(1, 1, model("a b c"));
        assert!(cache.get(&1, 1).is_none());
        assert_eq!(cache.cached_bytes(), 0);
    }
}
