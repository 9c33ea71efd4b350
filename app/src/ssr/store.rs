//! PostgreSQL access. Screen names match case-insensitively, as on X.

use std::time::Duration;

use sqlx::PgPool;

use super::rate_limits::ClientAddress;
use super::training::TrainedModel;
use crate::error::AppError;
use crate::shared::Profile;

const PROFILE_COLUMNS: &str =
    "u.screen_name, m.sentences, extract(epoch FROM m.trained_at)::bigint AS trained_at, u.protected";

/// A user with a model, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredProfile {
    pub screen_name: String,
    pub sentences: i32,
    /// When the model was trained, in seconds since 1970 (UTC).
    pub trained_at: i64,
    pub protected: bool,
}

impl From<StoredProfile> for Profile {
    fn from(stored: StoredProfile) -> Profile {
        let StoredProfile { screen_name, sentences, trained_at, protected } = stored;
        Profile { screen_name, sentences, trained_at: utc_minute(trained_at), protected }
    }
}

/// "YYYY-MM-DD HH:MM UTC" of seconds since 1970 (Howard Hinnant's `civil_from_days`).
fn utc_minute(seconds: i64) -> String {
    let (days, minute_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", minute_of_day / 60, minute_of_day % 60)
}

/// Users with a model, most recently trained first; protected accounts are not listed.
pub async fn trained_users(pool: &PgPool, limit: i64) -> Result<Vec<StoredProfile>, AppError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {PROFILE_COLUMNS} FROM users u JOIN models m ON m.user_id = u.id WHERE NOT u.protected
         ORDER BY m.trained_at DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub async fn profile(pool: &PgPool, screen_name: &str) -> Result<Option<StoredProfile>, AppError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {PROFILE_COLUMNS} FROM users u JOIN models m ON m.user_id = u.id WHERE lower(u.screen_name) = lower($1)"
    ))
    .bind(screen_name)
    .fetch_optional(pool)
    .await?)
}

/// The user of a screen name, created if missing (the demo users).
pub async fn ensure_user(pool: &PgPool, screen_name: &str) -> Result<i64, AppError> {
    let (user_id,): (i64,) = sqlx::query_as(
        "INSERT INTO users (screen_name) VALUES ($1)
         ON CONFLICT ((lower(screen_name))) DO UPDATE SET screen_name = EXCLUDED.screen_name
         RETURNING id",
    )
    .bind(screen_name)
    .fetch_one(pool)
    .await?;
    Ok(user_id)
}

/// The user signed in from X, created or brought up to date (X lets people change
/// their screen name and protect their account).
pub async fn upsert_x_user(
    pool: &PgPool,
    x_user_id: &str,
    screen_name: &str,
    protected: bool,
) -> Result<i64, AppError> {
    let mut tx = pool.begin().await?;
    // Screen names are unique on X at any moment: a row still holding this one
    // under another X account is stale (its owner renamed; or a demo user), and
    // its page would show someone else's voice under this name.
    let stale = sqlx::query("DELETE FROM users WHERE lower(screen_name) = lower($1) AND x_user_id IS DISTINCT FROM $2")
        .bind(screen_name)
        .bind(x_user_id)
        .execute(&mut *tx)
        .await?;
    if stale.rows_affected() > 0 {
        tracing::warn!(screen_name, "removed a stale user holding a screen name now signed in from another X account");
    }
    let (user_id,): (i64,) = sqlx::query_as(
        "INSERT INTO users (screen_name, x_user_id, protected) VALUES ($1, $2, $3)
         ON CONFLICT (x_user_id) DO UPDATE SET screen_name = EXCLUDED.screen_name, protected = EXCLUDED.protected
         RETURNING id",
    )
    .bind(screen_name)
    .bind(x_user_id)
    .bind(protected)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(user_id)
}

/// How long a training's claim outlives a server that died while training.
const CLAIM_EXPIRES_SECS: f64 = 600.0;

