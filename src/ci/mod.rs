//! The CI run: its environment ([`env::CiEnv`], read once) and the
//! workflow commands mlci prints ([`workflow`]). The `mlci ci` command
//! orchestrates the job's steps over these, the domain and a
//! [`crate::forge::Forge`].

pub mod commit_back;
pub mod env;
pub mod workflow;
