//! Mixes of voices: the mix box (on a user's page and a mix's), and the mix's
//! page at its canonical address. `/mix?voices=…` (where the box goes, with or
//! without JavaScript) and every other spelling of a mix redirect there.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, Redirect};
use leptos_router::hooks::{use_params_map, use_query_map};

use super::user::{Generator, ShareTags};
use super::{set_error_status, ErrorMessage};
use crate::api::get_mix;
use crate::i18n::texts;
use crate::shared::{Mix, MixPage, Voice};

/// `/mix/alice,bob:2`.
#[component]
pub fn MixRoute() -> impl IntoView {
    let params = use_params_map();
    move || view! { <MixSpec spec=params.read().get("spec").unwrap_or_default()/> }
}

/// `/mix?voices=bob:2, alice`: the mix box's answer.
#[component]
pub fn MixQuery() -> impl IntoView {
    let query = use_query_map();
    move || view! { <MixSpec spec=query.read().get("voices").unwrap_or_default()/> }
}

/// A mix as typed: an error, a redirect, or the mix's page.
#[component]
fn MixSpec(spec: String) -> impl IntoView {
    match Voice::parse(&spec) {
        Err(error) => {
            set_error_status(&error);
            view! {
                <section class="card">
                    <ErrorMessage error/>
                    <MixForm value=spec/>
                </section>
            }
            .into_any()
        }
        Ok(voice @ Voice::One(_)) => view! { <Redirect path=voice.path()/> }.into_any(),
        Ok(Voice::Mix(mix)) => view! { <MixLoader mix typed=spec/> }.into_any(),
    }
}

#[component]
fn MixLoader(mix: Mix, typed: String) -> impl IntoView {
    let t = texts();
    let page = Resource::new(move || mix.clone(), get_mix);
    view! {
        <Suspense fallback=move || view! { <p>{t.loading}</p> }>
            {move || {
                let typed = typed.clone();
                Suspend::new(async move {
                    match page.await {
                        // Another spelling or order of this mix: its one address.
                        Ok(page) if page.mix.spec() != typed => {
                            view! { <Redirect path=Voice::Mix(page.mix).path()/> }.into_any()
                        }
                        Ok(page) => view! { <MixCard page/> }.into_any(),
                        Err(error) => {
                            set_error_status(&error);
                            view! { <section class="card"><ErrorMessage error/></section> }.into_any()
                        }
                    }
                })
            }}
        </Suspense>
    }
}

#[component]
fn MixCard(page: MixPage) -> impl IntoView {
    let t = texts();
    let voice = Voice::Mix(page.mix.clone());
    let title = t.page_title(&voice.label());
    let showing_a_tweet = use_query_map().read_untracked().get("tweet").is_some();
    let share = (!showing_a_tweet).then(|| {
        view! {
            <ShareTags
                title=title.clone()
                description=t.mix_share_description.to_string()
                url=page.page_url
                image=page.card_url
            />
        }
    });
    let sentences: i64 = page.members.iter().map(|member| i64::from(member.sentences)).sum();
    let members = page.mix.members().iter().zip(&page.members).map(|(member, profile)| {
        let weight = (member.weight != 1)
            .then(|| view! { <span class="weight" title=t.mix_weight>{format!("×{}", member.weight)}</span> });
        view! {
            <li>
                <a href=format!("/@{}", member.screen_name)>{format!("@{}", member.screen_name)}</a>
                {weight}
                <span class="meta">{t.sentences(profile.sentences)}</span>
            </li>
        }
    });
    let members = members.collect_view();
    view! {
        <Title text=title/>
        {share}
        <section class="card profile mix">
            <h1>{voice.label()}</h1>
            <p class="meta">{t.mix_of(page.members.len(), sentences)}</p>
            <ul class="mix-members" data-testid="mix-members">{members}</ul>
            <Generator voice/>
            <MixForm value=page.mix.spec()/>
        </section>
    }
}

/// The mix box: screen names, commas, weights (`alice, bob:2`). A GET form, so
/// that the mix's address is a link like any other.
#[component]
pub(crate) fn MixForm(value: String) -> impl IntoView {
    let t = texts();
    view! {
        <Form method="GET" action="/mix" attr:class="mix-form">
            <label for="mix-voices">{t.mix_title}</label>
            <div class="mix-row">
                <input id="mix-voices" type="text" name="voices" value=value autocomplete="off" spellcheck="false"/>
                <button type="submit">{t.mix_button}</button>
            </div>
            <p class="hint">{t.mix_hint}</p>
        </Form>
    }
}
