//! What an image's config means for `sbx run` (SPEC "Images", Docker's
//! rules): the command, environment, working directory and user.

use anyhow::{Result, bail};
use oci_spec::image::ImageConfiguration;

/// The command to run, by Docker's rules: `--entrypoint` replaces the
/// image's Entrypoint (and, like Docker, drops the image's Cmd); a COMMAND
/// given after `--` replaces Cmd and keeps the Entrypoint.
pub fn command(
    config: &ImageConfiguration,
    entrypoint: Option<&str>,
    given: &[String],
) -> Vec<String> {
    let c = config.config().as_ref();
    let image_entrypoint = c.and_then(|c| c.entrypoint().clone()).unwrap_or_default();
    let image_cmd = c.and_then(|c| c.cmd().clone()).unwrap_or_default();
    let (entry, cmd) = match entrypoint {
        // `--entrypoint ""` clears it, as in Docker.
        Some("") => (Vec::new(), given.to_vec()),
        Some(e) => (vec![e.to_string()], given.to_vec()),
        None if !given.is_empty() => (image_entrypoint, given.to_vec()),
        None => (image_entrypoint, image_cmd),
    };
    entry.into_iter().chain(cmd).collect()
}

/// The image's Env entries (`KEY=VALUE`).
pub fn env(config: &ImageConfiguration) -> Vec<String> {
    config
        .config()
        .as_ref()
        .and_then(|c| c.env().clone())
        .unwrap_or_default()
}

/// The image's WorkingDir, when it sets one.
pub fn workdir(config: &ImageConfiguration) -> Option<String> {
    config
        .config()
        .as_ref()
        .and_then(|c| c.working_dir().clone())
        .filter(|w| !w.is_empty())
}

/// The image's User, when it sets one.
pub fn user(config: &ImageConfiguration) -> Option<String> {
    config
        .config()
        .as_ref()
        .and_then(|c| c.user().clone())
        .filter(|u| !u.is_empty())
}

/// Resolves `USER[:GROUP]` (names or numbers) to ids; an empty user or
/// group, or a number past 2^32-1, is refused. Names are looked up
/// in `passwd` and `group` (the image's /etc files, as text); a user
/// without a group gets its passwd group, or 0 when it is a bare number
/// not in passwd (Docker's rule).
pub fn resolve_user(spec: &str, passwd: &str, group: &str) -> Result<(u32, u32)> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let entry = |file: &str, name: &str| -> Option<Vec<String>> {
        file.lines()
            .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
            .find(|f| f.len() >= 3 && (f[0] == name || f[2] == name))
    };
    if user.is_empty() || grp.is_some_and(str::is_empty) {
        bail!(
            "user {spec:?} is not USER[:GROUP]: give a name or number, e.g. -u 1000:1000 or -u www"
        );
    }
    let (uid, default_gid) = match user.parse::<u32>() {
        Ok(uid) => {
            let gid = entry(passwd, user)
                .and_then(|f| f.get(3).and_then(|g| g.parse().ok()))
                .unwrap_or(0);
            (uid, gid)
        }
        Err(_) => {
            let Some(f) = entry(passwd, user) else {
                bail!(
                    "user {user:?} is not in the image's /etc/passwd: give a name of its /etc/passwd or a numeric uid[:gid] (with -u, or as the image's User)"
                );
            };
            let uid = f[2].parse::<u32>().unwrap_or(0);
            let gid = f.get(3).and_then(|g| g.parse().ok()).unwrap_or(0);
            (uid, gid)
        }
    };
    let gid = match grp {
        None => default_gid,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => match entry(group, g) {
                Some(f) => f[2].parse::<u32>().unwrap_or(0),
                None => {
                    bail!(
                        "group {g:?} is not in the image's /etc/group: give a group of its /etc/group or a numeric gid (with -u USER:GROUP, or in the image's User)"
                    )
                }
            },
        },
    };
    Ok((uid, gid))
}

