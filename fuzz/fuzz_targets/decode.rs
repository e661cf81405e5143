//! Fuzzes the record decoder and the store behind it with arbitrary keys and values on every
//! topic role: whatever a producer writes must decode or be rejected with a reason, never panic,
//! and a decoded record must apply to the store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinscope::twin::decode::{Origin, Role, decode};
use twinscope::twin::mapping::Mapping;
use twinscope::twin::store::Store;

fuzz_target!(|data: &[u8]| {
    // Byte 0 picks the role and whether key/value are null (tombstones); byte 1 the key length.
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let Some((&key_len, rest)) = rest.split_first() else {
        return;
    };
    let role = Role::ALL[usize::from(head % 3)];
    let (key, value) = rest.split_at(usize::from(key_len).min(rest.len()));
    let key = (head & 0x10 == 0).then_some(key);
    let value = (head & 0x20 == 0).then_some(value);
    let mapping = Mapping::default();
    let origin = Origin {
        role,
        partition: 0,
        offset: 0,
        kafka_ts: 1_700_000_000_000,
    };
    if let Ok(body) = decode(&mapping, origin, key, value) {
        let mut store = Store::new(mapping.separator(), 16);
        store.apply(twinscope::twin::decode::Rec { origin, body });
        let _ = store.snapshot(i64::MAX);
    }
});
