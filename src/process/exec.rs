//! The last step in the command's own process: environment, working
//! directory, no stray file descriptors, then exec. Everything that needs an
//! allocation is prepared before the fork.

use super::EXIT_SBX_FAILED;
use crate::model::process::User;
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
    /// The working directory and each folder above it, outermost first, to
    /// make when it is missing (Docker makes it too); empty on the host's
    /// own root, which is not the sandbox's to change.
    workdir_chain: Vec<CString>,
    seccomp: Option<super::seccomp::Filter>,
    /// `sbx exec`'s argument ranges, to hide its command line in the child.
    hide: Option<super::title::Ranges>,
    /// User with groups and capability sets (OCI `process`); the image's
    /// User (or `-u`) of `sbx run` and `sbx exec` lands in the same `user`,
    /// so both faces switch users through one path
    /// (`settings::apply_in_command`).
    settings: crate::model::process::ProcessSettings,
    /// A given seccomp profile, compiled (OCI `linux.seccomp`).
    profile: Vec<seccompiler::BpfProgram>,
}

/// The user a sandbox's commands run as: the spec's own (OCI
/// `process.user`), else its image's User or `-u` as the record keeps it
/// (uid, gid, and the supplementary groups, the primary one first, as
/// Docker gives them); `None`: root.
pub fn command_user(
    process: Option<&User>,
    image: Option<&crate::model::fs_plan::ImageRef>,
) -> Option<User> {
    process.cloned().or_else(|| {
        let image = image?;
        let (uid, gid) = image.user?;
        Some(User {
            uid,
            gid,
            additional_gids: std::iter::once(gid).chain(image.groups.clone()).collect(),
            umask: None,
        })
    })
}

/// What `sbx exec`'s child shows in /proc/PID/cmdline until its execve.
pub const EXEC_TITLE: &str = "sbx-exec";

impl Command {
    /// Converts the spec's strings once; a NUL byte is a user error.
    pub fn new(spec: &SandboxSpec) -> Result<Self> {
        let mut command = Self::from_parts(&spec.command, &spec.env, &spec.workdir, spec.seccomp)?;
        command.settings = spec.process.clone();
        command.settings.user = command_user(spec.process.user.as_ref(), spec.fs.image.as_ref());
        if let Some(profile) = &spec.process.seccomp_profile {
            command.profile = super::seccomp_profile::compile(profile)?;
        }
        if spec.fs.rootfs.is_some() || spec.fs.image.is_some() {
            command.workdir_chain = std::path::Path::new(&spec.workdir)
                .ancestors()
                .filter(|p| p.parent().is_some())
                .filter_map(|p| CString::new(p.as_os_str().as_encoded_bytes()).ok())
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
        }
        Ok(command)
    }

    /// Runs the command as `user` (with its groups); `None`: root.
    pub fn run_as(mut self, user: Option<User>) -> Self {
        self.settings.user = user;
        self
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
            workdir_chain: Vec::new(),
            seccomp: seccomp.then(super::seccomp::default_filter).transpose()?,
            hide: None,
            settings: Default::default(),
            profile: Vec::new(),
        })
    }

    /// With OCI's user, groups and capability sets (`sbx-oci exec
    /// --process`), applied in the command's process before exec.
    pub fn with_settings(mut self, settings: crate::model::process::ProcessSettings) -> Self {
        self.settings = settings;
        self
    }

    /// For `sbx exec`: reads this process's argument ranges now (from the
    /// host's /proc, before joining the sandbox), so that the forked child
    /// can overwrite its copy of sbx's command line and environment
    /// (`sbx exec -e PASS=... NAME`) before the sandbox can see it.
    pub fn hiding_sbx_command_line(mut self) -> Result<Self> {
        self.hide = Some(super::title::read_ranges().context("hide sbx's command line")?);
        Ok(self)
    }
}

