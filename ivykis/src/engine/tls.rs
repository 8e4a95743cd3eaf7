//! Per-thread state of library users (`iv_tls_user`, SPEC 7), and the end of
//! a thread's loop when the thread exits without `deinit`.
//!
//! A user registers before the process's first [`super::init`], giving the
//! number of bytes it wants in every thread that has a loop and two hooks.
//! The first `init` freezes the list: each user's area gets a fixed offset
//! (rounded up to 16 bytes) in one block per thread, and from then on the
//! list is read without a lock by every thread that creates a loop.
//!
//! Every `init` allocates the block zeroed and calls the init hooks, in
//! registration order, as its last step; `deinit` calls the deinit hooks, in
//! the same order, as its first step, while the loop is still usable, and
//! frees the block.
//!
//! # Thread exit
//!
//! A thread that ends (returns from its start function or calls
//! `pthread_exit`) while it still has a loop gets a full [`super::deinit`]
//! from a POSIX thread-specific-data destructor, armed by every `init` and
//! disarmed by every `deinit`. A Rust `thread_local!` with a `Drop` would
//! not do: glibc runs those destructors for the main thread when the process
//! calls `exit()` too, and freeing the main thread's loop while other
//! threads are still running and may post to it is how a program that exits
//! without `iv_deinit` (syslog-ng does) would crash at exit. POSIX keys are
//! never destroyed by `exit()`, which is also what ivykis does.
//!
//! glibc runs the key destructors after the thread's Rust `thread_local!`
//! destructors. Everything `deinit` reaches, hooks included, must therefore
//! use `const` thread-locals without `Drop` (like the loop pointer and the
//! time cache) or `LocalKey::try_with`.

use std::alloc::{self, Layout};
use std::cell::Cell;
use std::ffi::c_void;
use std::ptr::{self, NonNull};
use std::sync::{Mutex, OnceLock, PoisonError};

/// A user hook: called with the user's registration pointer and this
/// thread's state area for that user.
pub type Hook = unsafe fn(user: NonNull<c_void>, state: NonNull<u8>);

/// Alignment of the block and of every area in it: enough for any C type.
const AREA_ALIGN: usize = 16;

/// One registered user.
#[derive(Clone, Copy)]
struct User {
    /// The face's registration (for the C face, the `struct iv_tls_user`).
    ptr: NonNull<c_void>,
    /// Offset of this user's area in a thread's block.
    offset: usize,
    init: Hook,
    deinit: Hook,
}

// SAFETY: `ptr` is only handed back to `init`/`deinit` and compared; the
// caller of `register` promised that it stays valid for the process's
// lifetime and that the hooks may be called with it from any thread.
unsafe impl Send for User {}
// SAFETY: as for `Send`: the table never dereferences `ptr` itself.
unsafe impl Sync for User {}

/// The users registered so far, until the first `init` freezes them.
struct Pending {
    users: Vec<User>,
    /// Bytes of the per-thread block so far.
    size: usize,
    /// Set by the first `init`: registering is refused from then on.
    closed: bool,
}

static PENDING: Mutex<Pending> = Mutex::new(Pending {
    users: Vec::new(),
    size: 0,
    closed: false,
});

/// The frozen list, published once by the first `init`.
struct Table {
    users: Box<[User]>,
    layout: Layout,
}

static TABLE: OnceLock<Table> = OnceLock::new();

/// This thread's block and the bookkeeping that keeps hooks that re-enter
/// `init`/`deinit` from using a block that is gone.
struct ThreadState {
    /// The block of the current loop, or null (no loop, or no users).
    block: Cell<*mut u8>,
    /// Bumped by every `on_init` and `on_deinit`: a hook loop that sees it
    /// change stops, since its block was freed (and maybe replaced).
    epoch: Cell<u64>,
    /// Deinit hooks are running.
    in_deinit: Cell<bool>,
}

thread_local! {
    // `const` and without `Drop`: usable from the thread-exit destructor,
    // which glibc runs after the thread-locals that have one are gone.
    static THREAD: ThreadState = const {
        ThreadState {
            block: Cell::new(ptr::null_mut()),
            epoch: Cell::new(0),
            in_deinit: Cell::new(false),
        }
    };
}

/// Why [`register`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterError {
    /// A loop was already created in this process.
    AfterInit,
    /// This registration pointer is already registered.
    AlreadyRegistered,
    /// The areas would not fit in the address space.
    TooLarge,
}

/// [`state`] was asked about something that is not registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotRegistered;

/// Registers a user wanting `size` zeroed bytes in every thread's loop;
/// returns its slot, which [`state`] takes.
///
/// # Safety
///
/// `user` must stay valid for the rest of the process, and `init` and
/// `deinit` must be sound to call, from any thread that creates a loop, with
/// `user` and a zeroed, 16-byte-aligned area of `size` bytes.
pub unsafe fn register(
    user: NonNull<c_void>,
    size: usize,
    init: Hook,
    deinit: Hook,
) -> Result<usize, RegisterError> {
    let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
    if pending.closed {
        return Err(RegisterError::AfterInit);
    }
    if pending.users.iter().any(|u| u.ptr == user) {
        return Err(RegisterError::AlreadyRegistered);
    }
    // Every user gets an area of its own, even with `size` 0, and each area
    // starts on a 16-byte boundary.
    let reserved = size
        .max(1)
        .checked_next_multiple_of(AREA_ALIGN)
        .ok_or(RegisterError::TooLarge)?;
    let offset = pending.size;
    let end = offset
        .checked_add(reserved)
        .filter(|&end| Layout::from_size_align(end, AREA_ALIGN).is_ok())
        .ok_or(RegisterError::TooLarge)?;
    pending.size = end;
    pending.users.push(User {
        ptr: user,
        offset,
        init,
        deinit,
    });
    Ok(pending.users.len() - 1)
}

