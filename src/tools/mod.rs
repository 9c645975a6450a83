//! The binary's own tools, built on the library's public API (`tandem::client`, `tandem::Db`):
//! the operator commands (`tandem status`, `check`, `cluster ...`, `demo`) and the embedded
//! demo. Nothing in the library depends on them.

pub mod cluster;
pub mod embedded;