/// First thing in a forked child that the sandbox can see: replaces the
/// copy of sbx's own command line and environment with [`EXEC_TITLE`], as
/// the init does. Allocates nothing.
pub fn hide_sbx_command_line(command: &Command) {
    if let Some(ranges) = command.hide {
        super::title::write(ranges, EXEC_TITLE.as_bytes());
    }
}

/// Replaces this process with the command, or exits 125/126/127 with one
/// line saying why it could not.
pub fn exec(command: &Command) -> ! {
    let _ = SigSet::empty().thread_set_mask();
    // Rust ignores SIGPIPE; an ignored disposition would survive exec.
    // SAFETY: restoring the default disposition installs no handler.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    // A working directory that does not exist is made (as root, before any
    // switch to the image's user), as Docker does for -w and WorkingDir.
    if nix::unistd::chdir(command.workdir.as_str()) == Err(Errno::ENOENT) {
        for folder in &command.workdir_chain {
            let _ = nix::unistd::mkdir(
                folder.as_c_str(),
                nix::sys::stat::Mode::from_bits_truncate(0o755),
            );
        }
    }
    // Without no_new_privs a filter needs CAP_SYS_ADMIN: installed while
    // this process still has it, before the user and capability switch.
    let profile_first = command.settings.allow_new_privileges;
    if profile_first {
        install_profile(command);
    }
    if let Err(e) = super::settings::apply_in_command(&command.settings) {
        fail(EXIT_SBX_FAILED, &format!("{e:#}"));
    }
    if let Err(e) = nix::unistd::chdir(command.workdir.as_str()) {
        fail(
            EXIT_SBX_FAILED,
            &format!("working directory {}: {}", command.workdir, e.desc()),
        );
    }
    // No host file descriptor may cross into the sandbox (runc's CVE-2024-21626).
    let first = 3 + command.settings.preserve_fds as i32;
    if let Err(e) = super::fds::close_from(first, None, super::fds::Disposal::CloseOnExec, true) {
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
    if !profile_first {
        install_profile(command);
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
    // A file that exists but whose execve says ENOENT: what runs it (its
    // `#!` interpreter, or its ELF loader) is missing. Some(is a script).
    let mut bad_interpreter: Option<bool> = None;
    for path in &candidates {
        let Err(err) = nix::unistd::execve(path, &command.argv, &command.envp);
        if err == Errno::ENOENT && bad_interpreter.is_none() && first_error == Errno::ENOENT {
            bad_interpreter = starts_with_shebang(path);
        }
        // Like execvp: a file found but not executable is remembered; a
        // missing one moves on to the next directory.
        if err != Errno::ENOENT && err != Errno::ENOTDIR && first_error == Errno::ENOENT {
            first_error = err;
        }
    }
    let error = match (first_error, bad_interpreter) {
        (Errno::ENOENT, Some(script)) => CommandError::bad_interpreter(&command.program, script),
        (Errno::ENOENT, None) => CommandError::not_found(&command.program),
        _ => CommandError::cannot_execute(&command.program, first_error),
    };
    fail(error.code, error.message())
}

/// For a path whose execve answered ENOENT: `None` if the file itself is
/// missing, else whether it starts with `#!` (read into a stack buffer).
fn starts_with_shebang(path: &std::ffi::CStr) -> Option<bool> {
    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::Mode;
    let fd = match open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT | Errno::ENOTDIR) => return None,
        Err(_) => return Some(false),
    };
    let mut head = [0u8; 2];
    let n = nix::unistd::read(&fd, &mut head).unwrap_or(0);
    Some(n == 2 && &head == b"#!")
}

/// Installs the given profile's filters, or ends this process saying why.
fn install_profile(command: &Command) {
    for prog in &command.profile {
        if let Err(e) = super::seccomp_profile::install(prog) {
            fail(EXIT_SBX_FAILED, &format!("{e:#}"));
        }
    }
}

fn fail(code: i32, message: &str) -> ! {
    eprintln!("sbx: {message}");
    // SAFETY: _exit ends this forked process without running the parent's
    // atexit handlers or flushing buffers it copied.
    unsafe { libc::_exit(code) }
}
