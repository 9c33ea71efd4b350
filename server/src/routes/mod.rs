pub mod auth;
mod health;
mod lang;
mod same_origin;

pub use health::{healthz, readyz};
pub use lang::switch_language;
pub use same_origin::refuse_cross_site_writes;
