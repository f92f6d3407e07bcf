//! Redis key and stream names, and reading stream entries (the messages in them are
//! `remote/wire.rs`'s, sealed by `remote/auth.rs`).

use super::key::StoreKey;

/// The consumer group every worker reads the job stream through.
pub(crate) const GROUP: &str = "workers";
/// The field of a stream entry that holds the message.
pub(crate) const FIELD: &str = "m";

/// Key names under one prefix (default `wasmtaps`).
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    /// The job stream.
    pub(crate) fn jobs(&self) -> String {
        format!("{}:jobs", self.prefix)
    }

    /// A module's wasm binary, by SHA-256.
    pub(crate) fn module(&self, hash: &str) -> String {
        format!("{}:module:{hash}", self.prefix)
    }

    /// One executor's result stream.
    pub(crate) fn results(&self, executor_id: &str) -> String {
        format!("{}:results:{executor_id}", self.prefix)
    }

    /// An object of a [`RedisStore`](super::RedisStore).
    pub(crate) fn object(&self, key: &StoreKey) -> String {
        format!("{}:object:{key}", self.prefix)
    }
}

/// Whether `id` is shaped like the ids wasmtaps makes (a simple UUID: 32 lowercase hex
/// digits), so it can name a key or a stream safely.
pub(crate) fn is_valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `hash` is shaped like a SHA-256 in lowercase hex.
pub(crate) fn is_valid_hash(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A stream entry: its id, and its message (`None` when it has no [`FIELD`]).
pub(crate) type Entry = (String, Option<Vec<u8>>);

/// The entries of an `XREAD`/`XREADGROUP`/`XAUTOCLAIM` reply, as (id, message); the
/// message is `None` for an entry without the [`FIELD`] (so it can be acknowledged and
/// dropped rather than left pending for ever).
pub(crate) fn entries(reply: &redis::Value) -> Vec<Entry> {
    use redis::Value as V;
    let mut out = Vec::new();
    let mut push_entry = |entry: &V| {
        if let V::Array(parts) = entry
            && let [id, fields] = parts.as_slice()
        {
            let mut message = None;
            if let V::Array(fields) = fields {
                let mut i = 0;
                while i + 1 < fields.len() {
                    if text(&fields[i]) == FIELD
                        && let V::BulkString(bytes) = &fields[i + 1]
                    {
                        message = Some(bytes.clone());
                    }
                    i += 2;
                }
            }
            out.push((text(id), message));
        }
    };
    match reply {
        // XREAD / XREADGROUP: [[stream, [entry, ...]], ...] (RESP2), or a map (RESP3).
        V::Array(streams) => {
            for stream in streams {
                if let V::Array(pair) = stream
                    && let [_, V::Array(list)] = pair.as_slice()
                {
                    list.iter().for_each(&mut push_entry);
                }
            }
        }
        V::Map(streams) => {
            for (_, list) in streams {
                if let V::Array(list) = list {
                    list.iter().for_each(&mut push_entry);
                }
            }
        }
        _ => {}
    }
    out
}

/// An `XAUTOCLAIM` reply's entries: [next, [entry, ...], [deleted ids]].
pub(crate) fn autoclaim_entries(reply: &redis::Value) -> (Vec<Entry>, Vec<String>) {
    use redis::Value as V;
    let V::Array(parts) = reply else {
        return (Vec::new(), Vec::new());
    };
    let claimed = match parts.get(1) {
        Some(list @ V::Array(_)) => entries(&V::Array(vec![V::Array(vec![V::Nil, list.clone()])])),
        _ => Vec::new(),
    };
    let deleted = match parts.get(2) {
        Some(V::Array(ids)) => ids.iter().map(text).collect(),
        _ => Vec::new(),
    };
    (claimed, deleted)
}

pub(crate) fn text(value: &redis::Value) -> String {
    match value {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::Int(i) => i.to_string(),
        _ => String::new(),
    }
}
