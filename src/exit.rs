//! The process exit code (docs/design.md §4), owned by the edge: commands
//! return an [`Exit`], `lib::run` turns it into the process's code.

/// How a command ended, as the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success, or a gate that passed.
    Ok,
    /// A gate failed, or `--check` found something that differs.
    Differs,
    /// Usage, configuration or runtime error (a failed stage included).
    Error,
    /// A bug in mlci (a panic): never the user's input's fault.
    Internal,
}

impl From<Exit> for u8 {
    fn from(e: Exit) -> u8 {
        match e {
            Exit::Ok => 0,
            Exit::Differs => 1,
            Exit::Error => 2,
            Exit::Internal => 3,
        }
    }
}
