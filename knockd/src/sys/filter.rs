//! The capture filter: installing a generated program with libpcap's
//! `pcap_setfilter`, which the `pcap` crate offers only for programs libpcap
//! compiled, and reading back how long a program the kernel holds.

use std::ffi::{c_char, c_int, c_uint, CStr};
use std::io;
#[cfg(target_os = "linux")]
use std::os::fd::AsRawFd;
use std::os::fd::BorrowedFd;

use knockd_core::filter::bpf::Instruction;

/// libpcap's `struct bpf_insn`, `struct bpf_program` and `pcap_setfilter`.
mod ffi {
    use super::{c_char, c_int, c_uint};

    /// `struct bpf_insn`.
    #[repr(C)]
    pub struct BpfInsn {
        pub code: u16,
        pub jt: u8,
        pub jf: u8,
        pub k: u32,
    }

    /// `struct bpf_program`.
    #[repr(C)]
    pub struct BpfProgram {
        pub bf_len: c_uint,
        pub bf_insns: *mut BpfInsn,
    }

    /// `pcap_t`, only ever behind a pointer.
    pub enum PcapT {}

    extern "C" {
        pub fn pcap_setfilter(p: *mut PcapT, fp: *mut BpfProgram) -> c_int;
        pub fn pcap_geterr(p: *mut PcapT) -> *mut c_char;
    }
}

/// Installs `instructions` as `capture`'s filter with `pcap_setfilter`.
/// libpcap copies them, runs its copy in user space where it must and, on
/// Linux, attaches it to the socket (or falls back to user space if the
/// kernel refuses it). An error is libpcap's text, or `program too long`.
pub fn set_filter<S: pcap::Activated + ?Sized>(
    capture: &mut pcap::Capture<S>,
    instructions: &[Instruction],
) -> Result<(), String> {
    let mut copy: Vec<ffi::BpfInsn> = instructions
        .iter()
        .map(|i| ffi::BpfInsn {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let mut fp = ffi::BpfProgram {
        bf_len: c_uint::try_from(copy.len()).map_err(|_| "program too long".to_owned())?,
        bf_insns: copy.as_mut_ptr(),
    };
    let handle = capture.as_ptr().cast::<ffi::PcapT>();
    // SAFETY: `handle` is the pcap_t `capture` owns, valid while it is
    // borrowed here; `fp` points to `copy`, which outlives the call; libpcap
    // copies the program before it returns and keeps no pointer into it.
    let status = unsafe { ffi::pcap_setfilter(handle, &mut fp) };
    if status == 0 {
        return Ok(());
    }
    // SAFETY: pcap_geterr returns the handle's NUL-terminated error buffer,
    // valid until the next libpcap call on the handle; it is copied at once,
    // while `capture` is still borrowed.
    let text = unsafe { CStr::from_ptr(ffi::pcap_geterr(handle)) };
    Err(text.to_string_lossy().into_owned())
}

/// The length of the filter attached to the socket `fd` (0: none), or `None`
/// where the kernel cannot be asked (anywhere but Linux).
pub fn kernel_filter_len(fd: BorrowedFd<'_>) -> io::Result<Option<usize>> {
    #[cfg(target_os = "linux")]
    {
        let mut len: libc::socklen_t = 0;
        // SAFETY: `SO_GET_FILTER` with a zero length only reports the number
        // of instructions of the attached filter in `len`; it writes no
        // buffer, so a null `optval` is allowed. `fd` is borrowed, so open
        // for the whole call.
        let status = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_GET_FILTER,
                std::ptr::null_mut(),
                &mut len,
            )
        };
        if status != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Some(len as usize))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = fd;
        Ok(None)
    }
}
