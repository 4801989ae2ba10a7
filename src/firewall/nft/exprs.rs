//! The rule expressions of sets and verdicts: loads into any register,
//! set lookups, and accept/drop/return/jump. Register numbers and
//! attributes are from `linux/netfilter/nf_tables.h` (`enum nft_registers`,
//! `NFTA_META_*`, `NFTA_PAYLOAD_*`, `NFTA_LOOKUP_*`, `NFTA_CMP_*`,
//! `NFTA_IMMEDIATE_*`).

use super::attr;
use super::encode::{Attrs, Expr};

/// A 32-bit register, `NFT_REG32_00` + n. A concatenation is loaded into
/// consecutive registers, each field starting on a fresh one (a 6-byte MAC
/// takes two), and a set lookup reads it from the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg(pub u32);

impl Reg {
    /// `NFT_REG32_00` (8): registers 8 to 23 hold 4 bytes each.
    const BASE: u32 = 8;

    /// The number as the kernel dumps it back (`nft_dump_register`): a
    /// 32-bit register that starts a 128-bit one is written as that one
    /// (`NFT_REG32_00` is `NFT_REG_1`), so a rule reads back byte for byte
    /// (see `network_intact`). Both name the same storage.
    fn number(self) -> u32 {
        if self.0.is_multiple_of(4) {
            1 + self.0 / 4
        } else {
            Self::BASE + self.0
        }
    }

    /// The register after a field of `len` bytes loaded into this one.
    pub fn after(self, len: u32) -> Reg {
        Reg(self.0 + len.div_ceil(4))
    }
}

/// What a rule decides (`NF_*` and `NFT_*` verdict codes).
pub enum Verdict<'a> {
    /// `accept` (NF_ACCEPT).
    Accept,
    /// `drop` (NF_DROP).
    Drop,
    /// `jump CHAIN` (NFT_JUMP).
    Jump(&'a str),
}

/// `enum nft_payload_bases`: where a payload offset counts from.
pub mod base {
    /// The link-layer (Ethernet) header.
    pub const LINK: u32 = 0;
    /// The network (IPv4, ARP) header.
    pub const NETWORK: u32 = 1;
    /// The transport (TCP, UDP) header.
    pub const TRANSPORT: u32 = 2;
}

impl Expr {
    /// `meta load KEY => reg` (`NFT_META_*`: 6 iifname, 7 oifname).
    pub fn meta_into(key: u32, reg: Reg) -> Self {
        let mut data = Attrs::default();
        data.u32(1, reg.number()).u32(2, key);
        Expr { name: "meta", data }
    }

    /// `payload load LEN bytes @ BASE + OFFSET => reg`.
    pub fn payload_into(base: u32, offset: u32, len: u32, reg: Reg) -> Self {
        let mut data = Attrs::default();
        data.u32(1, reg.number())
            .u32(2, base)
            .u32(3, offset)
            .u32(4, len);
        Expr {
            name: "payload",
            data,
        }
    }

    /// `cmp reg == value`.
    pub fn cmp_eq(reg: Reg, value: &[u8]) -> Self {
        let mut data = Attrs::default();
        data.u32(1, reg.number()).u32(2, 0);
        data.nest(3, |a| {
            a.bytes(attr::DATA_VALUE, value);
        });
        Expr { name: "cmp", data }
    }

    /// `cmp reg != value`.
    pub fn cmp_ne(reg: Reg, value: &[u8]) -> Self {
        let mut data = Attrs::default();
        data.u32(1, reg.number()).u32(2, 1);
        data.nest(3, |a| {
            a.bytes(attr::DATA_VALUE, value);
        });
        Expr { name: "cmp", data }
    }

    /// `reg = reg & mask` (the XOR part zero).
    pub fn and(reg: Reg, mask: &[u8]) -> Self {
        let zeros = vec![0u8; mask.len()];
        let mut data = Attrs::default();
        data.u32(1, reg.number())
            .u32(2, reg.number())
            .u32(3, mask.len() as u32);
        data.nest(4, |a| {
            a.bytes(attr::DATA_VALUE, mask);
        });
        data.nest(5, |a| {
            a.bytes(attr::DATA_VALUE, &zeros);
        });
        Expr {
            name: "bitwise",
            data,
        }
    }

    /// `fib daddr type => reg`: the kind of the destination address
    /// (`RTN_*`, host byte order), from the routing tables.
    pub fn fib_daddr_type(reg: Reg) -> Self {
        const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
        const NFTA_FIB_F_DADDR: u32 = 1 << 1;
        let mut data = Attrs::default();
        data.u32(1, reg.number())
            .u32(2, NFT_FIB_RESULT_ADDRTYPE)
            .u32(3, NFTA_FIB_F_DADDR);
        Expr { name: "fib", data }
    }

    /// `ct status => reg` (`IPS_*` bits, host byte order).
    pub fn ct_status(reg: Reg) -> Self {
        const NFT_CT_STATUS: u32 = 2;
        let mut data = Attrs::default();
        data.u32(1, reg.number()).u32(2, NFT_CT_STATUS);
        Expr { name: "ct", data }
    }

