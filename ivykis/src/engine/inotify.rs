//! inotify instances and their watches, shared by both faces (SPEC 8).
//!
//! An [`Instance`] owns one inotify descriptor and the map from watch
//! descriptor (`wd`) to the face's record of each watch (`W`: a pointer to
//! the caller's `struct iv_inotify_watch` in the C face, a reference-counted
//! closure in the Rust face). The face registers the descriptor with the
//! loop like any other and calls [`dispatch`] when it is readable.
//!
//! # Rules
//!
//! - **One path, one watch.** The kernel gives a second watch of the same
//!   inode in one instance the first one's `wd` and replaces its mask. So
//!   [`Instance::add_watch`] asks the kernel with `IN_MASK_CREATE`, which
//!   refuses with `EEXIST`; on a kernel that ignores the flag (before 4.18)
//!   the duplicate `wd` is noticed in the map, the first watch's mask is put
//!   back, and the answer is `EEXIST` too. Nothing changes on failure.
//! - **The last event of a watch** removes it from the map *before* its
//!   callback runs, which is told so by [`Fate::Removed`] and may then free
//!   or re-register it. That is `IN_IGNORED` (the kernel dropped the watch:
//!   the inode was deleted or its file system unmounted), and the first
//!   event of an `IN_ONESHOT` watch (the kernel drops it after that one;
//!   its `IN_IGNORED` then finds nobody, as in ivykis, whose programs may
//!   free a one-shot watch in that first call). A watch removed by
//!   [`Instance::remove_watch`] is out of the map at once; its
//!   `IN_IGNORED`, still queued in the kernel, finds nobody.
//! - **`IN_Q_OVERFLOW`** (the kernel's queue overflowed and events were
//!   lost; `wd` is -1) is delivered to every watch of the instance, so that
//!   each knows it must rescan.
//! - **Re-entrancy.** A callback may add and remove watches of its own
//!   instance or of others, and close the instance, while the rest of the
//!   batch it belongs to is being dispatched. [`dispatch`] holds its own
//!   reference to the instance and no borrow of it across a callback; it
//!   looks every event's watch up afresh, so an event of a watch removed
//!   earlier in the batch is dropped, and it stops at once when the instance
//!   was closed. The bytes of the batch live in `dispatch`'s stack frame,
//!   not in anything a callback can free.

#![cfg(any(target_os = "linux", target_os = "android"))]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes read from the descriptor at a time: room for at least fifteen
/// events with the longest names (16 + 256 bytes each), far more for the
/// usual short ones. The kernel never splits an event across reads.
pub const BUFFER_SIZE: usize = 4096;

/// Every bit `inotify_add_watch` knows (the kernel's `ALL_INOTIFY_BITS`).
const KERNEL_BITS: u32 = libc::IN_ALL_EVENTS
    | libc::IN_UNMOUNT
    | libc::IN_Q_OVERFLOW
    | libc::IN_IGNORED
    | libc::IN_ONLYDIR
    | libc::IN_DONT_FOLLOW
    | libc::IN_EXCL_UNLINK
    | libc::IN_MASK_CREATE
    | libc::IN_MASK_ADD
    | libc::IN_ISDIR
    | libc::IN_ONESHOT;

/// Size of `struct inotify_event` without its name.
const HEADER: usize = 16;

/// What happened to a watch with the event being delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// The watch is still registered.
    Kept,
    /// The watch's last event (`IN_IGNORED`, or the one event of an
    /// `IN_ONESHOT` watch): it is no longer in the instance when its
    /// callback runs.
    Removed,
}

/// One inotify descriptor and its watches. Used through an `Rc`, so that
/// [`dispatch`] can keep it alive while a callback drops every other
/// reference.
pub struct Instance<W> {
    fd: OwnedFd,
    id: u64,
    owner: u64,
    state: RefCell<State<W>>,
}

struct State<W> {
    watches: BTreeMap<i32, Entry<W>>,
    closed: bool,
}

struct Entry<W> {
    watch: W,
    /// The mask the kernel was given (without the `IN_MASK_*` modifiers),
    /// to restore it after a refused duplicate.
    mask: u32,
}

