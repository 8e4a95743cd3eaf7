//! A generational slab: the storage behind every registration.
//!
//! Each registration lives in a slot of a `Vec`; freed slots form a free list
//! and are reused, so once the vector has grown to the peak number of live
//! registrations, registering and unregistering allocate nothing.
//!
//! A [`Key`] is the slot index plus the slot's generation. Freeing a slot bumps
//! its generation, so a key kept after its registration ended (in the C face:
//! a stale event for an fd unregistered earlier in the same batch; in the Rust
//! face: a handle kept after the source was removed) never reaches the slot's
//! next occupant.

use std::num::NonZeroU64;

/// Identifies one registration: slot index (low 32 bits) and generation
/// (high 32 bits, never zero, so a `Key` is never zero either).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key(NonZeroU64);

impl Key {
    fn new(index: u32, generation: u32) -> Key {
        debug_assert!(generation != 0);
        let raw = (u64::from(generation) << 32) | u64::from(index);
        Key(NonZeroU64::new(raw).expect("generation is never zero"))
    }

    /// The slot index.
    pub fn index(self) -> u32 {
        self.0.get() as u32
    }

    fn generation(self) -> u32 {
        (self.0.get() >> 32) as u32
    }

    /// The key as a non-zero integer (stored in C structs and epoll data).
    pub fn to_raw(self) -> u64 {
        self.0.get()
    }

    /// Rebuilds a key from [`Key::to_raw`]; `None` for zero.
    pub fn from_raw(raw: u64) -> Option<Key> {
        NonZeroU64::new(raw).map(Key)
    }
}

enum Slot<T> {
    Occupied(T),
    /// Next free slot index, or `u32::MAX` at the end of the free list.
    Vacant(u32),
}

struct Entry<T> {
    generation: u32,
    slot: Slot<T>,
}

/// See the module documentation.
pub struct Slab<T> {
    entries: Vec<Entry<T>>,
    free_head: u32,
    len: usize,
}

const END: u32 = u32::MAX;

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            entries: Vec::new(),
            free_head: END,
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Number of occupied slots.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores `value` and returns its key.
    /// The key the next [`Self::insert`] will return.
    pub fn vacant_key(&self) -> Key {
        if self.free_head != END {
            Key::new(
                self.free_head,
                self.entries[self.free_head as usize].generation,
            )
        } else {
            Key::new(self.entries.len() as u32, 1)
        }
    }

    pub fn insert(&mut self, value: T) -> Key {
        self.len += 1;
        if self.free_head != END {
            let index = self.free_head;
            let entry = &mut self.entries[index as usize];
            match entry.slot {
                Slot::Vacant(next) => self.free_head = next,
                Slot::Occupied(_) => unreachable!("free list points at an occupied slot"),
            }
            entry.slot = Slot::Occupied(value);
            return Key::new(index, entry.generation);
        }
        let index = u32::try_from(self.entries.len()).expect("more than 2^32 registrations");
        assert!(index != END, "slab full");
        self.entries.push(Entry {
            generation: 1,
            slot: Slot::Occupied(value),
        });
        Key::new(index, 1)
    }

    /// Removes the value for `key`, or returns `None` if `key` is stale.
    pub fn remove(&mut self, key: Key) -> Option<T> {
        let index = key.index();
        let entry = self.entries.get_mut(index as usize)?;
        if entry.generation != key.generation() || matches!(entry.slot, Slot::Vacant(_)) {
            return None;
        }
        let old = std::mem::replace(&mut entry.slot, Slot::Vacant(self.free_head));
        // Generation 0 is reserved so that keys are never zero.
        entry.generation = entry.generation.wrapping_add(1).max(1);
        self.free_head = index;
        self.len -= 1;
        match old {
            Slot::Occupied(value) => Some(value),
            Slot::Vacant(_) => unreachable!(),
        }
    }

    /// The value for `key`, if `key` is current.
    #[inline]
    pub fn get(&self, key: Key) -> Option<&T> {
        let entry = self.entries.get(key.index() as usize)?;
        match &entry.slot {
            Slot::Occupied(value) if entry.generation == key.generation() => Some(value),
            _ => None,
        }
    }

    /// The value for `key`, if `key` is current.
    #[inline]
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let entry = self.entries.get_mut(key.index() as usize)?;
        match &mut entry.slot {
            Slot::Occupied(value) if entry.generation == key.generation() => Some(value),
            _ => None,
        }
    }

    /// The value in slot `index`, whatever its generation.
    #[inline]
    pub fn get_by_index_mut(&mut self, index: u32) -> Option<&mut T> {
        match &mut self.entries.get_mut(index as usize)?.slot {
            Slot::Occupied(value) => Some(value),
            Slot::Vacant(_) => None,
        }
    }

    /// The current key of slot `index`, if it is occupied.
    pub fn key_of_index(&self, index: u32) -> Option<Key> {
        let entry = self.entries.get(index as usize)?;
        match entry.slot {
            Slot::Occupied(_) => Some(Key::new(index, entry.generation)),
            Slot::Vacant(_) => None,
        }
    }

    /// Removes every value.
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.free_head = END;
        self.len = 0;
        self.entries.drain(..).filter_map(|e| match e.slot {
            Slot::Occupied(v) => Some(v),
            Slot::Vacant(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_keys_miss_reused_slots() {
        let mut slab = Slab::default();
        let a = slab.insert("a");
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert("b");
        assert_eq!(a.index(), b.index(), "slot is reused");
        assert_ne!(a, b);
        assert!(slab.get(a).is_none());
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn keys_round_trip_through_raw() {
        let mut slab = Slab::default();
        let k = slab.insert(5);
        assert_eq!(Key::from_raw(k.to_raw()), Some(k));
        assert_eq!(Key::from_raw(0), None);
    }

    #[test]
    fn free_list_is_lifo_and_len_tracks() {
        let mut slab = Slab::default();
        let keys: Vec<_> = (0..10).map(|i| slab.insert(i)).collect();
        for k in &keys[3..6] {
            slab.remove(*k);
        }
        assert_eq!(slab.len(), 7);
        let again = slab.insert(99);
        assert_eq!(again.index(), keys[5].index());
        assert_eq!(slab.drain().count(), 8);
    }
}
