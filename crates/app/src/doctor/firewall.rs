//! Does the host firewall let a TFTP request in from the device and the answers out?
//!
//! The kernel's rules are read as text (`nft -j list ruleset`, `iptables-legacy-save`) by
//! [`super::checks`]; this module parses that text into one small rule model and walks it with
//! the packets a recovery needs, the way the kernel would: base chains of each hook on the
//! packet's path in priority order, rules in order, jumps, gotos, returns, the chain's policy.
//!
//! Written here because no crate evaluates a ruleset against a packet (the `nftables` crate
//! builds and applies rules; it does not judge them). A match this model does not know (a
//! set lookup, a mark, a rate limit…) makes its rule *perhaps* matching: a rule that perhaps
//! drops the packet is reported as such, never as certainly dropping it, and never silently
//! ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_json::Value;

/// A packet of a recovery, as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Packet {
    pub(super) path: PacketPath,
    /// The interface it arrives on (input) or leaves by (output).
    pub(super) interface: String,
    pub(super) source: Ipv4Addr,
    pub(super) destination: Ipv4Addr,
    pub(super) source_port: u16,
    pub(super) destination_port: u16,
    /// Whether conntrack sees it as the first of its flow.
    pub(super) new_flow: bool,
}

/// Which way a packet crosses the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PacketPath {
    /// From the wire to a local socket: ingress, prerouting, input.
    Input,
    /// From a local socket to the wire: output, postrouting, egress.
    Output,
}

/// What the rules do with a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Judgement {
    Allowed,
    /// A rule (or a chain's policy) drops or rejects it; `chain` is where (`inet filter input`,
    /// `ip filter INPUT`), where an accepting rule would go.
    Blocked {
        by: String,
        chain: String,
    },
    /// Allowed or blocked depending on a match this model does not read.
    Perhaps {
        by: String,
    },
}

/// One ruleset: the chains of every table, from one source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Ruleset {
    chains: BTreeMap<ChainId, Chain>,
}

/// A chain's family, table and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ChainId {
    family: String,
    table: String,
    name: String,
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.family, self.table, self.name)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Chain {
    /// For a base chain: its hook, priority and policy.
    base: Option<BaseChain>,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct BaseChain {
    hook: String,
    priority: i64,
    /// `netdev` chains name the devices they are attached to.
    devices: Vec<String>,
    policy_drops: bool,
    /// `nat` chains change addresses, they do not filter.
    nat: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    tests: Vec<Test>,
    verdict: Verdict,
    /// How to name it to a person: `inet filter input handle 4`, `-A INPUT -p udp …`.
    name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Test {
    InputInterface {
        names: Vec<String>,
        negated: bool,
    },
    OutputInterface {
        names: Vec<String>,
        negated: bool,
    },
    Source {
        nets: Vec<Ipv4Net>,
        negated: bool,
    },
    Destination {
        nets: Vec<Ipv4Net>,
        negated: bool,
    },
    /// The packet's transport protocol is UDP (`udp: true`) or another one, or not.
    Protocol {
        udp: bool,
        negated: bool,
    },
    /// The packet is IPv4 (or not).
    Family {
        ipv4: bool,
        negated: bool,
    },
    SourcePort {
        ranges: Vec<(u16, u16)>,
        negated: bool,
    },
    DestinationPort {
        ranges: Vec<(u16, u16)>,
        negated: bool,
    },
    /// Conntrack states: `new`, `established`, `related`…
    State {
        states: Vec<String>,
        negated: bool,
    },
    /// Matches only IPv6 (or another family): never an IPv4 packet.
    NotIpv4,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Accept,
    Drop,
    Jump(String),
    Goto(String),
    Return,
    /// No verdict: counters, logs, marks.
    Continue,
    /// A verdict this model does not follow (a verdict map, a queue).
    Unknown,
}

/// Whether a test matches: certainly, certainly not, or perhaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    Yes,
    No,
    Perhaps,
}

impl Test {
    fn check(&self, packet: &Packet) -> Match {
        let yes = |hit: bool, negated: bool| if hit != negated { Match::Yes } else { Match::No };
        let wildcard = |names: &[String], iface: &str| {
            names.iter().any(|n| match n.strip_suffix(['*', '+']) {
                Some(prefix) => iface.starts_with(prefix),
                None => n == iface,
            })
        };
        let in_ranges = |ranges: &[(u16, u16)], port: u16| ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&port));
        match self {
            Test::InputInterface { names, negated } => match packet.path {
                PacketPath::Input => yes(wildcard(names, &packet.interface), *negated),
                PacketPath::Output => Match::No,
            },
            Test::OutputInterface { names, negated } => match packet.path {
                PacketPath::Output => yes(wildcard(names, &packet.interface), *negated),
                PacketPath::Input => Match::No,
            },
            Test::Source { nets, negated } => yes(nets.iter().any(|n| n.contains(&packet.source)), *negated),
            Test::Destination { nets, negated } => yes(nets.iter().any(|n| n.contains(&packet.destination)), *negated),
            Test::Protocol { udp, negated } => yes(*udp, *negated),
            Test::Family { ipv4, negated } => yes(*ipv4, *negated),
            Test::SourcePort { ranges, negated } => yes(in_ranges(ranges, packet.source_port), *negated),
            Test::DestinationPort { ranges, negated } => yes(in_ranges(ranges, packet.destination_port), *negated),
            Test::State { states, negated } => {
                let state = if packet.new_flow { "new" } else { "established" };
                yes(states.iter().any(|s| s.eq_ignore_ascii_case(state)), *negated)
            }
            Test::NotIpv4 => Match::No,
            Test::Unknown => Match::Perhaps,
        }
    }
}