impl<W: Clone> Instance<W> {
    /// Opens an inotify descriptor (non-blocking, close-on-exec) for the
    /// loop whose id is `owner`. Errors are `inotify_init1`'s (`EMFILE`
    /// when the per-user instance limit or the descriptor limit is reached).
    pub fn open(owner: u64) -> io::Result<Rc<Instance<W>>> {
        // SAFETY: inotify_init1 takes flags only and touches no memory.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a descriptor inotify_init1 just opened, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Ok(Rc::new(Instance {
            fd,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            owner,
            state: RefCell::new(State {
                watches: BTreeMap::new(),
                closed: false,
            }),
        }))
    }

    /// Unique in the process: tells this instance from a later one that
    /// reuses the same C struct.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The id of the loop the instance was opened for.
    pub fn owner(&self) -> u64 {
        self.owner
    }

    /// The inotify descriptor.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Whether [`Instance::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.state.borrow().closed
    }

    /// Number of registered watches.
    pub fn len(&self) -> usize {
        self.state.borrow().watches.len()
    }

    /// Whether no watch is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The watch registered as `wd`, if any.
    pub fn get(&self, wd: i32) -> Option<W> {
        self.state
            .borrow()
            .watches
            .get(&wd)
            .map(|e| e.watch.clone())
    }

    /// Watches `path` for the events in `mask` and records the watch that
    /// `make(wd)` builds. Errors: `inotify_add_watch`'s (`ENOENT`,
    /// `EACCES`, `ENOSPC` at the per-user watch limit, `EINVAL` for a mask
    /// without events...), `EEXIST` if this instance already watches the
    /// inode, `EBADF` after [`Instance::close`]. On error nothing changed.
    pub fn add_watch(
        &self,
        path: &CStr,
        mask: u32,
        make: impl FnOnce(i32) -> W,
    ) -> io::Result<i32> {
        if self.is_closed() {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        // IN_MASK_ADD asks to merge into an existing watch and the kernel
        // refuses it together with IN_MASK_CREATE; the map check below
        // covers that case. A mask without any bit the kernel knows is left
        // alone, for the kernel to refuse (adding a flag would make it
        // acceptable).
        let wd = if mask & libc::IN_MASK_ADD == 0 && mask & KERNEL_BITS != 0 {
            match self.kernel_add(path, mask | libc::IN_MASK_CREATE) {
                // A kernel that refuses the flag itself (the error is the
                // same as for a bad mask, which the retry reports again).
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => self.kernel_add(path, mask)?,
                other => other?,
            }
        } else {
            self.kernel_add(path, mask)?
        };
        let existing = self.state.borrow().watches.get(&wd).map(|e| e.mask);
        if let Some(old_mask) = existing {
            // The kernel merged this into a watch of ours and replaced (or
            // widened) its mask: put the old mask back.
            let _ = self.kernel_add(path, old_mask);
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        let entry = Entry {
            watch: make(wd),
            mask: mask & !(libc::IN_MASK_ADD | libc::IN_MASK_CREATE),
        };
        self.state.borrow_mut().watches.insert(wd, entry);
        Ok(wd)
    }

    fn kernel_add(&self, path: &CStr, mask: u32) -> io::Result<i32> {
        // SAFETY: `path` is a NUL-terminated string that outlives the call;
        // the descriptor is open for as long as `self` exists.
        let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), path.as_ptr(), mask) };
        if wd < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(wd)
        }
    }

    /// Removes watch `wd` if `is_it` recognises it (the face checks that it
    /// is the caller's watch, not a later one with the same number), and
    /// tells the kernel. The watch is returned for the caller to drop
    /// outside every borrow.
    pub fn remove_watch(&self, wd: i32, is_it: impl FnOnce(&W) -> bool) -> Option<W> {
        let removed = {
            let mut state = self.state.borrow_mut();
            match state.watches.get(&wd) {
                Some(e) if is_it(&e.watch) => state.watches.remove(&wd).map(|e| e.watch),
                _ => None,
            }
        };
        if removed.is_some() {
            // SAFETY: plain integer arguments. Fails with EINVAL if the
            // kernel already dropped the watch (its IN_IGNORED is queued),
            // which is fine.
            unsafe { libc::inotify_rm_watch(self.fd.as_raw_fd(), wd) };
        }
        removed
    }

    /// Ends the instance: no more watches can be added, [`dispatch`] stops
    /// delivering, and every watch is returned (for the caller to drop
    /// outside every borrow). The descriptor is closed when the last
    /// reference goes, which is at once unless a dispatch is in progress.
    pub fn close(&self) -> Vec<W> {
        let mut state = self.state.borrow_mut();
        state.closed = true;
        std::mem::take(&mut state.watches)
            .into_values()
            .map(|e| e.watch)
            .collect()
    }

    fn wds(&self) -> Vec<i32> {
        self.state.borrow().watches.keys().copied().collect()
    }

    /// The watch an event of `wd` with `mask` goes to, and whether the
    /// event ends it (then it is out of the map already).
    fn lookup(&self, wd: i32, mask: u32) -> Option<(W, Fate)> {
        let mut state = self.state.borrow_mut();
        let entry = state.watches.get(&wd)?;
        if mask & libc::IN_IGNORED == 0 && entry.mask & libc::IN_ONESHOT == 0 {
            return Some((entry.watch.clone(), Fate::Kept));
        }
        let entry = state.watches.remove(&wd)?;
        Some((entry.watch, Fate::Removed))
    }
}

