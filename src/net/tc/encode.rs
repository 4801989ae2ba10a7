//! The `TCA_OPTIONS` bytes of the two qdiscs sbx makes, encoded by hand
//! (netlink-packet-route 0.34 knows only fq_codel's and ingress's). The
//! layouts are those of the kernel's uapi `linux/pkt_sched.h`; integers
//! are in host byte order, as rtnetlink's are.
//!
//! - tbf: a nest of `TCA_TBF_PARMS` (`struct tc_tbf_qopt`),
//!   `TCA_TBF_RATE64` and `TCA_TBF_BURST` (sch_tbf.c requires PARMS; with
//!   the rate's link layer set to Ethernet it needs no rate table, and
//!   BURST gives the bucket in bytes instead of in ticks).
//! - netem: `struct tc_netem_qopt` followed (not nested) by its attributes
//!   (`TCA_NETEM_LATENCY64`, `TCA_NETEM_JITTER64`, `TCA_NETEM_CORRUPT`,
//!   `TCA_NETEM_RATE`/`RATE64`), as sch_netem.c's `parse_attr` reads them.

/// `TCA_TBF_PARMS`: `struct tc_tbf_qopt`.
const TCA_TBF_PARMS: u16 = 1;
/// `TCA_TBF_RATE64`: the rate in bytes/s, 64 bits.
const TCA_TBF_RATE64: u16 = 4;
/// `TCA_TBF_BURST`: the bucket in bytes.
const TCA_TBF_BURST: u16 = 6;
/// `TCA_NETEM_CORRUPT`: `struct tc_netem_corrupt`.
const TCA_NETEM_CORRUPT: u16 = 4;
/// `TCA_NETEM_RATE`: `struct tc_netem_rate`.
const TCA_NETEM_RATE: u16 = 6;
/// `TCA_NETEM_RATE64`: the rate in bytes/s when it exceeds 32 bits.
const TCA_NETEM_RATE64: u16 = 8;
/// `TCA_NETEM_LATENCY64`: the delay in ns (s64).
const TCA_NETEM_LATENCY64: u16 = 10;
/// `TCA_NETEM_JITTER64`: the jitter in ns (s64).
const TCA_NETEM_JITTER64: u16 = 11;
/// `TC_LINKLAYER_ETHERNET`: the kernel computes transmit times itself.
const TC_LINKLAYER_ETHERNET: u8 = 1;
/// psched ticks are 64 ns (`PSCHED_SHIFT` 6 in net/pkt_sched.h).
const PSCHED_SHIFT: u32 = 6;
/// netem's queue in packets (tc's default).
const NETEM_LIMIT: u32 = 1000;

/// One netlink attribute, padded to 4 bytes.
fn nla(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + data.len().div_ceil(4) * 4);
    out.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(4) * 4, 0);
    out
}

/// `struct tc_ratespec` (12 bytes): Ethernet link layer, `rate` in
/// bytes/s capped at 32 bits (the 64-bit attribute carries the rest).
fn ratespec(rate: u64) -> [u8; 12] {
    let mut spec = [0u8; 12];
    spec[1] = TC_LINKLAYER_ETHERNET;
    spec[8..].copy_from_slice(&(rate.min(u32::MAX as u64) as u32).to_ne_bytes());
    spec
}

/// A duration in psched ticks, as the 32-bit legacy fields carry it.
fn ticks(ns: u64) -> u32 {
    (ns >> PSCHED_SHIFT).min(u32::MAX as u64) as u32
}

/// A percentage as the kernel's 32-bit probabilities (0 none, ~0 always).
pub fn probability(percent: f64) -> u32 {
    let p = (percent / 100.0).clamp(0.0, 1.0);
    (p * u32::MAX as f64).round() as u32
}

/// The token bucket for `rate` bytes/s on a link of `mtu`: at least two
/// full frames, and at least 10 ms of the rate (a timer tick at HZ=100,
/// the coarsest common; tbf refills with hrtimers, so a finer HZ only
/// helps). The queue holds 50 ms of the rate besides (at least 64 KiB).
pub fn tbf_sizes(rate: u64, mtu: u32) -> (u32, u32) {
    let frame = mtu as u64 + 14;
    let burst = (rate / 100).max(2 * frame).min(u32::MAX as u64);
    let limit = (rate / 20 + burst).max(64 * 1024).min(u32::MAX as u64);
    (burst as u32, limit as u32)
}

/// tbf's `TCA_OPTIONS` payload for `rate` bytes/s on a link of `mtu`.
pub fn tbf(rate: u64, mtu: u32) -> Vec<u8> {
    let (burst, limit) = tbf_sizes(rate, mtu);
    let mut qopt = Vec::with_capacity(36);
    qopt.extend_from_slice(&ratespec(rate));
    qopt.extend_from_slice(&[0u8; 12]); // no peak rate
    qopt.extend_from_slice(&limit.to_ne_bytes());
    let buffer_ns = (burst as u128 * 1_000_000_000 / rate.max(1) as u128) as u64;
    qopt.extend_from_slice(&ticks(buffer_ns).to_ne_bytes());
    qopt.extend_from_slice(&0u32.to_ne_bytes()); // mtu: no peak rate
    let mut out = nla(TCA_TBF_PARMS, &qopt);
    out.extend(nla(TCA_TBF_RATE64, &rate.to_ne_bytes()));
    out.extend(nla(TCA_TBF_BURST, &burst.to_ne_bytes()));
    out
}