/// Takes the account's right to train now, in one statement: no training of
/// theirs under way, and `min_interval` passed since their last model. The clock
/// is read when the statement runs (`clock_timestamp()`), not when the
/// transaction began: a claim that waited for another's row lock sees that one.
pub async fn claim_training(pool: &PgPool, user_id: i64, min_interval: Duration) -> Result<(), AppError> {
    let claimed = sqlx::query(
        "UPDATE users SET training_since = clock_timestamp()
         WHERE id = $1
           AND (training_since IS NULL OR training_since < clock_timestamp() - make_interval(secs => $3))
           AND NOT EXISTS (SELECT FROM models WHERE user_id = $1
                           AND trained_at > clock_timestamp() - make_interval(secs => $2))",
    )
    .bind(user_id)
    .bind(min_interval.as_secs_f64())
    .bind(CLAIM_EXPIRES_SECS)
    .execute(pool)
    .await?;
    if claimed.rows_affected() == 1 {
        return Ok(());
    }
    Err(retrain_too_soon(pool, user_id, min_interval).await?.unwrap_or(AppError::TrainingUnderWay))
}

/// Ends the account's claim without a model (the training failed).
pub async fn release_training(pool: &PgPool, user_id: i64) -> Result<(), AppError> {
    sqlx::query("UPDATE users SET training_since = NULL WHERE id = $1").bind(user_id).execute(pool).await?;
    Ok(())
}

/// Saves a newly trained model and ends the account's claim, in one statement.
pub async fn save_model(pool: &PgPool, user_id: i64, model: &TrainedModel) -> Result<(), AppError> {
    sqlx::query(
        "WITH released AS (UPDATE users SET training_since = NULL WHERE id = $1)
         INSERT INTO models (user_id, data, sentences) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE
         SET data = EXCLUDED.data, sentences = EXCLUDED.sentences, version = models.version + 1, trained_at = now()",
    )
    .bind(user_id)
    .bind(&model.bytes)
    .bind(model.sentences)
    .execute(pool)
    .await?;
    Ok(())
}

/// The error to give someone who trained less than `min_interval` ago, if they did.
/// Measured against the clock now, not the transaction's start: a training that
/// committed between this statement's start and its snapshot would otherwise
/// look like one from the future.
pub async fn retrain_too_soon(
    pool: &PgPool,
    user_id: i64,
    min_interval: Duration,
) -> Result<Option<AppError>, AppError> {
    let wait: Option<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM trained_at + make_interval(secs => $2) - clock_timestamp())::float8
         FROM models WHERE user_id = $1",
    )
    .bind(user_id)
    .bind(min_interval.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    Ok(wait
        .filter(|seconds| *seconds > 0.0)
        .map(|seconds| AppError::RetrainTooSoon { minutes: (seconds / 60.0).ceil() as u64 }))
}

/// Deletes the user and everything derived from their tweets: the model, the
/// tweets generated from it and from mixes with it, their sessions (foreign
/// keys cascade). Their
/// generations from other people's models stay, anonymised. Identity ids are
/// never reused, so no cache can mistake a later user for this one.
pub async fn delete_user(pool: &PgPool, user_id: i64) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    // Locked first: a mix being recorded with this user either committed before
    // (and is seen below) or waits for this deletion and then fails.
    sqlx::query("SELECT FROM users WHERE id = $1 FOR UPDATE").bind(user_id).execute(&mut *tx).await?;
    // Mixes the user is in go, and the tweets generated from them with them.
    sqlx::query("DELETE FROM mixes WHERE id IN (SELECT mix_id FROM mix_members WHERE user_id = $1)")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM users WHERE id = $1").bind(user_id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// A user's model as stored: who, and which version (bumped by every retrain).
#[derive(Clone, Debug)]
pub struct StoredModel {
    pub user_id: i64,
    /// As the user spells it.
    pub screen_name: String,
    pub version: i64,
    pub protected: bool,
}

/// Which model a screen name has, without reading the model itself.
pub async fn model_version(pool: &PgPool, screen_name: &str) -> Result<Option<StoredModel>, AppError> {
    let row: Option<(i64, String, i64, bool)> = sqlx::query_as(
        "SELECT u.id, u.screen_name, m.version, u.protected FROM users u JOIN models m ON m.user_id = u.id \
         WHERE lower(u.screen_name) = lower($1)",
    )
    .bind(screen_name)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(user_id, screen_name, version, protected)| StoredModel { user_id, screen_name, version, protected }))
}