impl<W> AsFd for Instance<W> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// One event of a batch, borrowed from the read buffer.
pub struct Event<'a> {
    record: &'a mut [u8],
}

impl Event<'_> {
    fn field(&self, at: usize) -> u32 {
        let bytes: [u8; 4] = self.record[at..at + 4].try_into().expect("4 bytes");
        u32::from_ne_bytes(bytes)
    }

    /// The watch descriptor (-1 for `IN_Q_OVERFLOW`).
    pub fn wd(&self) -> i32 {
        self.field(0) as i32
    }

    /// What happened (`IN_*` bits).
    pub fn mask(&self) -> u32 {
        self.field(4)
    }

    /// Ties an `IN_MOVED_FROM` to its `IN_MOVED_TO`; 0 otherwise.
    pub fn cookie(&self) -> u32 {
        self.field(8)
    }

    /// The name of the entry inside a watched directory, without the NUL
    /// padding; `None` for events about the watched object itself.
    pub fn name(&self) -> Option<&[u8]> {
        let padded = &self.record[HEADER..];
        if padded.is_empty() {
            return None;
        }
        let end = padded.iter().position(|&b| b == 0).unwrap_or(padded.len());
        Some(&padded[..end])
    }

    /// The kernel's `struct inotify_event` (header and padded name), at an
    /// address aligned for it: what the C face hands to C handlers.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.record.as_mut_ptr()
    }
}

/// The length of the record at the start of `bytes` (header plus padded
/// name), or `None` if no complete record is there.
fn record_len(bytes: &[u8]) -> Option<usize> {
    let header = bytes.get(..HEADER)?;
    let len = u32::from_ne_bytes(header[12..16].try_into().expect("4 bytes")) as usize;
    let total = HEADER.checked_add(len)?;
    (total <= bytes.len()).then_some(total)
}

/// Aligned like `struct inotify_event` (and more), so that every record,
/// which the kernel pads to a multiple of 16 bytes, is aligned too.
#[repr(C, align(16))]
struct Buffer([u8; BUFFER_SIZE]);

