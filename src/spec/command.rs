//! A command that cannot be started: the error that carries the SPEC's exit
//! statuses (126, 127), raised by the check made before a launch and by the
//! failed execve itself (`process::exec`).

use super::DEFAULT_PATH;
use anyhow::Result;
use nix::errno::Errno;
use std::path::{Path, PathBuf};

/// Exit status when the command cannot be executed (SPEC, "Exit status").
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
/// Exit status when the command is not found (SPEC, "Exit status").
pub const EXIT_NOT_FOUND: i32 = 127;

/// A command that cannot be started, as an error that carries the exit
/// status sbx reports for it (127 not found, 126 not executable), so a check
/// made before the launch (a `--rootfs` without the command) ends sbx
/// exactly as the failed execve would. `cli::main` maps it.
#[derive(Debug)]
pub struct CommandError {
    /// The exit status: [`EXIT_NOT_FOUND`] or [`EXIT_CANNOT_EXECUTE`].
    pub code: i32,
    message: String,
}

impl CommandError {
    /// `PROGRAM: command not found` (bare names: `... in $PATH`), 127.
    pub fn not_found(program: &str) -> Self {
        let where_ = if program.contains('/') {
            ""
        } else {
            " in $PATH"
        };
        CommandError {
            code: EXIT_NOT_FOUND,
            message: format!("{program}: command not found{where_}"),
        }
    }

    /// `PROGRAM: cannot execute: REASON`, 126.
    pub fn cannot_execute(program: &str, reason: Errno) -> Self {
        CommandError {
            code: EXIT_CANNOT_EXECUTE,
            message: format!("{program}: cannot execute: {}", reason.desc()),
        }
    }

    /// What is printed after `sbx: `.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CommandError {}

/// With `--rootfs`, a command that is not in it is caught before launch,
/// with the status and message its execve would give (127 not found, 126
/// not executable: [`CommandError`]). Links are followed the
/// way the sandbox will follow them, inside the root (busybox applets are
/// links to /bin/busybox); like execvp, a non-executable match is skipped.
pub fn check_command_in(rootfs: &Path, command: &str, env: &[String]) -> Result<()> {
    let root = crate::fs::at::open_root(rootfs)?;
    let candidates: Vec<PathBuf> = if command.contains('/') {
        vec![PathBuf::from(command)]
    } else {
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        path.split(':')
            .filter(|d| d.starts_with('/'))
            .map(|d| PathBuf::from(d).join(command))
            .collect()
    };
    let mut not_executable = false;
    for inside in candidates {
        let Ok(stat) =
            crate::fs::at::resolve(&root, &inside).and_then(|fd| nix::sys::stat::fstat(&fd))
        else {
            continue;
        };
        let is_file = stat.st_mode & libc::S_IFMT == libc::S_IFREG;
        if is_file && stat.st_mode & 0o111 != 0 {
            return Ok(());
        }
        not_executable = true;
    }
    Err(match not_executable {
        true => CommandError::cannot_execute(command, nix::errno::Errno::EACCES),
        false => CommandError::not_found(command),
    }
    .into())
}
