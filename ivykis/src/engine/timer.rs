//! Timers (SPEC 4): a 4-ary min-heap of deadlines.
//!
//! The heap holds 24-byte `(deadline, seq, owner)` entries, ordered by
//! deadline and then by arming order (`seq`), so the four children of a
//! node share one or two cache lines. Each owner's heap position is kept
//! where the owner can find it, so unregistering any timer is O(log n); in
//! steady state no operation allocates. Two kinds of owner:
//!
//! - a **slot**: a slab record holding the callback, reached by [`Key`]; its
//!   heap position lives in a dense array indexed by slot (`slot_pos`), so
//!   the sift loops touch 4 bytes per moved entry, not a slab record. For
//!   the Rust face and the engine's own timers. A *kept* slot
//!   ([`TimerQueue::register_kept`]) stays in the slab when it fires or is
//!   parked ([`TimerQueue::park`]), unarmed and not counted as registered,
//!   until it is armed again ([`TimerQueue::reschedule`]) or unregistered:
//!   re-arming a kept timer touches neither the slab's free list nor the
//!   callback.
//! - an **extern** timer: a caller's struct (the C face's `struct
//!   iv_timer`) that keeps its heap position in its private space, written
//!   by the engine as entries move ([`ExternClass`]). Unregistering goes
//!   from the struct straight to its heap slot, as in C ivykis.
//!
//! "A timer registered from a timer callback waits for the next iteration,
//! even if due": while the timer phase runs ([`TimerQueue::begin_phase`] to
//! [`TimerQueue::end_phase`]) new registrations wait in a side list and join
//! the heap when the phase ends. Keeping them out of the heap (rather than
//! skipping them at the top) means a new, earlier timer never holds back an
//! older one that is due now.

use std::ffi::c_void;
use std::ptr::NonNull;

use super::callback::Callback;
use super::slab::{Key, Slab};
use super::time::Timespec;

const ARITY: usize = 4;

/// How the engine reaches an extern timer's struct (see the module
/// documentation): the callback to fire it with, and where in it the engine
/// keeps the heap position (a `u32`, 4-byte aligned, that the owner must not
/// touch while the timer is registered). One class per queue.
pub struct ExternClass {
    /// Called as `fire(data, ())` when the timer is due, after the engine
    /// has unregistered it.
    pub fire: unsafe fn(NonNull<c_void>, ()),
    /// Byte offset of the position word from `data`.
    pub pos_offset: usize,
}

/// Who a heap entry belongs to, in one word: a slab slot `i` is `2 i + 1`;
/// an extern struct is its (at least 4-aligned, so even, non-zero) address;
/// 0 is a timer unregistered while waiting in the side list.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Owner(u64);

impl Owner {
    const DEAD: Owner = Owner(0);

    fn slot(index: u32) -> Owner {
        Owner((u64::from(index) << 1) | 1)
    }

    fn external(data: NonNull<c_void>) -> Owner {
        Owner(data.as_ptr() as usize as u64)
    }

    #[inline]
    fn slot_index(self) -> Option<usize> {
        (self.0 & 1 == 1).then_some((self.0 >> 1) as usize)
    }

    #[inline]
    fn external_data(self) -> Option<NonNull<c_void>> {
        if self.0 & 1 == 0 {
            NonNull::new(self.0 as usize as *mut c_void)
        } else {
            None
        }
    }
}

#[derive(Clone, Copy)]
struct HeapEntry {
    deadline: u64,
    seq: u64,
    owner: Owner,
}

impl HeapEntry {
    #[inline]
    fn before(&self, other: &HeapEntry) -> bool {
        (self.deadline, self.seq) < (other.deadline, other.seq)
    }
}

/// Seconds added before a deadline is counted in nanoseconds, so that
/// timespecs from 136 years before the clock's epoch to 448 years after it
/// keep their order (CLOCK_MONOTONIC counts from boot); earlier and later
/// ones are clamped, and among those arming order decides.
const EPOCH_OFFSET_SECS: i128 = 1 << 32;
const NANOS: i128 = 1_000_000_000;

#[inline]
fn to_deadline(t: Timespec) -> u64 {
    let ns = (i128::from(t.sec) + EPOCH_OFFSET_SECS) * NANOS + i128::from(t.nsec);
    ns.clamp(0, i128::from(u64::MAX)) as u64
}

