use leptos::prelude::*;

use super::ErrorMessage;
use crate::api::{list_trained_users, TrainModel, MAX_PASTE_LINES};

#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <section class="intro">
            <h1>"tweetgen"</h1>
            <p>"Teach it your tweets; it writes new ones in your voice."</p>
        </section>
        <LearnForm/>
        <TrainedUsers/>
    }
}

/// Paste tweets under a screen name and train. Posts to `train_model`; on success
/// the server sends the browser to the user's page.
#[component]
fn LearnForm() -> impl IntoView {
    let train = ServerAction::<TrainModel>::new();
    let error = move || train.value().get().and_then(Result::err);
    view! {
        <section class="card learn">
            <h2>"Teach tweetgen"</h2>
            <ActionForm action=train>
                <label for="screen_name">"Screen name"</label>
                <div class="screen-name">
                    <span>"@"</span>
                    <input id="screen_name" name="screen_name" required maxlength="15" autocomplete="off" placeholder="your_name"/>
                </div>
                <label for="tweets">{format!("Your tweets, one per line (up to {MAX_PASTE_LINES})")}</label>
                <textarea id="tweets" name="tweets" rows="10" required></textarea>
                <button type="submit" disabled=move || train.pending().get()>
                    {move || if train.pending().get() { "Learning…" } else { "Learn" }}
                </button>
            </ActionForm>
            {move || error().map(|error| view! { <ErrorMessage error/> })}
        </section>
    }
}

#[component]
fn TrainedUsers() -> impl IntoView {
    let users = Resource::new(|| (), |_| list_trained_users());
    view! {
        <section class="card">
            <h2>"Try someone's voice"</h2>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match users.await {
                        Ok(users) if users.is_empty() => view! { <p>"Nobody has taught tweetgen yet."</p> }.into_any(),
                        Ok(users) => view! {
                            <ul class="users">
                                {users.into_iter().map(|user| view! {
                                    <li>
                                        <a href=format!("/@{}", user.screen_name)>{format!("@{}", user.screen_name)}</a>
                                        <span class="meta">{format!(" · {} sentences", user.sentences)}</span>
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
