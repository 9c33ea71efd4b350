use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::{use_params_map, use_query_map};

use super::header::use_viewer;
use super::mix::MixForm;
use super::{set_error_status, set_not_found_status, ErrorMessage, NotFound};
use crate::api::{get_generation, get_mix_generation, get_profile, GenerateMix};
use crate::i18n::texts;
use crate::shared::{Generated, ProfilePage, Voice, DEFAULT_MAX_CHARS, MAX_CHARS_RANGE, MAX_START_CHARS, X_MAX_WEIGHT};

/// `/@screen_name`: the user's page, where anyone can generate a tweet in their voice.
#[component]
pub fn UserPage() -> impl IntoView {
    let params = use_params_map();
    let screen_name =
        move || params.read().get("handle").and_then(|handle| handle.strip_prefix('@').map(str::to_string));
    move || match screen_name() {
        Some(screen_name) => view! { <UserProfile screen_name/> }.into_any(),
        None => view! { <NotFound/> }.into_any(),
    }
}

#[component]
fn UserProfile(screen_name: String) -> impl IntoView {
    let profile = Resource::new(
        {
            let screen_name = screen_name.clone();
            move || screen_name.clone()
        },
        get_profile,
    );
    let t = texts();
    view! {
        <Title text=t.page_title(&format!("@{screen_name}"))/>
        <Suspense fallback=move || view! { <p>{t.loading}</p> }>
            {move || Suspend::new(async move {
                match profile.await {
                    Ok(Some(page)) => view! { <ProfileCard page/> }.into_any(),
                    Ok(None) => {
                        set_not_found_status();
                        view! {
                            <section class="card">
                                <h1>{t.unknown_user_title}</h1>
                                <p>{t.unknown_user_body}" "<a href="/">{t.teach_yours}</a></p>
                            </section>
                        }.into_any()
                    }
                    Err(error) => view! { <ErrorMessage error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The profile and, for anyone allowed to, the generator.
#[component]
fn ProfileCard(page: ProfilePage) -> impl IntoView {
    let t = texts();
    let viewer = use_viewer();
    let profile = page.profile;
    let protected = profile.protected;
    // A tweet's permalink carries that tweet's share tags instead (the Generator's).
    let showing_a_tweet = use_query_map().read_untracked().get("tweet").is_some();
    let share = (!showing_a_tweet).then(|| {
        let title = t.page_title(&format!("@{}", profile.screen_name));
        view! { <ShareTags title description=t.share_description.to_string() url=page.page_url image=page.card_url/> }
    });
    view! {
        {share}
        <section class="card profile">
            <h1>
                {format!("@{}", profile.screen_name)}
                {protected.then(|| view! { <span class="badge">{t.protected_badge}</span> })}
            </h1>
            <p class="meta">{t.learned(profile.sentences, &profile.trained_at)}</p>
            <Suspense>
                {move || Suspend::new({
                    let screen_name = profile.screen_name.clone();
                    async move {
                        let is_owner = viewer.await.ok().flatten().is_some_and(|viewer| {
                            viewer.screen_name.eq_ignore_ascii_case(&screen_name)
                        });
                        if protected && !is_owner {
                            view! { <p class="notice">{t.protected_notice}</p> }.into_any()
                        } else {
                            view! {
                                <Generator voice=Voice::One(screen_name.clone())/>
                                <MixForm value=format!("{screen_name}, ")/>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

/// The Generate button and the result. With JavaScript the result appears in
/// place; without it the server redirects to `?tweet=ID`, which shows it.
#[component]
pub(crate) fn Generator(voice: Voice) -> impl IntoView {
    let generate = ServerAction::<GenerateMix>::new();
    let query = use_query_map();
    let t = texts();
    let linked = Resource::new(move || query.read().get("tweet").and_then(|id| id.parse::<i64>().ok()), {
        let voice = voice.clone();
        move |id| {
            let voice = voice.clone();
            async move {
                match (id, voice) {
                    (None, _) => Ok(None),
                    (Some(id), Voice::One(screen_name)) => get_generation(screen_name, id).await.map(Some),
                    (Some(id), Voice::Mix(mix)) => get_mix_generation(mix, id).await.map(Some),
                }
            }
        }
    });
    let voices = match &voice {
        Voice::One(screen_name) => screen_name.clone(),
        Voice::Mix(mix) => mix.spec(),
    };
    view! {
        <ActionForm action=generate>
            <input type="hidden" name="voices" value=voices/>
            <div class="options">
                <label>
                    {t.start_with}" "
                    <input type="text" name="start" maxlength=MAX_START_CHARS placeholder=t.any_words/>
                </label>
                <label>
                    {t.at_most}" "
                    <input
                        type="number"
                        name="max_chars"
                        min=*MAX_CHARS_RANGE.start()
                        max=*MAX_CHARS_RANGE.end()
                        placeholder=DEFAULT_MAX_CHARS
                    />
                    " "{t.characters}
                </label>
            </div>
            <button type="submit" class="generate" disabled=move || generate.pending().get()>
                {move || if generate.pending().get() { t.writing } else { t.generate }}
            </button>
        </ActionForm>
        <Suspense>
            {move || Suspend::new(async move {
                let linked = linked.await;
                if let Err(error) = &linked {
                    set_error_status(error);
                }
                let share = match &linked {
                    Ok(Some(tweet)) => Some(view! {
                        <ShareTags
                            title=texts().page_title(&tweet.voice.label())
                            description=tweet.text.clone()
                            url=tweet.permalink.clone()
                            image=tweet.card_url.clone()
                        />
                    }),
                    _ => None,
                };
                view! { {share} {move || match (generate.value().get(), linked.clone()) {
                    (Some(Ok(tweet)), _) | (None, Ok(Some(tweet))) => view! { <TweetCard tweet/> }.into_any(),
                    (Some(Err(error)), _) | (None, Err(error)) => view! { <ErrorMessage error/> }.into_any(),
                    (None, Ok(None)) => ().into_any(),
                }} }
            })}
        </Suspense>
    }
}

#[component]
fn TweetCard(tweet: Generated) -> impl IntoView {
    let post_to_x = tweet.post_to_x_url();
    let permalink = tweet.local_permalink();
    let label = format!("{} · #{}", tweet.voice.label(), tweet.id);
    let count = format!("{}/{X_MAX_WEIGHT}", tweet.post.weighted_length);
    let cut = tweet.post.cut.then(|| view! { <span class="x-cut">{texts().x_post_cut}</span> });
    view! {
        <article class="tweet-card" data-testid="generated-tweet">
            <p class="tweet-text">{tweet.text}</p>
            <footer class="meta">
                <a href=permalink>{label}</a>
                <span class="x-count" data-testid="x-count" title=texts().x_count_title>{count} {cut}</span>
                <a href=post_to_x class="post-to-x" target="_blank" rel="noopener noreferrer">{texts().post_to_x}</a>
            </footer>
        </article>
    }
}

/// Open Graph and X card tags, so that a shared link shows the card image.
#[component]
pub(crate) fn ShareTags(title: String, description: String, url: String, image: Option<String>) -> impl IntoView {
    let card = if image.is_some() { "summary_large_image" } else { "summary" };
    view! {
        <Meta property="og:type" content="website"/>
        <Meta property="og:site_name" content="tweetgen"/>
        <Meta property="og:title" content=title/>
        <Meta property="og:description" content=description.clone()/>
        <Meta name="description" content=description/>
        <Meta property="og:url" content=url/>
        <Meta name="twitter:card" content=card/>
        {image.map(|image| view! {
            <Meta property="og:image" content=image.clone()/>
            <Meta property="og:image:width" content="1200"/>
            <Meta property="og:image:height" content="630"/>
            <Meta name="twitter:image" content=image/>
        })}
    }
}
