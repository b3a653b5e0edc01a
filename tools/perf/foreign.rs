//! What the foreign clients (librdkafka, confluent-kafka) share: property values they take as
//! Java spells them, and the record value a sending thread hands them.

use ringkafka::{Acks, Compression};

use crate::workload::{Feed, Slot};

/// `acks` as Java spells it (so do librdkafka and confluent-kafka).
pub fn acks(a: Acks) -> &'static str {
    match a {
        Acks::None => "0",
        Acks::Leader => "1",
        Acks::All => "all",
    }
}

/// `compression.type` as Java spells it (so do librdkafka and confluent-kafka).
pub fn compression(c: Compression) -> &'static str {
    match c {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    }
}

/// The given security settings (`security.*`, `ssl.*`, `sasl.*`): their names are the same in
/// all three clients, so they pass as the user gave them.
pub fn security(props: &[(String, String)]) -> impl Iterator<Item = (String, String)> + '_ {
    props
        .iter()
        .filter(|(k, _)| k.starts_with("security.") || k.starts_with("ssl.") || k.starts_with("sasl."))
        .cloned()
}

/// The value of `slot`'s record for a client that copies it: `fixed`, the workload's payload
/// when every record has the same (`Payloads::fixed`), or else the record's own value written
/// into `buf` (one buffer per sending thread, reused).
pub fn value<'b>(
    fixed: Option<&'b [u8]>,
    feed: &mut Feed<'_>,
    slot: &Slot,
    buf: &'b mut Vec<u8>,
) -> &'b [u8] {
    match fixed {
        Some(p) => p,
        None => {
            feed.value_into(slot, buf);
            buf
        }
    }
}
