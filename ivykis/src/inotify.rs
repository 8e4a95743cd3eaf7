//! File-system watches (Linux inotify): [`Handle::add_inotify`],
//! [`Handle::add_watch`], [`WatchMask`], [`EventMask`], [`WatchEvent`],
//! [`WatchAction`], [`InotifyToken`], [`WatchToken`].
//!
//! An inotify instance is a descriptor source in disguise: the loop watches
//! the instance's descriptor like any other, and when it is readable, one
//! batch of events is read and each event is handed to the callback of the
//! watch it belongs to. The engine (`engine::inotify`) keeps the map from
//! watch descriptor to watch and the rules for callbacks that add and remove
//! watches while a batch is being delivered; this module wraps it in tokens
//! and typed masks. An [`InotifyToken`] is, underneath, the [`FdToken`] of
//! that descriptor source (which is what it becomes as a [`Token`]).

#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::ffi::{CString, OsStr};
use std::fmt;
use std::io;
use std::ops::{BitOr, BitOrAssign};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::inotify::{self, Event, Fate};
use crate::error::Error;
use crate::event_loop::{Handle, Token};
use crate::fd::{FdAction, FdToken, Interest};

/// Defines a `u32` bit set with named flags, `|`, `contains` and a `Debug`
/// that lists the names.
macro_rules! bit_set {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$fmeta:meta])* $flag:ident = $value:expr, )* }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(u32);

        impl $name {
            $( $(#[$fmeta])* pub const $flag: $name = $name($value); )*

            /// Whether every bit of `other` is in `self`.
            pub const fn contains(self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }

            /// Whether `self` and `other` have a bit in common.
            pub const fn intersects(self, other: $name) -> bool {
                self.0 & other.0 != 0
            }

            /// Whether no bit is set.
            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }

            /// The kernel's `IN_*` bits.
            pub const fn bits(self) -> u32 {
                self.0
            }
        }

        impl BitOr for $name {
            type Output = $name;

            fn bitor(self, other: $name) -> $name {
                $name(self.0 | other.0)
            }
        }

        impl BitOrAssign for $name {
            fn bitor_assign(&mut self, other: $name) {
                self.0 |= other.0;
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut names = Vec::new();
                let mut known = 0;
                $(
                    // Single bits only: the unions (CLOSE, MOVE...) would
                    // repeat them.
                    if ($value as u32).count_ones() == 1 && self.0 & $value != 0 {
                        names.push(stringify!($flag).to_string());
                        known |= $value;
                    }
                )*
                if self.0 & !known != 0 {
                    names.push(format!("{:#x}", self.0 & !known));
                }
                if names.is_empty() {
                    names.push("NONE".to_string());
                }
                write!(f, "{}({})", stringify!($name), names.join(" | "))
            }
        }
    };
}

bit_set! {
    /// What a watch asks for: events (`ACCESS` ... `MOVE_SELF`, and the
    /// unions `CLOSE`, `MOVE`, `ALL_EVENTS`) and options (`ONLYDIR`,
    /// `DONT_FOLLOW`, `EXCL_UNLINK`, `ONESHOT`). Combine with `|`.
    ///
    /// Events about entries of a watched directory carry the entry's name
    /// ([`WatchEvent::name`]). The kernel also reports
    /// [`EventMask::IGNORED`], [`EventMask::UNMOUNT`] and
    /// [`EventMask::Q_OVERFLOW`] without being asked.
    ///
    /// ```
    /// use ivykis::WatchMask;
    ///
    /// let mask = WatchMask::CREATE | WatchMask::MOVED_TO;
    /// assert!(mask.contains(WatchMask::CREATE));
    /// assert!(WatchMask::MOVE.contains(WatchMask::MOVED_TO));
    /// assert_eq!(format!("{mask:?}"), "WatchMask(MOVED_TO | CREATE)");
    /// ```
    WatchMask {
        /// A file was read.
        ACCESS = libc::IN_ACCESS,
        /// A file was written.
        MODIFY = libc::IN_MODIFY,
        /// Metadata changed: permissions, times, owner, links...
        ATTRIB = libc::IN_ATTRIB,
        /// A file opened for writing was closed.
        CLOSE_WRITE = libc::IN_CLOSE_WRITE,
        /// A file not opened for writing was closed.
        CLOSE_NOWRITE = libc::IN_CLOSE_NOWRITE,
        /// A file was opened.
        OPEN = libc::IN_OPEN,
        /// An entry was renamed away from the watched directory.
        MOVED_FROM = libc::IN_MOVED_FROM,
        /// An entry was renamed into the watched directory.
        MOVED_TO = libc::IN_MOVED_TO,
        /// An entry was created in the watched directory.
        CREATE = libc::IN_CREATE,
        /// An entry was deleted from the watched directory.
        DELETE = libc::IN_DELETE,
        /// The watched object itself was deleted (the watch then ends).
        DELETE_SELF = libc::IN_DELETE_SELF,
        /// The watched object itself was renamed.
        MOVE_SELF = libc::IN_MOVE_SELF,
        /// `CLOSE_WRITE | CLOSE_NOWRITE`.
        CLOSE = libc::IN_CLOSE,
        /// `MOVED_FROM | MOVED_TO`.
        MOVE = libc::IN_MOVE,
        /// Every event above.
        ALL_EVENTS = libc::IN_ALL_EVENTS,
        /// Fail with `ENOTDIR` unless the path is a directory.
        ONLYDIR = libc::IN_ONLYDIR,
        /// Watch a symbolic link itself, not what it points to.
        DONT_FOLLOW = libc::IN_DONT_FOLLOW,
        /// No events for entries after they were unlinked from the
        /// watched directory.
        EXCL_UNLINK = libc::IN_EXCL_UNLINK,
        /// Report one event, then end the watch: that event is the
        /// watch's last call (no `IGNORED` follows), and its token is
        /// already stale during it.
        ONESHOT = libc::IN_ONESHOT,
    }
}