impl Rule {
    fn check(&self, packet: &Packet) -> Match {
        let mut result = Match::Yes;
        for test in &self.tests {
            match test.check(packet) {
                Match::No => return Match::No,
                Match::Perhaps => result = Match::Perhaps,
                Match::Yes => {}
            }
        }
        result
    }
}

/// The hooks a packet passes, in order.
fn hooks(path: PacketPath) -> [&'static str; 3] {
    match path {
        PacketPath::Input => ["ingress", "prerouting", "input"],
        PacketPath::Output => ["output", "postrouting", "egress"],
    }
}

/// How deep jumps may nest (the kernel allows 16).
const MAX_DEPTH: usize = 16;

impl Ruleset {
    /// Walk `packet` through every base chain on its path.
    pub(super) fn judge(&self, packet: &Packet) -> Judgement {
        let mut doubt = Doubt::default();
        for hook in hooks(packet.path) {
            let mut bases: Vec<(&ChainId, &Chain, &BaseChain)> = self
                .chains
                .iter()
                .filter_map(|(id, chain)| chain.base.as_ref().map(|base| (id, chain, base)))
                .filter(|(id, _, base)| {
                    base.hook == hook
                        && !base.nat
                        && matches!(id.family.as_str(), "ip" | "inet" | "netdev")
                        // Ingress and egress chains are attached to devices.
                        && (!matches!(hook, "ingress" | "egress") || base.devices.contains(&packet.interface))
                })
                .collect();
            bases.sort_by_key(|(_, _, base)| base.priority);
            for (id, chain, base) in bases {
                // An accept ends only its own base chain: doubt about one does not reach the next.
                doubt.maybe_accepted = None;
                match self.walk(id, chain, packet, 0, &mut doubt) {
                    Walked::Accepted => {}
                    Walked::Dropped { by, chain } => return doubt.blocked(by, chain.to_string()),
                    Walked::Fell => {
                        if base.policy_drops {
                            return doubt.blocked(format!("the policy of chain {id} (drop)"), id.to_string());
                        }
                    }
                }
            }
        }
        match doubt.maybe_dropped {
            Some(by) => Judgement::Perhaps { by },
            None => Judgement::Allowed,
        }
    }