/// What netem is asked to do (all optional).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Netem {
    /// Added delay, ns.
    pub delay_ns: u64,
    /// Random variation of the delay, ns.
    pub jitter_ns: u64,
    /// Corrupted packets, percent.
    pub corrupt: f64,
    /// Duplicated packets, percent.
    pub duplicate: f64,
    /// Rate limit, bytes/s (0: none).
    pub rate: u64,
}

/// netem's `TCA_OPTIONS` payload.
pub fn netem(n: &Netem) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    // struct tc_netem_qopt: latency, limit, loss, gap, duplicate, jitter.
    for field in [
        ticks(n.delay_ns),
        NETEM_LIMIT,
        0,
        0,
        probability(n.duplicate),
        ticks(n.jitter_ns),
    ] {
        out.extend_from_slice(&field.to_ne_bytes());
    }
    if n.delay_ns > 0 {
        out.extend(nla(TCA_NETEM_LATENCY64, &(n.delay_ns as i64).to_ne_bytes()));
    }
    if n.jitter_ns > 0 {
        out.extend(nla(TCA_NETEM_JITTER64, &(n.jitter_ns as i64).to_ne_bytes()));
    }
    if n.corrupt > 0.0 {
        // struct tc_netem_corrupt: probability, correlation.
        let mut corrupt = probability(n.corrupt).to_ne_bytes().to_vec();
        corrupt.extend_from_slice(&0u32.to_ne_bytes());
        out.extend(nla(TCA_NETEM_CORRUPT, &corrupt));
    }
    if n.rate > 0 {
        // struct tc_netem_rate: rate, packet_overhead, cell_size, cell_overhead.
        let mut rate = (n.rate.min(u32::MAX as u64) as u32).to_ne_bytes().to_vec();
        rate.extend_from_slice(&[0u8; 12]);
        out.extend(nla(TCA_NETEM_RATE, &rate));
        if n.rate > u32::MAX as u64 {
            out.extend(nla(TCA_NETEM_RATE64, &n.rate.to_ne_bytes()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
    }

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_ne_bytes(b[at..at + 2].try_into().unwrap())
    }

    #[test]
    fn tbf_carries_a_36_byte_qopt_then_rate64_and_burst() {
        // 10 mbit/s = 1_250_000 bytes/s on a 1500-byte link.
        let b = tbf(1_250_000, 1500);
        // TCA_TBF_PARMS: 4 + sizeof(struct tc_tbf_qopt) = 40.
        assert_eq!((u16_at(&b, 0), u16_at(&b, 2)), (40, 1));
        let q = &b[4..40];
        assert_eq!(q[1], 1, "rate.linklayer = TC_LINKLAYER_ETHERNET");
        assert_eq!(u32_at(q, 8), 1_250_000, "rate.rate, bytes/s");
        assert!(q[12..24].iter().all(|x| *x == 0), "no peak rate");
        let (burst, limit) = tbf_sizes(1_250_000, 1500);
        assert_eq!(burst, 12_500, "10 ms of the rate");
        assert_eq!(u32_at(q, 24), limit);
        // buffer: 12500 bytes at 1.25 MB/s = 10 ms = 156250 ticks of 64 ns.
        assert_eq!(u32_at(q, 28), 10_000_000 >> 6);
        // TCA_TBF_RATE64 (u64) then TCA_TBF_BURST (u32).
        assert_eq!((u16_at(&b, 40), u16_at(&b, 42)), (12, 4));
        assert_eq!(u64::from_ne_bytes(b[44..52].try_into().unwrap()), 1_250_000);
        assert_eq!((u16_at(&b, 52), u16_at(&b, 54)), (8, 6));
        assert_eq!(u32_at(&b, 56), 12_500);
        assert_eq!(b.len(), 60);
    }

    #[test]
    fn a_slow_rate_still_lets_two_frames_through_and_a_fast_one_fits_32_bits() {
        assert_eq!(tbf_sizes(1000, 1500).0, 2 * 1514);
        let b = tbf(100_000_000_000, 1500);
        assert_eq!(u32_at(&b[4..40], 8), u32::MAX, "capped; RATE64 has it");
        assert_eq!(
            u64::from_ne_bytes(b[44..52].try_into().unwrap()),
            100_000_000_000
        );
    }

    #[test]
    fn netem_is_a_24_byte_qopt_followed_by_unnested_attributes() {
        let b = netem(&Netem {
            delay_ns: 50_000_000,
            jitter_ns: 5_000_000,
            corrupt: 1.0,
            duplicate: 50.0,
            rate: 0,
        });
        // struct tc_netem_qopt.
        assert_eq!(u32_at(&b, 0), 50_000_000 >> 6, "latency in ticks");
        assert_eq!(u32_at(&b, 4), 1000, "limit");
        assert_eq!(u32_at(&b, 8), 0, "loss is nf_tables' job");
        assert_eq!(u32_at(&b, 12), 0, "gap");
        assert_eq!(u32_at(&b, 16), u32::MAX / 2 + 1, "duplicate 50%");
        assert_eq!(u32_at(&b, 20), 5_000_000 >> 6, "jitter in ticks");
        // TCA_NETEM_LATENCY64 = 10, s64 ns.
        assert_eq!((u16_at(&b, 24), u16_at(&b, 26)), (12, 10));
        assert_eq!(
            i64::from_ne_bytes(b[28..36].try_into().unwrap()),
            50_000_000
        );
        // TCA_NETEM_JITTER64 = 11.
        assert_eq!((u16_at(&b, 36), u16_at(&b, 38)), (12, 11));
        assert_eq!(i64::from_ne_bytes(b[40..48].try_into().unwrap()), 5_000_000);
        // TCA_NETEM_CORRUPT = 4: struct tc_netem_corrupt (8 bytes).
        assert_eq!((u16_at(&b, 48), u16_at(&b, 50)), (12, 4));
        assert_eq!(u32_at(&b, 52), probability(1.0));
        assert_eq!(b.len(), 60);
    }

    /// What iproute2's `tc qdisc add dev lo root netem delay 50ms 5ms
    /// duplicate 50% corrupt 1%` sends as TCA_OPTIONS (seen with strace on
    /// x86_64): sbx's bytes are the same, plus the 64-bit delay and jitter
    /// attributes tc leaves out while the ticks fit in 32 bits.
    #[cfg(target_endian = "little")]
    #[test]
    fn netem_matches_what_tc_sends() {
        const TC: [u8; 36] = [
            0xc2, 0xeb, 0x0b, 0x00, 0xe8, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x2d, 0x31, 0x01, 0x00, 0x0c, 0x00, 0x04, 0x00,
            0x29, 0x5c, 0x8f, 0x02, 0x00, 0x00, 0x00, 0x00,
        ];
        let b = netem(&Netem {
            delay_ns: 50_000_000,
            jitter_ns: 5_000_000,
            corrupt: 1.0,
            duplicate: 50.0,
            rate: 0,
        });
        assert_eq!(&b[..24], &TC[..24], "struct tc_netem_qopt");
        assert_eq!(&b[48..60], &TC[24..], "TCA_NETEM_CORRUPT");
    }

    /// iproute2's `tbf rate 10mbit burst 12500 latency 50ms`: the same
    /// rate, buffer and burst (tc also sends a rate table, which the kernel
    /// ignores for an Ethernet link layer, and a limit of its own).
    #[cfg(target_endian = "little")]
    #[test]
    fn tbf_matches_what_tc_sends() {
        let b = tbf(1_250_000, 1500);
        let q = &b[4..40];
        assert_eq!(&q[8..12], &[0xd0, 0x12, 0x13, 0x00], "rate");
        assert_eq!(&q[28..32], &[0x5a, 0x62, 0x02, 0x00], "buffer");
        assert_eq!(
            &b[52..60],
            &[0x08, 0x00, 0x06, 0x00, 0xd4, 0x30, 0x00, 0x00]
        );
    }

    #[test]
    fn netem_rate_uses_the_64_bit_attribute_only_beyond_32_bits() {
        let slow = netem(&Netem {
            rate: 125_000,
            ..Netem::default()
        });
        assert_eq!(slow.len(), 24 + 20, "qopt + TCA_NETEM_RATE");
        // As iproute2's `netem rate 1mbit` sends it.
        let mut tc = vec![0u8; 44];
        tc[4..8].copy_from_slice(&1000u32.to_ne_bytes());
        tc[24..28].copy_from_slice(&[20, 0, 6, 0]);
        tc[28..32].copy_from_slice(&125_000u32.to_ne_bytes());
        if cfg!(target_endian = "little") {
            assert_eq!(slow, tc);
        }
        assert_eq!((u16_at(&slow, 24), u16_at(&slow, 26)), (20, 6));
        assert_eq!(u32_at(&slow, 28), 125_000);
        let fast = netem(&Netem {
            rate: 10_000_000_000,
            ..Netem::default()
        });
        assert_eq!((u16_at(&fast, 44), u16_at(&fast, 46)), (12, 8));
        assert_eq!(
            u64::from_ne_bytes(fast[48..56].try_into().unwrap()),
            10_000_000_000
        );
    }

    #[test]
    fn probabilities_span_the_32_bit_range() {
        assert_eq!(probability(0.0), 0);
        assert_eq!(probability(100.0), u32::MAX);
        assert_eq!(probability(250.0), u32::MAX);
    }
}
