//! Integration tests: the real router over HTTP, a fresh database per test. The same tests run
//! on SQLite and, with `KEYPORT_TEST_POSTGRES_URL` set, on PostgreSQL.

mod helpers;
mod process;

mod admin_users;
mod api;
mod api_keys;
mod api_snippets;
mod auth;
mod backends;
mod browser;
mod browser_nojs;
mod browser_pages;
mod cli;
mod client_config;
mod connections;
mod credentials;
mod csrf;
mod driven;
mod drivers_iam;
mod drivers_keystone;
mod hardening;
mod health;
mod identity;
mod instance_audit;
mod master_key;
mod memory;
mod nul_bytes;
mod openstack_clients;
mod outgoing;
mod page_checks;
mod page_weight;
mod postgres_tls;
mod processes;
mod projects;
mod run;
mod s3_clients;
mod secret_scan;
mod services;
mod sessions;
mod setup;
mod snippet_parsers;
mod step_up;
mod two_factor;
mod two_factor_browser;
