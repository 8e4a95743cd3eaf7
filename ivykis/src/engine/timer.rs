//! Timers (SPEC 4): a 4-ary min-heap of deadlines over a slab of records.
//!
//! The heap holds `(expires, seq, key)` entries, ordered by `expires` and then
//! by registration order (`seq`); each record remembers its heap position, so
//! unregistering any timer is O(log n). Both the heap and the slab keep their
//! capacity, so in steady state no operation allocates. A 4-ary heap is
//! shallower than a binary one and its children share a cache line.
//!
//! "A timer registered from a timer callback waits for the next iteration,
//! even if due": while the timer phase runs ([`TimerQueue::begin_phase`] to
//! [`TimerQueue::end_phase`]) new registrations wait in a side list and join
//! the heap when the phase ends. Keeping them out of the heap (rather than
//! skipping them at the top) means a new, earlier timer never holds back an
//! older one that is due now.

use super::callback::Callback;
use super::slab::{Key, Slab};
use super::time::Timespec;

const ARITY: usize = 4;

#[derive(Clone, Copy)]
struct HeapEntry {
    expires: Timespec,
    seq: u64,
    key: Key,
}

impl HeapEntry {
    #[inline]
    fn before(&self, other: &HeapEntry) -> bool {
        (self.expires, self.seq) < (other.expires, other.seq)
    }
}

/// `heap_pos` for a timer waiting in the side list.
const PENDING: u32 = u32::MAX;

struct TimerRec {
    heap_pos: u32,
    expires: Timespec,
    callback: Callback<()>,
}

/// The timers of one loop.
#[derive(Default)]
pub struct TimerQueue {
    slab: Slab<TimerRec>,
    heap: Vec<HeapEntry>,
    next_seq: u64,
    in_phase: bool,
    /// Timers registered during the phase (stale keys are skipped).
    pending: Vec<Key>,
}

impl TimerQueue {
    /// Number of registered timers.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers a timer that fires once `now >= expires`.
    pub fn register(&mut self, expires: Timespec, callback: Callback<()>) -> Key {
        let key = self.slab.insert(TimerRec {
            heap_pos: PENDING,
            expires,
            callback,
        });
        if self.in_phase {
            self.pending.push(key);
        } else {
            self.push_heap(key, expires);
        }
        key
    }

    fn push_heap(&mut self, key: Key, expires: Timespec) {
        let pos = self.heap.len();
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(HeapEntry { expires, seq, key });
        self.sift_up(pos);
    }

    /// Unregisters a timer; `false` if `key` is not registered.
    pub fn unregister(&mut self, key: Key) -> bool {
        match self.slab.remove(key) {
            Some(rec) => {
                if rec.heap_pos != PENDING {
                    self.remove_at(rec.heap_pos as usize);
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
        for key in pending.drain(..) {
            if let Some(rec) = self.slab.get(key) {
                let expires = rec.expires;
                self.push_heap(key, expires);
            }
        }
        // Give the (empty) buffer back to keep its capacity.
        self.pending = pending;
    }

    /// The earliest deadline.
    pub fn next_expiry(&self) -> Option<Timespec> {
        self.heap.first().map(|e| e.expires)
    }

    /// Unregisters and returns the callback of the earliest timer if it is due
    /// at `now`.
    pub fn pop_due(&mut self, now: Timespec) -> Option<Callback<()>> {
        let top = *self.heap.first()?;
        if top.expires > now {
            return None;
        }
        let rec = self
            .slab
            .remove(top.key)
            .expect("heap entry without record");
        self.remove_at(0);
        Some(rec.callback)
    }

    /// Drops every timer.
    pub fn clear(&mut self) {
        self.heap.clear();
        self.pending.clear();
        self.slab.drain().for_each(drop);
    }

    fn remove_at(&mut self, pos: usize) {
        let last = self.heap.pop().expect("remove from empty heap");
        if pos == self.heap.len() {
            return;
        }
        self.heap[pos] = last;
        self.set_pos(pos);
        // The moved entry may belong above or below its new place.
        if pos > 0 && last.before(&self.heap[(pos - 1) / ARITY]) {
            self.sift_up(pos);
        } else {
            self.sift_down(pos);
        }
    }

    #[inline]
    fn set_pos(&mut self, pos: usize) {
        let key = self.heap[pos].key;
        if let Some(rec) = self.slab.get_mut(key) {
            rec.heap_pos = pos as u32;
        }
    }

    fn sift_up(&mut self, mut pos: usize) {
        let entry = self.heap[pos];
        while pos > 0 {
            let parent = (pos - 1) / ARITY;
            if !entry.before(&self.heap[parent]) {
                break;
            }
            self.heap[pos] = self.heap[parent];
            self.set_pos(pos);
            pos = parent;
        }
        self.heap[pos] = entry;
        self.set_pos(pos);
    }

    fn sift_down(&mut self, mut pos: usize) {
        let entry = self.heap[pos];
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
            self.heap[pos] = self.heap[best];
            self.set_pos(pos);
            pos = best;
        }
        self.heap[pos] = entry;
        self.set_pos(pos);
    }

    #[cfg(test)]
    fn check_invariants(&self) {
        for (i, e) in self.heap.iter().enumerate() {
            if i > 0 {
                assert!(!e.before(&self.heap[(i - 1) / ARITY]), "heap order");
            }
            assert_eq!(
                self.slab.get(e.key).unwrap().heap_pos as usize,
                i,
                "position"
            );
        }
        assert_eq!(self.heap.len(), self.slab.len());
    }
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