#[inline]
fn from_deadline(d: u64) -> Timespec {
    let ns = i128::from(d) - EPOCH_OFFSET_SECS * NANOS;
    Timespec::new((ns.div_euclid(NANOS)) as i64, (ns.rem_euclid(NANOS)) as i64)
}

/// Position flag of a timer waiting in the side list (the low bits are its
/// index there).
const PENDING: u32 = 1 << 31;
/// Position of a kept slot that is not armed.
const PARKED: u32 = u32::MAX;

struct SlotRec {
    callback: Callback<()>,
    /// Parked rather than removed when it fires.
    kept: bool,
}

/// The timers of one loop.
#[derive(Default)]
pub struct TimerQueue {
    /// Callbacks of slot timers.
    slab: Slab<SlotRec>,
    /// Kept slots that are parked (in `slab`, not armed).
    parked: usize,
    /// `slot_pos[i]`: heap position (or PENDING | side-list index) of the
    /// timer in slab slot `i`, while it is registered.
    slot_pos: Vec<u32>,
    heap: Vec<HeapEntry>,
    /// The class of every extern timer of this queue.
    extern_class: Option<&'static ExternClass>,
    /// Registered extern timers.
    externs: usize,
    next_seq: u64,
    in_phase: bool,
    /// Timers registered during the phase, in registration order.
    pending: Vec<HeapEntry>,
}

