//! `iv_fatal` and `iv_set_fatal_msg_handler` (SPEC 8).
//!
//! `iv_fatal` itself is in `c/fatal.c` (it is variadic); it formats the
//! message and calls [`ivykis_rs_fatal_message`]. A Rust panic inside the
//! library (an engine bug) is reported through the same path by the panic
//! hook that [`install_panic_hook`] sets, so it reaches the program's fatal
//! handler instead of unwinding into C.

use std::ffi::{c_char, CStr};
use std::sync::Once;

use ivykis::engine::fatal;

/// Called by `iv_fatal` in `c/fatal.c` with the formatted message.
#[no_mangle]
pub unsafe extern "C" fn ivykis_rs_fatal_message(msg: *const c_char) -> ! {
    let text = if msg.is_null() {
        String::from("(null)")
    } else {
        // SAFETY: fatal.c passes its NUL-terminated stack buffer.
        unsafe { CStr::from_ptr(msg) }
            .to_string_lossy()
            .into_owned()
    };
    fatal::fatal_message(&text)
}

/// `void iv_set_fatal_msg_handler(void (*handler)(const char *msg))`.
#[no_mangle]
pub extern "C" fn iv_set_fatal_msg_handler(handler: Option<fatal::FatalHandler>) {
    install_panic_hook();
    fatal::set_handler(handler);
}

/// Routes panics (library bugs) to the fatal path, once per process.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            fatal::fatal_message(&format!("ivykis: internal error: {info}"));
        }));
    });
}
