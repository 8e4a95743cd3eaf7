//! Descriptor sources: [`Handle::add_fd`], [`Interest`], [`Ready`],
//! [`FdAction`], [`FdToken`].

#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::ops::{BitOr, BitOrAssign};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::rc::Rc;

use crate::engine::callback::Callback;
use crate::engine::fd::Registration;
use crate::engine::slab::Key;
use crate::error::Error;
use crate::event_loop::Handle;
use crate::registry::{self, Entry, FdEntry};
use crate::sys::Bands;

/// The readiness bands a descriptor source wants callbacks for.
///
/// Combine with `|`. [`Interest::NONE`] keeps the source registered but
/// silent, like a C `iv_fd` whose handlers are all NULL.
///
/// ```
/// use ivykis::Interest;
///
/// let both = Interest::READABLE | Interest::WRITABLE;
/// assert!(both.contains(Interest::WRITABLE));
/// assert_eq!(both.without(Interest::WRITABLE), Interest::READABLE);
/// assert!(Interest::NONE.is_empty());
/// assert_eq!(format!("{both:?}"), "Interest(READABLE | WRITABLE)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Interest(u8);

impl Interest {
    /// No band: registered, but no callback.
    pub const NONE: Interest = Interest(0);
    /// Error conditions get their own [`Ready::Error`] callback. Without it,
    /// an error or hang-up still shows up as readable and writable
    /// readiness (the read or write then reports it).
    pub const ERROR: Interest = Interest(1);
    /// The descriptor has data to read, a connection to accept, or reached
    /// end of file.
    pub const READABLE: Interest = Interest(2);
    /// The descriptor accepts more data.
    pub const WRITABLE: Interest = Interest(4);
    /// All three bands.
    pub const ALL: Interest = Interest(7);

    /// Whether every band of `other` is in `self`.
    pub const fn contains(self, other: Interest) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` without the bands of `other`.
    pub const fn without(self, other: Interest) -> Interest {
        Interest(self.0 & !other.0)
    }

    /// Whether no band is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(crate) fn bands(self) -> Bands {
        Bands::when(self.contains(Interest::ERROR), Bands::ERR)
            .with(Bands::when(self.contains(Interest::READABLE), Bands::IN))
            .with(Bands::when(self.contains(Interest::WRITABLE), Bands::OUT))
    }
}

impl BitOr for Interest {
    type Output = Interest;

    fn bitor(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }
}

impl BitOrAssign for Interest {
    fn bitor_assign(&mut self, other: Interest) {
        self.0 |= other.0;
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Interest(")?;
        let names = [
            (Interest::ERROR, "ERROR"),
            (Interest::READABLE, "READABLE"),
            (Interest::WRITABLE, "WRITABLE"),
        ];
        let mut first = true;
        for (band, name) in names {
            if self.contains(band) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("NONE")?;
        }
        f.write_str(")")
    }
}

/// The band a descriptor callback is called for.
///
/// When several bands of one descriptor are ready in the same iteration, the
/// callback is called once per band, in the order `Error`, `Readable`,
/// `Writable`, and only for bands in the source's [`Interest`] at the moment
/// of the call. An error or hang-up makes all three bands ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ready {
    /// An error condition or a hang-up ([`Interest::ERROR`]).
    Error,
    /// Reading will not block ([`Interest::READABLE`]).
    Readable,
    /// Writing will not block ([`Interest::WRITABLE`]).
    Writable,
}

impl Ready {
    fn from_band(band: Bands) -> Ready {
        if band.contains(Bands::ERR) {
            Ready::Error
        } else if band.contains(Bands::IN) {
            Ready::Readable
        } else {
            Ready::Writable
        }
    }
}

/// What a descriptor callback wants done with its source afterwards.
///
/// A callback that returns `()` means [`FdAction::Continue`].
///
/// ```
/// use ivykis::{FdAction, Interest};
///
/// let action: FdAction = ().into();
/// assert_eq!(action, FdAction::Continue);
/// let _ = FdAction::SetInterest(Interest::READABLE | Interest::WRITABLE);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdAction {
    /// Keep the source as it is.
    Continue,
    /// Change the source's interest, as [`Handle::set_interest`] does.
    SetInterest(Interest),
    /// Remove the source, as [`Handle::remove`] does: the callback is not
    /// called for the remaining bands, and the descriptor object is dropped
    /// (closing what it owns) right after the callback returns.
    Remove,
}