impl TimerQueue {
    /// Number of registered timers.
    pub fn len(&self) -> usize {
        self.slab.len() - self.parked + self.externs
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers a timer that fires once `now >= expires`; it is
    /// unregistered when it fires.
    pub fn register(&mut self, expires: Timespec, callback: Callback<()>) -> Key {
        self.insert_slot(expires, callback, false)
    }

    /// Registers a kept timer: like [`Self::register`], but when it fires
    /// it is parked (kept, unarmed; see the module documentation), and
    /// the owner must [`Self::unregister`] it once done with it.
    pub fn register_kept(&mut self, expires: Timespec, callback: Callback<()>) -> Key {
        self.insert_slot(expires, callback, true)
    }

    fn insert_slot(&mut self, expires: Timespec, callback: Callback<()>, kept: bool) -> Key {
        let key = self.slab.insert(SlotRec { callback, kept });
        let index = key.index() as usize;
        if index >= self.slot_pos.len() {
            self.slot_pos.resize((index + 1).next_power_of_two(), 0);
        }
        self.add(to_deadline(expires), Owner::slot(key.index()));
        key
    }

    /// Moves the deadline of a registered slot timer, or arms a parked
    /// kept one, keeping its key and callback (cheaper than unregistering
    /// and registering again); it counts as armed now for the order among
    /// equal deadlines. `false` if `key` is neither.
    pub fn reschedule(&mut self, key: Key, expires: Timespec) -> bool {
        if self.slab.get(key).is_none() {
            return false;
        }
        let pos = self.slot_pos[key.index() as usize];
        if pos == PARKED {
            self.parked -= 1;
        } else {
            self.remove_pos(pos);
        }
        self.add(to_deadline(expires), Owner::slot(key.index()));
        true
    }

    /// Disarms a kept timer, keeping it for [`Self::reschedule`]; `false`
    /// if `key` is not a kept timer (parking a parked one does nothing).
    pub fn park(&mut self, key: Key) -> bool {
        if !self.slab.get(key).is_some_and(|rec| rec.kept) {
            return false;
        }
        let index = key.index() as usize;
        let pos = self.slot_pos[index];
        if pos != PARKED {
            self.remove_pos(pos);
            self.slot_pos[index] = PARKED;
            self.parked += 1;
        }
        true
    }

    /// Registers the extern timer at `data`, which fires once `now >=
    /// expires`.
    ///
    /// # Safety
    ///
    /// Until the timer fires or [`Self::unregister_extern`] removes it,
    /// `data` must stay valid, the engine must be free to write the
    /// position word at `data + class.pos_offset` (in bounds, aligned, not
    /// accessed by anyone else), and calling `class.fire(data, ())` must be
    /// sound. The timer must not be registered already, and every extern
    /// timer of a queue must use the same `class`.
    pub unsafe fn register_extern(
        &mut self,
        expires: Timespec,
        data: NonNull<c_void>,
        class: &'static ExternClass,
    ) {
        match self.extern_class {
            None => self.extern_class = Some(class),
            Some(c) => assert!(std::ptr::eq(c, class), "one extern timer class per loop"),
        }
        debug_assert!(data.as_ptr() as usize % 4 == 0, "misaligned extern timer");
        self.externs += 1;
        self.add(to_deadline(expires), Owner::external(data));
    }

    fn add(&mut self, deadline: u64, owner: Owner) {
        let entry = HeapEntry {
            deadline,
            seq: self.next_seq,
            owner,
        };
        self.next_seq += 1;
        if self.in_phase {
            let index = self.pending.len() as u32;
            assert!(
                index < PENDING - 1,
                "too many timers registered in one phase"
            );
            self.pending.push(entry);
            self.set_owner_pos(owner, PENDING | index);
        } else {
            let pos = self.heap.len();
            self.heap.push(entry);
            self.sift_up(pos);
        }
    }

    /// Unregisters a timer; `false` if `key` is not registered.
    pub fn unregister(&mut self, key: Key) -> bool {
        if self.slab.remove(key).is_none() {
            return false;
        }
        let pos = self.slot_pos[key.index() as usize];
        if pos == PARKED {
            self.parked -= 1;
        } else {
            self.remove_pos(pos);
        }
        true
    }

    /// Unregisters the extern timer at `data`; `false` if the engine does
    /// not hold it where its position word says (it is not registered).
    ///
    /// # Safety
    ///
    /// `data + class.pos_offset` must be readable as an aligned `u32`.
    pub unsafe fn unregister_extern(
        &mut self,
        data: NonNull<c_void>,
        class: &'static ExternClass,
    ) -> bool {
        // SAFETY: readable by the caller's promise.
        let pos = unsafe { pos_word(data, class).read() };
        let entry = if pos & PENDING != 0 {
            self.pending.get((pos & !PENDING) as usize)
        } else {
            self.heap.get(pos as usize)
        };
        if entry.is_some_and(|e| e.owner == Owner::external(data)) {
            self.externs -= 1;
            self.remove_pos(pos);
            true
        } else {
            false
        }
    }

    fn remove_pos(&mut self, pos: u32) {
        if pos & PENDING != 0 {
            self.pending[(pos & !PENDING) as usize].owner = Owner::DEAD;
        } else {
            self.remove_at(pos as usize);
        }
    }

    /// Whether `key` is registered and armed (a parked kept timer is not).
    pub fn is_registered(&self, key: Key) -> bool {
        self.slab.get(key).is_some() && self.slot_pos[key.index() as usize] != PARKED
    }

    /// Starts the timer phase: registrations wait until [`Self::end_phase`].
    pub fn begin_phase(&mut self) {
        if self.in_phase {
            // The previous phase ended by a panic out of a callback.
            self.end_phase();
        }
        self.in_phase = true;
    }

    /// Ends the timer phase: timers registered during it join the heap.
    pub fn end_phase(&mut self) {
        self.in_phase = false;
        let mut pending = std::mem::take(&mut self.pending);
        for entry in pending.drain(..) {
            if entry.owner != Owner::DEAD {
                let pos = self.heap.len();
                self.heap.push(entry);
                self.sift_up(pos);
            }
        }
        // Give the (empty) buffer back to keep its capacity.
        self.pending = pending;
    }

    /// The earliest deadline.
    pub fn next_expiry(&self) -> Option<Timespec> {
        self.heap.first().map(|e| from_deadline(e.deadline))
    }

    /// Unregisters and returns the callback of the earliest timer if it is due
    /// at `now`.
    pub fn pop_due(&mut self, now: Timespec) -> Option<Callback<()>> {
        let top = *self.heap.first()?;
        if top.deadline > to_deadline(now) {
            return None;
        }
        self.remove_at(0);
        if let Some(index) = top.owner.slot_index() {
            let key = self
                .slab
                .key_of_index(index as u32)
                .expect("heap entry without record");
            let rec = self.slab.get(key).expect("heap entry without record");
            if rec.kept {
                let callback = rec.callback.clone();
                self.slot_pos[index] = PARKED;
                self.parked += 1;
                return Some(callback);
            }
            return Some(
                self.slab
                    .remove(key)
                    .expect("heap entry without record")
                    .callback,
            );
        }
        let data = top.owner.external_data().expect("dead entry in the heap");
        let class = self.extern_class.expect("extern timer without class");
        self.externs -= 1;
        // SAFETY: `register_extern`'s caller promised that this call is
        // sound while the timer is registered, which it was until the line
        // above; the engine makes the call before any other code runs.
        Some(unsafe { Callback::raw(class.fire, data) })
    }

    /// Drops every timer.
    pub fn clear(&mut self) {
        self.heap.clear();
        self.pending.clear();
        self.externs = 0;
        self.parked = 0;
        self.slab.drain().for_each(drop);
    }

    fn remove_at(&mut self, pos: usize) {
        let last = self.heap.pop().expect("remove from empty heap");
        if pos == self.heap.len() {
            return;
        }
        // The moved entry may belong above or below its new place.
        if pos > 0 && last.before(&self.heap[(pos - 1) / ARITY]) {
            self.sift_up_from(pos, last);
        } else {
            self.sift_down_from(pos, last);
        }
    }

    /// Records `pos` as the position of `owner`.
    #[inline]
    fn set_owner_pos(&mut self, owner: Owner, pos: u32) {
        if let Some(index) = owner.slot_index() {
            self.slot_pos[index] = pos;
        } else if let (Some(data), Some(class)) = (owner.external_data(), self.extern_class) {
            // SAFETY: the entry is registered, so `register_extern`'s
            // caller lets the engine write its position word.
            unsafe { pos_word(data, class).write(pos) }
        }
    }

    #[inline]
    fn place(&mut self, pos: usize, entry: HeapEntry) {
        self.heap[pos] = entry;
        self.set_owner_pos(entry.owner, pos as u32);
    }

    fn sift_up(&mut self, pos: usize) {
        let entry = self.heap[pos];
        self.sift_up_from(pos, entry);
    }

    /// Places `entry` at `pos` or above.
    fn sift_up_from(&mut self, mut pos: usize, entry: HeapEntry) {
        while pos > 0 {
            let parent = (pos - 1) / ARITY;
            if !entry.before(&self.heap[parent]) {
                break;
            }
            self.place(pos, self.heap[parent]);
            pos = parent;
        }
        self.place(pos, entry);
    }

    /// Places `entry` at `pos` or below.
    fn sift_down_from(&mut self, mut pos: usize, entry: HeapEntry) {
        let len = self.heap.len();
        loop {
            let first = pos * ARITY + 1;
            if first >= len {
                break;
            }
            let last = (first + ARITY).min(len);
            let mut best = first;
            for child in first + 1..last {
                if self.heap[child].before(&self.heap[best]) {
                    best = child;
                }
            }
            if !self.heap[best].before(&entry) {
                break;
            }
            self.place(pos, self.heap[best]);
            pos = best;
        }
        self.place(pos, entry);
    }

    #[cfg(test)]
    fn check_invariants(&self) {
        for (i, e) in self.heap.iter().enumerate() {
            if i > 0 {
                assert!(!e.before(&self.heap[(i - 1) / ARITY]), "heap order");
            }
            let pos = if let Some(index) = e.owner.slot_index() {
                assert!(self.slab.key_of_index(index as u32).is_some(), "slot");
                self.slot_pos[index]
            } else {
                let data = e.owner.external_data().expect("dead entry in the heap");
                // SAFETY: registered extern timers are valid (tests only).
                unsafe { pos_word(data, self.extern_class.unwrap()).read() }
            };
            assert_eq!(pos as usize, i, "position");
        }
        assert_eq!(self.heap.len(), self.len());
    }
}

/// The position word of the extern timer at `data`.
///
/// # Safety
///
/// `data + class.pos_offset` must lie within the allocation of `data`.
#[inline]
unsafe fn pos_word(data: NonNull<c_void>, class: &ExternClass) -> *mut u32 {
    // SAFETY: in bounds by the caller's promise.
    unsafe { data.as_ptr().cast::<u8>().add(class.pos_offset).cast() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    fn nop() -> Callback<()> {
        Callback::Native(Rc::new(|()| {}))
    }

    fn ts(ms: i64) -> Timespec {
        Timespec::new(ms / 1000, (ms % 1000) * 1_000_000)
    }

    #[test]
    fn pops_in_deadline_order_and_removes_anywhere() {
        let mut q = TimerQueue::default();
        let mut state = 12345u64;
        let mut keys = Vec::new();
        for _ in 0..500 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let ms = (state >> 33) as i64 % 10_000;
            keys.push((q.register(ts(ms), nop()), ms));
        }
        q.check_invariants();
        for (k, _) in keys.iter().step_by(3) {
            assert!(q.unregister(*k));
            assert!(!q.unregister(*k), "second unregister reports false");
        }
        q.check_invariants();
        let mut last = ts(-1);
        let mut fired = 0;
        while let Some(next) = q.next_expiry() {
            assert!(next >= last);
            last = next;
            assert!(q.pop_due(ts(i64::MAX / 2_000_000)).is_some());
            fired += 1;
        }
        assert_eq!(fired, 500 - 500usize.div_ceil(3));
    }

    #[test]
    fn never_early_and_phase_registrations_wait() {
        let mut q = TimerQueue::default();
        q.register(ts(10), nop());
        assert!(q.pop_due(ts(9)).is_none(), "never early");
        q.begin_phase();
        let late = q.register(ts(5), nop());
        assert!(
            q.pop_due(ts(10)).is_some(),
            "the old due timer is not held back"
        );
        assert!(q.pop_due(ts(10)).is_none(), "registered during the phase");
        assert!(q.is_registered(late));
        q.end_phase();
        q.check_invariants();
        assert!(q.pop_due(ts(10)).is_some());
        assert_eq!(q.len(), 0);
    }

    /// A stand-in for the C face's struct: a position word the engine
    /// writes and a log of calls.
    #[repr(C)]
    struct Ext {
        pos: u32,
        fired: std::cell::Cell<u32>,
    }

    unsafe fn ext_fire(data: NonNull<c_void>, (): ()) {
        // SAFETY: the tests register live `Ext`s only.
        let ext = unsafe { data.cast::<Ext>().as_ref() };
        ext.fired.set(ext.fired.get() + 1);
    }

    static EXT_CLASS: ExternClass = ExternClass {
        fire: ext_fire,
        pos_offset: std::mem::offset_of!(Ext, pos),
    };

    fn ext_ptr(e: &mut Ext) -> NonNull<c_void> {
        NonNull::from(e).cast()
    }

    #[test]
    fn extern_and_slot_timers_share_one_order() {
        let mut q = TimerQueue::default();
        let mut exts: Vec<Box<Ext>> = (0..200)
            .map(|_| {
                Box::new(Ext {
                    pos: 0,
                    fired: std::cell::Cell::new(0),
                })
            })
            .collect();
        let fired_slots = Rc::new(std::cell::Cell::new(0));
        for (i, e) in exts.iter_mut().enumerate() {
            // SAFETY: the boxes outlive the queue's use of them.
            unsafe { q.register_extern(ts((i as i64 * 37) % 100), ext_ptr(e), &EXT_CLASS) };
            let f = Rc::clone(&fired_slots);
            q.register(
                ts((i as i64 * 53) % 100),
                Callback::Native(Rc::new(move |()| f.set(f.get() + 1))),
            );
        }
        q.check_invariants();
        for e in exts.iter_mut().step_by(2) {
            // SAFETY: as above.
            assert!(unsafe { q.unregister_extern(ext_ptr(e), &EXT_CLASS) });
            // SAFETY: as above.
            assert!(
                !unsafe { q.unregister_extern(ext_ptr(e), &EXT_CLASS) },
                "second unregister reports false"
            );
        }
        q.check_invariants();
        assert_eq!(q.len(), 300);
        let mut last = ts(-1);
        while let Some(next) = q.next_expiry() {
            assert!(next >= last);
            last = next;
            q.pop_due(ts(1000)).unwrap().call(());
        }
        assert!(q.is_empty());
        assert_eq!(fired_slots.get(), 200);
        for (i, e) in exts.iter().enumerate() {
            assert_eq!(e.fired.get(), u32::from(i % 2 == 1), "timer {i}");
        }
    }

    #[test]
    fn extern_timer_registered_in_the_phase_waits_and_can_be_cancelled() {
        let mut q = TimerQueue::default();
        let mut a = Ext {
            pos: 0,
            fired: std::cell::Cell::new(0),
        };
        let mut b = Ext {
            pos: 0,
            fired: std::cell::Cell::new(0),
        };
        q.register(ts(10), nop());
        q.begin_phase();
        // SAFETY: `a` and `b` outlive the queue's use of them.
        unsafe {
            q.register_extern(ts(1), ext_ptr(&mut a), &EXT_CLASS);
            q.register_extern(ts(1), ext_ptr(&mut b), &EXT_CLASS);
        }
        assert!(q.pop_due(ts(10)).is_some(), "the old timer first");
        assert!(
            q.pop_due(ts(10)).is_none(),
            "new ones wait for the phase's end"
        );
        // SAFETY: as above.
        assert!(unsafe { q.unregister_extern(ext_ptr(&mut a), &EXT_CLASS) });
        q.end_phase();
        q.check_invariants();
        assert_eq!(q.len(), 1);
        q.pop_due(ts(10)).unwrap().call(());
        assert_eq!((a.fired.get(), b.fired.get()), (0, 1));
    }

    #[test]
    fn deadlines_keep_order_and_value() {
        let samples = [
            Timespec::new(-5, 0),
            Timespec::new(-1, 999_999_999),
            Timespec::new(0, 0),
            Timespec::new(0, 1),
            Timespec::new(1_000_000, 5),
            Timespec::new(10_000_000_000, 0),
        ];
        for w in samples.windows(2) {
            assert!(to_deadline(w[0]) < to_deadline(w[1]));
        }
        for t in samples {
            assert_eq!(from_deadline(to_deadline(t)), t);
        }
        assert_eq!(to_deadline(Timespec::new(i64::MIN, 0)), 0);
        assert_eq!(to_deadline(Timespec::new(i64::MAX, 0)), u64::MAX);
    }

    #[test]
    fn reschedule_moves_a_timer_and_keeps_its_key() {
        let mut q = TimerQueue::default();
        let a = q.register(ts(10), nop());
        let b = q.register(ts(20), nop());
        assert!(q.reschedule(a, ts(30)));
        q.check_invariants();
        assert_eq!(q.next_expiry(), Some(ts(20)));
        assert!(q.pop_due(ts(25)).is_some());
        assert!(!q.is_registered(b));
        assert!(q.is_registered(a));
        assert!(q.pop_due(ts(25)).is_none(), "moved later");
        q.begin_phase();
        assert!(
            q.reschedule(a, ts(1)),
            "in the phase: waits in the side list"
        );
        assert!(q.pop_due(ts(25)).is_none());
        q.end_phase();
        q.check_invariants();
        assert!(q.pop_due(ts(25)).is_some());
        assert!(!q.reschedule(a, ts(1)), "fired: gone");
    }

    #[test]
    fn kept_timers_park_when_fired_or_parked_and_rearm_in_place() {
        let mut q = TimerQueue::default();
        let k = q.register_kept(ts(10), nop());
        let other = q.register(ts(20), nop());
        assert!(!q.park(other), "only kept timers park");
        assert_eq!(q.len(), 2);
        assert!(q.pop_due(ts(15)).is_some());
        assert_eq!(q.len(), 1, "a fired kept timer is parked, not counted");
        assert!(!q.is_registered(k));
        assert!(q.reschedule(k, ts(12)), "same key, armed again");
        assert!(q.is_registered(k));
        q.check_invariants();
        assert!(q.park(k) && q.park(k), "parking twice is fine");
        assert_eq!(q.len(), 1);
        assert!(q.pop_due(ts(15)).is_none(), "parked: not in the heap");
        q.begin_phase();
        assert!(q.reschedule(k, ts(1)));
        assert!(q.park(k), "parked while waiting in the side list");
        q.end_phase();
        q.check_invariants();
        assert!(q.unregister(k), "a parked timer can be unregistered");
        assert!(!q.reschedule(k, ts(1)));
        assert_eq!(q.len(), 1);
        assert!(q.pop_due(ts(25)).is_some());
        assert!(q.is_empty() && !q.is_registered(other));
    }

    #[test]
    fn unregistering_a_pending_timer() {
        let mut q = TimerQueue::default();
        q.begin_phase();
        let k = q.register(ts(1), nop());
        assert!(q.unregister(k));
        q.end_phase();
        assert!(q.next_expiry().is_none());
        assert!(q.is_empty());
    }
}
