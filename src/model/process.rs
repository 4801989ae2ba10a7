//! What an OCI bundle may ask of the command's process and namespaces
//! beyond what `sbx run` always did (SPEC "OCI runtime", issue 12): a user
//! with groups, rlimits, the five capability sets, new privileges allowed,
//! an OOM score, sysctls and namespaces joined or shared. Plain values, all
//! defaulting to sbx's own behaviour, so records written before them load.

use caps::Capability;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The command's user: `process.user` (uid, gid, additionalGids).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// User id the command runs as.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups (setgroups(2)); the primary group is not added.
    pub additional_gids: Vec<u32>,
    /// The file mode creation mask (umask(2)); `None`: inherited.
    #[serde(default)]
    pub umask: Option<u32>,
}

/// One `setrlimit(2)`: the resource by its kernel name (`RLIMIT_NOFILE`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    /// `RLIMIT_*` name, as the OCI runtime spec writes it.
    pub resource: String,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit; only lowering works here (no CAP_SYS_RESOURCE raises).
    pub hard: u64,
}

/// The five capability sets of capabilities(7), as OCI's
/// `process.capabilities` gives them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapSets {
    /// Bounding set: the most any later exec can gain.
    pub bounding: Vec<Capability>,
    /// Effective set.
    pub effective: Vec<Capability>,
    /// Inheritable set.
    pub inheritable: Vec<Capability>,
    /// Permitted set.
    pub permitted: Vec<Capability>,
    /// Ambient set (kept across exec by a non-root user).
    pub ambient: Vec<Capability>,
}

/// Process settings beyond command, env and workdir; the default is what
/// `sbx run` does (root, sbx's rlimits, `caps` as all four sets,
/// no_new_privs set).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessSettings {
    /// Switch to this user (with its groups) before exec.
    pub user: Option<User>,
    /// Limits set in the command's process before exec, in order.
    pub rlimits: Vec<Rlimit>,
    /// The five sets; `None`: the spec's `capabilities` list in all of them.
    pub cap_sets: Option<CapSets>,
    /// Do not set no_new_privs (OCI `noNewPrivileges: false`).
    pub allow_new_privileges: bool,
    /// Written to /proc/self/oom_score_adj before exec (-1000..1000).
    pub oom_score_adj: Option<i32>,
    /// A seccomp profile enforced instead of sbx's default filter.
    pub seccomp_profile: Option<SeccompProfile>,
    /// Descriptors 3 .. 3+N of the launching process that the command
    /// gets at the same numbers (runc's `--preserve-fds N`).
    pub preserve_fds: u32,
}

/// Which namespaces the init makes, shares with the host or joins.
/// The default is sbx's own: new net, mount, UTS, IPC and PID namespaces,
/// the cgroup namespace shared.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Namespaces {
    /// Kinds (of [`NAMESPACE_KINDS`]) not made: the host's is kept.
    pub shared: Vec<String>,
    /// Kinds joined by the namespace file given (`/run/netns/X`,
    /// `/proc/PID/ns/net`) instead of made.
    pub joined: BTreeMap<String, PathBuf>,
    /// A cgroup namespace of its own, rooted at its cgroup (made after the
    /// init joined it).
    pub own_cgroup: bool,
}

impl Namespaces {
    /// Whether the sandbox has a network namespace of its own (which sbx
    /// pins and wires); a shared or joined one is somebody else's.
    pub fn own_network(&self) -> bool {
        !self.shared.iter().any(|k| k == "network") && !self.joined.contains_key("network")
    }

    /// Whether a namespace of `kind` is made at clone.
    pub fn makes(&self, kind: &str) -> bool {
        !self.shared.iter().any(|k| k == kind) && !self.joined.contains_key(kind)
    }
}

/// Kernel parameters set inside the sandbox's namespaces (`linux.sysctl`):
/// only those the kernel keeps per namespace.
pub type Sysctls = BTreeMap<String, String>;

/// What a seccomp rule does to a matching call (runtime-spec's
/// `SCMP_ACT_*`, in the kernel's precedence order, strongest first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeccompVerdict {
    /// SECCOMP_RET_KILL_PROCESS.
    KillProcess,
    /// SECCOMP_RET_KILL_THREAD.
    KillThread,
    /// SECCOMP_RET_TRAP (SIGSYS).
    Trap,
    /// SECCOMP_RET_ERRNO with this errno.
    Errno(u32),
    /// SECCOMP_RET_TRACE with this value.
    Trace(u32),
    /// SECCOMP_RET_LOG.
    Log,
    /// SECCOMP_RET_ALLOW.
    Allow,
}

/// One argument check of a rule (`SCMP_CMP_*`): `op` is the runtime
/// spec's name; for `SCMP_CMP_MASKED_EQ`, `(arg & value) == value_two`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgCheck {
    /// Argument index, 0..=5.
    pub index: u8,
    /// The value compared with (the mask for MASKED_EQ).
    pub value: u64,
    /// The expected value for MASKED_EQ.
    pub value_two: u64,
    /// `SCMP_CMP_EQ`, `_NE`, `_LT`, `_LE`, `_GT`, `_GE`, `_MASKED_EQ`.
    pub op: String,
}

/// Calls by name, with what happens when one matches its checks (all of
/// them: they are ANDed, as libseccomp does).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyscallRule {
    /// x86_64 call names; names of other architectures are skipped, as
    /// libseccomp does.
    pub names: Vec<String>,
    /// The verdict on a match.
    pub action: SeccompVerdict,
    /// Argument checks, all of which must hold.
    pub args: Vec<ArgCheck>,
}

/// A seccomp profile given by the face (OCI's `linux.seccomp`), enforced
/// instead of sbx's default filter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompProfile {
    /// For calls no rule matches.
    pub default_action: SeccompVerdict,
    /// The rules.
    pub syscalls: Vec<SyscallRule>,
}

/// A program run at a point of the lifecycle with the container's state
/// JSON on its stdin (runtime-spec "POSIX-platform Hooks").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hook {
    /// Absolute path of the program, in the runtime's namespace.
    pub path: PathBuf,
    /// Its argv, argv[0] included (empty: the path alone).
    pub args: Vec<String>,
    /// Its whole environment, `KEY=VALUE`.
    pub env: Vec<String>,
    /// Seconds before it is killed and counted as failed.
    pub timeout: Option<u64>,
}

/// The hooks sbx runs, all in the runtime's namespaces: `createRuntime`
/// before `create` returns, the deprecated `prestart` once `start` is
/// called and before the command runs, `poststart` once the command runs
/// and before `start` returns, `poststop` when the container is deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hooks {
    /// createRuntime: a failure fails `create`.
    pub create_runtime: Vec<Hook>,
    /// prestart: a failure fails `start` (and the container goes).
    pub prestart: Vec<Hook>,
    /// After the command started: a failure is a warning.
    pub poststart: Vec<Hook>,
    /// After delete: a failure is a warning.
    pub poststop: Vec<Hook>,
}
