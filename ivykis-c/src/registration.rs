//! What the C face keeps in the private space of a caller's `struct iv_*`.
//!
//! A registered object stores the engine's key for it and the id of the
//! loop it was registered in; key 0 means "not registered". So
//! `iv_*_registered()` is one field read, and a call made from the wrong
//! thread is caught (the key alone would name a slot in the wrong loop).

use ivykis::engine::slab::Key;
use ivykis::engine::Loop;

/// The first two pointer-sized words of an object's private space.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Registration {
    key: u64,
    loop_id: u64,
}

impl Registration {
    /// Not registered.
    pub const NONE: Registration = Registration { key: 0, loop_id: 0 };

    /// Registered as `key` in `l`.
    pub fn new(l: &Loop, key: Key) -> Registration {
        Registration {
            key: key.to_raw(),
            loop_id: l.id,
        }
    }

    /// The key of an object the engine keeps intrusively (timers): not a
    /// slab key (generation 0), only "registered".
    pub const EXTERN: u64 = 1;

    /// Registered in `l` as an intrusive object (see [`Self::EXTERN`]).
    pub fn extern_in(l: &Loop) -> Registration {
        Registration {
            key: Self::EXTERN,
            loop_id: l.id,
        }
    }

    /// Whether the object is registered.
    #[inline]
    pub fn is_registered(&self) -> bool {
        self.key != 0
    }

    /// The engine key, after checking that the object is registered in `l`;
    /// fatal otherwise (`what` names the C function).
    #[inline]
    pub fn key_in(&self, l: &Loop, what: &str) -> Key {
        let Some(key) = Key::from_raw(self.key) else {
            ivykis::fatal!("{what}: object is not registered");
        };
        if self.loop_id != l.id {
            ivykis::fatal!("{what}: object is registered in another thread's loop");
        }
        key
    }
}