bit_set! {
    /// What happened, as delivered in a [`WatchEvent`]: one event of
    /// [`WatchMask`] (a rename gives two events, `MOVED_FROM` and
    /// `MOVED_TO`, tied by their [`WatchEvent::cookie`]), with `ISDIR` when
    /// the entry is a directory; or one of the kernel's own reports
    /// `IGNORED`, `UNMOUNT`, `Q_OVERFLOW`.
    ///
    /// ```
    /// use ivykis::EventMask;
    ///
    /// let mask = EventMask::CREATE | EventMask::ISDIR;
    /// assert!(mask.contains(EventMask::CREATE));
    /// assert!(mask.intersects(EventMask::CREATE | EventMask::MOVED_TO));
    /// assert_eq!(format!("{mask:?}"), "EventMask(CREATE | ISDIR)");
    /// ```
    EventMask {
        /// A file was read.
        ACCESS = libc::IN_ACCESS,
        /// A file was written.
        MODIFY = libc::IN_MODIFY,
        /// Metadata changed.
        ATTRIB = libc::IN_ATTRIB,
        /// A file opened for writing was closed.
        CLOSE_WRITE = libc::IN_CLOSE_WRITE,
        /// A file not opened for writing was closed.
        CLOSE_NOWRITE = libc::IN_CLOSE_NOWRITE,
        /// A file was opened.
        OPEN = libc::IN_OPEN,
        /// An entry was renamed away from the watched directory.
        MOVED_FROM = libc::IN_MOVED_FROM,
        /// An entry was renamed into the watched directory.
        MOVED_TO = libc::IN_MOVED_TO,
        /// An entry was created.
        CREATE = libc::IN_CREATE,
        /// An entry was deleted.
        DELETE = libc::IN_DELETE,
        /// The watched object itself was deleted.
        DELETE_SELF = libc::IN_DELETE_SELF,
        /// The watched object itself was renamed.
        MOVE_SELF = libc::IN_MOVE_SELF,
        /// The file system holding the watched object was unmounted (an
        /// `IGNORED` event follows).
        UNMOUNT = libc::IN_UNMOUNT,
        /// The kernel's event queue overflowed: events were lost. Every
        /// watch of the instance gets this event (without a name), so each
        /// knows it must look at its files again.
        Q_OVERFLOW = libc::IN_Q_OVERFLOW,
        /// The watch ended: the kernel removed it because the object was
        /// deleted or its file system unmounted. It is the watch's last
        /// call; its token is already stale.
        IGNORED = libc::IN_IGNORED,
        /// The entry is a directory.
        ISDIR = libc::IN_ISDIR,
    }
}

/// One event, as passed to a watch callback.
#[derive(Clone, Copy, Debug)]
pub struct WatchEvent<'a> {
    mask: EventMask,
    cookie: u32,
    name: Option<&'a OsStr>,
}

impl<'a> WatchEvent<'a> {
    fn new(event: &'a Event<'_>) -> WatchEvent<'a> {
        WatchEvent {
            mask: EventMask(event.mask()),
            cookie: event.cookie(),
            name: event.name().map(OsStr::from_bytes),
        }
    }

    /// What happened.
    pub fn mask(&self) -> EventMask {
        self.mask
    }

    /// The name of the entry, for events about an entry of a watched
    /// directory; `None` for events about the watched object itself.
    pub fn name(&self) -> Option<&'a OsStr> {
        self.name
    }

    /// Pairs a `MOVED_FROM` with the `MOVED_TO` of the same rename (both
    /// carry the same non-zero cookie); 0 for other events.
    pub fn cookie(&self) -> u32 {
        self.cookie
    }

    /// Whether the entry is a directory ([`EventMask::ISDIR`]).
    pub fn is_dir(&self) -> bool {
        self.mask.contains(EventMask::ISDIR)
    }
}

