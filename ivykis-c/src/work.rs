//! `iv_work_pool` and `iv_work_item` (SPEC 7): worker-thread pools.
//!
//! `priv` holds the engine's pool handle (a leaked `Box<Pool>`), taken back
//! by `iv_work_pool_put`; after that the program may free the struct at
//! once, and nothing here touches it again. Work items are the program's:
//! they must stay alive until their completion has run.

use std::ffi::{c_int, c_void};

use ivykis::engine::callback::Callback;
use ivykis::engine::work::{self, Hook, Job, Pool, SubmitError};
use ivykis::engine::{self, Loop};

use crate::fd::Handler;

/// `struct iv_work_pool`: 40 bytes.
#[repr(C)]
pub struct IvWorkPool {
    pub max_threads: c_int,
    pub cookie: *mut c_void,
    pub thread_start: Handler,
    pub thread_stop: Handler,
    priv_: *mut Pool,
}

/// `struct iv_work_item`: 40 bytes; the list head is not used.
#[repr(C)]
pub struct IvWorkItem {
    pub cookie: *mut c_void,
    pub work: Handler,
    pub completion: Handler,
    _list: [*mut c_void; 2],
}

const _: () = assert!(std::mem::size_of::<IvWorkPool>() == 40);
const _: () = assert!(std::mem::size_of::<IvWorkItem>() == 40);

/// A C pointer that may cross threads: the program vouches for the cookie
/// it gave us (the contract of iv_work).
struct SendPtr(*mut c_void);
// SAFETY: see the type's comment; the pointer is only passed back to the
// program's own hook.
unsafe impl Send for SendPtr {}
// SAFETY: as above; the hooks are called concurrently by design ("calls to
// thread_start are not serialised", iv_work(3)).
unsafe impl Sync for SendPtr {}

fn hook(func: Handler, cookie: *mut c_void) -> Option<Hook> {
    let func = func?;
    let cookie = SendPtr(cookie);
    Some(Box::new(move || {
        let cookie = &cookie;
        // SAFETY: the program's hook with the pool's cookie, in a worker.
        unsafe { func(cookie.0) }
    }))
}

unsafe fn run_work(data: *mut c_void) {
    let item = data.cast::<IvWorkItem>();
    // SAFETY: the item stays alive until its completion ran (iv_work(3));
    // fields are read before the call, which may change them.
    let (work, cookie) = unsafe { ((*item).work, (*item).cookie) };
    if let Some(f) = work {
        // SAFETY: the program's work function with its cookie.
        unsafe { f(cookie) }
    }
}

unsafe fn run_completion(data: *mut c_void) {
    let item = data.cast::<IvWorkItem>();
    // SAFETY: as in `run_work`; the completion may free the item, so the
    // fields are read first.
    let (completion, cookie) = unsafe { ((*item).completion, (*item).cookie) };
    if let Some(f) = completion {
        // SAFETY: the program's completion function with its cookie.
        unsafe { f(cookie) }
    }
}

fn job(item: *mut IvWorkItem) -> Job {
    Job {
        data: item.cast(),
        work: run_work,
        complete: run_completion,
    }
}

/// `int iv_work_pool_create(struct iv_work_pool *)`: 0, or -1 (errno set)
/// when the owner's wake-up object cannot be created.
#[no_mangle]
pub unsafe extern "C" fn iv_work_pool_create(this: *mut IvWorkPool) -> c_int {
    const WHAT: &str = "iv_work_pool_create";
    // SAFETY: the caller passes a valid pool initialised by IV_WORK_POOL_INIT.
    let pool = unsafe { this.as_mut() }.unwrap_or_else(|| ivykis::fatal!("{WHAT}: NULL pool"));
    if !engine::inited() {
        ivykis::fatal!("{WHAT}: called in a thread without iv_init");
    }
    let max = usize::try_from(pool.max_threads).unwrap_or(0);
    let start = hook(pool.thread_start, pool.cookie);
    let stop = hook(pool.thread_stop, pool.cookie);
    match Pool::create(max, start, stop, WHAT) {
        Ok(p) => {
            pool.priv_ = Box::into_raw(Box::new(p));
            0
        }
        Err(e) => {
            crate::fd::set_errno(e.raw_os_error().unwrap_or(libc::ENOMEM));
            -1
        }
    }
}

