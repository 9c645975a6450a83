//! Command parsing on arbitrary arguments: never panics; whatever parses also survives an
//! apply on an empty keyspace and a postcard round trip (it goes into log entries).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tandem::command::Cx;
use tandem::keyspace::Keyspace;
use tandem::Command;

fuzz_target!(|data: &[u8]| {
    // Arguments are separated by 0xFF bytes; the first is the command name.
    let args: Vec<Bytes> = data
        .split(|b| *b == 0xFF)
        .map(Bytes::copy_from_slice)
        .collect();
    if let Ok(command) = Command::parse(&args) {
        let encoded = postcard::to_allocvec(&command).expect("commands encode");
        let decoded: Command = postcard::from_bytes(&encoded).expect("commands decode");
        assert_eq!(format!("{decoded:?}"), format!("{command:?}"));
        let mut keyspace = Keyspace::new();
        let mut cx = Cx::new(1_000, 7);
        if command.is_write() {
            let _ = command.apply(&mut keyspace, &mut cx);
        } else {
            let _ = command.read(&keyspace, &mut cx);
        }
    }
    // Arbitrary bytes as an encoded command (a corrupted log entry) never panic either.
    let _ = postcard::from_bytes::<Command>(data);
});