/// Reads one batch of events from `instance` and calls `deliver` for each,
/// with the watch it belongs to (looked up afresh for every event; see the
/// module documentation for `IN_IGNORED`, `IN_Q_OVERFLOW` and what
/// callbacks may do). Returns at once if the instance is closed or has
/// nothing to read; stops as soon as a callback closes it. Errors are
/// `read`'s, other than `EAGAIN` and `EINTR`.
pub fn dispatch<W: Clone>(
    instance: Rc<Instance<W>>,
    mut deliver: impl FnMut(W, &mut Event<'_>, Fate),
) -> io::Result<()> {
    if instance.is_closed() {
        return Ok(());
    }
    let mut buf = Buffer([0; BUFFER_SIZE]);
    // SAFETY: `buf` is writable for BUFFER_SIZE bytes during the call; the
    // descriptor is open while `instance` lives.
    let n = unsafe { libc::read(instance.raw_fd(), buf.0.as_mut_ptr().cast(), BUFFER_SIZE) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN | libc::EINTR) => Ok(()),
            _ => Err(e),
        };
    }
    let mut rest = &mut buf.0[..n as usize];
    while let Some(len) = record_len(rest) {
        let (record, tail) = std::mem::take(&mut rest).split_at_mut(len);
        rest = tail;
        let mut event = Event { record };
        let (wd, mask) = (event.wd(), event.mask());
        if wd == -1 {
            // IN_Q_OVERFLOW: to every watch registered now; each is looked
            // up again before its call, since an earlier one may have
            // removed it.
            for wd in instance.wds() {
                if instance.is_closed() {
                    return Ok(());
                }
                if let Some(w) = instance.get(wd) {
                    deliver(w, &mut event, Fate::Kept);
                }
            }
        } else if let Some((w, fate)) = instance.lookup(wd, mask) {
            deliver(w, &mut event, fate);
        }
        if instance.is_closed() {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::ffi::CString;
    use std::fs;
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};

    /// A fresh directory, removed (with its contents) on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static N: AtomicU64 = AtomicU64::new(0);
            let path = std::env::temp_dir().join(format!(
                "ivykis-engine-inotify-{}-{tag}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir(&path).unwrap();
            TempDir(path)
        }

        fn c(&self) -> CString {
            c(&self.0)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn c(path: &Path) -> CString {
        CString::new(path.as_os_str().as_bytes()).unwrap()
    }

    type Seen = Rc<RefCell<Vec<(u32, i32, u32, Option<Vec<u8>>, Fate)>>>;

    /// Dispatches one batch, recording (watch id, wd, mask, name, fate).
    fn run(instance: &Rc<Instance<u32>>, seen: &Seen) {
        let seen = seen.clone();
        dispatch(instance.clone(), |w, ev, fate| {
            seen.borrow_mut()
                .push((w, ev.wd(), ev.mask(), ev.name().map(<[u8]>::to_vec), fate))
        })
        .unwrap();
    }

    #[test]
    fn record_lengths() {
        let mut bytes = vec![0u8; 48];
        bytes[12..16].copy_from_slice(&16u32.to_ne_bytes());
        assert_eq!(record_len(&bytes), Some(32));
        assert_eq!(record_len(&bytes[..31]), None, "truncated name");
        assert_eq!(record_len(&bytes[..15]), None, "truncated header");
        bytes[12..16].copy_from_slice(&0u32.to_ne_bytes());
        assert_eq!(record_len(&bytes), Some(16));
        bytes[12..16].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(record_len(&bytes), None, "absurd length");
    }

    #[test]
    fn create_modify_delete_are_delivered_with_names() {
        let dir = TempDir::new("basic");
        let inst = Instance::<u32>::open(0).unwrap();
        let mask = libc::IN_CREATE | libc::IN_MODIFY | libc::IN_DELETE;
        let wd = inst.add_watch(&dir.c(), mask, |_| 7).unwrap();
        assert_eq!(inst.get(wd), Some(7));
        let file = dir.0.join("a");
        fs::write(&file, b"x").unwrap();
        fs::remove_file(&file).unwrap();
        let seen = Seen::default();
        run(&inst, &seen);
        let masks: Vec<u32> = seen.borrow().iter().map(|e| e.2).collect();
        assert_eq!(masks, [libc::IN_CREATE, libc::IN_MODIFY, libc::IN_DELETE]);
        for e in seen.borrow().iter() {
            assert_eq!(
                (e.0, e.1, e.3.as_deref(), e.4),
                (7, wd, Some(&b"a"[..]), Fate::Kept)
            );
        }
        // Nothing left: a second dispatch reads EAGAIN and calls nobody.
        run(&inst, &seen);
        assert_eq!(seen.borrow().len(), 3);
    }

    #[test]
    fn missing_path_is_enoent_and_changes_nothing() {
        let dir = TempDir::new("enoent");
        let inst = Instance::<u32>::open(0).unwrap();
        let err = inst
            .add_watch(&c(&dir.0.join("nope")), libc::IN_CREATE, |_| 1)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
        assert!(inst.is_empty());
        let err = inst.add_watch(&dir.c(), 0, |_| 1).unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(libc::EINVAL),
            "a mask without events"
        );
        assert!(inst.is_empty());
    }

    #[test]
    fn a_second_watch_of_the_same_inode_is_refused_and_the_first_keeps_its_mask() {
        let dir = TempDir::new("dup");
        let inst = Instance::<u32>::open(0).unwrap();
        let wd = inst.add_watch(&dir.c(), libc::IN_CREATE, |_| 1).unwrap();
        for extra in [0, libc::IN_MASK_ADD] {
            let err = inst
                .add_watch(&dir.c(), libc::IN_DELETE | extra, |_| 2)
                .unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
        }
        assert_eq!((inst.len(), inst.get(wd)), (1, Some(1)));
        let file = dir.0.join("f");
        fs::write(&file, b"").unwrap();
        fs::remove_file(&file).unwrap();
        let seen = Seen::default();
        run(&inst, &seen);
        let masks: Vec<u32> = seen.borrow().iter().map(|e| e.2).collect();
        assert_eq!(masks, [libc::IN_CREATE], "the first watch's mask is intact");
    }

    #[test]
    fn ignored_removes_the_watch_before_its_call() {
        let dir = TempDir::new("ignored");
        let sub = dir.0.join("sub");
        fs::create_dir(&sub).unwrap();
        let inst = Instance::<u32>::open(0).unwrap();
        let wd = inst
            .add_watch(&c(&sub), libc::IN_DELETE_SELF, |_| 3)
            .unwrap();
        fs::remove_dir(&sub).unwrap();
        let log = Rc::new(RefCell::new(Vec::new()));
        let (i2, l2) = (inst.clone(), log.clone());
        dispatch(inst.clone(), |w, ev, fate| {
            l2.borrow_mut()
                .push((w, ev.mask(), fate, i2.get(wd).is_some()));
        })
        .unwrap();
        assert_eq!(
            *log.borrow(),
            [
                (3, libc::IN_DELETE_SELF, Fate::Kept, true),
                (3, libc::IN_IGNORED, Fate::Removed, false),
            ]
        );
        assert!(inst.is_empty());
    }

    #[test]
    fn a_oneshot_watch_ends_with_its_first_event() {
        let dir = TempDir::new("oneshot");
        let inst = Instance::<u32>::open(0).unwrap();
        inst.add_watch(&dir.c(), libc::IN_CREATE | libc::IN_ONESHOT, |_| 5)
            .unwrap();
        fs::write(dir.0.join("a"), b"").unwrap();
        fs::write(dir.0.join("b"), b"").unwrap();
        let seen = Seen::default();
        run(&inst, &seen);
        run(&inst, &seen);
        let got: Vec<(u32, Fate)> = seen.borrow().iter().map(|e| (e.2, e.4)).collect();
        assert_eq!(
            got,
            [(libc::IN_CREATE, Fate::Removed)],
            "no IN_IGNORED afterwards"
        );
        assert!(inst.is_empty());
    }

    #[test]
    fn removal_inside_a_batch_drops_the_later_events_of_that_watch() {
        let dir = TempDir::new("remove");
        let inst = Instance::<u32>::open(0).unwrap();
        let wd = inst.add_watch(&dir.c(), libc::IN_CREATE, |_| 1).unwrap();
        for name in ["a", "b", "c"] {
            fs::write(dir.0.join(name), b"").unwrap();
        }
        let calls = Rc::new(RefCell::new(0));
        let (i2, c2) = (inst.clone(), calls.clone());
        dispatch(inst.clone(), |w, _ev, _fate| {
            *c2.borrow_mut() += 1;
            assert!(i2.remove_watch(wd, |x| *x == w).is_some());
        })
        .unwrap();
        assert_eq!(*calls.borrow(), 1);
        // The IN_IGNORED that rm_watch queued finds nobody.
        run(&inst, &Seen::default());
        assert_eq!(*calls.borrow(), 1);
    }

    #[test]
    fn remove_watch_checks_identity() {
        let dir = TempDir::new("identity");
        let inst = Instance::<u32>::open(0).unwrap();
        let wd = inst.add_watch(&dir.c(), libc::IN_CREATE, |_| 1).unwrap();
        assert_eq!(inst.remove_watch(wd, |x| *x == 2), None);
        assert_eq!(inst.remove_watch(wd + 100, |_| true), None);
        assert_eq!(inst.remove_watch(wd, |x| *x == 1), Some(1));
        assert_eq!(inst.remove_watch(wd, |_| true), None);
    }

    #[test]
    fn closing_inside_a_batch_stops_it() {
        let dir = TempDir::new("close");
        let inst = Instance::<u32>::open(0).unwrap();
        inst.add_watch(&dir.c(), libc::IN_CREATE, |_| 1).unwrap();
        for name in ["a", "b"] {
            fs::write(dir.0.join(name), b"").unwrap();
        }
        let calls = Rc::new(RefCell::new(0));
        let (i2, c2) = (inst.clone(), calls.clone());
        dispatch(inst.clone(), move |_w, _ev, _fate| {
            *c2.borrow_mut() += 1;
            assert_eq!(i2.close(), [1]);
        })
        .unwrap();
        assert_eq!(*calls.borrow(), 1);
        assert!(inst.is_closed());
        let err = inst
            .add_watch(&dir.c(), libc::IN_CREATE, |_| 1)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        // A closed instance reads nothing.
        fs::write(dir.0.join("c"), b"").unwrap();
        run(&inst, &Seen::default());
        assert_eq!(*calls.borrow(), 1);
    }

    #[test]
    fn overflow_reaches_every_watch() {
        // Fill the queue past max_queued_events (16384 by default) with
        // IN_ATTRIB events; the kernel then queues one IN_Q_OVERFLOW.
        let max: usize = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(16384);
        if max > 100_000 {
            eprintln!("max_queued_events is {max}; skipping");
            return;
        }
        let dir = TempDir::new("overflow");
        let inst = Instance::<u32>::open(0).unwrap();
        let file = dir.0.join("f");
        fs::write(&file, b"").unwrap();
        inst.add_watch(&dir.c(), libc::IN_ATTRIB, |_| 1).unwrap();
        inst.add_watch(&c(&file), libc::IN_ATTRIB, |_| 2).unwrap();
        let f = fs::File::open(&file).unwrap();
        for i in 0..max {
            // Alternate the mode so that consecutive events differ (the
            // kernel merges identical ones).
            let mode = if i % 2 == 0 { 0o600 } else { 0o644 };
            f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
                .unwrap();
        }
        let seen = Seen::default();
        loop {
            let before = seen.borrow().len();
            run(&inst, &seen);
            if seen.borrow().len() == before {
                break;
            }
        }
        let overflow: Vec<u32> = seen
            .borrow()
            .iter()
            .filter(|e| e.2 & libc::IN_Q_OVERFLOW != 0)
            .map(|e| e.0)
            .collect();
        assert_eq!(overflow, [1, 2]);
    }

    #[test]
    fn the_descriptor_is_nonblocking_and_cloexec() {
        let inst = Instance::<u32>::open(0).unwrap();
        // SAFETY: fcntl queries on an open descriptor.
        let (fl, fdfl) = unsafe {
            (
                libc::fcntl(inst.raw_fd(), libc::F_GETFL),
                libc::fcntl(inst.raw_fd(), libc::F_GETFD),
            )
        };
        assert!(fl & libc::O_NONBLOCK != 0);
        assert!(fdfl & libc::FD_CLOEXEC != 0);
    }
}
