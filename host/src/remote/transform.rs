//! [`Transformer`] and [`Filter`]: TaPS's data-by-reference, where values larger than a
//! threshold are stored and a small reference travels in their place.
//!
//! A reference is only ever minted by the host: a transformer resolves only keys it
//! stored itself or adopted from a worker's authenticated reply, and a worker resolves
//! only the keys its job lists out of band. A guest's bytes that happen to look like a
//! reference stay what they are, a literal value.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::failure::{ErrorKind, TaskError};
use crate::limits::Limits;
use crate::msgpack::Reader;
use crate::value::Value;

use super::DistributedError;
use super::key::StoreKey;
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
/// this transformer minted back into values, reading at most
/// [`max_object_bytes`](Transformer::max_object_bytes) per object.
///
/// Clones share the set of minted keys.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use wasmtaps::Value;
/// use wasmtaps::remote::{DirectoryStore, Filter, StoreKey, Transformer};
/// let dir = std::env::temp_dir().join(format!("wasmtaps-doc-{}", std::process::id()));
/// let transformer = Transformer::new(Arc::new(DirectoryStore::new(&dir)?), Filter::larger_than(16));
/// let big = Value::encode(&vec![7u8; 100])?;
/// let reference = transformer.transform("k1", &big)?;
/// assert!(Transformer::reference_key(&reference).is_some());
/// assert_eq!(transformer.resolve(&reference)?, big);
/// transformer.store().evict(&StoreKey::new("k1")?)?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Transformer {
    store: Arc<dyn Store>,
    filter: Filter,
    max_object_bytes: u64,
    minted: Arc<Mutex<HashSet<StoreKey>>>,
}

impl Transformer {
    /// A transformer storing the values `filter` accepts in `store`; objects larger than
    /// the default argument limit (64 MiB) are not read back.
    pub fn new(store: Arc<dyn Store>, filter: Filter) -> Transformer {
        Transformer {
            store,
            filter,
            max_object_bytes: Limits::DEFAULT.max_argument_bytes,
            minted: Arc::default(),
        }
    }

    /// Reads back at most `bytes` per object (default 64 MiB).
    pub fn with_max_object_bytes(mut self, bytes: u64) -> Transformer {
        self.max_object_bytes = bytes;
        self
    }