/// The state area of the user registered in `slot` as `user`, in this
/// thread: `None` if the thread has no loop.
pub fn state(slot: usize, user: NonNull<c_void>) -> Result<Option<NonNull<u8>>, NotRegistered> {
    let Some(block) = NonNull::new(THREAD.with(|t| t.block.get())) else {
        return Ok(None);
    };
    // A block exists only after the table was published.
    let table = TABLE.get().ok_or(NotRegistered)?;
    match table.users.get(slot) {
        // SAFETY: the offset lies inside the block, which was allocated with
        // the table's layout covering every user's area.
        Some(u) if u.ptr == user => Ok(Some(unsafe { block.add(u.offset) })),
        _ => Err(NotRegistered),
    }
}

/// Freezes the registrations (the first `init` of the process).
fn freeze() -> Table {
    let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
    pending.closed = true;
    let users = std::mem::take(&mut pending.users).into_boxed_slice();
    let layout = Layout::from_size_align(pending.size, AREA_ALIGN)
        .expect("register keeps the block size within Layout's limits");
    Table { users, layout }
}

/// The key whose destructor ends a loop left behind by an exiting thread.
fn exit_key() -> libc::pthread_key_t {
    static KEY: OnceLock<libc::pthread_key_t> = OnceLock::new();
    *KEY.get_or_init(|| {
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: `key` is writable; the destructor has the signature POSIX
        // expects and may run in any thread.
        let rc = unsafe { libc::pthread_key_create(&mut key, Some(at_thread_exit)) };
        if rc != 0 {
            crate::fatal!(
                "iv_init: pthread_key_create failed: {}",
                std::io::Error::from_raw_os_error(rc)
            );
        }
        key
    })
}

/// Arms (`true`) or disarms the thread-exit destructor for this thread.
fn set_exit_hook(armed: bool) {
    let value: *const c_void = if armed {
        // Any non-null value: the destructor runs only for those.
        NonNull::<c_void>::dangling().as_ptr()
    } else {
        ptr::null()
    };
    // SAFETY: the key was created by `exit_key` and is never deleted.
    let rc = unsafe { libc::pthread_setspecific(exit_key(), value) };
    if rc != 0 {
        crate::fatal!(
            "iv_init: pthread_setspecific failed: {}",
            std::io::Error::from_raw_os_error(rc)
        );
    }
}

/// The thread is ending with its loop still set up: end it as `deinit`
/// would. A loop that is still running (the thread called `pthread_exit`
/// from a callback) cannot be freed under its own frames and is left alone.
unsafe extern "C" fn at_thread_exit(_: *mut c_void) {
    if super::try_with(|l| l.running) == Some(0) {
        super::deinit();
    }
}

/// Called at the end of [`super::init`]: allocates this thread's block and
/// runs the init hooks.
pub(crate) fn on_init() {
    set_exit_hook(true);
    let table = TABLE.get_or_init(freeze);
    if table.users.is_empty() {
        return;
    }
    // SAFETY: the layout's size is non-zero, since every user reserves at
    // least 16 bytes and there is at least one.
    let raw = unsafe { alloc::alloc_zeroed(table.layout) };
    let Some(block) = NonNull::new(raw) else {
        alloc::handle_alloc_error(table.layout)
    };
    let epoch = THREAD.with(|t| {
        t.block.set(block.as_ptr());
        t.epoch.set(t.epoch.get() + 1);
        t.epoch.get()
    });
    for user in table.users.iter() {
        // A hook that called `deinit` (and maybe `init` again) freed this
        // block; the remaining hooks must not see it.
        if THREAD.with(|t| t.epoch.get()) != epoch {
            return;
        }
        // SAFETY: the registrant's contract (see `register`); the area lies
        // in the live block, zeroed, aligned to 16.
        unsafe { (user.init)(user.ptr, block.add(user.offset)) };
    }
}

/// Called at the start of [`super::deinit`]: runs the deinit hooks while the
/// loop is still usable, then frees this thread's block.
pub(crate) fn on_deinit() {
    set_exit_hook(false);
    let block = THREAD.with(|t| t.block.get());
    let Some(block) = NonNull::new(block) else {
        return;
    };
    if THREAD.with(|t| t.in_deinit.replace(true)) {
        crate::fatal!("iv_deinit: called from a deinit_thread hook");
    }
    let table = TABLE
        .get()
        .expect("a block exists only after the table was published");
    for user in table.users.iter() {
        // SAFETY: the registrant's contract (see `register`); the block stays
        // allocated until the loop below is done, since a nested `deinit` is
        // fatal and `init` refuses while the loop exists.
        unsafe { (user.deinit)(user.ptr, block.add(user.offset)) };
    }
    THREAD.with(|t| {
        t.in_deinit.set(false);
        t.block.set(ptr::null_mut());
        t.epoch.set(t.epoch.get() + 1);
    });
    // SAFETY: allocated by `on_init` with this layout; no longer reachable
    // through THREAD.
    unsafe { alloc::dealloc(block.as_ptr(), table.layout) };
}
