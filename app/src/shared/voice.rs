//! Whose voice a tweet is written in: one user's, or a mix of 2 to
//! [`MAX_MIX_VOICES`] users' with whole-number weights (the old service's
//! `a,b:2,c`). A mix is only ever built canonical — members sorted by lower-case
//! screen name, each once, the weight left out where it is 1 — so that one mix
//! has one URL (`/mix/alice,bob:2`), one permalink and one card.

use serde::{Deserialize, Serialize};

use super::is_valid_screen_name;
use crate::error::AppError;

/// The old service's limit: 10 voices in all.
pub const MAX_MIX_VOICES: usize = 10;
pub const MIX_WEIGHTS: std::ops::RangeInclusive<u32> = 1..=99;

/// One voice, or a mix of several.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Voice {
    One(String),
    Mix(Mix),
}

/// 2 to [`MAX_MIX_VOICES`] distinct voices and their weights, in canonical order.
/// Sent as its spec (`alice,bob:2`) and checked again when read back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mix {
    members: Vec<MixMember>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MixMember {
    pub screen_name: String,
    pub weight: u32,
}

impl Voice {
    /// Reads what a person types in the mix box, or a mix URL's last segment:
    /// names separated by commas (`,`, `，` or `、`) or spaces, each with an
    /// optional `@` and `:weight`. One name alone is that voice.
    pub fn parse(spec: &str) -> Result<Voice, AppError> {
        let mut members = Vec::new();
        for item in spec.split(|c: char| matches!(c, ',' | '，' | '、') || c.is_whitespace()) {
            let item = item.trim_start_matches(['@', '＠']);
            if item.is_empty() {
                continue;
            }
            let (name, weight) = match item.split_once([':', '：']) {
                Some((name, weight)) => (name, parse_weight(weight)?),
                None => (item, 1),
            };
            if !is_valid_screen_name(name) {
                return Err(AppError::InvalidMixMember(name.to_string()));
            }
            members.push(MixMember { screen_name: name.to_string(), weight });
        }
        match members.len() {
            0 => Err(AppError::NoVoices),
            1 => Ok(Voice::One(members.remove(0).screen_name)),
            _ => Mix::new(members).map(Voice::Mix),
        }
    }

    /// The voice's page.
    pub fn path(&self) -> String {
        match self {
            Voice::One(screen_name) => format!("/@{screen_name}"),
            Voice::Mix(mix) => format!("/mix/{}", mix.spec()),
        }
    }

    /// How pages and cards name it: `@alice`, or `@alice + @bob ×2`.
    pub fn label(&self) -> String {
        match self {
            Voice::One(screen_name) => format!("@{screen_name}"),
            Voice::Mix(mix) => {
                let members = mix.members.iter().map(|member| match member.weight {
                    1 => format!("@{}", member.screen_name),
                    weight => format!("@{} ×{weight}", member.screen_name),
                });
                members.collect::<Vec<_>>().join(" + ")
            }
        }
    }
}

fn parse_weight(text: &str) -> Result<u32, AppError> {
    text.parse()
        .ok()
        .filter(|weight| MIX_WEIGHTS.contains(weight))
        .ok_or(AppError::InvalidMixWeight { min: *MIX_WEIGHTS.start(), max: *MIX_WEIGHTS.end() })
}

impl Mix {
    /// The mix of `members` (screen names already checked), in canonical order.
    pub fn new(mut members: Vec<MixMember>) -> Result<Mix, AppError> {
        if members.len() > MAX_MIX_VOICES {
            return Err(AppError::MixTooLarge { max: MAX_MIX_VOICES });
        }
        if members.len() < 2 {
            return Err(AppError::NoVoices);
        }
        members.sort_by_key(|member| member.screen_name.to_ascii_lowercase());
        if let Some(pair) =
            members.windows(2).find(|pair| pair[0].screen_name.eq_ignore_ascii_case(&pair[1].screen_name))
        {
            return Err(AppError::MixRepeats(pair[1].screen_name.clone()));
        }
        Ok(Mix { members })
    }

    pub fn members(&self) -> &[MixMember] {
        &self.members
    }

    /// `alice,bob:2`: the URL's segment, and what the mix box shows.
    pub fn spec(&self) -> String {
        let members = self.members.iter().map(|member| match member.weight {
            1 => member.screen_name.clone(),
            weight => format!("{}:{weight}", member.screen_name),
        });
        members.collect::<Vec<_>>().join(",")
    }
}

impl TryFrom<String> for Mix {
    type Error = AppError;

    fn try_from(spec: String) -> Result<Mix, AppError> {
        match Voice::parse(&spec)? {
            Voice::Mix(mix) if mix.spec() == spec => Ok(mix),
            _ => Err(AppError::NoVoices),
        }
    }
}

impl From<Mix> for String {
    fn from(mix: Mix) -> String {
        mix.spec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(spec: &str) -> Mix {
        match Voice::parse(spec).unwrap() {
            Voice::Mix(mix) => mix,
            one => panic!("{spec}: {one:?}"),
        }
    }

    #[test]
    fn a_mix_is_canonical_whatever_the_order_and_spelling_typed() {
        for typed in ["bob:2, alice", "@alice,@bob:2", "alice、bob：2", "  Alice  bob:2 ", "alice:1,bob:2"] {
            let spec = mix(typed).spec();
            assert!(spec.eq_ignore_ascii_case("alice,bob:2"), "{typed} → {spec}");
        }
        assert_eq!(mix("zed,Amy:3,bob").spec(), "Amy:3,bob,zed");
        assert_eq!(Voice::parse("alice").unwrap(), Voice::One("alice".into()));
        assert_eq!(Voice::parse("@alice:5,").unwrap(), Voice::One("alice".into()), "one voice: its weight is moot");
        assert_eq!(Voice::Mix(mix("a,b:2")).label(), "@a + @b ×2");
        assert_eq!(Voice::Mix(mix("b,a:2")).path(), "/mix/a:2,b");
    }

    #[test]
    fn bad_mixes_say_what_is_wrong() {
        assert_eq!(Voice::parse(" , "), Err(AppError::NoVoices));
        assert_eq!(Voice::parse("alice,bob-c"), Err(AppError::InvalidMixMember("bob-c".into())));
        assert_eq!(Voice::parse("alice,bob:0"), Err(AppError::InvalidMixWeight { min: 1, max: 99 }));
        assert_eq!(Voice::parse("alice,bob:1.5"), Err(AppError::InvalidMixWeight { min: 1, max: 99 }));
        assert_eq!(Voice::parse("alice,bob:100"), Err(AppError::InvalidMixWeight { min: 1, max: 99 }));
        assert_eq!(Voice::parse("alice,Bob,bob:2"), Err(AppError::MixRepeats("bob".into())));
        let eleven: Vec<String> = (0..11).map(|i| format!("u{i}")).collect();
        assert_eq!(Voice::parse(&eleven.join(",")), Err(AppError::MixTooLarge { max: 10 }));
        assert!(Voice::parse(&eleven[..10].join(",")).is_ok());
    }

    #[test]
    fn a_mix_is_sent_as_its_spec_and_only_a_canonical_one_is_read_back() {
        let json = serde_json::to_string(&mix("bob:2,alice")).unwrap();
        assert_eq!(json, "\"alice,bob:2\"");
        assert_eq!(serde_json::from_str::<Mix>(&json).unwrap(), mix("alice,bob:2"));
        assert!(serde_json::from_str::<Mix>("\"bob:2,alice\"").is_err());
        assert!(serde_json::from_str::<Mix>("\"alice\"").is_err());
    }
}
