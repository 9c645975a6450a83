//! The ACL user table: every user created with ACL SETUSER (or loaded from an aclfile), as the
//! rules that define it. It is replicated state, so it lives beside the keys: changed only by
//! log entries, kept in snapshots (record kind 5) and in the digest, and every node enforces the
//! same users from the entry that changes them.
//! Invariants: passwords are only ever held as SHA-256 digests; command rules are kept as text
//! (`+@read`, `-get`, `+client|id`) because what they mean is the command layer's business,
//! which compiles them (`crate::command::acl`). `default` is implicit until first changed.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A SHA-256 password digest.
pub type PasswordHash = [u8; 32];

/// One key pattern and the access it grants (`~p`: both, `%R~p`: read, `%W~p`: write).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPattern {
    pub read: bool,
    pub write: bool,
    pub pattern: Bytes,
}

impl KeyPattern {
    fn is_all(&self) -> bool {
        self.read && self.write && &self.pattern[..] == b"*"
    }
}

/// One user, as its rules left it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub enabled: bool,
    pub nopass: bool,
    /// In the order they were added, without duplicates.
    pub passwords: Vec<PasswordHash>,
    /// Command rules in order, lowercase; the first is `+@all` or `-@all` when set.
    pub commands: Vec<String>,
    /// `allkeys`: every key, read and write (patterns are then empty).
    pub all_keys: bool,
    pub keys: Vec<KeyPattern>,
    /// `allchannels` (patterns are then empty).
    pub all_channels: bool,
    pub channels: Vec<Bytes>,
}

/// One ACL SETUSER modifier, already checked and with passwords hashed by the node that
/// proposed it (so no clear-text password ever reaches the log).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rule {
    On,
    Off,
    NoPass,
    ResetPass,
    AddPassword(PasswordHash),
    RemovePassword(PasswordHash),
    /// `+cmd`, `-cmd`, `+@cat`, `-@cat`, `+cmd|sub`, `-cmd|sub` (lowercase; `allcommands` is
    /// `+@all`, `nocommands` is `-@all`).
    Command(String),
    AllKeys,
    ResetKeys,
    Keys(KeyPattern),
    AllChannels,
    ResetChannels,
    Channel(Bytes),
    Reset,
}

/// Why a modifier could not be applied (its index in the list, and the Redis reason text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    pub index: usize,
    pub reason: &'static str,
}

pub const PATTERN_AFTER_ALL_KEYS: &str = "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns";
pub const PATTERN_AFTER_ALL_CHANNELS: &str = "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels";
pub const NO_SUCH_PASSWORD: &str =
    "The password you are trying to remove from the user does not exist";

impl User {
    /// The user `default` is before anyone changes it: on, every command, key and channel;
    /// `password` (requirepass) or nopass.
    pub fn default_user(password: Option<PasswordHash>) -> User {
        User {
            enabled: true,
            nopass: password.is_none(),
            passwords: password.into_iter().collect(),
            commands: vec!["+@all".into()],
            all_keys: true,
            keys: Vec::new(),
            all_channels: true,
            channels: Vec::new(),
        }
    }

    /// Applies `rules` in order; on error the user is left unchanged.
    pub fn apply(&mut self, rules: &[Rule]) -> Result<(), RuleError> {
        let mut next = self.clone();
        for (index, rule) in rules.iter().enumerate() {
            next.apply_one(rule)
                .map_err(|reason| RuleError { index, reason })?;
        }
        *self = next;
        Ok(())
    }