/// What a watch callback wants done with its watch afterwards.
///
/// A callback that returns `()` means [`WatchAction::Continue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchAction {
    /// Keep watching.
    Continue,
    /// Remove the watch, as [`Handle::remove_watch`] does.
    Remove,
}

impl From<()> for WatchAction {
    fn from((): ()) -> WatchAction {
        WatchAction::Continue
    }
}

/// Names an inotify instance of one loop; returned by
/// [`Handle::add_inotify`]. Removing it ([`Handle::remove`]) removes every
/// watch of the instance and closes its descriptor. As a [`Token`] it is the
/// [`Token::Fd`] of the descriptor the loop watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InotifyToken {
    fd: FdToken,
}

impl From<InotifyToken> for Token {
    fn from(t: InotifyToken) -> Token {
        Token::Fd(t.fd)
    }
}

/// Names a watch; returned by [`Handle::add_watch`]. Stale
/// ([`Error::Stale`]) once the watch was removed, ended by the kernel
/// ([`EventMask::IGNORED`]), or its instance was removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WatchToken {
    inotify: InotifyToken,
    wd: i32,
    serial: u64,
}

impl WatchToken {
    /// The instance the watch belongs to.
    pub fn inotify(self) -> InotifyToken {
        self.inotify
    }
}

type Callback = dyn FnMut(&Handle, &WatchEvent<'_>) -> WatchAction;

/// The face's record of a watch: what the engine's map holds.
struct Watch {
    wd: i32,
    serial: u64,
    callback: RefCell<Box<Callback>>,
}

type Instance = inotify::Instance<Rc<Watch>>;

/// The descriptor object of an instance's fd source: the loop owns it, and
/// dropping it (removing the source, dropping the loop) ends the instance.
struct Source(Rc<Instance>);

impl AsFd for Source {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        let me = Rc::as_ptr(&self.0);
        let _ = INSTANCES.try_with(|list| {
            list.borrow_mut()
                .retain(|(_, weak)| weak.strong_count() > 0 && weak.as_ptr() != me)
        });
        // Outside every borrow: the watches' closures may own anything.
        drop(self.0.close());
    }
}

thread_local! {
    /// The instances of this thread's loops, to find one from its token.
    /// Entries leave when their source is dropped.
    static INSTANCES: RefCell<Vec<(FdToken, Weak<Instance>)>> = const { RefCell::new(Vec::new()) };
}