    /// The most [`resolve`](Transformer::resolve) reads of one object.
    pub fn max_object_bytes(&self) -> u64 {
        self.max_object_bytes
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
    /// it; otherwise returns `value` itself. A reference this transformer minted is never
    /// stored again.
    ///
    /// # Errors
    /// [`DistributedError::BadKey`] when `key` is not a valid [`StoreKey`], or the store
    /// cannot be written.
    pub fn transform(&self, key: &str, value: &Value) -> Result<Value, DistributedError> {
        let key = StoreKey::new(key)?;
        if self.minted_key(value).is_some() || !self.filter.accepts(value) {
            return Ok(value.clone());
        }
        self.store.put(&key, value.as_msgpack())?;
        let reference = reference(&key);
        self.adopt(key);
        Ok(reference)
    }

    /// The value with the references this transformer minted resolved: a reference
    /// itself, or references that are items of an array (how the engine passes a list
    /// of parents' results). References deeper inside a value, and anything that looks
    /// like a reference but was not minted here, are left as they are.
    ///
    /// # Errors
    /// When a referenced object is missing, larger than
    /// [`max_object_bytes`](Transformer::max_object_bytes), or not one MessagePack value.
    pub fn resolve(&self, value: &Value) -> Result<Value, DistributedError> {
        resolve_with(value, &|key| {
            self.is_minted(key)
                .then(|| fetch(self.store.as_ref(), key, self.max_object_bytes))
        })
    }

    /// The store key if `value` is shaped like a reference (whoever made it).
    pub fn reference_key(value: &Value) -> Option<String> {
        reference_payload(value).map(str::to_owned)
    }

    /// Records `key` as minted by this run (a key an authenticated worker reply stored).
    pub(crate) fn adopt(&self, key: StoreKey) {
        self.minted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
    }

    pub(crate) fn is_minted(&self, key: &StoreKey) -> bool {
        self.minted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    }

    fn minted_key(&self, value: &Value) -> Option<StoreKey> {
        let key = StoreKey::new(reference_payload(value)?).ok()?;
        self.is_minted(&key).then_some(key)
    }

    /// The minted keys `value` refers to where [`resolve`](Transformer::resolve) looks.
    pub(crate) fn references_in(&self, value: &Value) -> Vec<StoreKey> {
        reference_keys(value)
            .into_iter()
            .filter(|k| self.is_minted(k))
            .collect()
    }
}

/// Reads one stored object, bounded, as one MessagePack value.
pub(crate) fn fetch(
    store: &dyn Store,
    key: &StoreKey,
    max_bytes: u64,
) -> Result<Value, DistributedError> {
    let bytes = store.get(key, max_bytes)?;
    Value::from_msgpack(bytes)
        .map_err(|e| DistributedError::Malformed(format!("stored object {key}: {e}")))
}

fn reference_payload(value: &Value) -> Option<&str> {
    let mut bytes = value.as_msgpack();
    let meta = rmp::decode::read_ext_meta(&mut bytes).ok()?;
    (meta.typeid == REFERENCE_EXT && bytes.len() == meta.size as usize)
        .then(|| std::str::from_utf8(bytes).ok())
        .flatten()
}

/// A reference to `key`.
fn reference(key: &StoreKey) -> Value {
    let key = key.as_str();
    let mut out = Vec::with_capacity(key.len() + 6);
    rmp::encode::write_ext_meta(&mut out, key.len() as u32, REFERENCE_EXT)
        .expect("writing to a Vec cannot fail");
    out.extend_from_slice(key.as_bytes());
    Value::from_msgpack(out).expect("a reference is one MessagePack value")
}

/// Every valid key shaped like a reference where resolution looks: the value itself, or
/// the items of an array.
pub(crate) fn reference_keys(value: &Value) -> Vec<StoreKey> {
    let keys = std::cell::RefCell::new(Vec::new());
    let _ = resolve_with(value, &|key| {
        keys.borrow_mut().push(key.clone());
        None
    });
    keys.into_inner()
}

/// Whether `value`, or an item of it when it is an array, is a MessagePack extension of
/// type [`REFERENCE_EXT`] (whatever its payload): what only the host may produce.
pub(crate) fn has_reference_shape(value: &Value) -> bool {
    let is_ext = |mut bytes: &[u8]| {
        rmp::decode::read_ext_meta(&mut bytes).is_ok_and(|m| m.typeid == REFERENCE_EXT)
    };
    let bytes = value.as_msgpack();
    if is_ext(bytes) {
        return true;
    }
    let mut reader = Reader::new(bytes);
    let Ok(Some(len)) = reader.array_len() else {
        return false;
    };
    for _ in 0..len {
        let start = reader.pos();
        if reader.skip_value().is_err() {
            return false;
        }
        if is_ext(reader.span(start, reader.pos())) {
            return true;
        }
    }
    false
}

/// Resolves the reference-shaped parts of `value`: `fetch` answers `None` for a key it
/// does not vouch for (the bytes stay a literal value), or the object.
pub(crate) fn resolve_with(
    value: &Value,
    fetch: &dyn Fn(&StoreKey) -> Option<Result<Value, DistributedError>>,
) -> Result<Value, DistributedError> {
    let vouched = |value: &Value| {
        reference_payload(value)
            .and_then(|k| StoreKey::new(k).ok())
            .and_then(|k| fetch(&k))
    };
    if let Some(found) = vouched(value) {
        return found;
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
        match vouched(&item) {
            Some(found) => {
                any = true;
                items.push(found?);
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

/// The engine's side of passing values by reference to workers that share its store
/// (worker processes): arguments the filter accepts are stored before a job is sent and
/// the job lists the keys it vouches for; a reply may report one stored key, its own
/// result's, and its result may refer to nothing else. Dropping it evicts every object
/// this run stored or adopted.
#[derive(Debug)]
pub(crate) struct ByReference {
    transformer: Transformer,
    stored: Mutex<Vec<StoreKey>>,
}

impl ByReference {
    pub(crate) fn new(transformer: Transformer) -> ByReference {
        ByReference {
            transformer,
            stored: Mutex::new(Vec::new()),
        }
    }

    /// The transformer that stores and resolves the values.
    pub(crate) fn transformer(&self) -> &Transformer {
        &self.transformer
    }

    /// Evicts every value stored so far for this run (also done when dropped).
    pub(crate) fn evict_stored(&self) {
        let stored = std::mem::take(&mut *self.stored.lock().unwrap_or_else(|e| e.into_inner()));
        for key in stored {
            let _ = self.transformer.store().evict(&key);
        }
    }

    /// The threshold above which a worker stores a result.
    pub(crate) fn result_threshold(&self) -> u64 {
        self.transformer.filter().threshold()
    }

    /// `args` of job `id` with the values the filter accepts stored, and the keys of
    /// every reference the job carries that this run minted (sorted, no duplicates).
    ///
    /// # Errors
    /// The store cannot be written.
    pub(crate) fn transform_args(
        &self,
        id: &str,
        args: &crate::args::Args,
    ) -> Result<(crate::args::Args, Vec<String>), DistributedError> {
        let mut index = 0;
        let mut references = Vec::new();
        let mut transform = |value: &Value| -> Result<Value, DistributedError> {
            index += 1;
            let key = format!("arg-{id}-{index}");
            // A list of parents' results that came back by reference stays a list of
            // references (a worker resolves a reference or the items of a list, not a
            // stored list of references).
            let out = if self.transformer.references_in(value).is_empty() {
                self.transformer.transform(&key, value)?
            } else {
                value.clone()
            };
            if &out != value {
                self.stored
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(StoreKey::new(key)?);
            }
            references.extend(
                self.transformer
                    .references_in(&out)
                    .into_iter()
                    .map(|k| k.to_string()),
            );
            Ok(out)
        };
        let mut out = crate::args::Args::new();
        for value in args.positional() {
            out.push(transform(value)?);
        }
        for (name, value) in args.keyword() {
            out.push_kwarg(name.clone(), transform(value)?);
        }
        references.sort();
        references.dedup();
        Ok((out, references))
    }

    /// Checks what a worker's reply to job `id` says it stored (at most the key of the
    /// job's own result) and that its result refers to nothing else; adopts that key.
    ///
    /// # Errors
    /// A `HostError` naming what the reply may not claim.
    pub(crate) fn check_reply(
        &self,
        id: &str,
        stored: &[String],
        result: &Result<Value, TaskError>,
    ) -> Result<(), TaskError> {
        let own = self.adopt_stored(id, stored)?;
        check_references(own.as_ref(), result)
    }

    /// Checks the keys a reply to job `id` says the worker stored: at most the one
    /// result key of the job. That key is then this run's, to resolve and to evict.
    ///
    /// # Errors
    /// A `HostError` naming what the reply may not claim.
    pub(crate) fn adopt_stored(
        &self,
        id: &str,
        stored: &[String],
    ) -> Result<Option<StoreKey>, TaskError> {
        match stored {
            [] => Ok(None),
            [key] if *key == super::serve::result_key(id) => {
                let key = StoreKey::new(key.as_str())
                    .map_err(|e| TaskError::new(ErrorKind::HostError, e.to_string()))?;
                self.transformer.adopt(key.clone());
                self.stored
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(key.clone());
                Ok(Some(key))
            }
            _ => adopt_nothing(stored),
        }
    }
}

/// [`ByReference::adopt_stored`] for an executor that passes nothing by reference: a
/// reply may list no stored key.
///
/// # Errors
/// A `HostError` when the reply lists any.
pub(crate) fn adopt_nothing(stored: &[String]) -> Result<Option<StoreKey>, TaskError> {
    if stored.is_empty() {
        return Ok(None);
    }
    Err(TaskError::new(
        ErrorKind::HostError,
        format!(
            "the worker's reply lists store keys it may not have written ({} keys); none is \
             trusted",
            stored.len()
        ),
    ))
}

/// Checks that a worker's result refers to no stored value but `own`, the one the
/// worker stored for this job.
///
/// # Errors
/// A `HostError` naming the reference.
pub(crate) fn check_references(
    own: Option<&StoreKey>,
    result: &Result<Value, TaskError>,
) -> Result<(), TaskError> {
    if let Ok(value) = result
        && let Some(k) = reference_keys(value).into_iter().find(|k| own != Some(k))
    {
        return Err(TaskError::new(
            ErrorKind::HostError,
            format!("the worker's result refers to {k}, which it did not store"),
        ));
    }
    Ok(())
}

impl Drop for ByReference {
    fn drop(&mut self) {
        self.evict_stored();
    }
}

impl ByReference {
    /// Runs `task` in this process as a worker sharing the store would: its arguments
    /// stored when the filter accepts them, then resolved from the store (the references
    /// this run minted, and only those) in the input-transform phase; a guest result
    /// shaped like a reference refused; a result the filter accepts stored in the
    /// result-transform phase, so the task's children and caller get a reference.
    pub(crate) fn run_local(
        &self,
        runtime: &crate::runtime::Runtime,
        task: &crate::engine::RunningTask,
    ) -> crate::invoke::Invocation {
        use crate::failure::{ErrorKind, TaskError};
        use crate::invoke::Invocation;
        let host = |message: String| TaskError::new(ErrorKind::HostError, message);
        let start = crate::info::unix_now();
        let resolved = self
            .transform_args(task.id(), task.args())
            .map_err(|e| host(format!("cannot store an argument by reference: {e}")))
            .and_then(|(args, _)| {
                let max = task.limits().max_argument_bytes;
                let fetch = |key: &StoreKey| {
                    self.transformer
                        .is_minted(key)
                        .then(|| fetch(self.transformer.store().as_ref(), key, max))
                };
                let resolve = |value: &Value| {
                    resolve_with(value, &fetch).map_err(|e| {
                        host(format!(
                            "cannot resolve an argument passed by reference: {e}"
                        ))
                    })
                };
                let mut out = crate::args::Args::new();
                for value in args.positional() {
                    out.push(resolve(value)?);
                }
                for (name, value) in args.keyword() {
                    out.push_kwarg(name.clone(), resolve(value)?);
                }
                Ok(out)
            });
        let args = match resolved {
            Ok(args) => args,
            Err(error) => {
                return Invocation::failed_before_start(error, runtime.hostname(), start);
            }
        };
        let mut invocation = runtime.invoke(task.task(), &args, task.invoke_options());
        if let Ok(value) = &invocation.result {
            if has_reference_shape(value) {
                invocation.result = Err(host(format!(
                    "the task returned a MessagePack extension of type {REFERENCE_EXT} where a \
                     store reference would go; that type is reserved for references the host \
                     makes"
                )));
            } else {
                let key = super::serve::result_key(task.id());
                invocation.result = match self.transformer.transform(&key, value) {
                    Ok(out) => {
                        if &out != value
                            && let Ok(key) = StoreKey::new(key)
                        {
                            self.stored
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .push(key);
                        }
                        Ok(out)
                    }
                    Err(e) => Err(host(format!("cannot store the result by reference: {e}"))),
                };
            }
        }
        let end = crate::info::unix_now();
        let info = &mut invocation.execution;
        // The phases now span this worker's own steps too, timed on the wall clock: the
        // guest's monotonic durations no longer describe them.
        info.durations = None;
        info.execution_start_time = start;
        info.input_transform_start_time = start;
        info.result_transform_end_time = end.max(info.result_transform_end_time);
        info.execution_end_time = end.max(info.execution_end_time);
        invocation
    }
}
