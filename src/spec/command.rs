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

    /// `PROGRAM: bad interpreter: ...`, 126 (as bash): the file exists but
    /// execve answered ENOENT, because what it names to run it is missing:
    /// its `#!` interpreter (`script`: the file starts with `#!`) or, for a
    /// binary, its ELF loader.
    pub fn bad_interpreter(program: &str, script: bool) -> Self {
        let why = if script {
            "its #! line names a program that does not exist"
        } else {
            "its ELF interpreter (dynamic loader) does not exist"
        };
        CommandError {
            code: EXIT_CANNOT_EXECUTE,
            message: format!("{program}: bad interpreter: {why}"),
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
/// A path at or under `mounted` (volume and tmpfs targets) is not in the
/// rootfs but in what will be mounted there: it is left to the execve.
pub fn check_command_in(
    rootfs: &Path,
    command: &str,
    env: &[String],
    mounted: &[&Path],
) -> Result<()> {
    let root = crate::fs::at::open_root(rootfs)?;
    let is_mounted = |inside: &Path| mounted.iter().any(|m| inside.starts_with(m));
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
        if is_mounted(&inside) {
            return Ok(());
        }
        let Ok(stat) =
            crate::fs::at::resolve(&root, &inside).and_then(|fd| nix::sys::stat::fstat(&fd))
        else {
            continue;
        };
        let is_file = stat.st_mode & libc::S_IFMT == libc::S_IFREG;
        if is_file && stat.st_mode & 0o111 != 0 {
            if let Some(interpreter) = script_interpreter(&root, &inside)
                && !is_mounted(&interpreter)
                && crate::fs::at::resolve(&root, &interpreter).is_err()
            {
                return Err(CommandError::bad_interpreter(command, true).into());
            }
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

/// The interpreter a script inside the root names on its `#!` line, read
/// through a descriptor anchored at the root; `None` for anything else or
/// what cannot be read (the execve will say).
fn script_interpreter(root: &std::os::fd::OwnedFd, inside: &Path) -> Option<PathBuf> {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let fd = crate::fs::at::resolve(root, inside).ok()?;
    // Reopen the O_PATH descriptor for reading: the same file, no new lookup.
    let mut file = std::fs::File::open(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    let mut head = [0u8; 256];
    let n = file.read(&mut head).ok()?;
    shebang(&head[..n]).map(PathBuf::from)
}

/// The program a `#!` line names (its first word), as the kernel reads it
/// (fs/binfmt_script.c): blanks after `#!` skipped, the word ends at a blank
/// or the line's end.
pub fn shebang(head: &[u8]) -> Option<String> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|b| *b == b'\n').next()?;
    let word = line
        .split(|b| *b == b' ' || *b == b'\t')
        .find(|w| !w.is_empty())?;
    Some(String::from_utf8_lossy(word).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_lines_name_their_program() {
        assert_eq!(shebang(b"#!/bin/sh\necho").as_deref(), Some("/bin/sh"));
        assert_eq!(
            shebang(b"#! /usr/bin/env python3\n").as_deref(),
            Some("/usr/bin/env")
        );
        assert_eq!(shebang(b"#!/nope").as_deref(), Some("/nope"));
        assert_eq!(shebang(b"\x7fELF"), None);
        assert_eq!(shebang(b"#!\n"), None);
    }

    #[test]
    fn a_missing_interpreter_is_126_bad_interpreter() {
        let e = CommandError::bad_interpreter("/s.sh", true);
        assert_eq!(e.code, 126);
        assert_eq!(
            e.message(),
            "/s.sh: bad interpreter: its #! line names a program that does not exist"
        );
    }

    #[test]
    fn the_rootfs_check_sees_a_missing_interpreter() {
        use std::os::unix::fs::PermissionsExt;
        let root = std::env::temp_dir().join(format!("sbx-unit-shebang-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("bin")).unwrap();
        for (name, text) in [("bad", "#!/bin/nope\n"), ("good", "#!/bin/good\n")] {
            let p = root.join("bin").join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let err = check_command_in(&root, "/bin/bad", &[], &[]).unwrap_err();
        let err = err.downcast::<CommandError>().unwrap();
        assert_eq!(err.code, 126, "{err}");
        assert!(err.message().contains("bad interpreter"));
        check_command_in(&root, "good", &[], &[]).unwrap();
        // What a volume or tmpfs brings is left to the execve.
        let mounted = [Path::new("/opt")];
        check_command_in(&root, "/opt/tool/run", &[], &mounted).unwrap();
        let err = check_command_in(&root, "/opt2/run", &[], &mounted).unwrap_err();
        assert_eq!(
            err.downcast_ref::<CommandError>().map(|e| e.code),
            Some(127)
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
