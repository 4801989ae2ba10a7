//! The dependency order written in `main.rs`, checked: every module imports
//! only modules on a lower floor (or the utilities), and clap stays in the
//! face. A test-only module: it reads the sources, it does not run them.

use std::collections::BTreeSet;
use std::path::Path;

/// The floors, top first; a module may import those on lower floors only.
const FLOORS: [&[&str]; 9] = [
    &["cli"],
    // Faces other than the CLI: below it, since the CLI dispatches to them
    // (the OCI and CNI faces are picked by argv[0] in main.rs).
    &["lab", "oci", "cni"],
    &["sandbox", "check"],
    &["network", "process"],
    &["spec", "net", "firewall"],
    &["fs", "cgroup", "ipam", "image"],
    &["state"],
    &["model"],
    // The utilities: anyone may use them; they use only each other.
    &["log", "crash", "undo", "hash", "timefmt", "table", "batch"],
];

fn floor_of(module: &str) -> Option<usize> {
    FLOORS.iter().position(|floor| floor.contains(&module))
}

/// The top-level modules a source file names as `crate::X` (also inside
/// `use crate::{X, Y}`), comments left out.
fn imports(text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let name = item.trim().split("::").next().unwrap_or_default();
                found.insert(name.trim().to_string());
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.insert(name);
        }
    }
    found.retain(|n| !n.is_empty());
    found
}

/// Every `.rs` file under `dir`, with the top-level module it belongs to.
fn sources(src: &Path, dir: &Path, out: &mut Vec<(String, std::path::PathBuf)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src/")
        .map(|e| e.expect("read src/ entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(src, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(src).expect("under src/");
            let first = rel.components().next().expect("a component");
            let top = first.as_os_str().to_string_lossy();
            let top = top.strip_suffix(".rs").unwrap_or(&top).to_string();
            out.push((top, path));
        }
    }
}

fn all_sources() -> Vec<(String, std::path::PathBuf)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &src, &mut files);
    // src/bin/: helper binaries of their own, outside the module tree.
    files.retain(|(top, _)| top != "main" && top != "layering" && top != "bin");
    files
}

#[test]
fn every_module_imports_only_lower_floors() {
    let mut wrong = Vec::new();
    for (top, path) in all_sources() {
        let Some(mine) = floor_of(&top) else {
            wrong.push(format!("{top} has no floor in FLOORS"));
            continue;
        };
        let text = std::fs::read_to_string(&path).expect("read a source file");
        for used in imports(&text) {
            if used == top {
                continue;
            }
            let theirs = floor_of(&used);
            let utility = FLOORS.len() - 1;
            let ok = match theirs {
                Some(t) if t == utility => true,
                Some(t) => mine != utility && t > mine,
                None => false,
            };
            if !ok {
                wrong.push(format!("{} imports {used}", path.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "against the order in main.rs: {wrong:#?}");
}

#[test]
fn only_the_face_knows_clap() {
    let wrong: Vec<String> = all_sources()
        .into_iter()
        .filter(|(top, _)| top != "cli" && top != "oci")
        .filter(|(_, path)| {
            let text = std::fs::read_to_string(path).expect("read a source file");
            text.lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .any(|l| l.contains("clap::") || l.contains("crate::cli"))
        })
        .map(|(_, path)| path.display().to_string())
        .collect();
    assert!(wrong.is_empty(), "clap outside the faces: {wrong:?}");
}

#[test]
fn imports_are_read_from_paths_and_groups() {
    let text = "use crate::{log, state::StateRoot};\n// crate::cli in a comment\nlet x = crate::spec::check_name(n);";
    let found: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(found, ["log", "spec", "state"]);
}
