//! Fuzzes the TOML config parser, including the mapping and alarm rules inside it: any file an
//! operator opens must load or be refused with a message, and a loaded mapping and rule set
//! must be usable by the decoder and the store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinscope::config::Config;
use twinscope::twin::decode::{Origin, Role, decode};
use twinscope::twin::store::Store;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::parse(text) else {
        return;
    };
    let mut store = Store::new(config.mapping.separator(), 16);
    store.set_rules(config.rules.clone());
    for (i, role) in Role::ALL.into_iter().enumerate() {
        let origin = Origin {
            role,
            partition: 0,
            offset: i64::try_from(i).unwrap_or(0),
            kafka_ts: 1_700_000_000_000,
        };
        let value = br#"{"id":"a/b/c","ts":1700000000000,"temp":21.5,"state":"run","severity":"high","kind":"alarm","parent":"a/b"}"#;
        if let Ok(body) = decode(&config.mapping, origin, Some(b"a/b/c"), Some(value)) {
            store.apply(twinscope::twin::decode::Rec { origin, body });
        }
    }
    let _ = store.snapshot(i64::MAX);
});
