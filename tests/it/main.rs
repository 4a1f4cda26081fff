//! The one integration-test binary: every test drives the real `mlci`
//! binary in a fresh temporary git repository made with the real git CLI.

// The house rules on length and printing are for the library; test
// scenarios may be long, may print what they could not test, and read the
// environment the test script prepared.
#![allow(
    clippy::print_stderr,
    clippy::too_many_lines,
    clippy::disallowed_methods
)]

mod action;
mod architecture;
mod bad_input;
mod bounded;
mod ci;
mod cli_reference;
mod common;
mod data_diff;
mod delivery;
mod drift;
mod dvc_compat;
mod dvc_in_place;
mod dvc_oracle;
mod dvc_projects;
mod example;
mod experiments;
mod fake_github;
mod fanout;
mod faults;
mod fs_limits;
mod fsck;
mod gc;
mod github;
mod hostile;
mod import_dvc;
mod json_convention;
mod kill;
mod metrics;
mod monitor;
mod outputs;
mod pipeline;
mod plan;
mod plots;
mod prometheus;
mod properties;
mod registry;
mod remote;
mod retrain;
mod runner;
mod security;
mod signal;
mod storage_faults;
mod tracking;
mod workflows;
