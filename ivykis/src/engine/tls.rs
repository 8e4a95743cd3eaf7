//! Per-thread state of library users (`iv_tls_user`, SPEC 7). Being written.

/// Called at the end of [`super::init`].
pub(crate) fn on_init() {}

/// Called at the start of [`super::deinit`].
pub(crate) fn on_deinit() {}
