//! [`Arg`]: one argument of a submission, a value or another task's future.

use crate::value::{Value, ValueError};

use super::future::TaskFuture;

/// One argument of [`Engine::submit`](crate::Engine::submit).
///
/// A [`TaskFuture`] argument makes the submitted task a child of that future's task: it
/// waits (without occupying a worker) until the parent ends, then receives the parent's
/// result `Value` in this position, spliced in without being decoded.
#[derive(Clone, Debug)]
pub enum Arg {
    /// An encoded value.
    Value(Value),
    /// The result of another task.
    Future(TaskFuture),
    /// A MessagePack array of these arguments: how a task takes the results of many
    /// parents as one parameter (a reduce over a `Vec<T>`). Futures in the list are
    /// parents like any other, in list order; a future nested in a list inside the
    /// list is not supported and fails the task with an `ArgumentError`.
    List(Vec<Arg>),
}

impl Arg {
    /// Encodes any serde value as an argument.
    ///
    /// # Errors
    /// [`ValueError::Encode`] when serde refuses the value.
    pub fn encode<T: serde::Serialize + ?Sized>(value: &T) -> Result<Arg, ValueError> {
        Value::encode(value).map(Arg::Value)
    }
}

/// Encodes a list whose items are all values; `None` if any item is (or holds) a future.
pub(crate) fn encode_static(items: &[Arg]) -> Option<Value> {
    let values = items
        .iter()
        .map(|item| match item {
            Arg::Value(v) => Some(v.clone()),
            Arg::List(inner) => encode_static(inner),
            Arg::Future(_) => None,
        })
        .collect::<Option<Vec<Value>>>()?;
    Some(encode_list(values.iter()))
}

/// A MessagePack array of already encoded values.
pub(crate) fn encode_list<'a>(items: impl Iterator<Item = &'a Value> + Clone) -> Value {
    let mut out = Vec::new();
    rmp::encode::write_array_len(&mut out, items.clone().count() as u32)
        .expect("writing to a Vec cannot fail");
    for item in items {
        out.extend_from_slice(item.as_msgpack());
    }
    Value::from_trusted(out)
}

impl From<Value> for Arg {
    fn from(value: Value) -> Arg {
        Arg::Value(value)
    }
}

impl From<TaskFuture> for Arg {
    fn from(future: TaskFuture) -> Arg {
        Arg::Future(future)
    }
}

impl From<&TaskFuture> for Arg {
    fn from(future: &TaskFuture) -> Arg {
        Arg::Future(future.clone())
    }
}
