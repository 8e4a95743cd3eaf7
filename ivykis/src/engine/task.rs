//! Tasks (SPEC 5): run once, after control returns to the loop and before it
//! next sleeps.
//!
//! Two FIFO queues of keys: `run` (this round) and `deferred` (next round).
//! Unregistering frees the slab slot and leaves the key in its queue, where
//! it is skipped as stale; that keeps unregister O(1) without a linked list.
//!
//! Fairness: every task remembers the round it last ran in (the face stores
//! it; the engine hands it out when the task runs). A task registered during
//! a round goes to `deferred` if it already ran in this round, else to `run`;
//! so a self-re-registering task runs once per round, two of them alternate,
//! and the loop polls fds between rounds.

use std::collections::VecDeque;

use super::callback::Callback;
use super::slab::{Key, Slab};

/// The tasks of one loop.
#[derive(Default)]
pub struct TaskQueue {
    slab: Slab<Callback<u64>>,
    run: VecDeque<Key>,
    deferred: VecDeque<Key>,
    round: u64,
    in_round: bool,
}

impl TaskQueue {
    /// Number of registered tasks.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Registers a task. `last_round` is the round it last ran in (0: never),
    /// as passed to its callback then.
    pub fn register(&mut self, callback: Callback<u64>, last_round: u64) -> Key {
        let key = self.slab.insert(callback);
        if self.in_round && last_round == self.round {
            self.deferred.push_back(key);
        } else {
            self.run.push_back(key);
        }
        key
    }

    /// Unregisters a task; `false` if `key` is not registered.
    pub fn unregister(&mut self, key: Key) -> bool {
        self.slab.remove(key).is_some()
    }

    /// Whether `key` is registered.
    pub fn is_registered(&self, key: Key) -> bool {
        self.slab.get(key).is_some()
    }

    /// Starts a round and returns its number (never 0).
    pub fn begin_round(&mut self) -> u64 {
        if self.in_round {
            // The previous round ended by a panic out of a callback.
            self.end_round();
        }
        self.round += 1;
        self.in_round = true;
        self.round
    }

    /// Unregisters and returns the next task of this round.
    pub fn pop(&mut self) -> Option<Callback<u64>> {
        while let Some(key) = self.run.pop_front() {
            if let Some(callback) = self.slab.remove(key) {
                return Some(callback);
            }
        }
        None
    }

    /// Ends the round: the deferred tasks become the next round's.
    pub fn end_round(&mut self) {
        self.in_round = false;
        if self.run.is_empty() {
            std::mem::swap(&mut self.run, &mut self.deferred);
        } else {
            // Only after a panic cut the round short: keep the order.
            let deferred = std::mem::take(&mut self.deferred);
            self.run.extend(deferred);
        }
    }

    /// Drops every task.
    pub fn clear(&mut self) {
        self.run.clear();
        self.deferred.clear();
        self.slab.drain().for_each(drop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    fn nop() -> Callback<u64> {
        Callback::Native(Rc::new(|_| {}))
    }

    #[test]
    fn rerun_in_same_round_is_deferred() {
        let mut q = TaskQueue::default();
        let a = q.register(nop(), 0);
        let round = q.begin_round();
        assert!(q.pop().is_some());
        assert!(!q.is_registered(a));
        q.register(nop(), round); // ran this round: deferred
        q.register(nop(), 0); // never ran: this round
        assert!(q.pop().is_some());
        assert!(q.pop().is_none(), "deferred task waits");
        q.end_round();
        q.begin_round();
        assert!(q.pop().is_some());
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn unregistered_tasks_are_skipped() {
        let mut q = TaskQueue::default();
        let a = q.register(nop(), 0);
        q.register(nop(), 0);
        assert!(q.unregister(a));
        assert!(!q.unregister(a));
        q.begin_round();
        assert!(q.pop().is_some());
        assert!(q.pop().is_none());
    }
}
