//! Who may train now. Training is the heaviest work the service does (CPU and
//! memory grow with the archive), so it is admitted twice: a slot among this
//! instance's `max_concurrent` (waiting up to `wait` for one, then 429), and the
//! account's claim in the database, taken in one statement with the retrain
//! interval's check, so that two uploads at once — through any instances — cannot
//! both pass.
//!
//! Invariant: a model is trained only under a slot and the account's claim, and
//! the claim ends in the same statement that saves the model (or when the
//! training fails).

use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::session::SessionUser;
use super::{store, training::TrainedModel, AppState};
use crate::error::AppError;

#[derive(Debug)]
pub struct Trainings {
    slots: std::sync::Arc<Semaphore>,
    wait: Duration,
}

impl Trainings {
    pub fn new(max_concurrent: usize, wait: Duration) -> Self {
        Self { slots: std::sync::Arc::new(Semaphore::new(max_concurrent.max(1))), wait }
    }

    /// A slot on this instance, waiting up to `wait` for one.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, AppError> {
        let waited = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await;
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(AppError::TooBusyToTrain),
        }
    }
}

/// The right to train, for one signed-in person, until `AppState::finish_training`.
pub struct Admitted {
    pub user: SessionUser,
    _slot: OwnedSemaphorePermit,
}

impl AppState {
    /// Admits the signed-in visitor's training: within their rate, a slot here,
    /// then the account's claim (refused if they trained within the retrain
    /// interval or a training of theirs is under way). Before any of the upload is
    /// read or trained on.
    pub async fn begin_training(&self) -> Result<Admitted, AppError> {
        let user = self.signed_in().await?;
        // Failed uploads take no claim: the rate bounds how often one can fail.
        self.rate_limit(super::rate_limits::Action::Train, Some(&user))?;
        let slot = self.trainings.slot().await?;
        let (user_id, interval) = (user.user_id, self.config.retrain_interval);
        self.db.write(|pool| async move { store::claim_training(&pool, user_id, interval).await }).await?;
        Ok(Admitted { user, _slot: slot })
    }

    /// Saves the model (ending the claim in the same statement), or ends the claim
    /// of a training that failed and hands its error on.
    pub async fn finish_training(
        &self,
        admitted: &Admitted,
        trained: Result<TrainedModel, AppError>,
    ) -> Result<TrainedModel, AppError> {
        let user_id = admitted.user.user_id;
        match trained {
            Ok(trained) => {
                let model = &trained;
                self.db.write(|pool| async move { store::save_model(&pool, user_id, model).await }).await?;
                Ok(trained)
            }
            Err(error) => {
                let released = self.db.write(|pool| async move { store::release_training(&pool, user_id).await });
                if let Err(release_error) = released.await {
                    tracing::warn!(?release_error, user_id, "the claim stays until it expires");
                }
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn past_the_wait_a_training_gets_429_not_a_queue_without_end() {
        let trainings = Trainings::new(1, Duration::from_millis(50));
        let first = trainings.slot().await.unwrap();
        assert_eq!(trainings.slot().await.unwrap_err(), AppError::TooBusyToTrain);
        drop(first);
        assert!(trainings.slot().await.is_ok(), "free again once the first ends");
    }
}