/// The supplementary groups of `uid` in the image's `/etc/group`: every
/// group whose member list (fourth field) names the user `uid` has in
/// `passwd`, `gid` left out (it is the primary group), in file order, as
/// Docker's user lookup gives them (getgrouplist(3) semantics).
pub fn supplementary_groups(uid: u32, gid: u32, passwd: &str, group: &str) -> Vec<u32> {
    let Some(name) = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 3 && f[2].parse::<u32>() == Ok(uid))
        .map(|f| f[0].to_string())
    else {
        return Vec::new();
    };
    let mut groups = Vec::new();
    for fields in group.lines().map(|l| l.split(':').collect::<Vec<_>>()) {
        let (Some(id), Some(members)) = (fields.get(2), fields.get(3)) else {
            continue;
        };
        let Ok(id) = id.parse::<u32>() else {
            continue;
        };
        if id != gid && !groups.contains(&id) && members.split(',').any(|m| m.trim() == name) {
            groups.push(id);
        }
    }
    groups
}

/// The home folder of `uid` in the image's `/etc/passwd` (its sixth
/// field); `/` when the uid has no entry or an empty one, as Docker does
/// (it sets HOME from the image's passwd unless the environment has one).
pub fn home_of(uid: u32, passwd: &str) -> String {
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse::<u32>() == Ok(uid))
        .map(|f| f[5].to_string())
        .filter(|h| h.starts_with('/'))
        .unwrap_or_else(|| "/".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(entrypoint: Option<&[&str]>, cmd: Option<&[&str]>) -> ImageConfiguration {
        let v = |s: Option<&[&str]>| s.map(|s| s.iter().map(|x| x.to_string()).collect());
        let mut c = oci_spec::image::Config::default();
        c.set_entrypoint(v(entrypoint));
        c.set_cmd(v(cmd));
        let mut ic = ImageConfiguration::default();
        ic.set_config(Some(c));
        ic
    }

    fn s(items: &[&str]) -> Vec<String> {
        items.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn docker_command_rules() {
        let c = config(Some(&["/bin/ep", "-x"]), Some(&["a", "b"]));
        assert_eq!(command(&c, None, &[]), s(&["/bin/ep", "-x", "a", "b"]));
        assert_eq!(command(&c, None, &s(&["c"])), s(&["/bin/ep", "-x", "c"]));
        assert_eq!(
            command(&c, Some("/bin/sh"), &s(&["-c", "x"])),
            s(&["/bin/sh", "-c", "x"])
        );
        assert_eq!(command(&c, Some("/bin/sh"), &[]), s(&["/bin/sh"]));
        assert_eq!(command(&c, Some(""), &s(&["id"])), s(&["id"]));
        let only_cmd = config(None, Some(&["sh"]));
        assert_eq!(command(&only_cmd, None, &[]), s(&["sh"]));
        assert_eq!(command(&only_cmd, None, &s(&["ls"])), s(&["ls"]));
    }

    #[test]
    fn users_resolve() {
        let passwd = "root:x:0:0::/root:/bin/sh\nwww:x:33:34::/var/www:/bin/sh\n";
        let group = "root:x:0:\nstaff:x:50:\n";
        assert_eq!(resolve_user("1000", passwd, group).unwrap(), (1000, 0));
        assert_eq!(resolve_user("1000:7", passwd, group).unwrap(), (1000, 7));
        assert_eq!(resolve_user("www", passwd, group).unwrap(), (33, 34));
        assert_eq!(resolve_user("33", passwd, group).unwrap(), (33, 34));
        assert_eq!(resolve_user("www:staff", passwd, group).unwrap(), (33, 50));
        assert_eq!(home_of(33, passwd), "/var/www");
        let group = "root:x:0:\nstaff:x:50:ann,www\nwww:x:34:www\nbad:x:z:www\nops:x:60:www\n";
        assert_eq!(supplementary_groups(33, 34, passwd, group), [50, 60]);
        assert!(supplementary_groups(1000, 0, passwd, group).is_empty());
        assert_eq!(home_of(0, passwd), "/root");
        assert_eq!(home_of(1000, passwd), "/");
        assert_eq!(home_of(7, "x:x:7:7::relative:/bin/sh\n"), "/");
        assert!(resolve_user("nobody", passwd, group).is_err());
        assert!(resolve_user("0:nogroup", passwd, group).is_err());
    }
}
