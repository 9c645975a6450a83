//! DEBUG: only the harmless subcommands a client or Redis's test suite needs. DEBUG SLEEP
//! pauses this connection (Redis pauses the whole server; Tandem's other clients go on), DEBUG
//! SET-ACTIVE-EXPIRE is accepted and changes nothing (see below), everything else is refused
//! with a clear error: Tandem's internals are not Redis's.

use std::time::Duration;

use bytes::Bytes;

use super::connection::{Connection, Flow};
use super::dispatch::wrong_arity;
use super::slowlog::help_reply;
use crate::command::Reply;

/// Longest DEBUG SLEEP, so a typo cannot park a connection for days.
const SLEEP_SECS_MAX: f64 = 3600.0;

const HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "SLEEP <seconds>",
    "    Pause this connection for <seconds> (a float; other clients are not paused).",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Accepted and ignored: expired keys are absent to every command whether or not the",
    "    leader's sweeper has reclaimed them yet.",
    "SET-DISABLE-DENY-SCRIPTS <0|1>",
    "    Accepted and ignored: scripts may always call DEBUG PROTOCOL and DEBUG SLEEP (a",
    "    no-op in a script) and never the other commands Redis refuses in scripts.",
    "HELP",
    "    Prints this help.",
];

/// What DEBUG asks for, or the error to answer.
#[derive(Debug, PartialEq)]
enum Debug {
    Sleep(Duration),
    Reply(Reply),
}

fn parse(args: &[Bytes]) -> Debug {
    let sub = args[1].to_ascii_lowercase();
    let error = |text: String| Debug::Reply(Reply::Error(text));
    match sub.as_slice() {
        b"sleep" if args.len() == 3 => {
            let seconds = std::str::from_utf8(&args[2])
                .ok()
                .and_then(|text| text.parse::<f64>().ok())
                .filter(|s| s.is_finite());
            match seconds {
                // Redis sleeps 0 for a value it cannot read (atof); a negative one is 0 too.
                None => Debug::Sleep(Duration::ZERO),
                Some(s) => Debug::Sleep(Duration::from_secs_f64(s.clamp(0.0, SLEEP_SECS_MAX))),
            }
        }
        // Tandem's reads treat a key whose TTL has passed as absent at once, on every node;
        // the leader's sweeper only proposes deletions that reclaim memory. Turning the sweeper
        // off would change nothing a client can observe, so the switch is accepted as a no-op.
        b"set-active-expire" if args.len() == 3 => match args[2].as_ref() {
            b"0" | b"1" => Debug::Reply(Reply::Ok),
            _ => error("ERR value is not an integer or out of range".into()),
        },
        // Redis's switch that lets scripts call DEBUG and other refused commands; scripts may
        // always call the harmless DEBUG PROTOCOL and SLEEP in Tandem, and nothing else.
        b"set-disable-deny-scripts" if args.len() == 3 => match args[2].as_ref() {
            b"0" | b"1" => Debug::Reply(Reply::Ok),
            _ => error("ERR value is not an integer or out of range".into()),
        },
        b"help" if args.len() == 2 => Debug::Reply(help_reply(HELP)),
        b"sleep" | b"set-active-expire" | b"set-disable-deny-scripts" | b"help" => error(
            wrong_arity(&format!("debug|{}", String::from_utf8_lossy(&sub))),
        ),
        _ => error(format!(
            "ERR DEBUG {} is not supported by Tandem (only SLEEP, SET-ACTIVE-EXPIRE and HELP)",
            String::from_utf8_lossy(&args[1]).to_ascii_uppercase()
        )),
    }
}

/// Runs DEBUG with `args`: sleeps this connection for SLEEP, then answers.
pub(crate) async fn run(args: &[Bytes]) -> Reply {
    match parse(args) {
        Debug::Sleep(duration) => {
            tokio::time::sleep(duration).await;
            Reply::Ok
        }
        Debug::Reply(reply) => reply,
    }
}

impl Connection {
    /// DEBUG SLEEP seconds | SET-ACTIVE-EXPIRE 0|1 | HELP
    pub(crate) async fn debug(&mut self, args: &[Bytes]) -> Flow {
        let reply = run(args).await;
        self.reply(Some("debug"), reply).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    #[test]
    fn sleep_takes_fractional_seconds() {
        assert_eq!(
            parse(&args(&["debug", "sleep", "0.25"])),
            Debug::Sleep(Duration::from_millis(250))
        );
        assert_eq!(
            parse(&args(&["debug", "SLEEP", "0"])),
            Debug::Sleep(Duration::ZERO)
        );
        assert_eq!(
            parse(&args(&["debug", "sleep", "x"])),
            Debug::Sleep(Duration::ZERO)
        );
        assert_eq!(
            parse(&args(&["debug", "sleep", "1e9"])),
            Debug::Sleep(Duration::from_secs(3600))
        );
    }

    #[test]
    fn only_harmless_subcommands_are_accepted() {
        assert_eq!(
            parse(&args(&["debug", "set-active-expire", "0"])),
            Debug::Reply(Reply::Ok)
        );
        assert_eq!(
            parse(&args(&["debug", "sleep"])),
            Debug::Reply(Reply::Error(
                "ERR wrong number of arguments for 'debug|sleep' command".into()
            ))
        );
        let Debug::Reply(Reply::Error(text)) = parse(&args(&["debug", "reload"])) else {
            panic!()
        };
        assert!(
            text.starts_with("ERR DEBUG RELOAD is not supported"),
            "{text}"
        );
    }
}