    fn apply_one(&mut self, rule: &Rule) -> Result<(), &'static str> {
        match rule {
            Rule::On => self.enabled = true,
            Rule::Off => self.enabled = false,
            Rule::NoPass => {
                self.nopass = true;
                self.passwords.clear();
            }
            Rule::ResetPass => {
                self.nopass = false;
                self.passwords.clear();
            }
            Rule::AddPassword(hash) => {
                self.nopass = false;
                if !self.passwords.contains(hash) {
                    self.passwords.push(*hash);
                }
            }
            Rule::RemovePassword(hash) => {
                let before = self.passwords.len();
                self.passwords.retain(|p| p != hash);
                if self.passwords.len() == before {
                    return Err(NO_SUCH_PASSWORD);
                }
                self.nopass = false;
            }
            Rule::Command(text) => self.add_command_rule(text),
            Rule::AllKeys => {
                self.all_keys = true;
                self.keys.clear();
            }
            Rule::ResetKeys => {
                self.all_keys = false;
                self.keys.clear();
            }
            Rule::Keys(pattern) => {
                if pattern.is_all() {
                    self.all_keys = true;
                    self.keys.clear();
                } else if self.all_keys {
                    return Err(PATTERN_AFTER_ALL_KEYS);
                } else if let Some(old) =
                    self.keys.iter_mut().find(|k| k.pattern == pattern.pattern)
                {
                    old.read |= pattern.read;
                    old.write |= pattern.write;
                } else {
                    self.keys.push(pattern.clone());
                }
            }
            Rule::AllChannels => {
                self.all_channels = true;
                self.channels.clear();
            }
            Rule::ResetChannels => {
                self.all_channels = false;
                self.channels.clear();
            }
            Rule::Channel(pattern) => {
                if &pattern[..] == b"*" {
                    self.all_channels = true;
                    self.channels.clear();
                } else if self.all_channels {
                    return Err(PATTERN_AFTER_ALL_CHANNELS);
                } else if !self.channels.contains(pattern) {
                    self.channels.push(pattern.clone());
                }
            }
            Rule::Reset => *self = User::default(),
        }
        Ok(())
    }

    /// Keeps the rule list short: `+@all`/`-@all` start it afresh, and a rule for one
    /// command (or subcommand) replaces an earlier rule for the same one.
    fn add_command_rule(&mut self, rule: &str) {
        if rule == "+@all" || rule == "-@all" {
            self.commands = vec![rule.to_string()];
            return;
        }
        let body = &rule[1..];
        if !body.starts_with('@') {
            // `+memory` also replaces earlier `+memory|doctor`; `+memory|doctor` only itself.
            let whole = !body.contains('|');
            self.commands.retain(|old| {
                let old = &old[1..];
                old.starts_with('@')
                    || !(old == body || (whole && old.split('|').next() == Some(body)))
            });
        }
        self.commands.push(rule.to_string());
    }

    /// Whether `password` is one of this user's (or the user needs none).
    pub fn password_ok(&self, password: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let hash = password_hash(password);
        // Compare every stored digest fully, so timing says nothing about which one is close.
        self.passwords
            .iter()
            .fold(false, |found, p| found | constant_time_eq(p, &hash))
    }
}

fn constant_time_eq(a: &PasswordHash, b: &PasswordHash) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SHA-256 of `password`.
pub fn password_hash(password: &[u8]) -> PasswordHash {
    use sha2::Digest;
    sha2::Sha256::digest(password).into()
}

/// A change to the user table: the payload of one ACL log entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum UserChange {
    /// ACL SETUSER: `rules` applied to `name`, which starts as `base` (or a blank user) if it
    /// does not exist yet. The proposer gives `default` its implicit base.
    SetUser {
        name: Bytes,
        base: Option<User>,
        rules: Vec<Rule>,
    },
    /// ACL DELUSER.
    DelUsers(Vec<Bytes>),
    /// ACL LOAD (and an aclfile at first start): the whole table.
    Replace(Vec<(Bytes, User)>),
}

/// Every user created so far, by name. `default` is absent until it is first changed, and
/// then stored like any other user.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Users {
    by_name: BTreeMap<Bytes, User>,
}

impl Users {
    pub fn get(&self, name: &[u8]) -> Option<&User> {
        self.by_name.get(name)
    }

    /// Applies `rules` to user `name`, created from `base` (or a blank user) if absent.
    pub fn set_user(
        &mut self,
        name: &Bytes,
        base: Option<&User>,
        rules: &[Rule],
    ) -> Result<(), RuleError> {
        let mut user = match self.by_name.get(name) {
            Some(user) => user.clone(),
            None => base.cloned().unwrap_or_default(),
        };
        user.apply(rules)?;
        self.by_name.insert(name.clone(), user);
        Ok(())
    }

