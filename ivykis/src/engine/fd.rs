//! File-descriptor registrations (SPEC 2) with lazy kernel interest.
//!
//! Each record holds what the application wants (`want`, from its non-NULL
//! handlers) and what the kernel was last told (`kernel`, `known`). Changing
//! `want` only queues the record; [`FdTable::flush`] applies the net changes
//! just before the loop waits. So a handler switched off and on between two
//! waits, or a descriptor registered and unregistered before the kernel
//! heard of it, costs no system call. Unregistering is the exception: it
//! removes the kernel registration at once, because programs close the
//! descriptor right after, and a `dup` of it would otherwise keep reporting
//! events for a registration that no longer exists.

use std::io;
use std::os::fd::RawFd;

use super::callback::Callback;
use super::slab::{Key, Slab};
use crate::sys::{Bands, Poller};

struct FdRec {
    fd: RawFd,
    want: Bands,
    kernel: Bands,
    /// The backend holds a registration for this record.
    known: bool,
    /// The record's key is in `changes`.
    queued: bool,
    callback: Callback<Bands>,
}

/// How a new registration reaches the kernel.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Registration {
    /// At the next flush; a refusal then is fatal (`iv_fd_register`).
    Lazy,
    /// Now, so that a refusal can be returned (`iv_fd_register_try`).
    Immediate,
}

/// The fd registrations of one loop.
#[derive(Default)]
pub struct FdTable {
    slab: Slab<FdRec>,
    changes: Vec<Key>,
}

impl FdTable {
    /// Number of registered descriptors.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers `fd` wanting `want`. With [`Registration::Immediate`] the
    /// backend is asked now and its error returned (nothing stays
    /// registered then).
    pub fn register(
        &mut self,
        poller: &mut dyn Poller,
        fd: RawFd,
        want: Bands,
        callback: Callback<Bands>,
        mode: Registration,
    ) -> io::Result<Key> {
        let key = self.slab.insert(FdRec {
            fd,
            want,
            kernel: Bands::NONE,
            known: false,
            queued: false,
            callback,
        });
        match mode {
            Registration::Immediate => {
                if let Err(e) = poller.set_interest(fd, key.to_raw(), false, want) {
                    self.slab.remove(key);
                    return Err(e);
                }
                let rec = self.slab.get_mut(key).expect("just inserted");
                rec.known = true;
                rec.kernel = want;
            }
            Registration::Lazy => self.queue(key),
        }
        Ok(key)
    }

    /// Unregisters `key`, removing its kernel registration now. `false` if
    /// `key` is not registered.
    pub fn unregister(&mut self, poller: &mut dyn Poller, key: Key) -> bool {
        match self.slab.remove(key) {
            Some(rec) => {
                if rec.known {
                    poller.remove(rec.fd, key.to_raw());
                }
                true
            }
            None => false,
        }
    }

    /// Whether `key` is registered.
    pub fn is_registered(&self, key: Key) -> bool {
        self.slab.get(key).is_some()
    }

    /// Changes the wanted bands; the kernel hears of it at the next flush.
    /// `false` if `key` is not registered.
    #[inline]
    pub fn set_want(&mut self, key: Key, want: Bands) -> bool {
        let Some(rec) = self.slab.get_mut(key) else {
            return false;
        };
        rec.want = want;
        if !rec.queued && (want != rec.kernel || !rec.known) {
            rec.queued = true;
            self.changes.push(key);
        }
        true
    }

    fn queue(&mut self, key: Key) {
        if let Some(rec) = self.slab.get_mut(key) {
            if !rec.queued {
                rec.queued = true;
                self.changes.push(key);
            }
        }
    }

    /// Tells the backend the net change of every queued record. A refusal
    /// is returned with the descriptor it concerns; the record is then
    /// left unknown to the kernel.
    #[inline]
    pub fn flush(&mut self, poller: &mut dyn Poller) -> Result<(), (RawFd, io::Error)> {
        if self.changes.is_empty() {
            return Ok(());
        }
        self.flush_changes(poller)
    }

    fn flush_changes(&mut self, poller: &mut dyn Poller) -> Result<(), (RawFd, io::Error)> {
        let mut result = Ok(());
        for key in self.changes.drain(..) {
            let Some(rec) = self.slab.get_mut(key) else {
                continue;
            };
            rec.queued = false;
            if rec.known && rec.want == rec.kernel {
                continue;
            }
            if !rec.known && rec.want.is_empty() {
                continue;
            }
            match poller.set_interest(rec.fd, key.to_raw(), rec.known, rec.want) {
                Ok(()) => {
                    rec.known = true;
                    rec.kernel = rec.want;
                }
                Err(e) => {
                    if result.is_ok() {
                        result = Err((rec.fd, e));
                    }
                }
            }
        }
        result
    }

    /// The callback to run for `band` of a ready event, if `key` is still
    /// registered and still wants `band`. A registration that wants nothing
    /// but is reported anyway (a hang-up or error, which epoll reports
    /// regardless of interest) is dropped from the kernel so that it cannot
    /// wake the loop again until a handler is set.
    #[inline]
    pub fn callback_for(&mut self, poller: &mut dyn Poller, key: Key, band: Bands) -> Lookup {
        let Some(rec) = self.slab.get_mut(key) else {
            return Lookup::Gone;
        };
        if rec.want.contains(band) {
            return Lookup::Call(rec.callback.clone());
        }
        if rec.want.is_empty() && rec.known && !rec.queued {
            poller.remove(rec.fd, key.to_raw());
            rec.known = false;
            rec.kernel = Bands::NONE;
        }
        Lookup::Skip
    }

    /// Drops every registration (the loop is going away with its backend,
    /// whose kernel object takes the registrations with it).
    pub fn clear(&mut self) {
        self.changes.clear();
        self.slab.drain().for_each(drop);
    }
}

/// Result of [`FdTable::callback_for`].
pub enum Lookup {
    /// Call this.
    Call(Callback<Bands>),
    /// Registered, but not interested in this band now.
    Skip,
    /// Not registered any more: skip the remaining bands too.
    Gone,
}
