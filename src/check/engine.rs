//! Sending the probes: one raw ICMP socket (and, when a dual-stack network
//! is checked, one raw ICMPv6 socket) and one rtnetlink socket per
//! namespace, opened by a thread that enters each namespace in turn
//! (`setns`; a socket stays in the namespace it was made in), then driven
//! from this thread with poll(2), many probes in flight at once.
//!
//! Neighbour tables are shared by all namespaces (`gc_thresh3`, 1024 by
//! default, counts every namespace's entries), and every pair probed makes
//! an entry on each side. So at most `IN_FLIGHT` tasks run at once, and
//! when a task is done its entries are deleted (RTM_DELNEIGH in their own
//! namespace), unless they existed before the check began. IPv6's
//! neighbour cache has the same shared limits (`net.ipv6.neigh.default.
//! gc_thresh3`) and is cleaned the same way.

use super::Family;
use super::icmp::{self, IcmpSocket, Received};
use super::icmp6;
use super::plan::{Place, Plan};
use super::rtnl::{Link, Rtnl};
use anyhow::{Context, Result};
use nix::sched::{CloneFlags, setns};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Tasks in flight at once: at most twice as many neighbour entries.
const IN_FLIGHT: usize = 64;
/// A request unanswered this long is sent again (a lost ARP or echo).
const RESEND: Duration = Duration::from_millis(500);
/// A probe unanswered this long has failed.
pub const GIVE_UP: Duration = Duration::from_secs(2);

/// One namespace's sockets and what it held before the check.
pub struct Namespace {
    /// Its raw ICMP socket.
    pub icmp: IcmpSocket,
    /// Its raw ICMPv6 socket, when IPv6 is checked: else, or when the
    /// namespace has no IPv6, why not.
    pub icmp6: Result<IcmpSocket, String>,
    /// Its rtnetlink socket.
    pub rtnl: Rtnl,
    /// Its links when the check began.
    pub links: Vec<Link>,
    /// Its neighbour entries (ARP and, when IPv6 is checked, IPv6's) when
    /// the check began.
    pub before: HashSet<(u32, IpAddr)>,
    /// Effective `rp_filter` per interface (max of `all` and its own).
    pub rp_filter: HashMap<String, u8>,
}

impl Namespace {
    /// A link by name, as it was when the check began.
    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    /// The socket of `family`, or why there is none.
    fn socket(&self, family: Family) -> Result<&IcmpSocket, String> {
        match family {
            Family::Ipv4 => Ok(&self.icmp),
            Family::Ipv6 => self.icmp6.as_ref().map_err(Clone::clone),
        }
    }
}

/// Opens the sockets of every place, each in its namespace: `None` for the
/// host (the namespace sbx runs in), else the netns file. A thread of its
/// own enters the namespaces, so this thread never leaves its own. A
/// sandbox whose namespace cannot be entered (it ended meanwhile) is
/// returned apart; the host's failing is an error. With `v6`, each also
/// gets an ICMPv6 socket and its IPv6 neighbours are noted.
pub fn open(
    places: Vec<(Place, Option<PathBuf>)>,
    v6: bool,
) -> Result<(HashMap<Place, Namespace>, Vec<Place>)> {
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let home = File::open("/proc/thread-self/ns/net").context("open own netns")?;
                let mut opened = HashMap::new();
                let mut gone = Vec::new();
                for (place, path) in places {
                    let entered = match &path {
                        Some(p) => File::open(p)
                            .with_context(|| format!("open netns {}", p.display()))
                            .and_then(|f| {
                                setns(&f, CloneFlags::CLONE_NEWNET)
                                    .with_context(|| format!("enter netns {}", p.display()))
                            }),
                        None => setns(&home, CloneFlags::CLONE_NEWNET).context("enter own netns"),
                    };
                    match entered.and_then(|()| open_here(v6)) {
                        Ok(space) => {
                            opened.insert(place, space);
                        }
                        Err(e) if place != Place::Host => {
                            crate::log::debug(&format!("{e:#}"));
                            gone.push(place);
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok((opened, gone))
            })
            .join()
            .unwrap_or_else(|_| anyhow::bail!("the thread opening sockets panicked"))
    })
}

