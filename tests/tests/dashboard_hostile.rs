//! Password guessing against the dashboard's login, with curl in namespaces: 300 guesses at once
//! from one address get 429, at most two a second are checked, lifeboat's memory stays small,
//! and the person who knows the password logs in meanwhile from their own address.

use std::time::{Duration, Instant};

use lifeboat_e2e::{Pair, lifeboat_bin, require_netns, spawn_lifeboat_serve};

const PASSWORD: &str = "correct horse battery";

/// Peak resident memory of process `pid` in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process's status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

#[test]
#[ignore = "needs root (network namespaces): run with -- --include-ignored, as .ci/run does"]
fn three_hundred_parallel_guesses_get_429_and_the_right_password_still_gets_in() {
    require_netns!("curl", "sqlite3", "xargs");
    let pair = Pair::new();
    let root = tempfile::tempdir().unwrap();
    let db = pair.server.scratch().join("lifeboat.db").to_string_lossy().into_owned();
    let bin = lifeboat_bin().to_string_lossy().into_owned();
    let set = format!("echo '{PASSWORD}' | '{bin}' passwd --db '{db}'");
    pair.server.run_ok(&["sh", "-c", &set], Duration::from_secs(30));
    let listen = format!("{}:8080", pair.server_ip);
    let mut server = spawn_lifeboat_serve(&pair.server, root.path(), pair.server_addr(), &["--web-listen", &listen]);
    let base = format!("http://{listen}");

    // The attacker: one session, then three waves of 300 guesses at once.
    let flood = format!(
        r#"set -e
jar=$(mktemp)
csrf=$(curl -sS -c "$jar" "{base}/login" | sed -n 's/.*name="csrf-token" content="\([0-9a-f]*\)".*/\1/p')
test -n "$csrf"
for wave in 1 2 3; do
  seq 300 | xargs -P 300 -I{{}} curl -s -o /dev/null -w '%{{http_code}}\n' -b "$jar" --max-time 60 \
    --data "csrf=$csrf&password=guess{{}}&next=/" "{base}/login"
done"#
    );
    let started = Instant::now();
    let mut attack = pair.client.spawn(&["sh", "-c", &flood]);
    std::thread::sleep(Duration::from_secs(1));

    // Meanwhile, the admin from the server's own address.
    let login = format!(
        r#"jar=$(mktemp)
csrf=$(curl -sS -c "$jar" "{base}/login" | sed -n 's/.*name="csrf-token" content="\([0-9a-f]*\)".*/\1/p')
curl -s -o /dev/null -w '%{{http_code}}' -b "$jar" --max-time 30 --data "csrf=$csrf&password={PASSWORD}&next=/" "{base}/login""#
    );
    let asked = Instant::now();
    let admin = pair.server.run(&["sh", "-c", &login], Duration::from_secs(40));
    let admin_took = asked.elapsed();
    assert_eq!(admin.stdout.trim(), "303", "the right password during the attack:\n{admin}");
    assert!(admin_took < Duration::from_secs(5), "the right password took {admin_took:?} during the attack");

    let attacked = attack.finish_ok(Duration::from_secs(180));
    let elapsed = started.elapsed();
    let codes: Vec<&str> = attacked.stdout.lines().collect();
    let checked = codes.iter().filter(|c| **c == "401").count();
    let refused = codes.iter().filter(|c| **c == "429").count();
    assert_eq!(codes.len(), 900, "{attacked}");
    assert_eq!(checked + refused, 900, "unexpected answers: {codes:?}");
    let peak_kib = peak_rss_kib(server.pid());
    let stopped = server.terminate(Duration::from_secs(5));
    assert!(stopped.success(), "{stopped}");
    let failures = pair
        .server
        .run_ok(&["sqlite3", &db, "SELECT count(*) FROM events WHERE kind = 'login_failed'"], Duration::from_secs(5));
    let verified: f64 = failures.stdout.trim().parse().unwrap();
    let per_second = verified / elapsed.as_secs_f64();
    eprintln!(
        "{checked} guesses checked and {refused} refused with 429 in {elapsed:?} ({per_second:.2} checks/s); the admin got in after {admin_took:?}; peak RSS {:.1} MiB",
        peak_kib as f64 / 1024.0
    );
    assert!(refused >= 880, "only {refused} of 900 guesses got 429");
    assert!(per_second <= 2.0, "{verified} passwords checked in {elapsed:?}");
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
}
