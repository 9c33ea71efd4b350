pub mod auth;
mod body_limit;
mod card;
pub mod health;
mod lang;
mod same_origin;
mod security_headers;

pub use body_limit::{limit_body_size, BodyLimits};
pub use card::{tweet_card, user_card};
pub use health::{healthz, readyz};
pub use lang::switch_language;
pub use same_origin::refuse_cross_site_writes;
pub use security_headers::{security_headers, Https};
