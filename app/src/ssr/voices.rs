//! A voice as a request uses it: one user's model, or the blend of a mix's
//! members' models. Resolved against the database on every request, and cached
//! by the models' versions, so that a retrain or a deletion through any
//! instance changes every mix it is in at the next request everywhere.
//!
//! Invariant: a protected user's model is used only for its owner, alone or in
//! a mix (`check_access` on every member); a mix's members are in the mix's
//! canonical order throughout.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rand::Rng;
use tweetgen_markov::{Blend, GenerateOptions, Model};

use super::cache::{SingleFlight, VersionedCache};
use super::rate_limits::Action;
use super::store::{self, StoredModel, StoredVoice, StoredVoices};
use super::{check_access, client_address, training, AppState};
use crate::error::AppError;
use crate::shared::{Generated, Mix, MixMember, MixPage, Voice};

/// Mixes' blends by `store::members_key`, at the sum of the members' model
/// versions (versions only grow, and a deleted user's id never comes back, so a
/// changed member always changes that sum); each built once at a time, however
/// many requests a new mix gets at once (a build holds its parts and the merged
/// model together).
#[derive(Debug)]
pub struct Blends {
    cache: VersionedCache<String, Arc<Blend>>,
    building: SingleFlight<(String, i64), Result<Arc<Blend>, AppError>>,
    /// Blends this instance has built (for monitoring, and the tests).
    built: AtomicU64,
}

impl Blends {
    pub fn new(max_bytes: usize) -> Self {
        Self { cache: VersionedCache::new(max_bytes), building: SingleFlight::new(), built: AtomicU64::new(0) }
    }

    pub fn built(&self) -> u64 {
        self.built.load(Ordering::Relaxed)
    }
}

/// What a generation draws from.
#[derive(Clone)]
pub enum Speaker {
    One(Arc<Model>),
    Mix(Arc<Blend>),
}

impl Speaker {
    pub fn generate(&self, options: &GenerateOptions, rng: &mut impl Rng) -> Result<String, tweetgen_markov::Error> {
        match self {
            Speaker::One(model) => model.generate(options, rng),
            Speaker::Mix(blend) => blend.generate(options, rng),
        }
    }
}

/// The stored voices behind `voice`, and `voice` as their owners spell it. Access
/// is not checked here (`check_voices_access`): a card shows a protected voice
/// as such rather than failing.
pub async fn resolve(state: &AppState, voice: &Voice) -> Result<(Voice, StoredVoices), AppError> {
    match voice {
        Voice::One(screen_name) => {
            let stored = store::model_version(&state.reads(), screen_name)
                .await?
                .ok_or_else(|| AppError::UnknownUser(screen_name.clone()))?;
            Ok((Voice::One(stored.screen_name.clone()), StoredVoices::One(stored)))
        }
        Voice::Mix(mix) => {
            let (mix, members) = resolve_mix(state, mix).await?;
            let members = members.into_iter().map(|(voice, weight)| (voice.model, weight)).collect();
            Ok((Voice::Mix(mix), StoredVoices::Mix(members)))
        }
    }
}

/// A mix's members as stored (each must have a model), with the mix spelled as
/// they spell their names.
pub async fn resolve_mix(state: &AppState, mix: &Mix) -> Result<(Mix, Vec<(StoredVoice, u32)>), AppError> {
    let names: Vec<&str> = mix.members().iter().map(|member| member.screen_name.as_str()).collect();
    let mut found = store::voices(&state.reads(), &names).await?;
    let mut members = Vec::with_capacity(names.len());
    for member in mix.members() {
        let at = found
            .iter()
            .position(|voice| voice.model.screen_name.eq_ignore_ascii_case(&member.screen_name))
            .ok_or_else(|| AppError::UnknownUser(member.screen_name.clone()))?;
        members.push((found.swap_remove(at), member.weight));
    }
    let spelled = members
        .iter()
        .map(|(voice, weight)| MixMember { screen_name: voice.model.screen_name.clone(), weight: *weight })
        .collect();
    Ok((Mix::new(spelled)?, members))
}

/// Anyone may use public voices; a protected one only its owner, in a mix too.
pub fn check_voices_access(voices: &StoredVoices, viewer: Option<i64>) -> Result<(), AppError> {
    match voices {
        StoredVoices::One(model) => check_model_access(model, viewer),
        StoredVoices::Mix(members) => members.iter().try_for_each(|(model, _)| check_model_access(model, viewer)),
    }
}

