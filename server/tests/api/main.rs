//! The real server on a random port against a fresh PostgreSQL cluster per test.

mod abuse;
mod accounts;
mod archive_upload;
mod cards;
mod control;
mod database_roles;
mod database_tls;
mod health;
mod helpers;
mod learn_and_generate;
mod mixes;
mod security_headers;