impl From<()> for FdAction {
    fn from((): ()) -> FdAction {
        FdAction::Continue
    }
}

/// Names a descriptor source of one loop; returned by [`Handle::add_fd`].
///
/// `Copy`, and never dangerous to keep: once the source is removed, the
/// token is stale ([`Error::Stale`]) and cannot reach a newer source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FdToken {
    pub(crate) loop_id: u64,
    pub(crate) key: Key,
}

/// Makes `fd` non-blocking and close-on-exec, as the C library does on
/// registration. (Unlike the C library, `SO_OOBINLINE` is not set on
/// sockets: that needs an unsafe `setsockopt`.)
fn prepare_descriptor(fd: BorrowedFd<'_>) -> io::Result<()> {
    rustix::io::ioctl_fionbio(fd, true)?;
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios"
    ))]
    rustix::io::ioctl_fioclex(fd)?;
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios"
    )))]
    {
        let flags = rustix::io::fcntl_getfd(fd)?;
        rustix::io::fcntl_setfd(fd, flags | rustix::io::FdFlags::CLOEXEC)?;
    }
    Ok(())
}

impl Handle {
    /// Watches a descriptor and calls `callback` whenever it is ready for a
    /// band in `interest`.
    ///
    /// The loop takes ownership of `fd`, any object that owns a descriptor
    /// (a [`TcpStream`](std::net::TcpStream),
    /// [`OwnedFd`](std::os::fd::OwnedFd), your own connection type that
    /// implements [`AsFd`]...), so the descriptor cannot be closed while the
    /// kernel watches it. Removing the source (or dropping the loop) drops
    /// the object after the kernel registration is gone. To use the object
    /// from other callbacks as well, register an `Rc` of it (`Rc<T>`
    /// implements `AsFd`) and keep a clone.
    ///
    /// The descriptor is made non-blocking and close-on-exec. It is
    /// registered with the kernel at once, so an unpollable descriptor (a
    /// regular file under epoll) is refused here.
    ///
    /// The callback gets the loop's handle, the object, and the ready band
    /// ([`Ready`]). It is called once per ready band per iteration, in the
    /// order error, readable, writable, and again in every iteration while
    /// the band stays ready (level-triggered). It returns `()` or an
    /// [`FdAction`].
    ///
    /// The callback must not replace the object's descriptor (for example by
    /// assigning a new stream to it): the loop checks after every call and
    /// panics (removing the source) if the descriptor number changed.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::os::unix::net::UnixStream;
    /// use ivykis::{EventLoop, FdAction, Interest, Ready};
    ///
    /// let event_loop = EventLoop::new()?;
    /// let (mut tx, rx) = UnixStream::pair()?;
    /// tx.write_all(b"hello")?;
    /// event_loop.handle().add_fd(rx, Interest::READABLE, |_h, rx, ready| {
    ///     assert_eq!(ready, Ready::Readable);
    ///     let mut buf = [0; 16];
    ///     let n = rx.read(&mut buf).unwrap();
    ///     assert_eq!(&buf[..n], b"hello");
    ///     FdAction::Remove // drops (closes) rx; nothing is left, run returns
    /// })?;
    /// event_loop.run();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`]; [`Error::Io`] if the descriptor's flags cannot
    /// be set or the kernel refuses to watch it (`EPERM` for a regular file
    /// under epoll). On error nothing stays registered and `fd` is dropped.
    pub fn add_fd<F, R>(
        &self,
        fd: F,
        interest: Interest,
        callback: impl FnMut(&Handle, &mut F, Ready) -> R + 'static,
    ) -> Result<FdToken, Error>
    where
        F: AsFd + 'static,
        R: Into<FdAction>,
    {
        self.check_alive()?;
        prepare_descriptor(fd.as_fd())?;
        let raw_fd = fd.as_fd().as_raw_fd();
        let loop_id = self.id;
        let key = registry::with_loop(loop_id, |entries, _| Ok(entries.insert(Entry::Reserved)))?;
        let token = FdToken { loop_id, key };
        let source = RefCell::new((fd, callback));
        let closure: Rc<dyn Fn(Bands)> = Rc::new(move |band| fire(token, raw_fd, &source, band));
        let registered = registry::with_loop(loop_id, |entries, l| {
            let result = l.fds.register(
                &mut *l.poller,
                raw_fd,
                interest.bands(),
                Callback::Native(closure.clone()),
                Registration::Immediate,
            );
            match result {
                Ok(engine_key) => {
                    let slot = entries.get_mut(key).expect("reserved entry");
                    *slot = Entry::Fd(FdEntry {
                        engine_key,
                        interest,
                        callback: closure.clone(),
                    });
                    Ok(())
                }
                Err(e) => {
                    entries.remove(key);
                    Err(Error::Io(e))
                }
            }
        });
        // On failure, `closure` is the last reference: dropping it here drops
        // `fd` and the callback outside every borrow.
        drop(closure);
        registered.map(|()| token)
    }

