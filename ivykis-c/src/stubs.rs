//! Helpers for the modules whose implementation has not landed yet.
//!
//! Every symbol of the binary interface (SPEC 10) must exist from the start,
//! so that programs link and `tests/check_symbols.sh` passes. Such modules
//! define the functions with the real C signatures (struct pointers as
//! opaque pointers until their `#[repr(C)]` mirrors exist), each ending the
//! process through `iv_fatal`'s path with "<name>: not implemented".

/// Aborts with "`name`: not implemented".
macro_rules! not_implemented {
    ($name:ident) => {
        ivykis::engine::fatal::fatal_message(concat!(stringify!($name), ": not implemented"))
    };
}
pub(crate) use not_implemented;
