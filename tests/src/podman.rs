//! The container image under podman: built once per test process with `docker/build-offline.sh`
//! and run inside namespaces the test created (`nsenter --net=/run/netns/NAME podman ...`: the
//! container's "host" network is then that namespace, never the machine's).
//!
//! Every podman call uses the configuration in `tests/podman/` (private storage, runc, lowered
//! ulimits), the one `.ci/run` builds the image with. Containers, networks and volumes carry
//! this process's ID in their names and are removed by name.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::netns::Netns;
use crate::process::{self, Output};
use crate::workspace_root;

/// What the image is called.
pub const IMAGE: &str = "localhost/lifeboat:test";

/// One podman call may take this long (a `run` starts a container; a `build` has its own).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// A release build from scratch on two cores, then the image.
const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

fn config_dir() -> PathBuf {
    workspace_root().join("tests/podman")
}

/// The environment every podman call gets (and `build-offline.sh`, which calls podman).
fn configure(command: &mut Command) {
    command.env("CONTAINERS_CONF", config_dir().join("containers.conf"));
    command.env("CONTAINERS_STORAGE_CONF", config_dir().join("storage.conf"));
}

/// Build the image once per test process; its size in bytes.
pub fn build_image() -> u64 {
    static SIZE: OnceLock<u64> = OnceLock::new();
    *SIZE.get_or_init(|| {
        let mut command = Command::new(workspace_root().join("docker/build-offline.sh"));
        configure(&mut command);
        let out = process::run(command, BUILD_TIMEOUT);
        assert!(out.success(), "docker/build-offline.sh failed:\n{out}");
        out.stdout.trim().parse().unwrap_or_else(|_| panic!("build-offline.sh printed no size:\n{out}"))
    })
}

/// `podman ARGS` inside `ns`'s network namespace (or the machine's, for calls that touch no
/// network, with `None`), bounded by [`CALL_TIMEOUT`].
pub fn podman(ns: Option<&Netns>, args: &[&str]) -> Output {
    let mut command = match ns {
        Some(ns) => {
            let mut command = Command::new("nsenter");
            command.arg(format!("--net=/run/netns/{}", ns.name())).arg("podman");
            command
        }
        None => Command::new("podman"),
    };
    command.args(args);
    configure(&mut command);
    process::run(command, CALL_TIMEOUT)
}

/// `podman ARGS` that must succeed; its standard output, trimmed.
#[track_caller]
pub fn podman_ok(ns: Option<&Netns>, args: &[&str]) -> String {
    let out = podman(ns, args);
    assert!(out.success(), "podman {args:?} failed:\n{out}");
    out.stdout.trim().to_owned()
}

/// `podman start NAME` in `ns`, again while the previous run's network is still being torn
/// down: `podman stop` returns before conmon's cleanup releases the container's address, and a
/// start in between finds it taken ("requested IP address … is not available"). Bounded.
pub fn podman_restart_container(ns: Option<&Netns>, name: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let out = podman(ns, &["start", name]);
        if out.success() {
            return;
        }
        let still_held = out.stderr.contains("is not available in range set");
        assert!(still_held && std::time::Instant::now() < deadline, "podman start {name} failed:\n{out}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A container this test started; removed (by name) on drop.
pub struct Container {
    pub name: String,
}

impl Container {
    /// A name for a new container: `lbt-<pid>-<what>`.
    pub fn name_for(what: &str) -> String {
        format!("lbt-{}-{what}", std::process::id())
    }

    /// The container's main process, as the machine sees it (0 when it is not running).
    pub fn pid(&self) -> u32 {
        podman_ok(None, &["inspect", "--format", "{{.State.Pid}}", &self.name]).parse().unwrap_or(0)
    }

    /// What it printed so far (stdout and stderr).
    pub fn logs(&self) -> String {
        let out = podman(None, &["logs", &self.name]);
        format!("{}{}", out.stdout, out.stderr)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman(None, &["rm", "--force", "--time", "0", &self.name]);
    }
}

/// A podman network this test created; removed (by name) on drop.
pub struct PodmanNetwork {
    pub name: String,
}

impl Drop for PodmanNetwork {
    fn drop(&mut self) {
        let _ = podman(None, &["network", "rm", "--force", &self.name]);
    }
}