    /// Changes the bands a descriptor source wants callbacks for.
    ///
    /// This makes no system call: the kernel hears about the net change just
    /// before the loop next waits, so switching a band off and on again in
    /// between costs nothing, and it allocates nothing. Switching on a band
    /// that is already ready gives a callback in the next iteration.
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use ivykis::{EventLoop, FdAction, Interest, Ready};
    ///
    /// let event_loop = EventLoop::new()?;
    /// let handle = event_loop.handle();
    /// let (a, _b) = UnixStream::pair()?;
    /// // Writable at once, but nobody asked yet.
    /// let token = handle.add_fd(a, Interest::NONE, |_h, _a, ready| {
    ///     assert_eq!(ready, Ready::Writable);
    ///     FdAction::Remove
    /// })?;
    /// handle.set_interest(token, Interest::WRITABLE)?;
    /// assert_eq!(handle.interest(token)?, Interest::WRITABLE);
    /// event_loop.run();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`], [`Error::Stale`].
    pub fn set_interest(&self, token: FdToken, interest: Interest) -> Result<(), Error> {
        registry::with_loop(self.id, |entries, l| match entries.get_mut(token.key) {
            Some(Entry::Fd(entry)) if token.loop_id == self.id => {
                entry.interest = interest;
                let known = l.fds.set_want(entry.engine_key, interest.bands());
                debug_assert!(known, "face and engine disagree about an fd source");
                Ok(())
            }
            _ => Err(Error::Stale),
        })
    }

    /// The bands a descriptor source currently wants.
    ///
    /// # Errors
    ///
    /// [`Error::LoopGone`], [`Error::Stale`].
    pub fn interest(&self, token: FdToken) -> Result<Interest, Error> {
        registry::with_loop(self.id, |entries, _| match entries.get(token.key) {
            Some(Entry::Fd(entry)) if token.loop_id == self.id => Ok(entry.interest),
            _ => Err(Error::Stale),
        })
    }
}

/// Calls a descriptor source's callback for one ready band and applies what
/// it returns.
fn fire<F, C, R>(token: FdToken, raw_fd: RawFd, source: &RefCell<(F, C)>, band: Bands)
where
    F: AsFd,
    C: FnMut(&Handle, &mut F, Ready) -> R,
    R: Into<FdAction>,
{
    let handle = Handle::new(token.loop_id);
    let (action, replaced) = {
        let mut source = source.borrow_mut();
        let (fd, callback) = &mut *source;
        let action = callback(&handle, fd, Ready::from_band(band)).into();
        (action, fd.as_fd().as_raw_fd() != raw_fd)
    };
    if replaced {
        let _ = handle.remove(token);
        panic!("ivykis: a descriptor callback replaced its registered descriptor (fd {raw_fd}); the source was removed");
    }
    // A callback that removed its own source already: nothing to apply.
    match action {
        FdAction::Continue => {}
        FdAction::SetInterest(interest) => {
            let _ = handle.set_interest(token, interest);
        }
        FdAction::Remove => {
            let _ = handle.remove(token);
        }
    }
}
