//! Typed task handles: [`TypedTask`] knows its argument and result types.

use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::failure::{ErrorKind, TaskError};
use crate::module::Task;
use crate::value::ValueError;

use super::Engine;
use super::arg::Arg;
use super::future::{FutureError, TaskFuture};

/// A [`Task`] whose positional arguments are the tuple `A` and whose result is `R`.
///
/// The types are the caller's promise about the guest, checked only when values are
/// encoded and decoded.
///
/// # Examples
/// ```no_run
/// # fn f(module: wasmtaps::TaskModule, engine: wasmtaps::Engine) -> Result<(), Box<dyn std::error::Error>> {
/// let add = module.task("add")?.typed::<(i64, i64), i64>();
/// let three = engine.call(&add, (1, 2));
/// let six = engine.call(&add, (&three, &three));
/// assert_eq!(six.result(None)?, 6);
/// # Ok(()) }
/// ```
pub struct TypedTask<A, R> {
    task: Task,
    types: PhantomData<fn(A) -> R>,
}

impl<A, R> Clone for TypedTask<A, R> {
    fn clone(&self) -> Self {
        TypedTask {
            task: self.task.clone(),
            types: PhantomData,
        }
    }
}

impl<A, R> std::fmt::Debug for TypedTask<A, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Typed{:?}", self.task)
    }
}

impl<A, R> TypedTask<A, R> {
    /// The untyped task.
    pub fn task(&self) -> &Task {
        &self.task
    }
}

impl Task {
    /// This task, typed: positional arguments the tuple `A`, result `R`.
    pub fn typed<A, R>(self) -> TypedTask<A, R> {
        TypedTask {
            task: self,
            types: PhantomData,
        }
    }
}

/// Something that can be passed where a `T` argument is expected: a `T` (or anything
/// serialising like one), or the future of a task that returns `T`.
pub trait ArgOf<T> {
    /// Converts to an untyped argument.
    ///
    /// # Errors
    /// When the value cannot be encoded.
    fn into_arg(self) -> Result<Arg, ValueError>;
}

impl<T: Serialize> ArgOf<T> for T {
    fn into_arg(self) -> Result<Arg, ValueError> {
        Arg::encode(&self)
    }
}

impl<T> ArgOf<T> for TypedFuture<T> {
    fn into_arg(self) -> Result<Arg, ValueError> {
        Ok(Arg::Future(self.inner))
    }
}

impl<T> ArgOf<T> for &TypedFuture<T> {
    fn into_arg(self) -> Result<Arg, ValueError> {
        Ok(Arg::Future(self.inner.clone()))
    }
}

/// A tuple of arguments for a task whose parameters are the tuple `A`: each element an
/// [`ArgOf`] the corresponding type. Implemented for tuples of up to eight elements.
pub trait CallArgs<A> {
    /// Converts to untyped positional arguments.
    ///
    /// # Errors
    /// When a value cannot be encoded.
    fn into_args(self) -> Result<Vec<Arg>, ValueError>;
}

macro_rules! call_args {
    ($($t:ident $x:ident),*) => {
        impl<$($t,)* $($x: ArgOf<$t>,)*> CallArgs<($($t,)*)> for ($($x,)*) {
            #[allow(non_snake_case)]
            fn into_args(self) -> Result<Vec<Arg>, ValueError> {
                let ($($x,)*) = self;
                Ok(vec![$($x.into_arg()?,)*])
            }
        }
    };
}

call_args!();
call_args!(T1 X1);
call_args!(T1 X1, T2 X2);
call_args!(T1 X1, T2 X2, T3 X3);
call_args!(T1 X1, T2 X2, T3 X3, T4 X4);
call_args!(T1 X1, T2 X2, T3 X3, T4 X4, T5 X5);
call_args!(T1 X1, T2 X2, T3 X3, T4 X4, T5 X5, T6 X6);
call_args!(T1 X1, T2 X2, T3 X3, T4 X4, T5 X5, T6 X6, T7 X7);
call_args!(T1 X1, T2 X2, T3 X3, T4 X4, T5 X5, T6 X6, T7 X7, T8 X8);

/// The future of a [`TypedTask`] call: a [`TaskFuture`] whose result decodes as `R`.
///
/// Clones share one task; dropping it does not cancel the task.
pub struct TypedFuture<R> {
    inner: TaskFuture,
    types: PhantomData<fn() -> R>,
}

impl<R> Clone for TypedFuture<R> {
    fn clone(&self) -> Self {
        TypedFuture {
            inner: self.inner.clone(),
            types: PhantomData,
        }
    }
}

impl<R> std::fmt::Debug for TypedFuture<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Typed{:?}", self.inner)
    }
}

impl<R: DeserializeOwned> TypedFuture<R> {
    /// Blocks until the task ends, at most `timeout`, and decodes its value.
    ///
    /// # Errors
    /// As [`TaskFuture::result`], plus [`FutureError::Decode`] when the value is not an `R`.
    pub fn result(&self, timeout: Option<Duration>) -> Result<R, FutureError> {
        self.inner
            .result(timeout)?
            .decode()
            .map_err(FutureError::Decode)
    }
}

impl<R> TypedFuture<R> {
    /// The untyped future (for [`wait`](crate::wait), records, cancellation).
    pub fn untyped(&self) -> &TaskFuture {
        &self.inner
    }

    /// Converts into the untyped future.
    pub fn into_untyped(self) -> TaskFuture {
        self.inner
    }
}

impl<R> std::ops::Deref for TypedFuture<R> {
    type Target = TaskFuture;

    fn deref(&self) -> &TaskFuture {
        &self.inner
    }
}

impl Engine {
    /// Calls a typed task with a tuple of values and typed futures; see [`TypedTask`].
    ///
    /// An argument that cannot be encoded fails the task with `ArgumentError` (it is
    /// still recorded).
    pub fn call<A, R>(&self, task: &TypedTask<A, R>, args: impl CallArgs<A>) -> TypedFuture<R> {
        let inner = match args.into_args() {
            Ok(args) => self.submit(&task.task, args, Vec::new()),
            Err(e) => {
                // Submit a call that fails without running: an argument it cannot take.
                let error = TaskError::new(ErrorKind::ArgumentError, e.to_string());
                self.failed(&task.task, error)
            }
        };
        TypedFuture {
            inner,
            types: PhantomData,
        }
    }

    fn failed(&self, task: &Task, error: TaskError) -> TaskFuture {
        super::graph::submit_failed(&self.inner.shared, task, error)
    }
}