    fn walk(&self, id: &ChainId, chain: &Chain, packet: &Packet, depth: usize, doubt: &mut Doubt) -> Walked {
        if depth > MAX_DEPTH {
            return Walked::Fell;
        }
        for rule in &chain.rules {
            let matched = rule.check(packet);
            if matched == Match::No {
                continue;
            }
            if matched == Match::Perhaps {
                // Read as not matching, and remembered: as a drop that may happen, or as an
                // accept that may come before a drop.
                match rule.verdict {
                    Verdict::Continue | Verdict::Return => {}
                    Verdict::Accept => doubt.accepted(&rule.name),
                    Verdict::Drop => doubt.dropped(&rule.name),
                    Verdict::Unknown | Verdict::Jump(_) | Verdict::Goto(_) => {
                        doubt.accepted(&rule.name);
                        doubt.dropped(&rule.name);
                    }
                }
                continue;
            }
            match &rule.verdict {
                Verdict::Accept => return Walked::Accepted,
                Verdict::Drop => return Walked::Dropped { by: rule.name.clone(), chain: id.clone() },
                Verdict::Return => return Walked::Fell,
                Verdict::Continue => {}
                Verdict::Unknown => {
                    doubt.accepted(&rule.name);
                    doubt.dropped(&rule.name);
                }
                Verdict::Jump(target) | Verdict::Goto(target) => {
                    let target_id = ChainId { name: target.clone(), ..id.clone() };
                    let Some(target_chain) = self.chains.get(&target_id) else { continue };
                    match self.walk(&target_id, target_chain, packet, depth + 1, doubt) {
                        Walked::Fell if matches!(rule.verdict, Verdict::Jump(_)) => {}
                        other => return other,
                    }
                }
            }
        }
        Walked::Fell
    }
}

/// Rules that perhaps match: the first that may drop the packet, and the first in the current
/// base chain that may accept it before a drop.
#[derive(Default)]
struct Doubt {
    maybe_dropped: Option<String>,
    maybe_accepted: Option<String>,
}

impl Doubt {
    fn dropped(&mut self, rule: &str) {
        self.maybe_dropped.get_or_insert_with(|| rule.to_owned());
    }

    fn accepted(&mut self, rule: &str) {
        self.maybe_accepted.get_or_insert_with(|| rule.to_owned());
    }

    /// Blocked, or perhaps when a rule read as not matching could have accepted it first.
    fn blocked(self, by: String, chain: String) -> Judgement {
        match self.maybe_accepted {
            Some(earlier) => Judgement::Perhaps { by: format!("{by}, unless {earlier} accepts it") },
            None => Judgement::Blocked { by, chain },
        }
    }
}

/// How a walk through a chain ended.
enum Walked {
    Accepted,
    Dropped {
        by: String,
        chain: ChainId,
    },
    /// Off the end of the chain (or a `return`): the caller goes on.
    Fell,
}

/// A ruleset the tool's text could not be read as.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct UnreadableRules(String);

/// The ruleset of `nft -j list ruleset`.
pub(super) fn parse_nft_json(text: &str) -> Result<Ruleset, UnreadableRules> {
    let document: Value = serde_json::from_str(text).map_err(|e| UnreadableRules(format!("not JSON: {e}")))?;
    let items = document["nftables"].as_array().ok_or_else(|| UnreadableRules("no \"nftables\" list".into()))?;
    let mut ruleset = Ruleset::default();
    let id_of = |object: &Value, name_key: &str| ChainId {
        family: object["family"].as_str().unwrap_or_default().to_owned(),
        table: object["table"].as_str().unwrap_or_default().to_owned(),
        name: object[name_key].as_str().unwrap_or_default().to_owned(),
    };
    for item in items {
        if let Some(chain) = item.get("chain") {
            let base = chain["hook"].as_str().map(|hook| BaseChain {
                hook: hook.to_owned(),
                priority: chain["prio"].as_i64().unwrap_or(0),
                devices: match &chain["dev"] {
                    Value::String(d) => vec![d.clone()],
                    Value::Array(ds) => ds.iter().filter_map(|d| d.as_str().map(str::to_owned)).collect(),
                    _ => Vec::new(),
                },
                policy_drops: chain["policy"].as_str() == Some("drop"),
                nat: chain["type"].as_str() == Some("nat"),
            });
            ruleset.chains.entry(id_of(chain, "name")).or_default().base = base;
        } else if let Some(rule) = item.get("rule") {
            let id = id_of(rule, "chain");
            let name = format!("rule {id} handle {}", rule["handle"]);
            let parsed = nft_rule(rule["expr"].as_array().map(Vec::as_slice).unwrap_or_default(), name);
            ruleset.chains.entry(id).or_default().rules.push(parsed);
        }
    }
    Ok(ruleset)
}