    /// `cmp reg < value`: bytes compared in order, so `value` (and what
    /// the register holds) must be big-endian (see [`Expr::hton`]).
    pub fn cmp_lt(reg: Reg, value: &[u8]) -> Self {
        const NFT_CMP_LT: u32 = 2;
        let mut data = Attrs::default();
        data.u32(1, reg.number()).u32(2, NFT_CMP_LT);
        data.nest(3, |a| {
            a.bytes(attr::DATA_VALUE, value);
        });
        Expr { name: "cmp", data }
    }

    /// `numgen random mod MODULUS => reg`: a number in 0..MODULUS, in host
    /// byte order (`NFTA_NG_*`, `NFT_NG_RANDOM`).
    pub fn numgen_random(modulus: u32, reg: Reg) -> Self {
        const NFT_NG_RANDOM: u32 = 1;
        let mut data = Attrs::default();
        data.u32(1, reg.number())
            .u32(2, modulus)
            .u32(3, NFT_NG_RANDOM)
            .u32(4, 0);
        Expr {
            name: "numgen",
            data,
        }
    }

    /// `byteorder reg = hton(reg, 4, 4)`: a 32-bit number made big-endian,
    /// so that `cmp lt` orders it (`NFTA_BYTEORDER_*`, `NFT_BYTEORDER_HTON`).
    pub fn hton(reg: Reg) -> Self {
        const NFT_BYTEORDER_HTON: u32 = 1;
        let mut data = Attrs::default();
        data.u32(1, reg.number())
            .u32(2, reg.number())
            .u32(3, NFT_BYTEORDER_HTON)
            .u32(4, 4)
            .u32(5, 4);
        Expr {
            name: "byteorder",
            data,
        }
    }

    /// `lookup reg @MAP => out`: the value the key maps to, or the rule
    /// stops here.
    pub fn map(map: &str, reg: Reg, out: Reg) -> Self {
        let mut data = Attrs::default();
        data.string(1, map)
            .u32(2, reg.number())
            .u32(3, out.number());
        Expr {
            name: "lookup",
            data,
        }
    }

    /// `dnat ip to addr : port`, both read from registers.
    pub fn dnat(addr: Reg, port: Reg) -> Self {
        Self::dnat_in(u32::from(super::NFPROTO_IPV4), addr, port)
    }

    /// `dnat ip6 to addr : port` (the address is 16 bytes from `addr`).
    pub fn dnat6(addr: Reg, port: Reg) -> Self {
        Self::dnat_in(u32::from(super::NFPROTO_IPV6), addr, port)
    }

    /// `dnat FAMILY to addr : port` (`NFTA_NAT_*`).
    fn dnat_in(family: u32, addr: Reg, port: Reg) -> Self {
        const NFT_NAT_DNAT: u32 = 1;
        let mut data = Attrs::default();
        data.u32(1, NFT_NAT_DNAT)
            .u32(2, family)
            .u32(3, addr.number())
            .u32(5, port.number());
        Expr { name: "nat", data }
    }

    /// `lookup reg @SET` (or `!= @SET` with `inverted`): the rule goes on
    /// only if the key starting at `reg` is (not) in the set.
    pub fn lookup(set: &str, reg: Reg, inverted: bool) -> Self {
        const NFT_LOOKUP_F_INV: u32 = 1;
        let mut data = Attrs::default();
        data.string(1, set).u32(2, reg.number());
        if inverted {
            data.u32(5, NFT_LOOKUP_F_INV);
        }
        Expr {
            name: "lookup",
            data,
        }
    }

    /// `immediate verdict ...`: the rule's decision.
    pub fn verdict(verdict: Verdict) -> Self {
        let (code, chain) = match verdict {
            Verdict::Accept => (1u32, None),
            Verdict::Drop => (0, None),
            Verdict::Jump(chain) => (-3i32 as u32, Some(chain)),
        };
        let mut data = Attrs::default();
        data.u32(1, 0);
        data.nest(2, |a| {
            a.nest(attr::DATA_VERDICT, |v| {
                v.u32(attr::VERDICT_CODE, code);
                if let Some(chain) = chain {
                    v.string(attr::VERDICT_CHAIN, chain);
                }
            });
        });
        Expr {
            name: "immediate",
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_fields_start_on_fresh_registers() {
        // ifname (16) . ether_addr (6) . ipv4_addr (4): 32-bit registers
        // 8, 12, 14, the first two written as the 128-bit 1 and 2.
        let ifname = Reg(0);
        let mac = ifname.after(16);
        let ip = mac.after(6);
        assert_eq!((ifname.number(), mac.number(), ip.number()), (1, 2, 14));
    }

    #[test]
    fn a_jump_names_its_chain_and_carries_nft_jump() {
        let jump = Expr::verdict(Verdict::Jump("sandbox"));
        let bytes = jump.data.as_bytes();
        assert!(bytes.windows(8).any(|w| w == b"sandbox\0"));
        let code = (-3i32 as u32).to_be_bytes();
        assert!(bytes.windows(4).any(|w| w == code));
    }
}