fn engine_pool<'a>(this: *mut IvWorkPool, what: &str) -> &'a Pool {
    // SAFETY: the caller passes a valid pool.
    let pool = unsafe { this.as_ref() }.unwrap_or_else(|| ivykis::fatal!("{what}: NULL pool"));
    // SAFETY: a non-null `priv_` is the Box leaked by iv_work_pool_create,
    // alive until iv_work_pool_put takes it back.
    unsafe { pool.priv_.as_ref() }.unwrap_or_else(|| ivykis::fatal!("{what}: pool was not created"))
}

/// `void iv_work_pool_put(struct iv_work_pool *)`.
#[no_mangle]
pub unsafe extern "C" fn iv_work_pool_put(this: *mut IvWorkPool) {
    const WHAT: &str = "iv_work_pool_put";
    engine_pool(this, WHAT);
    // SAFETY: checked valid just above; `priv_` is taken back once and
    // nulled.
    let boxed = unsafe { Box::from_raw((*this).priv_) };
    // SAFETY: as above.
    unsafe { (*this).priv_ = std::ptr::null_mut() };
    boxed.put();
}

/// `void iv_work_pool_submit_work(struct iv_work_pool *, struct iv_work_item *)`:
/// from the pool's owner thread; a NULL pool runs the item in this thread
/// from a task.
#[no_mangle]
pub unsafe extern "C" fn iv_work_pool_submit_work(this: *mut IvWorkPool, item: *mut IvWorkItem) {
    const WHAT: &str = "iv_work_pool_submit_work";
    if item.is_null() {
        ivykis::fatal!("{WHAT}: NULL work item");
    }
    if this.is_null() {
        run_locally(item);
        return;
    }
    let pool = engine_pool(this, WHAT);
    // SAFETY: the item stays valid until its completion ran (iv_work(3)),
    // and its functions are the program's own, meant for these threads.
    match unsafe { pool.submit(job(item)) } {
        Ok(()) => {}
        Err(SubmitError::NotOwner) => {
            ivykis::fatal!("{WHAT}: called outside the thread that created the pool")
        }
        Err(SubmitError::Put) => ivykis::fatal!("{WHAT}: the pool was already put"),
    }
}

/// A NULL pool: work then completion, from a task of this thread's loop.
fn run_locally(item: *mut IvWorkItem) {
    let job = job(item);
    let callback = Callback::Native(std::rc::Rc::new(move |_round: u64| {
        // SAFETY: the item is alive until its completion has run; both run
        // here, in the submitting thread, as iv_work(3) describes.
        unsafe {
            (job.work)(job.data);
            (job.complete)(job.data);
        }
    }));
    engine::with("iv_work_pool_submit_work", |l: &mut Loop| {
        l.tasks.register(callback, 0)
    });
}

/// `void iv_work_pool_submit_continuation(struct iv_work_pool *, struct iv_work_item *)`:
/// from any thread, typically a worker of the pool.
#[no_mangle]
pub unsafe extern "C" fn iv_work_pool_submit_continuation(
    this: *mut IvWorkPool,
    item: *mut IvWorkItem,
) {
    const WHAT: &str = "iv_work_pool_submit_continuation";
    if item.is_null() {
        ivykis::fatal!("{WHAT}: NULL work item");
    }
    let pool = engine_pool(this, WHAT);
    // SAFETY: as for iv_work_pool_submit_work.
    unsafe { work::submit_continuation(pool, job(item)) };
}
