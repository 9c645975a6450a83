//! Snapshot records on arbitrary bytes: decoding never panics, and whatever decodes
//! re-encodes to a keyspace with the same digest.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem::keyspace::Keyspace;

fuzz_target!(|data: &[u8]| {
    let mut keyspace = Keyspace::new();
    if keyspace.decode_entry_into(data).is_ok() {
        let mut records = Vec::new();
        keyspace
            .encode_entries(&mut |r: &[u8]| {
                records.push(r.to_vec());
                Ok(())
            })
            .expect("encode to memory");
        let mut again = Keyspace::new();
        for r in &records {
            again.decode_entry_into(r).expect("re-encoded record decodes");
        }
        assert_eq!(again.digest(), keyspace.digest());
    }
});
