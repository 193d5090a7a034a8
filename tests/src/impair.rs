//! Network impairment (loss, duplication, delay, reordering) on one device of a namespace.
//!
//! [`netem`] installs the kernel's `netem` qdisc when the kernel has it. This project's machines
//! run a kernel without `sch_netem` (and without modules to load), so otherwise the same spec is
//! emulated for UDP traffic leaving the device:
//! - loss and duplication: an nftables `netdev` table on the device's egress hook
//!   (`numgen random` + `drop` / `dup to "DEV"`), with counters;
//! - delay, jitter and reordering: an `NFQUEUE` rule (iptables/ip6tables, mangle POSTROUTING)
//!   feeding a thread of this process that holds each packet's verdict until its send time
//!   ([`crate::impair::delay`]); like netem, `reorder P%` sends P% of packets at once and delays the rest.
//!
//! Set `LIFEBOAT_NETEM=emulate` to use the emulation even where the qdisc exists.

pub mod delay;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::netns::{ADMIN_TIMEOUT, Netns, admin};
use crate::process;

/// Applies a netem spec such as `"loss 5% duplicate 1% reorder 25% 50% delay 1ms"` to traffic
/// leaving `dev` in `ns`, replacing any earlier spec on that device. Lasts until
/// [`clear_netem`] or until the namespace is dropped. Panics on an invalid or unsupported spec.
pub fn netem(ns: &Netns, dev: &str, spec: &str) {
    apply(ns, dev, spec);
}

/// Removes the impairment from `dev` (no-op if there is none).
pub fn clear_netem(ns: &Netns, dev: &str) {
    let mut impairments = ns.impairments.lock().expect("impairment lock");
    impairments.clear(ns.name(), dev);
}

/// What the impairment on `dev` has done so far. With the kernel qdisc only `dropped` is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetemStats {
    /// True when emulated (no kernel netem).
    pub emulated: bool,
    pub dropped: u64,
    pub duplicated: Option<u64>,
    /// Packets held back by the delay.
    pub delayed: Option<u64>,
    /// Packets sent at once because of `reorder` (they overtake delayed ones).
    pub reordered: Option<u64>,
}

/// Counters of the impairment on `dev`; panics if `dev` has none.
pub fn netem_stats(ns: &Netns, dev: &str) -> NetemStats {
    let impairments = ns.impairments.lock().expect("impairment lock");
    let entry = impairments
        .devs
        .iter()
        .find(|d| d.dev == dev)
        .unwrap_or_else(|| panic!("no impairment on {dev} in {}", ns.name()));
    match &entry.how {
        How::Qdisc => qdisc_stats(ns, dev),
        How::Emulated { table, delayer, .. } => {
            let (dropped, duplicated) = table.as_deref().map(|t| nft_counters(ns, t)).unwrap_or((0, 0));
            let (delayed, reordered) =
                delayer.as_ref().map(|d| d.counts()).map_or((None, None), |(a, b)| (Some(a), Some(b)));
            NetemStats { emulated: true, dropped, duplicated: Some(duplicated), delayed, reordered }
        }
    }
}

/// A parsed netem spec (only the parts the emulation understands).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spec {
    /// Probabilities in [0, 1].
    pub loss: f64,
    pub duplicate: f64,
    pub reorder: f64,
    pub delay: Duration,
    pub jitter: Duration,
}

impl Spec {
    /// Parses netem syntax: `loss P%`, `duplicate P%`, `delay T [JITTER [CORR%]]`,
    /// `reorder P% [CORR%]`, `limit N`. Correlations are accepted and ignored by the emulation.
    pub fn parse(spec: &str) -> Result<Spec, String> {
        let words: Vec<&str> = spec.split_whitespace().collect();
        let mut out = Spec::default();
        let mut i = 0;
        let is_percent = |w: Option<&&str>| w.is_some_and(|w| w.ends_with('%'));
        while i < words.len() {
            let key = words[i];
            let arg = words.get(i + 1).ok_or_else(|| format!("netem spec {spec:?}: `{key}` needs a value"))?;
            i += 2;
            match key {
                "loss" => {
                    let arg = if *arg == "random" {
                        i += 1;
                        words.get(i - 1).ok_or("loss random needs a value")?
                    } else {
                        arg
                    };
                    out.loss = percent(arg)?;
                    if is_percent(words.get(i)) {
                        i += 1;
                    }
                }
                "duplicate" => {
                    out.duplicate = percent(arg)?;
                    if is_percent(words.get(i)) {
                        i += 1;
                    }
                }
                "reorder" => {
                    out.reorder = percent(arg)?;
                    if is_percent(words.get(i)) {
                        i += 1;
                    }
                }
                "delay" => {
                    out.delay = duration(arg)?;
                    if let Some(j) = words.get(i).and_then(|w| duration(w).ok()) {
                        out.jitter = j;
                        i += 1;
                        if is_percent(words.get(i)) {
                            i += 1;
                        }
                    }
                }
                "limit" => {
                    arg.parse::<u32>().map_err(|_| format!("netem limit {arg:?} is not a number"))?;
                }
                other => {
                    return Err(format!("netem spec {spec:?}: `{other}` is not supported by the harness"));
                }
            }
        }
        if out.reorder > 0.0 && out.delay.is_zero() {
            return Err(format!("netem spec {spec:?}: reorder needs a delay (as in netem)"));
        }
        Ok(out)
    }
}

