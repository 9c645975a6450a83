//! RESP command parsing on arbitrary bytes: never panics, every returned command consumed bytes
//! (so a read loop always ends), each command re-encoded as a RESP array parses back to the same
//! arguments, and the resumable decoder fed the bytes in fuzzer-chosen chunks agrees call for
//! call with the stateless parser fed the same chunks.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tandem::resp::{parse_command, write_command, CommandDecoder, Limits};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the chunk size and whether tight limits apply, so limit errors and
    // partial reads are both reached.
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    let limits = if control & 0x80 == 0 {
        Limits::default()
    } else {
        Limits {
            bulk_bytes_max: 64,
            array_len_max: 16,
            inline_bytes_max: 128,
        }
    };
    let chunk_len = usize::from(control & 0x7f).max(1);

    // The whole input at once.
    let mut buf = BytesMut::from(data);
    while let Ok(Some(args)) = parse_command(&mut buf, &limits) {
        assert!(!args.is_empty());
        let mut encoded = BytesMut::new();
        write_command(&args, &mut encoded);
        let again = parse_command(&mut encoded, &Limits::default()).expect("re-encoded parses");
        assert_eq!(again.as_ref(), Some(&args));
        assert!(encoded.is_empty());
    }

    // The same bytes in chunks, stateless and resumable side by side.
    let mut stateless = BytesMut::new();
    let mut resumed = BytesMut::new();
    let mut decoder = CommandDecoder::default();
    for chunk in data.chunks(chunk_len) {
        stateless.extend_from_slice(chunk);
        resumed.extend_from_slice(chunk);
        loop {
            let before = stateless.len();
            let a = parse_command(&mut stateless, &limits);
            let b = decoder.decode(&mut resumed, &limits);
            assert_eq!(a, b);
            assert_eq!(stateless, resumed);
            match a {
                Ok(Some(_)) => assert!(stateless.len() < before, "a command consumed nothing"),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
