//! The cached time (SPEC 3): `iv_now` and friends.

use ivykis::engine::time::{self, Timespec};

/// `const struct timespec *__iv_now_location_valid(void)`: what the `iv_now`
/// macro dereferences; refreshes a stale cache first.
#[no_mangle]
pub extern "C" fn __iv_now_location_valid() -> *const Timespec {
    time::location_valid()
}

/// `struct timespec *__iv_now_location(void)`: the cache's address without a
/// refresh (binaries built against old headers call `iv_validate_now` first).
#[no_mangle]
pub extern "C" fn __iv_now_location() -> *mut Timespec {
    time::location()
}

/// `void iv_validate_now(void)`: refresh the cache if it is stale.
#[no_mangle]
pub extern "C" fn iv_validate_now() {
    time::validate();
}

/// `void iv_invalidate_now(void)`: mark the cache stale.
#[no_mangle]
pub extern "C" fn iv_invalidate_now() {
    time::invalidate();
}
