//! Cross-thread events (`iv_event`, SPEC 6): registrations of one loop that
//! any thread may post to, through the loop's [`Hub`].
//!
//! The engine queues keys; coalescing ("several posts before the handler
//! runs give one call") is the face's: it keeps a pending flag next to its
//! object, posts only when the flag goes up, and clears it just before the
//! handler runs, so that a post made during the handler is not lost.
//!
//! The hub (one wake-up object per loop, shared by all its events) is
//! created with the first event and polled under
//! [`WAKE_TOKEN`](super::wake::WAKE_TOKEN); it is not an fd registration, so
//! it does not keep `iv_main` running by itself.

use std::io;
use std::sync::Arc;

use super::callback::Callback;
use super::slab::{Key, Slab};
use super::wake::Hub;
use crate::sys::Poller;

/// The events of one loop.
#[derive(Default)]
pub struct Events {
    slab: Slab<Callback<()>>,
    hub: Option<Arc<Hub>>,
    /// Keys taken from the hub, kept to reuse the buffer.
    batch: Vec<u64>,
}

impl Events {
    /// Number of registered events.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The loop's hub, creating it (and polling its wake-up descriptor) on
    /// first use.
    pub fn hub(&mut self, poller: &mut dyn Poller, loop_id: u64) -> io::Result<Arc<Hub>> {
        if let Some(hub) = &self.hub {
            return Ok(Arc::clone(hub));
        }
        let hub = Arc::new(Hub::open(loop_id, poller)?);
        self.hub = Some(Arc::clone(&hub));
        Ok(hub)
    }

    /// The hub, if one was created.
    #[inline]
    pub fn existing_hub(&self) -> Option<&Arc<Hub>> {
        self.hub.as_ref()
    }

    /// Registers an event; posts to the returned key (through the returned
    /// hub) call `callback` in this loop's thread.
    pub fn register(
        &mut self,
        poller: &mut dyn Poller,
        loop_id: u64,
        callback: Callback<()>,
    ) -> io::Result<(Key, Arc<Hub>)> {
        let hub = self.hub(poller, loop_id)?;
        Ok((self.slab.insert(callback), hub))
    }

    /// Unregisters an event; `false` if `key` is not registered. Posts
    /// already queued for it are dropped when they come up.
    pub fn unregister(&mut self, key: Key) -> bool {
        self.slab.remove(key).is_some()
    }

    /// Whether `key` is registered.
    pub fn is_registered(&self, key: Key) -> bool {
        self.slab.get(key).is_some()
    }

    /// Moves the posted keys out of the hub into a batch the caller hands
    /// back with [`Self::return_batch`].
    pub(crate) fn take_posted(&mut self) -> Vec<u64> {
        let mut batch = std::mem::take(&mut self.batch);
        if let Some(hub) = &self.hub {
            hub.take(&mut batch);
        }
        batch
    }

    /// Gives an emptied batch back for reuse.
    pub(crate) fn return_batch(&mut self, mut batch: Vec<u64>) {
        batch.clear();
        if batch.capacity() > self.batch.capacity() {
            self.batch = batch;
        }
    }

    /// The callback for a posted key, if it is still registered.
    #[inline]
    pub(crate) fn callback(&self, raw: u64) -> Option<Callback<()>> {
        self.slab.get(Key::from_raw(raw)?).cloned()
    }

    /// Drops every event and refuses later posts.
    pub fn clear(&mut self) {
        if let Some(hub) = self.hub.take() {
            hub.close();
        }
        self.slab.drain().for_each(drop);
    }
}
