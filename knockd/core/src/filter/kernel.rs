//! What program the kernel gets: the longest that fits what it takes here,
//! and the instructions it is handed for a cooked capture.
//!
//! The daemon only does the I/O: it reads how much the kernel allows
//! (`optmem_max`) for the first budget and tries each candidate on a
//! throwaway socket, the `takes` probe of [`fit_program`].

use std::net::IpAddr;

use super::bpf::Instruction;
use super::{program, FilterDoor, FilterError, Program};
use crate::wire::LinkType;

/// The longest filter program the kernel takes: `BPF_MAXINSNS`, 4096 on
/// Linux; 512 on the BSDs and macOS, whose libpcap silently filters in user
/// space what the kernel refuses.
#[cfg(target_os = "linux")]
pub const KERNEL_MAX_INSTRUCTIONS: usize = super::bpf::LINUX_MAX_INSTRUCTIONS;
/// The longest filter program the kernel takes: `BPF_MAXINSNS`, 4096 on
/// Linux; 512 on the BSDs and macOS, whose libpcap silently filters in user
/// space what the kernel refuses.
#[cfg(not(target_os = "linux"))]
pub const KERNEL_MAX_INSTRUCTIONS: usize = 512;

/// No program shorter than this is made coarser to please the kernel.
pub const SHORTEST_PROGRAM: usize = 256;

/// Linux's `SKF_AD_OFF + SKF_AD_PROTOCOL`: a load from this offset gives the
/// packet's protocol (its EtherType) on a cooked socket.
pub const SKF_AD_PROTOCOL: u32 = 0xffff_f000;

/// The longest program for `doors` the kernel takes here: built with
/// [`program`] at `budget` instructions and down, a tenth shorter each time
/// `takes` refuses one (`refused` is told the program and the next budget),
/// until one fits or is at most [`SHORTEST_PROGRAM`] long.
///
/// `takes` tries the [`kernel_instructions`] of a program on the kernel:
/// `Some(false)` when it refuses them, `None` when it cannot be asked.
pub fn fit_program(
    doors: &[FilterDoor<'_>],
    local: &[IpAddr],
    ipv4_only: bool,
    link: LinkType,
    mut budget: usize,
    mut takes: impl FnMut(&[Instruction]) -> Option<bool>,
    mut refused: impl FnMut(&Program, usize),
) -> Result<Program, FilterError> {
    // Bounded: the budget shrinks by a tenth (at least 1) every round.
    loop {
        let program = program(doors, local, ipv4_only, link, budget)?;
        if program.len() <= SHORTEST_PROGRAM || takes(&kernel_instructions(&program)) != Some(false)
        {
            return Ok(program);
        }
        budget = (program.len() * 9 / 10).max(SHORTEST_PROGRAM);
        refused(&program, budget);
    }
}

/// The instructions as libpcap hands them to the kernel. A program for a
/// cooked capture (`any`) reads the SLL or SLL2 header, which the kernel's
/// cooked sockets do not have: libpcap's `fix_program` moves packet loads
/// back by the header's length and turns the protocol field into
/// [`SKF_AD_PROTOCOL`]. Other programs are handed over as they are.
pub fn kernel_instructions(program: &Program) -> Vec<Instruction> {
    // (header length, offset of the protocol field)
    let cooked = match program.link() {
        LinkType::LinuxSll => Some((16, 14)),
        LinkType::LinuxSll2 => Some((20, 0)),
        _ => None,
    };
    program
        .instructions()
        .iter()
        .map(|&insn| {
            let k = match cooked {
                Some((header, _)) if insn.loads_packet() && insn.k >= header => insn.k - header,
                Some((_, field)) if insn.loads_packet() && insn.k == field => SKF_AD_PROTOCOL,
                _ => insn.k,
            };
            Instruction { k, ..insn }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::bpf::{BPF_ABS, BPF_B, BPF_H, BPF_LD};

    #[test]
    fn cooked_programs_lose_their_header_and_read_the_protocol() {
        let ethernet = program(&[], &[], false, LinkType::Ethernet, 64).unwrap();
        assert_eq!(kernel_instructions(&ethernet), ethernet.instructions());
        let sequence = "7000".parse().unwrap();
        let door = FilterDoor {
            name: "door",
            sequence: &sequence,
            tcp_flags: knock_proto::TcpFlags::ANY,
            target: None,
            strict: false,
        };
        let local = ["198.18.1.1".parse().unwrap()];
        let sll = program(&[door], &local, false, LinkType::LinuxSll, 4096).unwrap();
        let rewritten = kernel_instructions(&sll);
        let protocol = Instruction::stmt(BPF_LD | BPF_H | BPF_ABS, SKF_AD_PROTOCOL);
        assert!(sll
            .instructions()
            .contains(&Instruction::stmt(BPF_LD | BPF_H | BPF_ABS, 14)));
        assert!(rewritten.contains(&protocol));
        // The IPv4 protocol field, after the 16-byte SLL header.
        let ip_protocol = |at| Instruction::stmt(BPF_LD | BPF_B | BPF_ABS, at);
        assert!(sll.instructions().contains(&ip_protocol(16 + 9)));
        assert!(rewritten.contains(&ip_protocol(9)));
    }
}
