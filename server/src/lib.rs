//! The tweetgen server as a library, so that tests start the real thing.

pub mod configuration;
pub mod control;
pub mod migrate;
pub mod routes;
pub mod seed;
pub mod startup;
pub mod telemetry;
pub mod x_standin;