fn nft_rule(expressions: &[Value], name: String) -> Rule {
    let mut tests = Vec::new();
    let mut verdict = Verdict::Continue;
    for expression in expressions {
        let Some((kind, body)) = expression.as_object().and_then(|o| o.iter().next()) else { continue };
        match kind.as_str() {
            "match" => tests.push(nft_match(body)),
            "accept" => verdict = Verdict::Accept,
            "drop" | "reject" => verdict = Verdict::Drop,
            "return" => verdict = Verdict::Return,
            "jump" => verdict = Verdict::Jump(body["target"].as_str().unwrap_or_default().to_owned()),
            "goto" => verdict = Verdict::Goto(body["target"].as_str().unwrap_or_default().to_owned()),
            "vmap" | "queue" => verdict = Verdict::Unknown,
            // Statements that neither match nor decide.
            "counter" | "log" | "comment" | "mangle" | "notrack" | "meta" | "ct helper" | "set" | "dup" => {}
            // Anything else (a rate limit, a quota, an `xt` match nft could not translate…)
            // matches some packets and not others, as far as this model knows.
            _ => tests.push(Test::Unknown),
        }
    }
    Rule { tests, verdict, name }
}

fn nft_match(body: &Value) -> Test {
    let negated = match body["op"].as_str() {
        Some("==" | "in") => false,
        Some("!=") => true,
        _ => return Test::Unknown,
    };
    let (left, right) = (&body["left"], &body["right"]);
    if let Some(meta) = left.get("meta").and_then(|m| m["key"].as_str()) {
        return match meta {
            _ if is_set_reference(right) => Test::Unknown,
            "iifname" | "iif" => Test::InputInterface { names: strings(right), negated },
            "oifname" | "oif" => Test::OutputInterface { names: strings(right), negated },
            "l4proto" => Test::Protocol { udp: names_udp(right), negated },
            "nfproto" => Test::Family { ipv4: strings(right).iter().any(|p| p == "ipv4"), negated },
            _ => Test::Unknown,
        };
    }
    if is_set_reference(right) {
        // A named set (`@trusted`): its elements are not in the ruleset's listing.
        return Test::Unknown;
    }
    if left.get("ct").is_some_and(|ct| ct["key"].as_str() == Some("state")) {
        return Test::State { states: strings(right), negated };
    }
    if let Some(payload) = left.get("payload") {
        let (protocol, field) = (payload["protocol"].as_str().unwrap_or_default(), payload["field"].as_str());
        return match (protocol, field) {
            ("ip", Some("saddr")) => nets(right).map_or(Test::Unknown, |nets| Test::Source { nets, negated }),
            ("ip", Some("daddr")) => nets(right).map_or(Test::Unknown, |nets| Test::Destination { nets, negated }),
            ("ip", Some("protocol")) => Test::Protocol { udp: names_udp(right), negated },
            ("ip6", _) => Test::NotIpv4,
            ("udp" | "th", Some("dport")) => {
                ranges(right).map_or(Test::Unknown, |ranges| Test::DestinationPort { ranges, negated })
            }
            ("udp" | "th", Some("sport")) => {
                ranges(right).map_or(Test::Unknown, |ranges| Test::SourcePort { ranges, negated })
            }
            // A field of another protocol's header: only packets of that protocol match.
            ("tcp" | "icmp" | "sctp" | "dccp" | "udplite" | "icmpv6", _) => {
                Test::Protocol { udp: false, negated: false }
            }
            _ => Test::Unknown,
        };
    }
    Test::Unknown
}