fn check_model_access(model: &StoredModel, viewer: Option<i64>) -> Result<(), AppError> {
    check_access(&model.screen_name, model.user_id, model.protected, viewer)
}

/// True when some voice's words must stay off what anyone can fetch.
pub fn any_protected(voices: &StoredVoices) -> bool {
    match voices {
        StoredVoices::One(model) => model.protected,
        StoredVoices::Mix(members) => members.iter().any(|(model, _)| model.protected),
    }
}

/// The model, or the mix's blend, at the stored versions.
pub async fn speaker(state: &AppState, voices: &StoredVoices) -> Result<Speaker, AppError> {
    let members = match voices {
        StoredVoices::One(stored) => return Ok(Speaker::One(training::cached_model(state, stored).await?)),
        StoredVoices::Mix(members) => members,
    };
    let key = store::members_key(members);
    let version = members.iter().map(|(model, _)| model.version).sum();
    if let Some(blend) = state.blends.cache.get(&key, version) {
        return Ok(Speaker::Mix(blend));
    }
    let build = || async {
        let mut parts = Vec::with_capacity(members.len());
        for (stored, weight) in members {
            parts.push((training::cached_model(state, stored).await?, f64::from(*weight)));
        }
        let blend = training::on_blocking_pool("blending", move || Blend::new(parts).map_err(training::engine_error));
        let blend = Arc::new(blend.await?);
        state.blends.built.fetch_add(1, Ordering::Relaxed);
        // The blend holds its own merged model, none of the parts: its bytes are all it keeps.
        state.blends.cache.insert(key.clone(), version, blend.clone(), blend.memory_bytes());
        Ok::<_, AppError>(blend)
    };
    Ok(Speaker::Mix(state.blends.building.run((key.clone(), version), build).await?))
}

/// Writes a tweet in `voice` for the current request's visitor, and records it.
/// `max_chars` and `start` are the form's fields (empty: the defaults).
pub async fn generate_tweet(
    state: &AppState,
    voice: &Voice,
    max_chars: &str,
    start: &str,
) -> Result<Generated, AppError> {
    let viewer = state.viewer().await?;
    state.rate_limit(Action::Generate, viewer.as_ref())?;
    let options = training::options(&state.tokenizer, max_chars, start)?;
    let (voice, stored) = resolve(state, voice).await?;
    let generated_by = viewer.as_ref().map(|viewer| viewer.user_id);
    check_voices_access(&stored, generated_by)?;
    let text = training::generate(speaker(state, &stored).await?, options).await?;
    let generation = store::NewGeneration { voice: &stored, generated_by, address: client_address(), text: &text };
    let generation = &generation;
    let id = state.db.write(|pool| async move { store::record_generation(&pool, generation).await }).await?;
    Ok(state.generated(id, voice, text))
}

/// Tweet `id` of `voice`, for a visitor allowed to use that voice.
pub async fn generation(state: &AppState, voice: &Voice, id: i64) -> Result<Generated, AppError> {
    let viewer = state.viewer().await?.map(|viewer| viewer.user_id);
    let (voice, stored) = resolve(state, voice).await?;
    check_voices_access(&stored, viewer)?;
    let text = store::generation(&state.reads(), &stored, id).await?.ok_or(AppError::UnknownGeneration)?;
    Ok(state.generated(id, voice, text))
}

/// A mix's page for the current request's visitor, who must be allowed to use
/// every member: the mix as they spell their names, their profiles, its addresses.
pub async fn mix_page(state: &AppState, mix: &Mix) -> Result<MixPage, AppError> {
    let (mix, members) = resolve_mix(state, mix).await?;
    let viewer = state.viewer().await?.map(|viewer| viewer.user_id);
    members.iter().try_for_each(|(voice, _)| check_model_access(&voice.model, viewer))?;
    let voice = Voice::Mix(mix.clone());
    let (page_url, card_url) = (state.page_url(&voice), state.card_url(&voice, None));
    let members = members.into_iter().map(|(voice, _)| voice.profile.into()).collect();
    Ok(MixPage { mix, members, page_url, card_url })
}