    /// Removes `name`; whether it existed.
    pub fn remove(&mut self, name: &[u8]) -> bool {
        self.by_name.remove(name).is_some()
    }

    /// Replaces every user (ACL LOAD).
    pub fn replace(&mut self, users: BTreeMap<Bytes, User>) {
        self.by_name = users;
    }

    /// Applies one log entry's change: `Ok(n)` with the number of users removed (DELUSER), or
    /// the rule that failed (SETUSER, which then changes nothing).
    pub fn change(&mut self, change: &UserChange) -> Result<usize, RuleError> {
        match change {
            UserChange::SetUser { name, base, rules } => {
                self.set_user(name, base.as_ref(), rules)?;
                Ok(0)
            }
            UserChange::DelUsers(names) => Ok(names.iter().filter(|n| self.remove(n)).count()),
            UserChange::Replace(users) => {
                self.replace(users.iter().cloned().collect());
                Ok(0)
            }
        }
    }

    /// Restores one user from a snapshot.
    pub fn restore(&mut self, name: Bytes, user: User) {
        self.by_name.insert(name, user);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &User)> + '_ {
        self.by_name.iter()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(rule: &str) -> Rule {
        Rule::Command(rule.into())
    }

    #[test]
    fn a_failed_rule_leaves_the_user_unchanged() {
        let mut user = User::default();
        user.apply(&[Rule::On, Rule::AllKeys]).unwrap();
        let before = user.clone();
        let error = user
            .apply(&[
                Rule::Off,
                Rule::Keys(KeyPattern {
                    read: true,
                    write: true,
                    pattern: Bytes::from("x"),
                }),
            ])
            .unwrap_err();
        assert_eq!(error.index, 1);
        assert_eq!(error.reason, PATTERN_AFTER_ALL_KEYS);
        assert_eq!(user, before);
    }

    #[test]
    fn command_rules_replace_earlier_ones_for_the_same_command() {
        let mut user = User::default();
        user.apply(&[cmd("+@all"), cmd("-@dangerous"), cmd("+get"), cmd("-get")])
            .unwrap();
        assert_eq!(user.commands, ["+@all", "-@dangerous", "-get"]);
        user.apply(&[cmd("-@all"), cmd("+client|id")]).unwrap();
        assert_eq!(user.commands, ["-@all", "+client|id"]);
        user.apply(&[cmd("+memory|doctor"), cmd("+memory")])
            .unwrap();
        assert_eq!(user.commands, ["-@all", "+client|id", "+memory"]);
    }

    #[test]
    fn passwords_are_hashes_and_can_be_removed() {
        let mut user = User::default();
        user.apply(&[Rule::AddPassword(password_hash(b"pw"))])
            .unwrap();
        assert!(user.password_ok(b"pw"));
        assert!(!user.password_ok(b"other"));
        let error = user
            .apply(&[Rule::RemovePassword(password_hash(b"nope"))])
            .unwrap_err();
        assert_eq!(error.reason, NO_SUCH_PASSWORD);
        user.apply(&[Rule::RemovePassword(password_hash(b"pw"))])
            .unwrap();
        assert!(!user.password_ok(b"pw"));
        user.apply(&[Rule::NoPass]).unwrap();
        assert!(user.password_ok(b"anything"));
    }

    #[test]
    fn star_pattern_means_all() {
        let mut user = User::default();
        user.apply(&[
            Rule::Keys(KeyPattern {
                read: true,
                write: true,
                pattern: Bytes::from("*"),
            }),
            Rule::Channel(Bytes::from("*")),
        ])
        .unwrap();
        assert!(user.all_keys && user.keys.is_empty());
        assert!(user.all_channels && user.channels.is_empty());
        // `~*` and `&*` again are no-ops, as in Redis; a narrower pattern is refused.
        user.apply(&[
            Rule::Keys(KeyPattern {
                read: true,
                write: true,
                pattern: Bytes::from("*"),
            }),
            Rule::Channel(Bytes::from("*")),
        ])
        .unwrap();
    }
}
