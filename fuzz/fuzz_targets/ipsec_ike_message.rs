//! IKE message parsing: any input parses or errors without panicking, and whatever parses
//! re-encodes to bytes that parse to the same message.
#![no_main]

use cvlan_ipsec::wire::{Header, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Header::parse(data);
    if let Ok(msg) = Message::parse(data) {
        let again = Message::parse(&msg.encode()).expect("re-encoded message parses");
        assert_eq!(again.payloads, msg.payloads);
    }
});
