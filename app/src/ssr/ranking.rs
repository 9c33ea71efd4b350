//! The ranking: the users most generated from by others in the last days,
//! counted in people: one vote per viewer, voice and day (`store::record_generation`),
//! none from the voice's own account or its owner's addresses of that day.
//!
//! Counting a week of generations takes seconds at scale (`ranking_at_scale` in
//! the server's tests: ~2 s for 5 M), so each instance counts once per
//! `refresh` and serves those counts in between (and while it counts again). Names and protection are read on every request, so a
//! deleted or newly protected account leaves the ranking at once on every
//! instance.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::Mutex;

use crate::error::AppError;
use crate::shared::Ranked;

/// The ranking's window, in days (today included).
pub const RANKING_DAYS: i32 = 7;

/// Users kept beyond the shown ones, to fill places left by deleted or
/// protected accounts until the next refresh.
const SPARE: i64 = 10;

#[derive(Debug)]
pub struct RankingCache {
    refresh: Duration,
    /// The counts as last computed, and when.
    latest: std::sync::Mutex<Option<(Instant, Arc<Vec<Counted>>)>>,
    /// Held by the one request counting: the others wait for it, or serve the
    /// previous counts meanwhile if there are any.
    counting: Mutex<()>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
struct Counted {
    user_id: i64,
    generations: i64,
}

impl RankingCache {
    /// `refresh` zero: computed on every request.
    pub fn new(refresh: Duration) -> Self {
        Self { refresh, latest: std::sync::Mutex::new(None), counting: Mutex::new(()) }
    }

    /// The `limit` users most generated from by others in the last `days` days,
    /// most first, ties by name.
    pub async fn ranking(&self, pool: &PgPool, days: i32, limit: i64) -> Result<Vec<Ranked>, AppError> {
        if self.refresh.is_zero() {
            return visible(pool, &count(pool, days, limit).await?, limit).await;
        }
        let counted = match self.fresh() {
            Ok(counted) => counted,
            Err(stale) => self.recount(pool, days, limit, stale).await?,
        };
        visible(pool, &counted, limit).await
    }

    /// Counts again, unless another request is counting: then its previous
    /// counts meanwhile, or, if there are none yet, what it counts.
    async fn recount(
        &self,
        pool: &PgPool,
        days: i32,
        limit: i64,
        stale: Option<Arc<Vec<Counted>>>,
    ) -> Result<Arc<Vec<Counted>>, AppError> {
        let _counting = match (self.counting.try_lock(), stale) {
            (Ok(counting), _) => counting,
            (Err(_), Some(stale)) => return Ok(stale),
            (Err(_), None) => self.counting.lock().await,
        };
        // Counted by the request this one waited for.
        if let Ok(counted) = self.fresh() {
            return Ok(counted);
        }
        let counted = Arc::new(count(pool, days, limit + SPARE).await?);
        *self.latest.lock().expect("ranking cache lock") = Some((Instant::now(), counted.clone()));
        Ok(counted)
    }

    /// The counts if younger than `refresh`; otherwise the stale ones, if any.
    fn fresh(&self) -> Result<Arc<Vec<Counted>>, Option<Arc<Vec<Counted>>>> {
        match &*self.latest.lock().expect("ranking cache lock") {
            Some((at, counted)) if at.elapsed() < self.refresh => Ok(counted.clone()),
            latest => Err(latest.as_ref().map(|(_, counted)| counted.clone())),
        }
    }
}

/// The `limit` users with the most votes in the last `days` days (today
/// included), protected accounts left out, ties by name.
async fn count(pool: &PgPool, days: i32, limit: i64) -> Result<Vec<Counted>, AppError> {
    Ok(sqlx::query_as(
        "SELECT u.id AS user_id, count(*) AS generations
         FROM ranking_votes v JOIN users u ON u.id = v.voice_id
         WHERE v.day > current_date - $1
           AND NOT u.protected
           AND NOT EXISTS (SELECT 1 FROM owner_addresses o
                           WHERE o.user_id = v.voice_id AND o.day = v.day AND o.viewer = v.viewer)
         GROUP BY u.id, u.screen_name
         ORDER BY generations DESC, u.screen_name
         LIMIT $2",
    )
    .bind(days)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// The counted users that still exist and are not protected, with their names
/// as they are now, the first `limit` of them.
async fn visible(pool: &PgPool, counted: &[Counted], limit: i64) -> Result<Vec<Ranked>, AppError> {
    let ids: Vec<i64> = counted.iter().map(|c| c.user_id).collect();
    let names: std::collections::HashMap<i64, String> =
        sqlx::query_as("SELECT id, screen_name FROM users WHERE id = ANY($1) AND NOT protected")
            .bind(&ids)
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect();
    let mut ranked: Vec<Ranked> = counted
        .iter()
        .filter_map(|c| {
            names.get(&c.user_id).map(|name| Ranked { screen_name: name.clone(), generations: c.generations })
        })
        .collect();
    ranked.sort_by(|a, b| b.generations.cmp(&a.generations).then_with(|| a.screen_name.cmp(&b.screen_name)));
    ranked.truncate(limit.try_into().unwrap_or(0));
    Ok(ranked)
}