/// The voices of `screen_names` that have a model, with their profiles (in no
/// particular order; names without a model are missing).
pub async fn voices(pool: &PgPool, screen_names: &[&str]) -> Result<Vec<StoredVoice>, AppError> {
    let lower: Vec<String> = screen_names.iter().map(|name| name.to_ascii_lowercase()).collect();
    let rows: Vec<(i64, i64, String, i32, i64, bool)> = sqlx::query_as(&format!(
        "SELECT u.id, m.version, {PROFILE_COLUMNS} FROM users u JOIN models m ON m.user_id = u.id
         WHERE lower(u.screen_name) = ANY($1)"
    ))
    .bind(&lower)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(user_id, version, screen_name, sentences, trained_at, protected)| {
            let model = StoredModel { user_id, screen_name: screen_name.clone(), version, protected };
            StoredVoice { model, profile: StoredProfile { screen_name, sentences, trained_at, protected } }
        })
        .collect())
}

/// A voice as stored: its model's version and its profile.
pub struct StoredVoice {
    pub model: StoredModel,
    pub profile: StoredProfile,
}

/// The encoded model and the version it is (it may be newer than one read before).
pub async fn model_data(pool: &PgPool, user_id: i64) -> Result<Option<(i64, Vec<u8>)>, AppError> {
    Ok(sqlx::query_as("SELECT version, data FROM models WHERE user_id = $1").bind(user_id).fetch_optional(pool).await?)
}

/// A generation to record: the tweet, and who asked for it for the ranking.
pub struct NewGeneration<'a> {
    pub voice: &'a StoredVoices,
    pub generated_by: Option<i64>,
    pub address: ClientAddress,
    pub text: &'a str,
}

/// The day's salt: made by the first statement of the day that needs it. If two
/// make it at once, the one that waited sees none in its snapshot and records
/// no vote and no address that time (once a day at most).
const TODAY_SALT: &str = "salt AS (
        INSERT INTO ranking_salts (day) VALUES (current_date) ON CONFLICT (day) DO NOTHING RETURNING salt
    ), today AS (
        SELECT salt FROM salt UNION ALL SELECT salt FROM ranking_salts WHERE day = current_date LIMIT 1
    )";

/// Records a generation and, in the same statement, its vote for the ranking
/// (once per viewer, voice and day; none from the voice's own account) and, for a
/// signed-in viewer, the address as one of theirs for the day.
pub async fn record_generation(pool: &PgPool, generation: &NewGeneration<'_>) -> Result<i64, AppError> {
    let viewer = match generation.generated_by {
        Some(user_id) => format!("u:{user_id}"),
        None => address_key(generation.address),
    };
    let mix_id = match generation.voice {
        StoredVoices::One(_) => None,
        StoredVoices::Mix(members) => Some(mix_id(pool, members).await?),
    };
    let voices = generation.voice.user_ids();
    let (id,): (i64,) = sqlx::query_as(&format!(
        "WITH {TODAY_SALT}, generation AS (
             INSERT INTO generations (user_id, generated_by, text, mix_id) VALUES ($1[1], $2, $3, $6) RETURNING id
         ), vote AS (
             INSERT INTO ranking_votes (voice_id, day, viewer)
             SELECT voice, current_date, sha256(convert_to(salt::text || $4, 'UTF8')) FROM today, unnest($1) AS voice
             WHERE $2::bigint IS DISTINCT FROM voice
             ON CONFLICT DO NOTHING
         ), owner AS (
             INSERT INTO owner_addresses (user_id, day, viewer)
             SELECT $2, current_date, sha256(convert_to(salt::text || $5, 'UTF8')) FROM today
             WHERE $2::bigint IS NOT NULL
             ON CONFLICT DO NOTHING
         )
         SELECT id FROM generation"
    ))
    .bind(&voices)
    .bind(generation.generated_by)
    .bind(generation.text)
    .bind(viewer)
    .bind(address_key(generation.address))
    .bind(mix_id)
    .fetch_one(pool)
    .await?;
    Ok(id)
}

/// The voices a tweet is generated from, as stored.
pub enum StoredVoices {
    One(StoredModel),
    /// Each member and its weight, in the mix's order.
    Mix(Vec<(StoredModel, u32)>),
}

impl StoredVoices {
    /// The voices' user ids; a mix's first member first.
    pub fn user_ids(&self) -> Vec<i64> {
        match self {
            StoredVoices::One(model) => vec![model.user_id],
            StoredVoices::Mix(members) => members.iter().map(|(model, _)| model.user_id).collect(),
        }
    }
}

