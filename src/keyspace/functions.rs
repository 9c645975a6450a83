//! Function libraries (FUNCTION LOAD, FCALL): each library is its Lua code plus what loading
//! it registered (function names, descriptions, flags). Replicated state like the script cache:
//! in snapshots (record kind 3, sub-kind 2) and in the digest. The keyspace never runs Lua; the
//! command layer loads a library's code to check it and to call its functions.
//! Invariants: library and function names are unique ignoring ASCII case (as in Redis); every
//! function in `by_function` belongs to exactly the library it points at.

use bytes::Bytes;
use imbl::OrdMap;
use serde::{Deserialize, Serialize};

/// Flags a function may be registered with (`flags={...}` in `redis.register_function`).
pub const FUNCTION_FLAGS: &[&str] = &[
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// One registered function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionInfo {
    pub name: String,
    pub description: Option<String>,
    /// Flag names from [`FUNCTION_FLAGS`], in the order given at registration.
    pub flags: Vec<String>,
}

impl FunctionInfo {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

/// One library: its name (from the `#!lua name=` line), its code, its functions by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Library {
    pub name: String,
    pub code: Bytes,
    pub functions: Vec<FunctionInfo>,
}

/// Why a set of libraries cannot be added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LibraryConflict {
    Library(String),
    Function(String),
}

/// Every library, by lowercase name; ordered so snapshots and digests are deterministic.
#[derive(Clone, Default, Debug)]
pub struct Libraries {
    by_name: OrdMap<String, Library>,
    /// Lowercase function name -> lowercase library name.
    by_function: OrdMap<String, String>,
}

impl Libraries {
    pub fn get(&self, name: &str) -> Option<&Library> {
        self.by_name.get(&name.to_ascii_lowercase())
    }

    /// The library holding function `name` (any case) and that function.
    pub fn function(&self, name: &str) -> Option<(&Library, &FunctionInfo)> {
        let lower = name.to_ascii_lowercase();
        let library = self.by_name.get(self.by_function.get(&lower)?)?;
        let function = library
            .functions
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))?;
        Some((library, function))
    }

    /// Adds `libraries`; with `replace`, a library of the same name is replaced. Nothing
    /// changes when any of them conflicts with a library or function already there (or with
    /// each other).
    pub fn add(&mut self, libraries: Vec<Library>, replace: bool) -> Result<(), LibraryConflict> {
        let mut next = self.clone();
        for library in libraries {
            let key = library.name.to_ascii_lowercase();
            if next.by_name.contains_key(&key) {
                if !replace {
                    return Err(LibraryConflict::Library(library.name));
                }
                next.remove(&key);
            }
            for function in &library.functions {
                if next
                    .by_function
                    .contains_key(&function.name.to_ascii_lowercase())
                {
                    return Err(LibraryConflict::Function(function.name.clone()));
                }
            }
            for function in &library.functions {
                next.by_function
                    .insert(function.name.to_ascii_lowercase(), key.clone());
            }
            next.by_name.insert(key, library);
        }
        *self = next;
        Ok(())
    }

    /// Removes library `name` (any case); returns it.
    pub fn remove(&mut self, name: &str) -> Option<Library> {
        let library = self.by_name.remove(&name.to_ascii_lowercase())?;
        for function in &library.functions {
            self.by_function.remove(&function.name.to_ascii_lowercase());
        }
        Some(library)
    }

    pub fn clear(&mut self) {
        *self = Libraries::default();
    }

    /// Every library, in lowercase-name order.
    pub fn iter(&self) -> impl Iterator<Item = &Library> + '_ {
        self.by_name.values()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    pub fn function_count(&self) -> usize {
        self.by_function.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library(name: &str, functions: &[&str]) -> Library {
        Library {
            name: name.to_string(),
            code: Bytes::from(format!("#!lua name={name}")),
            functions: functions
                .iter()
                .map(|f| FunctionInfo {
                    name: f.to_string(),
                    description: None,
                    flags: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn names_ignore_case_and_conflicts_change_nothing() {
        let mut libs = Libraries::default();
        libs.add(vec![library("Lib", &["f1", "F2"])], false)
            .unwrap();
        assert_eq!(libs.function("F1").unwrap().0.name, "Lib");
        assert_eq!(
            libs.add(vec![library("lib", &["g"])], false),
            Err(LibraryConflict::Library("lib".into()))
        );
        assert_eq!(
            libs.add(vec![library("other", &["f2"])], false),
            Err(LibraryConflict::Function("f2".into()))
        );
        assert_eq!(
            libs.add(vec![library("a", &["x"]), library("b", &["x"])], false),
            Err(LibraryConflict::Function("x".into()))
        );
        assert_eq!(libs.len(), 1);
        assert_eq!(libs.function_count(), 2);
        libs.add(vec![library("LIB", &["g"])], true).unwrap();
        assert!(libs.function("f1").is_none());
        assert_eq!(libs.function("g").unwrap().0.name, "LIB");
        assert!(libs.remove("lib").is_some());
        assert!(libs.is_empty() && libs.function_count() == 0);
    }
}