/// Whether an operand is a named set (`@name`).
fn is_set_reference(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.starts_with('@'))
}

/// Whether a protocol match names UDP.
fn names_udp(value: &Value) -> bool {
    strings(value).iter().any(|p| p == "udp" || p == "17")
}

/// A string, or a set of strings.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Number(n) => vec![n.to_string()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(o) => o.get("set").map(strings).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Addresses, prefixes and sets of them; `None` for what this model does not read (a named
/// set, a range of addresses).
fn nets(value: &Value) -> Option<Vec<Ipv4Net>> {
    match value {
        Value::String(s) => Some(vec![Ipv4Net::new(s.parse().ok()?, 32).ok()?]),
        Value::Array(items) => items.iter().map(nets).collect::<Option<Vec<_>>>().map(|v| v.concat()),
        Value::Object(o) => {
            if let Some(prefix) = o.get("prefix") {
                let address = prefix["addr"].as_str()?.parse().ok()?;
                let length = u8::try_from(prefix["len"].as_u64()?).ok()?;
                Some(vec![Ipv4Net::new(address, length).ok()?.trunc()])
            } else {
                o.get("set").and_then(nets)
            }
        }
        _ => None,
    }
}

/// Ports, ranges and sets of them.
fn ranges(value: &Value) -> Option<Vec<(u16, u16)>> {
    match value {
        Value::Number(n) => {
            let port = u16::try_from(n.as_u64()?).ok()?;
            Some(vec![(port, port)])
        }
        Value::String(s) => service_port(s).map(|p| vec![(p, p)]),
        Value::Array(items) => items.iter().map(ranges).collect::<Option<Vec<_>>>().map(|v| v.concat()),
        Value::Object(o) => {
            if let Some(range) = o.get("range") {
                let (lo, hi) = (ranges(&range[0])?, ranges(&range[1])?);
                Some(vec![(lo.first()?.0, hi.first()?.0)])
            } else {
                o.get("set").and_then(ranges)
            }
        }
        _ => None,
    }
}

/// The few service names a TFTP rule is written with.
fn service_port(name: &str) -> Option<u16> {
    match name {
        "tftp" => Some(69),
        "bootps" => Some(67),
        "bootpc" => Some(68),
        other => other.parse().ok(),
    }
}

/// The `filter` table of `iptables-legacy-save`.
pub(super) fn parse_iptables_save(text: &str) -> Ruleset {
    let mut ruleset = Ruleset::default();
    let mut in_filter = false;
    let id_of = |name: &str| ChainId { family: "ip".into(), table: "filter".into(), name: name.to_owned() };
    for line in text.lines().map(str::trim) {
        if let Some(table) = line.strip_prefix('*') {
            in_filter = table == "filter";
        } else if !in_filter {
        } else if let Some(chain) = line.strip_prefix(':') {
            let mut words = chain.split_whitespace();
            let (Some(name), Some(policy)) = (words.next(), words.next()) else { continue };
            let hook = match name {
                "INPUT" => Some("input"),
                "OUTPUT" => Some("output"),
                _ => None,
            };
            ruleset.chains.entry(id_of(name)).or_default().base = hook.map(|hook| BaseChain {
                hook: hook.to_owned(),
                priority: 0,
                devices: Vec::new(),
                policy_drops: policy == "DROP",
                nat: false,
            });
        } else if let Some(rule) = line.strip_prefix("-A ") {
            let mut words = rule.split_whitespace();
            let Some(chain) = words.next() else { continue };
            let parsed = iptables_rule(&words.collect::<Vec<_>>(), line);
            ruleset.chains.entry(id_of(chain)).or_default().rules.push(parsed);
        }
    }
    ruleset
}

