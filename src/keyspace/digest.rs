//! The state digest replicas compare to prove they hold the same data.
//! Invariant: it depends only on the logical state (keys, values, expiries,
//! versions, version counter, blocked clients, sessions, scripts, ACL users), never on tree shape or history.

use xxhash_rust::xxh3::Xxh3Default;

use super::codec::encode_record;
use super::Keyspace;

impl Keyspace {
    /// 128-bit xxh3 over every snapshot record, in slot order, each prefixed
    /// by its length so record boundaries are unambiguous, then the version
    /// counter. Equal on every replica that applied the same log.
    pub fn digest(&self) -> u128 {
        let mut hasher = Xxh3Default::new();
        let mut record = Vec::new();
        hasher.update(&(self.len() as u64).to_le_bytes());
        for (slot, entry) in self.entries() {
            record.clear();
            encode_record(&slot.key, entry, &mut record);
            hasher.update(&(record.len() as u64).to_le_bytes());
            hasher.update(&record);
        }
        hasher.update(&self.version_counter().to_le_bytes());
        // Blocked clients are replicated state too; nothing is added when there are none, so
        // digests of keyspaces without them are unchanged.
        for waiter in self.blocked().iter() {
            let encoded = postcard::to_allocvec(waiter).expect("waiters always encode");
            hasher.update(&(encoded.len() as u64).to_le_bytes());
            hasher.update(&encoded);
        }
        // Sessions likewise: nothing is added without them.
        for (id, session) in self.sessions().iter() {
            let encoded = postcard::to_allocvec(&(id, session)).expect("sessions always encode");
            hasher.update(&(encoded.len() as u64).to_le_bytes());
            hasher.update(&encoded);
        }
        // Cached scripts likewise: nothing is added when there are none.
        if !self.scripts().is_empty() {
            hasher.update(b"scripts");
            for body in self.scripts().bodies() {
                hasher.update(&(body.len() as u64).to_le_bytes());
                hasher.update(body);
            }
        }
        // ACL users likewise: nothing is added when none were ever set.
        if !self.users().is_empty() {
            hasher.update(b"users");
            for user in self.users().iter() {
                let encoded = postcard::to_allocvec(&user).expect("users always encode");
                hasher.update(&(encoded.len() as u64).to_le_bytes());
                hasher.update(&encoded);
            }
        }
        // Function libraries likewise: nothing is added when there are none.
        if !self.functions().is_empty() {
            hasher.update(b"functions");
            for library in self.functions().iter() {
                let encoded = postcard::to_allocvec(library).expect("libraries always encode");
                hasher.update(&(encoded.len() as u64).to_le_bytes());
                hasher.update(&encoded);
            }
        }
        hasher.digest128()
    }
}
