//! The crate's modules form layers: a module may use the ones below it, never one above. This
//! test reads `src/` and fails on any path that points up a layer — `crate::<module>`, or a
//! `super::` chain that climbs to the crate root and down into another module — unless the
//! import is in [`KNOWN`], the list of upward imports not yet untangled. The list only shrinks:
//! an entry whose import is gone fails the test too, so it is removed when the import is.
//!
//! Test code (`tests.rs` files, `tests/` folders, and a file's lines from its first
//! `#[cfg(test)]` on) is not checked: tests may reach anywhere.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// From the bottom up. Modules in one group may use each other.
const LAYERS: &[&[&str]] = &[
    &["allocator", "tls", "wal"],
    &["peer"],
    &["keyspace"],
    &["command"],
    &["resp"],
    // The snapshot file format names openraft's snapshot metadata, and the state machine writes
    // it; the public error type wraps openraft's errors, and the log payload answers with it.
    &["raft", "snapshot", "error"],
    &["cluster"],
    &["node"],
    &["server"],
    &["backup", "inspect", "client"],
    &["bench", "tools"],
];

/// Upward imports still in the tree: (file under src/, module it reaches up to, why).
const KNOWN: &[(&str, &str, &str)] = &[];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|group| group.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "tests") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

/// How deep the module a file under `src/` defines sits below the crate root: `wal.rs` and
/// `wal/mod.rs` are `crate::wal` (1), `wal/segment.rs` is `crate::wal::segment` (2).
fn module_depth(relative: &str) -> usize {
    let parts = relative.split('/').count();
    if relative.ends_with("/mod.rs") {
        parts - 1
    } else {
        parts
    }
}

/// The top-level module a path names after `root` (the crate root): its first segment.
fn first_segment(after_root: &str, line: &str) -> String {
    assert!(
        !after_root.starts_with('{'),
        "name one module per path to the crate root (`use crate::module::...`), not \
         `crate::{{...}}` or `super::{{...}}`: {line}"
    );
    after_root
        .chars()
        .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
        .collect()
}

/// Every module of the crate root that the non-test code of `text` (a file whose module is
/// `depth` below the root) names, comments left out: through `crate::<name>`, or through a
/// `super::` chain that climbs `depth` levels, to the root.
fn crate_paths(text: &str, depth: usize) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with("#[cfg(test)]") {
            break;
        }
        if code.starts_with("//") {
            continue;
        }
        let code = code.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name = first_segment(after, line);
            if !name.is_empty() {
                found.insert(name);
            }
            rest = after;
        }
        let mut rest = code;
        while let Some(at) = rest.find("super::") {
            // Only the start of a chain: `a::super::` is not a path, and `super::super::` is
            // counted once, from its first `super`.
            let starts_chain =
                !rest[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':');
            let mut after = &rest[at..];
            let mut climbs = 0;
            while let Some(next) = after.strip_prefix("super::") {
                climbs += 1;
                after = next;
            }
            if starts_chain && climbs == depth {
                let name = first_segment(after, line);
                if !name.is_empty() {
                    found.insert(name);
                }
            }
            rest = after;
        }
    }
    found
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();

    let mut upward = BTreeSet::new();
    let mut unplaced = BTreeSet::new();
    for file in &files {
        let relative = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let top = relative
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let Some(own) = layer_of(&top) else {
            unplaced.insert(top);
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read source");
        for used in crate_paths(&text, module_depth(&relative)) {
            if used == top {
                continue;
            }
            match layer_of(&used) {
                Some(layer) if layer > own => {
                    upward.insert((relative.clone(), used));
                }
                Some(_) => {}
                // `crate::Error` and other re-exports at the crate root are not modules.
                None if used.starts_with(|c: char| c.is_ascii_lowercase()) => {
                    unplaced.insert(used);
                }
                None => {}
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "modules missing from LAYERS (place each in its layer): {unplaced:?}"
    );

    let known: BTreeSet<(String, String)> = KNOWN
        .iter()
        .map(|(file, module, _)| (file.to_string(), module.to_string()))
        .collect();
    let new: Vec<_> = upward.difference(&known).collect();
    assert!(
        new.is_empty(),
        "imports from a layer above (move the code down, or pass it in from above): {new:?}"
    );
    let gone: Vec<_> = known.difference(&upward).collect();
    assert!(
        gone.is_empty(),
        "untangled: remove these from KNOWN in tests/layering.rs: {gone:?}"
    );
}

#[test]
fn the_scanner_sees_paths_and_skips_comments_and_tests() {
    let text = "use crate::wal::Wal;\n// crate::server is only named here\nlet x = crate::node::f(); // crate::client\n#[cfg(test)]\nmod tests { use crate::bench; }\n";
    let found: Vec<_> = crate_paths(text, 2).into_iter().collect();
    assert_eq!(found, ["node", "wal"]);
}

#[test]
fn the_scanner_follows_super_chains_to_the_crate_root() {
    assert_eq!(module_depth("wal.rs"), 1);
    assert_eq!(module_depth("node/mod.rs"), 1);
    assert_eq!(module_depth("node/batcher.rs"), 2);
    assert_eq!(module_depth("keyspace/hash/small.rs"), 3);
    // In crate::node::batcher, two `super`s reach the root; one stays inside `node`.
    let text = "use super::lanes::Lanes;\nuse super::super::server::Shared;\nlet x = super::super::cluster::f(super::Db::new());\n";
    let found: Vec<_> = crate_paths(text, 2).into_iter().collect();
    assert_eq!(found, ["cluster", "server"]);
    // In crate::node itself (node/mod.rs), one `super` is the root.
    let found: Vec<_> = crate_paths("use super::server::Shared;\n", 1)
        .into_iter()
        .collect();
    assert_eq!(found, ["server"]);
    // Deeper than the file's own depth cannot compile; shallower stays inside the module.
    assert!(crate_paths("use super::lanes;\n", 3).is_empty());
}