fn iptables_rule(words: &[&str], line: &str) -> Rule {
    let mut tests = Vec::new();
    let mut verdict = Verdict::Continue;
    let mut negated = false;
    let mut i = 0;
    let value = |i: usize| words.get(i + 1).copied().unwrap_or_default();
    while i < words.len() {
        let word = words[i];
        let mut consumed = 2;
        match word {
            "!" => {
                negated = true;
                i += 1;
                continue;
            }
            "-i" => tests.push(Test::InputInterface { names: vec![value(i).to_owned()], negated }),
            "-o" => tests.push(Test::OutputInterface { names: vec![value(i).to_owned()], negated }),
            "-s" | "-d" => {
                let nets = value(i).split(',').map(|n| n.parse::<Ipv4Net>().ok()).collect::<Option<Vec<_>>>();
                tests.push(match (word, nets) {
                    ("-s", Some(nets)) => Test::Source { nets, negated },
                    (_, Some(nets)) => Test::Destination { nets, negated },
                    (_, None) => Test::Unknown,
                });
            }
            "-p" => tests.push(Test::Protocol { udp: matches!(value(i), "udp" | "17"), negated }),
            "--dport" | "--dports" | "--sport" | "--sports" => {
                let ranges = value(i)
                    .split(',')
                    .map(|r| match r.split_once(':') {
                        Some((lo, hi)) => Some((service_port(lo)?, service_port(hi)?)),
                        None => service_port(r).map(|p| (p, p)),
                    })
                    .collect::<Option<Vec<_>>>();
                tests.push(match (word.starts_with("--d"), ranges) {
                    (true, Some(ranges)) => Test::DestinationPort { ranges, negated },
                    (false, Some(ranges)) => Test::SourcePort { ranges, negated },
                    (_, None) => Test::Unknown,
                });
            }
            "--state" | "--ctstate" => {
                let states = value(i).split(',').map(str::to_lowercase).collect();
                tests.push(Test::State { states, negated });
            }
            // A module name; its options follow.
            "-m" => {}
            "-j" | "-g" => {
                verdict = match (word, value(i)) {
                    (_, "ACCEPT") => Verdict::Accept,
                    (_, "DROP" | "REJECT") => Verdict::Drop,
                    (_, "RETURN") => Verdict::Return,
                    (_, "LOG" | "NFLOG" | "MARK" | "CONNMARK" | "CT") => Verdict::Continue,
                    (_, "NFQUEUE" | "QUEUE") => Verdict::Unknown,
                    ("-j", target) => Verdict::Jump(target.to_owned()),
                    (_, target) => Verdict::Goto(target.to_owned()),
                };
                // The target's own options follow; none of them matches.
                i = words.len();
                continue;
            }
            // Other options of a module this model does not read: perhaps matching.
            option if option.starts_with('-') => tests.push(Test::Unknown),
            _ => consumed = 1,
        }
        negated = false;
        i += consumed;
    }
    Rule { tests, verdict, name: format!("iptables rule `{line}`") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Packet {
        Packet {
            path: PacketPath::Input,
            interface: "eth1".into(),
            source: Ipv4Addr::new(192, 168, 0, 86),
            destination: Ipv4Addr::new(192, 168, 0, 66),
            source_port: 3000,
            destination_port: 69,
            new_flow: true,
        }
    }

    fn answer() -> Packet {
        Packet {
            path: PacketPath::Output,
            interface: "eth1".into(),
            source: Ipv4Addr::new(192, 168, 0, 66),
            destination: Ipv4Addr::new(192, 168, 0, 86),
            source_port: 40000,
            destination_port: 3000,
            new_flow: true,
        }
    }

    fn nft(rules: &str) -> Ruleset {
        // The document `nft -j list ruleset` prints for a table `inet filter` with these rules.
        let text = format!(
            r#"{{"nftables": [{{"metainfo": {{"json_schema_version": 1}}}},
            {{"table": {{"family": "inet", "name": "filter", "handle": 1}}}},
            {{"chain": {{"family": "inet", "table": "filter", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}}},
            {{"chain": {{"family": "inet", "table": "filter", "name": "output", "handle": 2, "type": "filter", "hook": "output", "prio": 0, "policy": "accept"}}}},
            {{"chain": {{"family": "inet", "table": "filter", "name": "lan", "handle": 3}}}}
            {rules}]}}"#
        );
        parse_nft_json(&text).unwrap()
    }

    fn rule(chain: &str, handle: u32, expr: &str) -> String {
        format!(
            r#", {{"rule": {{"family": "inet", "table": "filter", "chain": "{chain}", "handle": {handle}, "expr": [{expr}]}}}}"#
        )
    }

    const UDP_69: &str = r#"{"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": {"set": [53, {"range": [60, 70]}]}}}"#;
    const FROM_LAN: &str = r#"{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "192.168.0.0", "len": 24}}}}"#;
    const ESTABLISHED: &str =
        r#"{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}"#;

    #[test]
    fn an_empty_or_accepting_ruleset_allows() {
        assert_eq!(Ruleset::default().judge(&request()), Judgement::Allowed);
        let ruleset = nft(&rule("input", 4, &format!("{ESTABLISHED}, {{\"accept\": null}}")));
        assert_eq!(ruleset.judge(&request()), Judgement::Allowed);
        assert_eq!(ruleset.judge(&answer()), Judgement::Allowed);
    }

    #[test]
    fn a_rule_dropping_tftp_from_the_lan_blocks_the_request_not_the_answer() {
        let ruleset =
            nft(&rule("input", 7, &format!("{FROM_LAN}, {UDP_69}, {{\"counter\": null}}, {{\"drop\": null}}")));
        assert_eq!(
            ruleset.judge(&request()),
            Judgement::Blocked { by: "rule inet filter input handle 7".into(), chain: "inet filter input".into() }
        );
        assert_eq!(ruleset.judge(&answer()), Judgement::Allowed);
        let elsewhere = Packet { source: Ipv4Addr::new(10, 0, 0, 1), ..request() };
        assert_eq!(ruleset.judge(&elsewhere), Judgement::Allowed);
    }

    #[test]
    fn a_drop_policy_blocks_what_no_rule_accepts_and_jumps_are_followed() {
        let text = nft(&format!(
            "{}{}",
            rule(
                "input",
                4,
                r#"{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth1"}}, {"jump": {"target": "lan"}}"#
            ),
            rule("lan", 5, &format!("{UDP_69}, {{\"accept\": null}}"))
        ));
        let mut ruleset = text.clone();
        for chain in ruleset.chains.values_mut() {
            if let Some(base) = &mut chain.base {
                base.policy_drops = true;
            }
        }
        assert_eq!(ruleset.judge(&request()), Judgement::Allowed);
        let other_port = Packet { destination_port: 80, ..request() };
        assert_eq!(
            ruleset.judge(&other_port),
            Judgement::Blocked {
                by: "the policy of chain inet filter input (drop)".into(),
                chain: "inet filter input".into()
            }
        );
        assert!(matches!(ruleset.judge(&answer()), Judgement::Blocked { .. }));
    }

    #[test]
    fn an_unread_match_makes_a_drop_a_perhaps() {
        let mark = r#"{"match": {"op": "==", "left": {"meta": {"key": "mark"}}, "right": 42}}"#;
        let ruleset = nft(&rule("input", 9, &format!("{mark}, {{\"drop\": null}}")));
        assert_eq!(ruleset.judge(&request()), Judgement::Perhaps { by: "rule inet filter input handle 9".into() });
    }

    #[test]
    fn what_the_model_cannot_read_softens_a_verdict_only_where_it_could_change_it() {
        let xt = r#"{"xt": {"type": "match", "name": "recent"}}"#;
        let set = r#"{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "@lan"}}"#;
        // An untranslated iptables match before a drop: perhaps dropped, not certainly.
        let ruleset = nft(&rule("input", 4, &format!("{xt}, {{\"drop\": null}}")));
        assert!(matches!(ruleset.judge(&request()), Judgement::Perhaps { .. }));
        // A set lookup that may accept, before a certain drop in the same chain.
        let ruleset = nft(&format!(
            "{}{}",
            rule("input", 4, &format!("{set}, {{\"accept\": null}}")),
            rule("input", 5, &format!("{UDP_69}, {{\"drop\": null}}"))
        ));
        assert_eq!(
            ruleset.judge(&request()),
            Judgement::Perhaps {
                by: "rule inet filter input handle 5, unless rule inet filter input handle 4 accepts it".into()
            }
        );
        // A rule that may accept in one base chain does not save the packet from another's drop.
        let text = format!(
            r#"{{"nftables": [
            {{"chain": {{"family": "inet", "table": "a", "name": "input", "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}}},
            {{"chain": {{"family": "inet", "table": "b", "name": "input", "type": "filter", "hook": "input", "prio": 10, "policy": "accept"}}}},
            {{"rule": {{"family": "inet", "table": "a", "chain": "input", "handle": 1, "expr": [{set}, {{"accept": null}}]}}}},
            {{"rule": {{"family": "inet", "table": "b", "chain": "input", "handle": 2, "expr": [{UDP_69}, {{"drop": null}}]}}}}]}}"#
        );
        let two_tables = parse_nft_json(&text).unwrap();
        assert_eq!(
            two_tables.judge(&request()),
            Judgement::Blocked { by: "rule inet b input handle 2".into(), chain: "inet b input".into() }
        );
    }

    #[test]
    fn tcp_and_ipv6_rules_leave_udp_over_ipv4_alone() {
        let tcp = r#"{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 69}}"#;
        let ip6 =
            r#"{"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "saddr"}}, "right": "::1"}}"#;
        let ruleset = nft(&format!(
            "{}{}",
            rule("input", 4, &format!("{tcp}, {{\"drop\": null}}")),
            rule("input", 5, &format!("{ip6}, {{\"drop\": null}}"))
        ));
        assert_eq!(ruleset.judge(&request()), Judgement::Allowed);
    }

    #[test]
    fn iptables_save_rules_are_read_the_same_way() {
        let text = "\
# Generated by iptables-save
*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p udp --dport 69 -j DROP
COMMIT
*filter
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:LAN - [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -i eth1 -j LAN
-A LAN -s 192.168.0.0/24 -p udp -m udp --dport 60:70 -j REJECT --reject-with icmp-port-unreachable
COMMIT
";
        let ruleset = parse_iptables_save(text);
        assert_eq!(
            ruleset.judge(&request()),
            Judgement::Blocked {
                by: "iptables rule `-A LAN -s 192.168.0.0/24 -p udp -m udp --dport 60:70 -j REJECT --reject-with icmp-port-unreachable`"
                    .into(),
                chain: "ip filter LAN".into()
            }
        );
        let other = Packet { interface: "eth0".into(), ..request() };
        assert_eq!(ruleset.judge(&other), Judgement::Allowed);
        let not_udp = parse_iptables_save(
            "*filter\n:INPUT ACCEPT\n-A INPUT -p tcp --dport 69 -j DROP\n-A INPUT ! -p udp -j DROP\n",
        );
        assert_eq!(not_udp.judge(&request()), Judgement::Allowed);
        let perhaps = parse_iptables_save("*filter\n:INPUT ACCEPT\n-A INPUT -m mark --mark 4 -j DROP\n");
        assert!(matches!(perhaps.judge(&request()), Judgement::Perhaps { .. }));
    }

    #[test]
    fn garbage_is_an_error_not_an_empty_ruleset() {
        assert!(parse_nft_json("nope").is_err());
        assert!(parse_nft_json("{}").is_err());
    }
}