impl Handle {
    /// Opens an inotify instance and watches its descriptor; add watches to
    /// it with [`Handle::add_watch`].
    ///
    /// An instance is a source like any other: it keeps
    /// [`EventLoop::run`](crate::EventLoop::run) going until it is removed
    /// with [`Handle::remove`], which also removes its watches. One
    /// instance can hold any number of watches; the kernel limits the
    /// number of instances per user (`/proc/sys/fs/inotify/max_user_instances`).
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`]; [`Error::Io`] with `inotify_init1`'s error
    /// (`EMFILE` at the per-user instance limit or the descriptor limit).
    pub fn add_inotify(&self) -> Result<InotifyToken, Error> {
        self.check_alive()?;
        let instance = Instance::open(self.id)?;
        let weak = Rc::downgrade(&instance);
        let me: Rc<Cell<Option<FdToken>>> = Rc::new(Cell::new(None));
        let me2 = me.clone();
        // If adding fails, the source is dropped, which closes the instance.
        let fd = self.add_fd(
            Source(instance),
            Interest::READABLE,
            move |h, source, _ready| {
                deliver_batch(h, &source.0, me2.get());
                FdAction::Continue
            },
        )?;
        me.set(Some(fd));
        INSTANCES.with(|list| {
            let mut list = list.borrow_mut();
            list.retain(|(_, w)| w.strong_count() > 0);
            list.push((fd, weak));
        });
        Ok(InotifyToken { fd })
    }

    /// Watches `path` for the events in `mask`, calling `callback` with
    /// each one, in this thread, from the loop.
    ///
    /// The callback gets the handle and the event, and returns `()` or a
    /// [`WatchAction`]. It may add and remove watches of any instance and
    /// remove whole instances, its own included: an event of a watch that
    /// was removed earlier in the same batch is not delivered, and removing
    /// the instance drops the rest of its batch. A watch whose object is
    /// deleted gets a last event with [`EventMask::IGNORED`]; the watch is
    /// gone by then (its token is stale). If the callback panics, the panic
    /// unwinds out of [`EventLoop::run`](crate::EventLoop::run); the watch
    /// stays registered, and the other events of the batch being delivered
    /// are lost.
    ///
    /// ```
    /// use std::fs;
    /// use ivykis::{EventLoop, WatchAction, WatchMask};
    ///
    /// let dir = std::env::temp_dir().join(format!("ivykis-doc-watch-{}", std::process::id()));
    /// fs::create_dir(&dir)?;
    /// let event_loop = EventLoop::new()?;
    /// let handle = event_loop.handle();
    /// let inotify = handle.add_inotify()?;
    /// handle.add_watch(inotify, &dir, WatchMask::CREATE, move |h, event| {
    ///     assert_eq!(event.name().unwrap(), "hello");
    ///     h.remove(inotify).unwrap(); // the instance, and with it this watch
    ///     WatchAction::Continue
    /// })?;
    /// fs::write(dir.join("hello"), "")?; // noticed in run, not here
    /// event_loop.run(); // returns once nothing is registered
    /// fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`]; [`Error::Stale`] if `inotify` was removed;
    /// [`Error::Io`] with `inotify_add_watch`'s error (`ENOENT` for a path
    /// that does not exist, `EACCES`, `ENOTDIR` with
    /// [`WatchMask::ONLYDIR`], `ENOSPC` at the per-user watch limit,
    /// `EINVAL` for a mask without events), `EEXIST` if this instance
    /// already watches that file or directory (use another instance for a
    /// second watch of it), or `InvalidInput` for a path containing a NUL
    /// byte. On error nothing stays registered.
    pub fn add_watch<R>(
        &self,
        inotify: InotifyToken,
        path: impl AsRef<Path>,
        mask: WatchMask,
        mut callback: impl FnMut(&Handle, &WatchEvent<'_>) -> R + 'static,
    ) -> Result<WatchToken, Error>
    where
        R: Into<WatchAction>,
    {
        let instance = self.instance(inotify)?;
        let path = CString::new(path.as_ref().as_os_str().as_bytes()).map_err(|_| {
            Error::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "path contains a NUL byte",
            ))
        })?;
        static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);
        let serial = NEXT_SERIAL.fetch_add(1, Ordering::Relaxed);
        let callback: Box<Callback> = Box::new(move |h, event| callback(h, event).into());
        let wd = instance.add_watch(&path, mask.bits(), |wd| {
            Rc::new(Watch {
                wd,
                serial,
                callback: RefCell::new(callback),
            })
        })?;
        Ok(WatchToken {
            inotify,
            wd,
            serial,
        })
    }

    /// Removes a watch. Its callback is not called again, even for events
    /// already read in the batch being delivered; it is dropped now, or
    /// when it returns if it is removing itself.
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`]; [`Error::Stale`] if the watch was already
    /// removed, ended by the kernel, or its instance was removed.
    pub fn remove_watch(&self, watch: WatchToken) -> Result<(), Error> {
        let instance = self.instance(watch.inotify)?;
        let removed = instance.remove_watch(watch.wd, |w| w.serial == watch.serial);
        match removed {
            // Dropped here, outside every borrow.
            Some(w) => {
                drop(w);
                Ok(())
            }
            None => Err(Error::Stale),
        }
    }

    /// Whether `watch` names a registered watch of this loop.
    pub fn is_watching(&self, watch: WatchToken) -> bool {
        self.instance(watch.inotify)
            .ok()
            .and_then(|i| i.get(watch.wd))
            .is_some_and(|w| w.serial == watch.serial)
    }

    /// The live instance behind `token`.
    fn instance(&self, token: InotifyToken) -> Result<Rc<Instance>, Error> {
        self.check_alive()?;
        if token.fd.loop_id != self.id || !self.is_registered(token.fd) {
            return Err(Error::Stale);
        }
        let found = INSTANCES.with(|list| {
            list.borrow()
                .iter()
                .find(|(fd, _)| *fd == token.fd)
                .and_then(|(_, weak)| weak.upgrade())
        });
        match found {
            Some(instance) if !instance.is_closed() => Ok(instance),
            _ => Err(Error::Stale),
        }
    }
}

/// Reads one batch of `instance`'s events and calls the watches' callbacks.
fn deliver_batch(h: &Handle, instance: &Rc<Instance>, me: Option<FdToken>) {
    let result = inotify::dispatch(instance.clone(), |watch, event, fate| {
        let event = WatchEvent::new(event);
        let action = (watch.callback.borrow_mut())(h, &event);
        if action == WatchAction::Remove && fate == Fate::Kept {
            drop(instance.remove_watch(watch.wd, |w| Rc::ptr_eq(w, &watch)));
        }
        // The callback removed the whole instance: end it now, so that the
        // rest of the batch is not delivered (its source object, which
        // would do the same, is dropped only when this batch is over).
        if me.is_some_and(|t| !h.is_registered(t)) {
            drop(instance.close());
        }
    });
    if let Err(e) = result {
        panic!("ivykis: reading an inotify descriptor failed: {e}");
    }
}
