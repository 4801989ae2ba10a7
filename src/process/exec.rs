//! The last step in the command's own process: environment, working
//! directory, no stray file descriptors, then exec. Everything that needs an
//! allocation is prepared before the fork.

use super::EXIT_SBX_FAILED;
use crate::spec::command::CommandError;
use crate::spec::{DEFAULT_PATH, SandboxSpec};
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::sys::signal::{SigHandler, SigSet, Signal, signal};
use std::ffi::CString;

/// The command, ready for execve.
pub struct Command {
    program: String,
    argv: Vec<CString>,
    envp: Vec<CString>,
    search_path: String,
    workdir: String,
    seccomp: Option<super::seccomp::Filter>,
}

impl Command {
    /// Converts the spec's strings once; a NUL byte is a user error.
    pub fn new(spec: &SandboxSpec) -> Result<Self> {
        Self::from_parts(&spec.command, &spec.env, &spec.workdir, spec.seccomp)
    }

    /// The same from its parts (`sbx exec` has no spec).
    pub fn from_parts(
        command: &[String],
        env: &[String],
        workdir: &str,
        seccomp: bool,
    ) -> Result<Self> {
        let cstrings = |items: &[String]| -> Result<Vec<CString>> {
            items
                .iter()
                .map(|s| {
                    CString::new(s.as_bytes()).with_context(|| format!("{s:?} contains a NUL byte"))
                })
                .collect()
        };
        let search_path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH)
            .to_string();
        let Some(program) = command.first() else {
            anyhow::bail!("no command given: write it after --");
        };
        Ok(Command {
            program: program.clone(),
            argv: cstrings(command)?,
            envp: cstrings(env)?,
            search_path,
            workdir: workdir.to_string(),
            seccomp: seccomp.then(super::seccomp::default_filter).transpose()?,
        })
    }
}

/// Replaces this process with the command, or exits 125/126/127 with one
/// line saying why it could not.
pub fn exec(command: &Command) -> ! {
    let _ = SigSet::empty().thread_set_mask();
    // Rust ignores SIGPIPE; an ignored disposition would survive exec.
    // SAFETY: restoring the default disposition installs no handler.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    if let Err(e) = nix::unistd::chdir(command.workdir.as_str()) {
        fail(
            EXIT_SBX_FAILED,
            &format!("working directory {}: {}", command.workdir, e.desc()),
        );
    }
    // No host file descriptor may cross into the sandbox (runc's CVE-2024-21626).
    if let Err(e) = super::fds::close_from(3, None, super::fds::Disposal::CloseOnExec, true) {
        fail(
            EXIT_SBX_FAILED,
            &format!("mark inherited descriptors close-on-exec: {}", e.desc()),
        );
    }
    // Last before exec: from here on the sandbox's syscalls are filtered.
    if let Some(filter) = &command.seccomp
        && let Err(e) = super::seccomp::install(filter)
    {
        fail(EXIT_SBX_FAILED, &format!("{e:#}"));
    }
    let candidates: Vec<CString> = if command.program.contains('/') {
        CString::new(command.program.as_str()).into_iter().collect()
    } else {
        command
            .search_path
            .split(':')
            .filter(|dir| !dir.is_empty())
            .filter_map(|dir| CString::new(format!("{dir}/{}", command.program)).ok())
            .collect()
    };
    let mut first_error = Errno::ENOENT;
    for path in &candidates {
        let Err(err) = nix::unistd::execve(path, &command.argv, &command.envp);
        // Like execvp: a file found but not executable is remembered; a
        // missing one moves on to the next directory.
        if err != Errno::ENOENT && err != Errno::ENOTDIR && first_error == Errno::ENOENT {
            first_error = err;
        }
    }
    let error = if first_error == Errno::ENOENT {
        CommandError::not_found(&command.program)
    } else {
        CommandError::cannot_execute(&command.program, first_error)
    };
    fail(error.code, error.message())
}

fn fail(code: i32, message: &str) -> ! {
    eprintln!("sbx: {message}");
    // SAFETY: _exit ends this forked process without running the parent's
    // atexit handlers or flushing buffers it copied.
    unsafe { libc::_exit(code) }
}
