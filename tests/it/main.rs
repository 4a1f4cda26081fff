//! The one integration-test binary: every test drives the real `mlci`
//! binary in a fresh temporary git repository made with the real git CLI.

mod action;
mod architecture;
mod bad_input;
mod ci;
mod common;
mod dvc_oracle;
mod example;
mod fs_limits;
mod gc;
mod github;
mod kill;
mod metrics;
mod pipeline;
mod properties;
mod remote;
mod security;
mod tracking;
