//! [`Transformer`] and [`Filter`]: TaPS's data-by-reference, where values larger than a
//! threshold are stored and a small reference travels in their place.

use std::sync::Arc;

use crate::msgpack::Reader;
use crate::value::Value;

use super::DistributedError;
use super::store::Store;

/// The MessagePack extension type of a reference; its payload is the store key.
pub const REFERENCE_EXT: i8 = 0x57;

/// Which values a [`Transformer`] stores: TaPS's size filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filter {
    threshold: u64,
}

impl Filter {
    /// Accepts values whose MessagePack encoding is larger than `bytes`.
    pub fn larger_than(bytes: u64) -> Filter {
        Filter { threshold: bytes }
    }

    /// The threshold in bytes.
    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    /// Whether `value` should be passed by reference.
    pub fn accepts(&self, value: &Value) -> bool {
        value.as_msgpack().len() as u64 > self.threshold
    }
}

/// Passes large values by reference: [`transform`](Transformer::transform) stores a value
/// the filter accepts and returns a reference (a MessagePack extension of type
/// [`REFERENCE_EXT`] holding the key); [`resolve`](Transformer::resolve) turns references
/// back into values.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use wasmtaps::{DirectoryStore, Filter, Transformer, Value};
/// let dir = std::env::temp_dir().join(format!("wasmtaps-doc-{}", std::process::id()));
/// let transformer = Transformer::new(Arc::new(DirectoryStore::new(&dir)?), Filter::larger_than(16));
/// let big = Value::encode(&vec![7u8; 100])?;
/// let reference = transformer.transform("k1", &big)?;
/// assert!(Transformer::reference_key(&reference).is_some());
/// assert_eq!(transformer.resolve(&reference)?, big);
/// transformer.store().evict("k1")?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Transformer {
    store: Arc<dyn Store>,
    filter: Filter,
}

impl Transformer {
    /// A transformer storing the values `filter` accepts in `store`.
    pub fn new(store: Arc<dyn Store>, filter: Filter) -> Transformer {
        Transformer { store, filter }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The filter.
    pub fn filter(&self) -> Filter {
        self.filter
    }

    /// Stores `value` under `key` and returns a reference to it when the filter accepts
    /// it; otherwise returns `value` itself. A reference is never stored again.
    ///
    /// # Errors
    /// When the store cannot be written.
    pub fn transform(&self, key: &str, value: &Value) -> Result<Value, DistributedError> {
        if Transformer::reference_key(value).is_some() || !self.filter.accepts(value) {
            return Ok(value.clone());
        }
        self.store.put(key, value.as_msgpack())?;
        Ok(reference(key))
    }

    /// The value with references resolved: a reference itself, or references that are
    /// items of an array (how the engine passes a list of parents' results). References
    /// deeper inside a value are left as they are.
    ///
    /// # Errors
    /// When a referenced object is missing or is not one MessagePack value.
    pub fn resolve(&self, value: &Value) -> Result<Value, DistributedError> {
        resolve_with(value, &|key| self.fetch(key))
    }

    fn fetch(&self, key: &str) -> Result<Value, DistributedError> {
        let bytes = self.store.get(key)?;
        Value::from_msgpack(bytes)
            .map_err(|e| DistributedError::Malformed(format!("stored object {key}: {e}")))
    }

    /// The store key if `value` is a reference.
    pub fn reference_key(value: &Value) -> Option<String> {
        let mut bytes = value.as_msgpack();
        let meta = rmp::decode::read_ext_meta(&mut bytes).ok()?;
        (meta.typeid == REFERENCE_EXT && bytes.len() == meta.size as usize)
            .then(|| String::from_utf8(bytes.to_vec()).ok())
            .flatten()
    }
}

/// A reference to `key`.
fn reference(key: &str) -> Value {
    let mut out = Vec::with_capacity(key.len() + 6);
    rmp::encode::write_ext_meta(&mut out, key.len() as u32, REFERENCE_EXT)
        .expect("writing to a Vec cannot fail");
    out.extend_from_slice(key.as_bytes());
    Value::from_msgpack(out).expect("a reference is one MessagePack value")
}

pub(crate) fn resolve_with(
    value: &Value,
    fetch: &dyn Fn(&str) -> Result<Value, DistributedError>,
) -> Result<Value, DistributedError> {
    if let Some(key) = Transformer::reference_key(value) {
        return fetch(&key);
    }
    let bytes = value.as_msgpack();
    // Only arrays, and only when an item is a reference (cheap check: the marker byte).
    if !matches!(bytes.first(), Some(0x90..=0x9f | 0xdc | 0xdd)) {
        return Ok(value.clone());
    }
    let mut reader = Reader::new(bytes);
    let Ok(Some(len)) = reader.array_len() else {
        return Ok(value.clone());
    };
    let mut items = Vec::with_capacity(len.min(1 << 16) as usize);
    let mut any = false;
    for _ in 0..len {
        let start = reader.pos();
        reader
            .skip_value()
            .map_err(|e| DistributedError::Malformed(e.to_string()))?;
        let item = reader.span(start, reader.pos());
        let item = Value::from_msgpack(item.to_vec())
            .map_err(|e| DistributedError::Malformed(e.to_string()))?;
        match Transformer::reference_key(&item) {
            Some(key) => {
                any = true;
                items.push(fetch(&key)?);
            }
            None => items.push(item),
        }
    }
    if !any {
        return Ok(value.clone());
    }
    let mut out = Vec::new();
    crate::msgpack::write_array_len(&mut out, items.len());
    for item in &items {
        out.extend_from_slice(item.as_msgpack());
    }
    Ok(Value::from_trusted(out))
}