/// Sockets and first looks in the calling thread's namespace.
fn open_here(v6: bool) -> Result<Namespace> {
    let mut rtnl = Rtnl::open()?;
    let links = rtnl.links()?;
    let mut before = rtnl.neighbours(Family::Ipv4)?;
    let icmp6 = if v6 {
        before.extend(rtnl.neighbours(Family::Ipv6)?);
        IcmpSocket::open6().map_err(|e| format!("{e:#}"))
    } else {
        Err("IPv6 is not checked".to_string())
    };
    let read = |name: &str| -> u8 {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{name}/rp_filter"))
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let all = read("all");
    let rp_filter = links
        .iter()
        .map(|l| (l.name.clone(), read(&l.name).max(all)))
        .collect();
    Ok(Namespace {
        icmp: IcmpSocket::open()?,
        icmp6,
        rtnl,
        links,
        before,
        rp_filter,
    })
}

/// What became of one probe.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Round trip of the answered request.
    pub rtt: Option<Duration>,
    /// Why sending failed (strerror).
    pub send_error: Option<String>,
    /// An ICMP error that came back.
    pub icmp_error: Option<String>,
}

/// One probe in flight.
struct Flight {
    probe: usize,
    task: usize,
    started: Instant,
    last: Instant,
    sent: Vec<(u16, Instant)>,
    done: bool,
}

/// The identifier of this check's echo requests: the process's, mixed with
/// the clock, so two checks at once (on the host's shared raw socket view)
/// tell their replies apart.
fn echo_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (std::process::id() as u16) ^ ((nanos >> 10) as u16)
}

/// What the loop keeps while probes are in flight.
struct Loop<'a> {
    plan: &'a Plan,
    sizes: &'a [usize],
    id: u16,
    seq: u16,
    flights: Vec<Flight>,
    by_seq: HashMap<(Place, Family, u16), usize>,
    outcomes: Vec<Outcome>,
}

impl Loop<'_> {
    /// Sends (again) the request of flight `index`.
    fn send(&mut self, spaces: &HashMap<Place, Namespace>, index: usize) {
        let flight = &mut self.flights[index];
        let probe = &self.plan.probes[flight.probe];
        let now = Instant::now();
        flight.last = now;
        let Some(space) = spaces.get(&probe.from) else {
            flight.done = true;
            self.outcomes[flight.probe].send_error =
                Some("its namespace could not be entered".into());
            return;
        };
        let family = probe.family();
        let socket = match space.socket(family) {
            Ok(socket) => socket,
            Err(why) => {
                flight.done = true;
                self.outcomes[flight.probe].send_error = Some(why);
                return;
            }
        };
        self.seq = self.seq.wrapping_add(1);
        match socket.send(probe.dst, self.id, self.seq, self.sizes[flight.probe]) {
            Ok(()) => {
                flight.sent.push((self.seq, now));
                self.by_seq.insert((probe.from, family, self.seq), index);
            }
            Err(errno) => {
                flight.done = true;
                self.outcomes[flight.probe].send_error = Some(super::strerror(errno));
            }
        }
    }

    /// Takes what came back on `place`'s socket.
    fn receive(&mut self, place: Place, received: Received, now: Instant) {
        let (from, id, seq, error) = match received {
            Received::Reply { from, id, seq } => (from, id, seq, None),
            Received::Error {
                from,
                kind,
                code,
                id,
                seq,
            } => {
                let text = match from {
                    IpAddr::V4(_) => icmp::describe_error(kind, code),
                    IpAddr::V6(_) => icmp6::describe_error(kind, code),
                };
                (from, id, seq, Some(format!("{text} from {from}")))
            }
        };
        if id != self.id {
            return;
        }
        let Some(&index) = self.by_seq.get(&(place, Family::of(from), seq)) else {
            return;
        };
        let flight = &mut self.flights[index];
        if flight.done {
            return;
        }
        let outcome = &mut self.outcomes[flight.probe];
        match error {
            Some(text) => outcome.icmp_error = Some(text),
            None if from == self.plan.probes[flight.probe].dst => {
                let sent = flight.sent.iter().find(|(s, _)| *s == seq);
                outcome.rtt = sent.map(|(_, t)| now - *t);
                flight.done = true;
            }
            None => {}
        }
    }
}

