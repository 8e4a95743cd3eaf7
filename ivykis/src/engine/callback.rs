//! How the engine calls back into a face.
//!
//! The engine never knows what a registration belongs to. It stores a
//! [`Callback`] and calls it. The C face passes a function pointer and the
//! address of the caller's `struct iv_*` ([`Callback::Raw`], no allocation);
//! the Rust face passes a reference-counted closure ([`Callback::Native`]).
//!
//! Dispatch copies the callback out of the engine's tables (a `Copy` for raw
//! callbacks, a reference-count increment for native ones) and releases every
//! borrow of the engine before calling it, so the callee may register,
//! unregister or free anything, itself included.

use std::ffi::c_void;
use std::ptr::NonNull;
use std::rc::Rc;

/// A function pointer plus the address it is called with.
pub struct RawCallback<A> {
    func: unsafe fn(NonNull<c_void>, A),
    data: NonNull<c_void>,
}

impl<A> Clone for RawCallback<A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A> Copy for RawCallback<A> {}

/// See the module documentation.
pub enum Callback<A> {
    /// C face: `func(data, arg)`.
    Raw(RawCallback<A>),
    /// Rust face: a closure shared with the source's handle.
    Native(Rc<dyn Fn(A)>),
}

impl<A> Clone for Callback<A> {
    fn clone(&self) -> Self {
        match self {
            Callback::Raw(raw) => Callback::Raw(*raw),
            Callback::Native(rc) => Callback::Native(Rc::clone(rc)),
        }
    }
}

impl<A> Callback<A> {
    /// A raw callback.
    ///
    /// # Safety
    ///
    /// Calling `func(data, arg)` must be sound whenever the engine makes the
    /// call: for as long as the registration holding this callback exists,
    /// `data` must stay valid for `func`. The engine calls a callback only
    /// while its registration exists (timers and tasks: just after removing
    /// it, before any other code runs).
    pub unsafe fn raw(func: unsafe fn(NonNull<c_void>, A), data: NonNull<c_void>) -> Callback<A> {
        Callback::Raw(RawCallback { func, data })
    }

    /// Calls the callback. No engine borrow may be held.
    #[inline]
    pub(crate) fn call(&self, arg: A) {
        match self {
            // SAFETY: `Callback::raw`'s caller promised that the call is sound
            // while the registration exists; the engine only calls a callback
            // it has just read from a live registration, with no user code in
            // between.
            Callback::Raw(raw) => unsafe { (raw.func)(raw.data, arg) },
            Callback::Native(closure) => closure(arg),
        }
    }
}