/// What identifies a mix in `mixes.members_key`: "user_id:weight" by ascending user id.
pub fn members_key(members: &[(StoredModel, u32)]) -> String {
    let mut members: Vec<(i64, u32)> = members.iter().map(|(model, weight)| (model.user_id, *weight)).collect();
    members.sort_unstable();
    members.iter().map(|(user_id, weight)| format!("{user_id}:{weight}")).collect::<Vec<_>>().join(",")
}

/// The mix's row, made on its first tweet.
async fn mix_id(pool: &PgPool, members: &[(StoredModel, u32)]) -> Result<i64, AppError> {
    let key = members_key(members);
    let found =
        sqlx::query_scalar("SELECT id FROM mixes WHERE members_key = $1").bind(&key).fetch_optional(pool).await?;
    if let Some(id) = found {
        return Ok(id);
    }
    let (user_ids, weights): (Vec<i64>, Vec<i32>) =
        members.iter().map(|(model, weight)| (model.user_id, *weight as i32)).unzip();
    // Two first tweets at once: the second's insert updates nothing and still returns the id.
    Ok(sqlx::query_scalar(
        "WITH mix AS (
             INSERT INTO mixes (members_key) VALUES ($1)
             ON CONFLICT (members_key) DO UPDATE SET members_key = EXCLUDED.members_key RETURNING id
         ), members AS (
             INSERT INTO mix_members (mix_id, user_id, weight)
             SELECT mix.id, member.user_id, member.weight FROM mix, unnest($2::bigint[], $3::integer[]) AS member (user_id, weight)
             ON CONFLICT DO NOTHING
         )
         SELECT id FROM mix",
    )
    .bind(&key)
    .bind(&user_ids)
    .bind(&weights)
    .fetch_one(pool)
    .await?)
}

/// Notes `address` as one of `user_id`'s for the day (at sign-in): votes from it
/// for their own voice do not count.
pub async fn note_owner_address(pool: &PgPool, user_id: i64, address: ClientAddress) -> Result<(), AppError> {
    sqlx::query(&format!(
        "WITH {TODAY_SALT}
         INSERT INTO owner_addresses (user_id, day, viewer)
         SELECT $1, current_date, sha256(convert_to(salt::text || $2, 'UTF8')) FROM today
         ON CONFLICT DO NOTHING"
    ))
    .bind(user_id)
    .bind(address_key(address))
    .execute(pool)
    .await?;
    Ok(())
}

/// Removes the ranking's salts, votes and addresses older than `days` days.
pub async fn purge_ranking(pool: &PgPool, days: i32) -> Result<u64, AppError> {
    let mut removed = 0;
    for table in ["ranking_votes", "owner_addresses", "ranking_salts"] {
        let deleted =
            sqlx::query(&format!("DELETE FROM {table} WHERE day < current_date - $1")).bind(days).execute(pool).await?;
        removed += deleted.rows_affected();
    }
    Ok(removed)
}

fn address_key(address: ClientAddress) -> String {
    format!("a:{}", address.ip())
}

/// The text of tweet `id` if it was generated from `voices` (a mix's tweet is
/// not its first member's, nor the other way round).
pub async fn generation(pool: &PgPool, voices: &StoredVoices, id: i64) -> Result<Option<String>, AppError> {
    let query = match voices {
        StoredVoices::One(model) => {
            sqlx::query_scalar("SELECT text FROM generations WHERE id = $1 AND user_id = $2 AND mix_id IS NULL")
                .bind(id)
                .bind(model.user_id)
        }
        StoredVoices::Mix(members) => sqlx::query_scalar(
            "SELECT g.text FROM generations g JOIN mixes x ON x.id = g.mix_id WHERE g.id = $1 AND x.members_key = $2",
        )
        .bind(id)
        .bind(members_key(members)),
    };
    Ok(query.fetch_optional(pool).await?)
}

#[cfg(test)]
mod tests {
    use super::utc_minute;

    #[test]
    fn training_times_read_in_utc_to_the_minute() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minute(1_682_944_496), "2023-05-01 12:34 UTC");
        assert_eq!(utc_minute(1_709_251_199), "2024-02-29 23:59 UTC");
        assert_eq!(utc_minute(1_798_761_600), "2027-01-01 00:00 UTC");
    }
}
