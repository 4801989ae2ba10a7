//! nf_tables messages, encoded by hand: a netlink attribute writer, the
//! handful of objects sbx needs (table, base chain, rules of five
//! expressions), and a socket that sends a batch and collects the kernel's
//! answers. Constants are from `linux/netfilter/nf_tables.h`.
//!
//! `encode` builds messages and reads attributes (pure, unit-tested);
//! `socket` sends batches and collects the kernel's answers, which
//! `reply` checks (pure, unit-tested).

mod encode;
mod exprs;
mod reply;
mod sets;
mod socket;

pub use encode::{Attrs, Expr, expressions, parse_attrs, rule_expressions, same_expressions};
pub use exprs::{Reg, Verdict, base};
pub use sets::{SetSpec, datatype, element_list, map_element_list, set_attrs};
pub use socket::{Batch, Socket};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;

/// nf_tables message types.
pub const NFT_MSG_NEWTABLE: u16 = 0;
/// Deletes a table (with NLM_F_NONREC: only if empty).
pub const NFT_MSG_DELTABLE: u16 = 2;
/// Creates (or, without EXCL, keeps) a chain.
pub const NFT_MSG_NEWCHAIN: u16 = 3;
/// Asks for one chain.
pub const NFT_MSG_GETCHAIN: u16 = 4;
/// Deletes a chain and its rules.
pub const NFT_MSG_DELCHAIN: u16 = 5;
/// Appends a rule.
pub const NFT_MSG_NEWRULE: u16 = 6;
/// Asks for rules (dumped, filtered by table and chain).
pub const NFT_MSG_GETRULE: u16 = 7;
/// Deletes rules; with only table and chain, all of the chain's.
pub const NFT_MSG_DELRULE: u16 = 8;
/// Creates (or, without EXCL, keeps) a named set.
pub const NFT_MSG_NEWSET: u16 = 9;
/// Deletes a set and its elements.
pub const NFT_MSG_DELSET: u16 = 11;
/// Adds elements to a set (an existing element is kept without EXCL).
pub const NFT_MSG_NEWSETELEM: u16 = 12;
/// Asks for a set's elements (dumped).
pub const NFT_MSG_GETSETELEM: u16 = 13;
/// Removes elements from a set (a missing one is ENOENT).
pub const NFT_MSG_DELSETELEM: u16 = 14;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
/// Create if missing (without EXCL an existing object is kept).
pub const NLM_F_CREATE: u16 = 0x400;
/// Append a rule at the end of its chain.
pub const NLM_F_APPEND: u16 = 0x800;
/// Fail with EEXIST instead of keeping an existing object.
pub const NLM_F_EXCL: u16 = 0x200;
/// Delete only if nothing is left inside.
pub const NLM_F_NONREC: u16 = 0x100;
const NLA_F_NESTED: u16 = 0x8000;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

/// The `ip` family: sbx's NAT and isolation rules are IPv4 only.
pub const NFPROTO_IPV4: u8 = 2;
/// The `ip6` family: sbx's NAT66, isolation and published ports over IPv6.
pub const NFPROTO_IPV6: u8 = 10;
/// The `bridge` family: frames as bridges switch them (anti-spoofing).
pub const NFPROTO_BRIDGE: u8 = 7;

/// Attribute numbers used by sbx (nf_tables.h, one enum per object).
pub mod attr {
    pub const TABLE_NAME: u16 = 1;
    pub const CHAIN_TABLE: u16 = 1;
    pub const CHAIN_NAME: u16 = 3;
    pub const CHAIN_HOOK: u16 = 4;
    pub const CHAIN_POLICY: u16 = 5;
    pub const CHAIN_TYPE: u16 = 7;
    pub const HOOK_HOOKNUM: u16 = 1;
    pub const HOOK_PRIORITY: u16 = 2;
    pub const RULE_TABLE: u16 = 1;
    pub const RULE_CHAIN: u16 = 2;
    pub const RULE_EXPRESSIONS: u16 = 4;
    pub const LIST_ELEM: u16 = 1;
    pub const EXPR_NAME: u16 = 1;
    pub const EXPR_DATA: u16 = 2;
    pub const DATA_VALUE: u16 = 1;
    pub const DATA_VERDICT: u16 = 2;
    pub const VERDICT_CODE: u16 = 1;
    pub const VERDICT_CHAIN: u16 = 2;
    pub const SET_TABLE: u16 = 1;
    pub const SET_NAME: u16 = 2;
    pub const SET_FLAGS: u16 = 3;
    pub const SET_KEY_TYPE: u16 = 4;
    pub const SET_KEY_LEN: u16 = 5;
    pub const SET_DATA_TYPE: u16 = 6;
    pub const SET_DATA_LEN: u16 = 7;
    pub const SET_DESC: u16 = 9;
    pub const SET_ID: u16 = 10;
    pub const SET_USERDATA: u16 = 13;
    pub const SET_DESC_CONCAT: u16 = 2;
    pub const SET_FIELD_LEN: u16 = 1;
    pub const SET_ELEM_LIST_TABLE: u16 = 1;
    pub const SET_ELEM_LIST_SET: u16 = 2;
    pub const SET_ELEM_LIST_ELEMENTS: u16 = 3;
    pub const SET_ELEM_KEY: u16 = 1;
    pub const SET_ELEM_DATA: u16 = 2;
}
