//! `tweetgen-infra migrate`: moving a live PostgreSQL database to another server.
//! Only `preflight` exists so far; copy, follow, verify, sequences and clean
//! follow (issue 5).

pub mod preflight;
