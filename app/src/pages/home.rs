use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::header::use_viewer;
use super::upload::UploadForm;
use super::ErrorMessage;
use crate::api::{list_trained_users, ranking, DeleteMyData, TrainModel};
use crate::i18n::texts;
use crate::shared::{Viewer, MAX_PASTE_LINES};

#[component]
pub fn HomePage() -> impl IntoView {
    let t = texts();
    let query = use_query_map();
    let notice = move || {
        let query = query.read();
        if query.get("deleted").is_some() {
            Some(view! { <p class="notice" role="status">{t.deleted}</p> }.into_any())
        } else if query.get("signin").as_deref() == Some("failed") {
            Some(view! { <p class="error" role="alert">{t.sign_in_failed}</p> }.into_any())
        } else {
            None
        }
    };
    view! {
        <section class="intro">
            <h1>"tweetgen"</h1>
            <p>{t.tagline}</p>
            {notice}
        </section>
        <YourVoice/>
        <Ranking/>
        <TrainedUsers/>
    }
}

/// Signed in: teach tweetgen, see your page, delete your data. Otherwise: sign in.
#[component]
fn YourVoice() -> impl IntoView {
    let viewer = use_viewer();
    let t = texts();
    view! {
        <Suspense fallback=move || view! { <p>{t.loading}</p> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(Some(viewer)) => view! { <Learn viewer/> }.into_any(),
                    _ => view! {
                        <section class="card learn">
                            <h2>{t.teach_title}</h2>
                            <p>{t.sign_in_to_learn}</p>
                            <a href="/auth/login?return_to=/" rel="external" class="button">{t.sign_in}</a>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Learn(viewer: Viewer) -> impl IntoView {
    let t = texts();
    view! {
        <section class="card learn">
            <h2>{t.teach_title}</h2>
            <p class="meta">
                {t.signed_in_as(&viewer.screen_name)}" · "
                <a href=format!("/@{}", viewer.screen_name)>{t.your_page}</a>
            </p>
            <UploadForm/>
            <PasteForm/>
        </section>
        <SignOutEverywhere/>
        <DeleteMyDataForm/>
    }
}

/// A plain form, as signing out is: every part of the page reloads.
#[component]
fn SignOutEverywhere() -> impl IntoView {
    let t = texts();
    view! {
        <section class="card">
            <h2>{t.sessions_title}</h2>
            <p>{t.sessions_explained}</p>
            <form method="post" action="/auth/logout-everywhere">
                <button type="submit">{t.sign_out_everywhere}</button>
            </form>
        </section>
    }
}

/// Paste tweets and train, the other way to learn (folded away: the archive is
/// the usual one; open when it has an error to show). Posts to `train_model`; on
/// success the server sends the browser to the user's page.
#[component]
fn PasteForm() -> impl IntoView {
    let train = ServerAction::<TrainModel>::new();
    let error = move || train.value().get().and_then(Result::err);
    let t = texts();
    view! {
        <details class="paste" open=move || error().is_some()>
        <summary>{t.paste_label}</summary>
        <ActionForm action=train>
            <label for="tweets">{t.paste_hint(MAX_PASTE_LINES)}</label>
            <textarea id="tweets" name="tweets" rows="8" required></textarea>
            <button type="submit" disabled=move || train.pending().get()>
                {move || if train.pending().get() { t.learning } else { t.learn_button }}
            </button>
        </ActionForm>
        {move || error().map(|error| view! { <ErrorMessage error/> })}
        </details>
    }
}

#[component]
fn DeleteMyDataForm() -> impl IntoView {
    let delete = ServerAction::<DeleteMyData>::new();
    let error = move || delete.value().get().and_then(Result::err);
    let t = texts();
    view! {
        <section class="card danger">
            <h2>{t.delete_title}</h2>
            <p>{t.delete_explained}</p>
            <ActionForm action=delete>
                <label class="checkbox">
                    <input type="checkbox" name="confirm" value="yes" required/>
                    {t.delete_confirm}
                </label>
                <button type="submit" class="danger" disabled=move || delete.pending().get()>{t.delete_button}</button>
            </ActionForm>
            {move || error().map(|error| view! { <ErrorMessage error/> })}
        </section>
    }
}

#[component]
fn Ranking() -> impl IntoView {
    let ranked = Resource::new(|| (), |_| ranking());
    let t = texts();
    view! {
        <section class="card ranking">
            <h2>{t.ranking_title}</h2>
            <Suspense fallback=move || view! { <p>{t.loading}</p> }>
                {move || Suspend::new(async move {
                    match ranked.await {
                        Ok(ranked) if ranked.is_empty() => view! { <p>{t.ranking_empty}</p> }.into_any(),
                        Ok(ranked) => view! {
                            <ol class="ranking-list" data-testid="ranking">
                                {ranked.into_iter().map(|user| view! {
                                    <li>
                                        <a href=format!("/@{}", user.screen_name)>{format!("@{}", user.screen_name)}</a>
                                        <span class="meta">" · "{t.generations(user.generations)}</span>
                                    </li>
                                }).collect_view()}
                            </ol>
                        }.into_any(),
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn TrainedUsers() -> impl IntoView {
    let users = Resource::new(|| (), |_| list_trained_users());
    let t = texts();
    view! {
        <section class="card">
            <h2>{t.try_voices}</h2>
            <Suspense fallback=move || view! { <p>{t.loading}</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(users) if users.is_empty() => view! { <p>{t.nobody_yet}</p> }.into_any(),
                        Ok(users) => view! {
                            <ul class="users">
                                {users.into_iter().map(|user| view! {
                                    <li>
                                        <a href=format!("/@{}", user.screen_name)>{format!("@{}", user.screen_name)}</a>
                                        <span class="meta">{t.sentences(user.sentences)}</span>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
