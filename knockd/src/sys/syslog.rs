//! `openlog`, which nix cannot give a lasting ident everywhere: off Linux its
//! `openlog` copies the ident to a stack buffer and hands libc that copy, which
//! libc keeps (POSIX: the ident is stored as is) after the buffer is gone.

use std::ffi::CStr;

/// Sets syslog's ident and facility for every later message, with no options.
/// libc keeps the pointer to `ident`, hence `'static`. It cannot fail: it only
/// records its arguments.
pub fn openlog(ident: &'static CStr, facility: libc::c_int) {
    // SAFETY: `ident` is NUL-terminated and lives for the rest of the process,
    // as libc, which stores the pointer and reads it at each syslog(3),
    // requires; the options and facility are plain integers.
    unsafe { libc::openlog(ident.as_ptr(), 0, facility) }
}
