//! PostgreSQL access. Screen names match case-insensitively, as on X.

use sqlx::PgPool;

use super::training::TrainedModel;
use crate::api::{Generated, Profile};
use crate::error::AppError;

const PROFILE_COLUMNS: &str =
    "u.screen_name, m.sentences, to_char(m.trained_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC'";

fn profile_from_row((screen_name, sentences, trained_at): (String, i32, String)) -> Profile {
    Profile { screen_name, sentences, trained_at }
}

/// Users with a model, most recently trained first.
pub async fn trained_users(pool: &PgPool, limit: i64) -> Result<Vec<Profile>, AppError> {
    let rows = sqlx::query_as(&format!(
        "SELECT {PROFILE_COLUMNS} FROM users u JOIN models m ON m.user_id = u.id ORDER BY m.trained_at DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(profile_from_row).collect())
}

pub async fn profile(pool: &PgPool, screen_name: &str) -> Result<Option<Profile>, AppError> {
    let row = sqlx::query_as(&format!(
        "SELECT {PROFILE_COLUMNS} FROM users u JOIN models m ON m.user_id = u.id WHERE lower(u.screen_name) = lower($1)"
    ))
    .bind(screen_name)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(profile_from_row))
}

/// Creates the user if needed and replaces their model, in one transaction: a
/// failure leaves the previous model in place.
pub async fn save_model(pool: &PgPool, screen_name: &str, model: &TrainedModel) -> Result<(), AppError> {
    let mut tx = pool.begin().await?;
    let (user_id,): (i64,) = sqlx::query_as(
        "INSERT INTO users (screen_name) VALUES ($1)
         ON CONFLICT ((lower(screen_name))) DO UPDATE SET screen_name = EXCLUDED.screen_name
         RETURNING id",
    )
    .bind(screen_name)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO models (user_id, data, sentences) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE
         SET data = EXCLUDED.data, sentences = EXCLUDED.sentences,
             version = models.version + 1, trained_at = now()",
    )
    .bind(user_id)
    .bind(&model.bytes)
    .bind(model.sentences)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A user's model as stored: who, and which version (bumped by every retrain).
pub struct StoredModel {
    pub user_id: i64,
    /// As the user spells it.
    pub screen_name: String,
    pub version: i64,
}

/// Which model a screen name has, without reading the model itself.
pub async fn model_version(pool: &PgPool, screen_name: &str) -> Result<Option<StoredModel>, AppError> {
    let row: Option<(i64, String, i64)> = sqlx::query_as(
        "SELECT u.id, u.screen_name, m.version FROM users u JOIN models m ON m.user_id = u.id \
         WHERE lower(u.screen_name) = lower($1)",
    )
    .bind(screen_name)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(user_id, screen_name, version)| StoredModel { user_id, screen_name, version }))
}

/// The encoded model and the version it is (it may be newer than one read before).
pub async fn model_data(pool: &PgPool, user_id: i64) -> Result<Option<(i64, Vec<u8>)>, AppError> {
    Ok(sqlx::query_as("SELECT version, data FROM models WHERE user_id = $1").bind(user_id).fetch_optional(pool).await?)
}

pub async fn record_generation(pool: &PgPool, user_id: i64, text: &str) -> Result<i64, AppError> {
    let (id,): (i64,) = sqlx::query_as("INSERT INTO generations (user_id, text) VALUES ($1, $2) RETURNING id")
        .bind(user_id)
        .bind(text)
        .fetch_one(pool)
        .await?;
    Ok(id)
}

pub async fn generation(pool: &PgPool, screen_name: &str, id: i64) -> Result<Option<Generated>, AppError> {
    let row: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT g.id, u.screen_name, g.text FROM generations g JOIN users u ON u.id = g.user_id
         WHERE g.id = $1 AND lower(u.screen_name) = lower($2)",
    )
    .bind(id)
    .bind(screen_name)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, screen_name, text)| Generated { id, screen_name, text }))
}
