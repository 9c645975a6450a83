//! Name → spec lookup over a fixed set of [`CommandSpec`]s: one case-insensitive hash lookup
//! per request, with no allocation. Invariant: names are unique and lowercase (checked when the
//! registry is built, which happens once per process).

use std::collections::HashMap;

use super::CommandSpec;

/// Longest name looked up without allocating; no command name comes near it.
const NAME_BYTES_MAX: usize = 32;

/// The commands a layer answers, by name.
pub struct Registry {
    /// Each spec with its position in `all`.
    by_name: HashMap<&'static [u8], (usize, &'static CommandSpec)>,
    /// In the order given (COMMAND lists them so).
    all: Vec<&'static CommandSpec>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("commands", &self.all.len())
            .finish()
    }
}

impl Registry {
    /// Builds the registry. Panics on a duplicate or non-lowercase name: that is a bug in a
    /// spec table, found by the first test that builds it.
    pub fn new(specs: impl IntoIterator<Item = &'static CommandSpec>) -> Registry {
        let mut by_name = HashMap::new();
        let mut all = Vec::new();
        for spec in specs {
            assert!(
                spec.name.len() <= NAME_BYTES_MAX
                    && !spec.name.bytes().any(|b| b.is_ascii_uppercase()),
                "command name {:?} must be lowercase and at most {NAME_BYTES_MAX} bytes",
                spec.name
            );
            let previous = by_name.insert(spec.name.as_bytes(), (all.len(), spec));
            assert!(previous.is_none(), "command {:?} declared twice", spec.name);
            all.push(spec);
        }
        Registry { by_name, all }
    }

    /// The spec for `name` in any case.
    pub fn lookup(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        self.lookup_indexed(name).map(|(_, spec)| spec)
    }

    /// The spec for `name` in any case, with its position in [`Registry::all`] (the id ACL
    /// permission bitmaps are indexed by).
    pub fn lookup_indexed(&self, name: &[u8]) -> Option<(usize, &'static CommandSpec)> {
        if name.len() > NAME_BYTES_MAX {
            return None;
        }
        let mut lower = [0u8; NAME_BYTES_MAX];
        let lower = &mut lower[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&*lower).copied()
    }

    /// Every command, in declaration order.
    pub fn all(&self) -> &[&'static CommandSpec] {
        &self.all
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
}
