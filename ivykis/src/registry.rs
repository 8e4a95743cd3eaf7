//! The Rust face's own table of sources, one per thread (internal).
//!
//! The engine identifies a registration by a slab key that changes every
//! time the registration is renewed, and a timer or task is renewed every
//! time it re-arms. Tokens must outlive that, so the face keeps its own
//! generational slab: a token names a face entry, and the entry holds the
//! current engine key. It also holds a strong reference to the source's
//! closure, which is what lets the face drop user data (the descriptor
//! object, the closure's captures) only after every `RefCell` borrow is
//! released: an entry is taken out of this table and out of the engine first
//! (the engine's reference is then never the last one) and dropped after.
//! User `Drop` code may therefore call back into the loop.
//!
//! Borrow discipline: [`with_loop`] borrows this table and the engine's loop
//! together for one table operation. No user code runs inside it: not a
//! callback, and not a destructor (whatever is removed is returned to the
//! caller and dropped outside).

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::rc::Rc;

use crate::engine::slab::{Key, Slab};
use crate::engine::{self, Loop};
use crate::error::Error;
use crate::fd::Interest;
use crate::sys::Bands;
use crate::time::Instant;

/// One source of the Rust face.
pub(crate) enum Entry {
    /// A slot handed out while the source's closure is being built (the
    /// closure needs the slot's key).
    Reserved,
    Fd(FdEntry),
    Timer(TimerEntry),
    Task(TaskEntry),
    /// An event or channel source (`event.rs`; its drop closes the posters).
    Event(crate::event::EventEntry),
    /// A child-process watch (`child.rs`; its drop unregisters the engine's
    /// interest, which borrows the loop itself).
    Child(crate::child::ChildEntry),
}

pub(crate) struct FdEntry {
    pub engine_key: Key,
    pub interest: Interest,
    /// The closure the engine calls (the engine holds a clone). Never called
    /// from here: held so that the engine's reference is never the last.
    #[allow(dead_code)]
    pub callback: Rc<dyn Fn(Bands)>,
}

pub(crate) struct TimerEntry {
    /// The engine's kept timer: the same key for the whole life of the
    /// entry (parked while disarmed and while its callback runs).
    pub engine_key: Key,
    pub deadline: Instant,
    /// The closure the engine calls (the engine holds a clone). Held so
    /// that the engine's reference is never the last.
    #[allow(dead_code)]
    pub callback: Rc<dyn Fn(())>,
}

pub(crate) struct TaskEntry {
    /// As for timers: stale while the callback runs and while parked.
    pub engine_key: Key,
    pub callback: Rc<dyn Fn(u64)>,
    /// Parked by [`TaskAction::Idle`](crate::TaskAction::Idle): kept, not
    /// posted.
    pub parked: bool,
    /// `post_task` was called while the callback ran.
    pub repost: bool,
    /// The round the task last ran in (for fairness when posted again).
    pub last_round: u64,
}

pub(crate) struct Registry {
    /// The engine loop these entries belong to.
    loop_id: u64,
    pub entries: Slab<Entry>,
}

thread_local! {
    static REGISTRY: RefCell<Option<Registry>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's face table and engine loop, if both belong to
/// loop `id`; else [`Error::LoopGone`]. `f` must not run user code nor drop
/// anything that may own user data.
pub(crate) fn with_loop<R>(
    id: u64,
    f: impl FnOnce(&mut Slab<Entry>, &mut Loop) -> Result<R, Error>,
) -> Result<R, Error> {
    REGISTRY
        .try_with(|cell| {
            let mut registry = cell.borrow_mut();
            let registry = match registry.as_mut() {
                Some(r) if r.loop_id == id => r,
                _ => return Err(Error::LoopGone),
            };
            engine::try_with(|l| {
                if l.id == id {
                    f(&mut registry.entries, l)
                } else {
                    Err(Error::LoopGone)
                }
            })
            .unwrap_or(Err(Error::LoopGone))
        })
        // The thread is exiting and its table is already destroyed.
        .unwrap_or(Err(Error::LoopGone))
}

/// Starts an empty table for loop `id` and returns the previous one, if
/// any, for the caller to drop outside the borrow.
pub(crate) fn install(id: u64) -> Option<Registry> {
    REGISTRY.with(|cell| {
        cell.borrow_mut().replace(Registry {
            loop_id: id,
            entries: Slab::default(),
        })
    })
}

/// Makes this thread's table the one of loop `id`, installing an empty one
/// if it belongs to no loop or to another (for a loop the face did not
/// create: a pool worker's, or the C library's `iv_init`). Returns a
/// replaced table for the caller to drop outside the borrow; `Err` while the
/// thread is exiting.
pub(crate) fn adopt(id: u64) -> Result<Option<Registry>, ()> {
    REGISTRY
        .try_with(|cell| {
            let mut registry = cell.borrow_mut();
            if registry.as_ref().is_some_and(|r| r.loop_id == id) {
                return None;
            }
            registry.replace(Registry {
                loop_id: id,
                entries: Slab::default(),
            })
        })
        .map_err(|_| ())
}

/// Takes the table of loop `id` away (for the caller to drop outside the
/// borrow).
pub(crate) fn uninstall(id: u64) -> Option<Registry> {
    REGISTRY
        .try_with(|cell| {
            let mut registry = cell.borrow_mut();
            if registry.as_ref().is_some_and(|r| r.loop_id == id) {
                registry.take()
            } else {
                None
            }
        })
        .ok()
        .flatten()
}

/// Removes a face entry whose callback fails by panicking (`Drop` runs only
/// during unwinding: [`ConsumeOnUnwind::disarm`] forgets it otherwise).
pub(crate) struct ConsumeOnUnwind {
    pub id: u64,
    pub key: Key,
}

impl ConsumeOnUnwind {
    /// The callback returned normally.
    #[inline]
    pub fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for ConsumeOnUnwind {
    fn drop(&mut self) {
        let removed = with_loop(self.id, |entries, l| {
            let entry = entries.remove(self.key);
            if let Some(entry) = &entry {
                unregister_from_engine(l, entry);
            }
            Ok(entry)
        });
        // Outside the borrow, as everywhere. The engine's dispatch still holds
        // a reference to the closure, so this drop frees nothing yet.
        drop(removed);
    }
}

/// Removes `entry`'s engine registration (a stale engine key is a no-op).
pub(crate) fn unregister_from_engine(l: &mut Loop, entry: &Entry) {
    match entry {
        Entry::Reserved => {}
        Entry::Fd(e) => {
            l.fds.unregister(&mut *l.poller, e.engine_key);
        }
        Entry::Timer(e) => {
            l.timers.unregister(e.engine_key);
        }
        Entry::Task(e) => {
            l.tasks.unregister(e.engine_key);
        }
        Entry::Event(e) => {
            l.events.unregister(e.engine_key);
        }
        // Unregistered by the entry's drop, outside this borrow.
        Entry::Child(_) => {}
    }
}