fn percent(word: &str) -> Result<f64, String> {
    let number = word.strip_suffix('%').unwrap_or(word);
    let value: f64 = number.parse().map_err(|_| format!("{word:?} is not a percentage"))?;
    if !(0.0..=100.0).contains(&value) {
        return Err(format!("{word:?} is not between 0% and 100%"));
    }
    Ok(value / 100.0)
}

fn duration(word: &str) -> Result<Duration, String> {
    let split = word.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(word.len());
    let (number, unit) = word.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("{word:?} is not a time"))?;
    let seconds = match unit {
        "s" | "sec" | "secs" => value,
        "ms" | "msec" | "msecs" => value / 1e3,
        "us" | "usec" | "usecs" => value / 1e6,
        _ => return Err(format!("{word:?} is not a time (use s, ms or us)")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

/// Everything installed in one namespace (kept inside its [`Netns`]).
#[derive(Default)]
pub(crate) struct Impairments {
    devs: Vec<DevImpairment>,
    next_queue: u16,
}

struct DevImpairment {
    dev: String,
    how: How,
}

enum How {
    Qdisc,
    Emulated {
        table: Option<String>,
        /// (program, rule arguments after `-A`/`-D`)
        rules: Vec<(&'static str, Vec<String>)>,
        delayer: Option<delay::Delayer>,
    },
}

impl Impairments {
    fn clear(&mut self, ns: &str, dev: &str) {
        let Some(pos) = self.devs.iter().position(|d| d.dev == dev) else {
            return;
        };
        let entry = self.devs.remove(pos);
        match entry.how {
            How::Qdisc => {
                admin(&["tc", "-n", ns, "qdisc", "del", "dev", dev, "root"]);
            }
            How::Emulated { table, rules, delayer } => {
                for (program, rule) in &rules {
                    let mut argv = vec!["ip", "netns", "exec", ns, program, "-w", "10", "-t"];
                    argv.extend(["mangle", "-D"]);
                    argv.extend(rule.iter().map(String::as_str));
                    admin(&argv);
                }
                if let Some(delayer) = delayer {
                    delayer.stop();
                }
                if let Some(table) = table {
                    admin(&["ip", "netns", "exec", ns, "nft", "delete", "table", "netdev", &table]);
                }
            }
        }
    }

    /// Stops the delay threads (the namespace and its rules are about to go).
    pub(crate) fn stop_all(&mut self, _ns: &str) {
        for entry in self.devs.drain(..) {
            if let How::Emulated { delayer: Some(delayer), .. } = entry.how {
                delayer.stop();
            }
        }
    }
}

/// Set once a `tc ... netem` failed because the kernel has no netem qdisc.
static NO_KERNEL_NETEM: AtomicBool = AtomicBool::new(false);

pub(crate) fn apply(ns: &Netns, dev: &str, spec_text: &str) {
    let spec = Spec::parse(spec_text).unwrap_or_else(|e| panic!("{e}"));
    let mut impairments = ns.impairments.lock().expect("impairment lock");
    impairments.clear(ns.name(), dev);

    let force_emulation = std::env::var("LIFEBOAT_NETEM").is_ok_and(|v| v == "emulate");
    if !force_emulation && !NO_KERNEL_NETEM.load(Ordering::Relaxed) {
        let mut argv = vec!["tc", "-n", ns.name(), "qdisc", "replace", "dev", dev, "root"];
        argv.push("netem");
        argv.extend(spec_text.split_whitespace());
        let out = process::run(process::command(&argv), ADMIN_TIMEOUT);
        if out.success() {
            impairments.devs.push(DevImpairment { dev: dev.to_owned(), how: How::Qdisc });
            return;
        }
        if out.stderr.contains("qdisc kind is unknown") {
            NO_KERNEL_NETEM.store(true, Ordering::Relaxed);
        } else {
            panic!("cannot install netem on {dev} in {}:\n{out}", ns.name());
        }
    }

    let queue = impairments.next_queue;
    impairments.next_queue += 1;
    let how = emulate(ns, dev, &spec, queue);
    impairments.devs.push(DevImpairment { dev: dev.to_owned(), how });
}

fn emulate(ns: &Netns, dev: &str, spec: &Spec, queue: u16) -> How {
    let name = ns.name();
    let mut table = None;
    if spec.loss > 0.0 || spec.duplicate > 0.0 {
        let t = format!("lbt_impair_{}", dev.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
        let scale = 1_000_000.0;
        let mut rules = String::new();
        // `numgen random mod 1000000 < T` is true with probability T / 1000000.
        let chance = |p: f64| {
            let threshold = (p * scale).round() as u64;
            if threshold >= 1_000_000 { String::new() } else { format!("numgen random mod 1000000 < {threshold} ") }
        };
        if spec.loss > 0.0 {
            rules.push_str(&format!("    meta l4proto udp {}counter drop comment \"loss\"\n", chance(spec.loss)));
        }
        if spec.duplicate > 0.0 {
            rules.push_str(&format!(
                "    meta l4proto udp {}counter dup to \"{dev}\" comment \"duplicate\"\n",
                chance(spec.duplicate)
            ));
        }
        let ruleset = format!(
            "table netdev {t} {{\n  chain egress {{\n    type filter hook egress device \"{dev}\" priority 0; policy accept;\n{rules}  }}\n}}\n"
        );
        let file = tempfile::NamedTempFile::new().expect("temporary nft file");
        std::fs::write(file.path(), ruleset).expect("write nft file");
        let path = file.path().to_string_lossy().into_owned();
        admin(&["ip", "netns", "exec", name, "nft", "-f", &path]);
        table = Some(t);
    }

    let mut rules = Vec::new();
    let mut delayer = None;
    if !spec.delay.is_zero() {
        delayer = Some(delay::Delayer::start(name, queue, spec.delay, spec.jitter, spec.reorder));
        for program in ["iptables", "ip6tables"] {
            let rule: Vec<String> = [
                "POSTROUTING",
                "-o",
                dev,
                "-p",
                "udp",
                "-j",
                "NFQUEUE",
                "--queue-num",
                &queue.to_string(),
                "--queue-bypass",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
            let mut argv = vec!["ip", "netns", "exec", name, program, "-w", "10", "-t"];
            argv.extend(["mangle", "-A"]);
            argv.extend(rule.iter().map(String::as_str));
            admin(&argv);
            rules.push((program, rule));
        }
    }
    How::Emulated { table, rules, delayer }
}

fn nft_counters(ns: &Netns, table: &str) -> (u64, u64) {
    let out = admin(&["ip", "netns", "exec", ns.name(), "nft", "list", "table", "netdev", table]);
    let count = |comment: &str| {
        out.stdout
            .lines()
            .find(|line| line.contains(&format!("comment \"{comment}\"")))
            .and_then(|line| {
                let mut words = line.split_whitespace();
                words.find(|w| *w == "packets")?;
                words.next()?.parse().ok()
            })
            .unwrap_or(0)
    };
    (count("loss"), count("duplicate"))
}

fn qdisc_stats(ns: &Netns, dev: &str) -> NetemStats {
    let out = admin(&["tc", "-s", "-n", ns.name(), "qdisc", "show", "dev", dev]);
    // "Sent 1234 bytes 10 pkt (dropped 2, overlimits 0 requeues 0)"
    let dropped = out
        .stdout
        .split("dropped ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    NetemStats { emulated: false, dropped, ..NetemStats::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_spec() {
        let spec = Spec::parse("loss 5% duplicate 1% reorder 25% 50% delay 1ms").unwrap();
        assert!((spec.loss - 0.05).abs() < 1e-9);
        assert!((spec.duplicate - 0.01).abs() < 1e-9);
        assert!((spec.reorder - 0.25).abs() < 1e-9);
        assert_eq!(spec.delay, Duration::from_millis(1));
        assert_eq!(spec.jitter, Duration::ZERO);
    }

    #[test]
    fn parses_delay_with_jitter_and_correlation() {
        let spec = Spec::parse("delay 10ms 2ms 25% loss random 0.5%").unwrap();
        assert_eq!(spec.delay, Duration::from_millis(10));
        assert_eq!(spec.jitter, Duration::from_millis(2));
        assert!((spec.loss - 0.005).abs() < 1e-9);
    }

    #[test]
    fn rejects_what_it_cannot_emulate() {
        assert!(Spec::parse("corrupt 1%").is_err());
        assert!(Spec::parse("reorder 25%").is_err(), "reorder without delay");
        assert!(Spec::parse("loss 150%").is_err());
        assert!(Spec::parse("delay 5 parsecs").is_err());
        assert!(Spec::parse("loss").is_err());
    }
}
