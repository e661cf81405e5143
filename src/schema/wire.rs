//! The Confluent wire format's framing: byte 0 is the magic byte (0), bytes 1..5 the schema id
//! (big-endian), then the encoded payload; Protobuf payloads start with the message indexes.
//!
//! A JSON document never starts with a NUL byte, so the magic byte alone tells a framed record
//! from plain JSON, per record: a topic may be mixed while its producers migrate.

/// Why a record that starts with the magic byte is not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("wire format: {0} bytes is too short for the magic byte and a schema id")]
    Short(usize),
    #[error("wire format: malformed Protobuf message indexes")]
    Indexes,
}

/// The magic byte of the Confluent wire format.
pub const MAGIC: u8 = 0;

/// Whether a record value is in the Confluent wire format (the check the plain-JSON path pays
/// for: one byte).
#[must_use]
#[inline]
pub fn is_framed(value: &[u8]) -> bool {
    value.first() == Some(&MAGIC)
}

/// Splits a framed value into its schema id and the encoded payload after the header.
///
/// # Errors
/// When the value is shorter than the 5-byte header.
pub fn split(value: &[u8]) -> Result<(u32, &[u8]), WireError> {
    match value {
        [MAGIC, a, b, c, d, rest @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), rest)),
        _ => Err(WireError::Short(value.len())),
    }
}

/// Builds a framed value: header then payload. For producers (the demo, tests, benches).
#[must_use]
pub fn frame(id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(MAGIC);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reads the Protobuf message indexes after the header: the path from the file's top-level
/// messages to the record's message type (`[0]` is the first message, written as one 0 byte).
/// Returns the indexes and the message bytes after them.
///
/// # Errors
/// When the varints are truncated or the count is implausible.
pub fn message_indexes(payload: &[u8]) -> Result<(Vec<usize>, &[u8]), WireError> {
    let (count, mut rest) = zigzag_varint(payload)?;
    if count == 0 {
        return Ok((vec![0], rest));
    }
    let count = usize::try_from(count)
        .ok()
        .filter(|&c| c <= 64)
        .ok_or(WireError::Indexes)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let (i, r) = zigzag_varint(rest)?;
        out.push(usize::try_from(i).map_err(|_| WireError::Indexes)?);
        rest = r;
    }
    Ok((out, rest))
}

/// Encodes message indexes the way the Confluent serializer does (for producers).
#[must_use]
pub fn encode_message_indexes(indexes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    if indexes == [0] {
        out.push(0);
        return out;
    }
    let mut put = |v: i64| {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        loop {
            let b = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
    };
    put(indexes.len() as i64);
    for &i in indexes {
        put(i as i64);
    }
    out
}

/// One zigzag-encoded varint (as Confluent's `ByteUtils.writeVarint`).
fn zigzag_varint(buf: &[u8]) -> Result<(i64, &[u8]), WireError> {
    let mut v: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let n = ((v >> 1) as i64) ^ -((v & 1) as i64);
            return Ok((n, &buf[i + 1..]));
        }
    }
    Err(WireError::Indexes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_json_is_not_framed() {
        let v = frame(0x0102_0304, b"xyz");
        assert!(is_framed(&v));
        assert_eq!(split(&v), Ok((0x0102_0304, &b"xyz"[..])));
        assert!(!is_framed(br#"{"a": 1}"#));
        assert!(!is_framed(b""));
        assert_eq!(split(&[0, 1, 2]), Err(WireError::Short(3)));
    }

    #[test]
    fn message_indexes_round_trip() {
        for idx in [vec![0], vec![1], vec![2, 0], vec![0, 3, 1], vec![200]] {
            let mut enc = encode_message_indexes(&idx);
            enc.extend_from_slice(b"\x08\x01");
            let (got, rest) = message_indexes(&enc).unwrap();
            assert_eq!(got, idx);
            assert_eq!(rest, b"\x08\x01");
        }
        // [1] is count 1 (zigzag 2), index 1 (zigzag 2), as the Confluent serializer writes.
        assert_eq!(encode_message_indexes(&[1]), [2, 2]);
        assert_eq!(message_indexes(&[0x80]), Err(WireError::Indexes));
    }
}
