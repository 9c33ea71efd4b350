//! `tweetgen-infra migrate`: moving a live PostgreSQL database to another
//! server — preflight, copy, follow, verify, sequences, status, clean — with a
//! work directory that lets each step be run again and continue.

mod apply;
pub(crate) mod catalog;
pub(crate) mod clean;
pub(crate) mod copy;
pub(crate) mod follow;
pub(crate) mod indexes;
mod pgoutput;
pub mod preflight;
pub(crate) mod progress;
pub(crate) mod schema;
pub(crate) mod sequences;
pub(crate) mod snapshot;
pub(crate) mod state;
pub(crate) mod verify;
pub(crate) mod workdir;