/// Runs every task of `plan` (payload sizes in `sizes`, per probe) and
/// returns an outcome per probe (blocked ones untouched).
pub fn run(plan: &Plan, spaces: &mut HashMap<Place, Namespace>, sizes: &[usize]) -> Vec<Outcome> {
    let mut state = Loop {
        plan,
        sizes,
        id: echo_id(),
        seq: 0,
        flights: Vec::new(),
        by_seq: HashMap::new(),
        outcomes: vec![Outcome::default(); plan.probes.len()],
    };
    let mut queue: VecDeque<usize> = (0..plan.tasks.len()).collect();
    let mut left: Vec<usize> = plan.tasks.iter().map(|t| t.probes.len()).collect();
    let mut running = 0;
    let mut active: Vec<usize> = Vec::new();
    // Every socket to wait on: (place, family) and its pollfd.
    let mut places: Vec<(Place, Family)> = Vec::new();
    for (place, space) in spaces.iter() {
        places.push((*place, Family::Ipv4));
        if space.icmp6.is_ok() {
            places.push((*place, Family::Ipv6));
        }
    }
    let mut fds: Vec<libc::pollfd> = places
        .iter()
        .filter_map(|(p, family)| spaces[p].socket(*family).ok())
        .map(|socket| libc::pollfd {
            fd: socket.raw(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // Start tasks while there is room.
        while running < IN_FLIGHT {
            let Some(task) = queue.pop_front() else { break };
            running += 1;
            for &probe in &plan.tasks[task].probes {
                let now = Instant::now();
                state.flights.push(Flight {
                    probe,
                    task,
                    started: now,
                    last: now,
                    sent: Vec::new(),
                    done: false,
                });
                active.push(state.flights.len() - 1);
                state.send(spaces, state.flights.len() - 1);
            }
        }
        // Send again what waited too long; give up what waited longest.
        let now = Instant::now();
        let mut next = now + GIVE_UP;
        for &index in &active {
            let flight = &mut state.flights[index];
            if flight.done {
                continue;
            }
            if now >= flight.started + GIVE_UP {
                flight.done = true;
                continue;
            }
            if now >= flight.last + RESEND {
                state.send(spaces, index);
            }
            let flight = &state.flights[index];
            if !flight.done {
                next = next.min(flight.last + RESEND).min(flight.started + GIVE_UP);
            }
        }
        // Tasks whose probes are all done: remove their entries.
        active.retain(|&index| {
            let flight = &state.flights[index];
            if !flight.done {
                return true;
            }
            left[flight.task] -= 1;
            if left[flight.task] == 0 {
                running -= 1;
                forget_entries(plan, flight.task, spaces);
            }
            false
        });
        if running == 0 && queue.is_empty() {
            break;
        }
        if running < IN_FLIGHT && !queue.is_empty() {
            // Room freed: start the next tasks before waiting.
            continue;
        }
        let wait = next.saturating_duration_since(Instant::now());
        let millis = wait.as_millis().clamp(1, 1000) as i32;
        // SAFETY: fds is a valid array of pollfd for its length.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
        if ready <= 0 {
            continue;
        }
        let now = Instant::now();
        for (slot, pfd) in fds.iter_mut().enumerate() {
            if pfd.revents == 0 {
                continue;
            }
            pfd.revents = 0;
            let (place, family) = places[slot];
            let Ok(socket) = spaces[&place].socket(family) else {
                continue;
            };
            for received in socket.drain() {
                state.receive(place, received, now);
            }
        }
    }
    state.outcomes
}

/// Deletes the neighbour entries of `task` that did not exist before.
fn forget_entries(plan: &Plan, task: usize, spaces: &mut HashMap<Place, Namespace>) {
    for entry in &plan.tasks[task].entries {
        let Some(space) = spaces.get_mut(&entry.place) else {
            continue;
        };
        let Some(index) = space.link(&entry.ifname).map(|l| l.index) else {
            continue;
        };
        if space.before.contains(&(index, entry.ip)) {
            continue;
        }
        if let Err(e) = space.rtnl.delete_neighbour(index, entry.ip) {
            crate::log::debug(&format!("{e:#}"));
        }
    }
}
