//! Child processes with bounded waits: every child runs in its own process group, its output goes
//! to log files (so it can never block on a full pipe), and the guard kills the group by PID when
//! dropped. When a test panics, each guard dropped during the unwind prints its command line,
//! exit status and the tail of its output, which is usually the server log that explains why.

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How much of a log the diagnostics show.
const TAIL_BYTES: usize = 4000;

/// The result of a process that finished (or was stopped).
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, shell-quoted for copy and paste.
    pub cmdline: String,
    /// `None` when the harness killed it after its deadline.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// Exited by itself with status 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// True when the harness had to kill it at its deadline.
    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }

    /// Panics with the full diagnostics unless [`Output::success`].
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "command failed:\n{self}");
        self
    }

    /// Panics with the full diagnostics if it exited with 0 or was killed at its deadline.
    #[track_caller]
    pub fn assert_failure(&self) -> &Self {
        assert!(!self.success() && !self.timed_out(), "command was expected to fail by itself:\n{self}");
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  command: {}", self.cmdline)?;
        match self.status {
            Some(status) => writeln!(f, "  status:  {status} after {:.2?}", self.elapsed)?,
            None => writeln!(f, "  status:  killed by the harness after its deadline of {:.2?}", self.elapsed)?,
        }
        writeln!(f, "  stdout (tail):\n{}", indent(tail(&self.stdout)))?;
        write!(f, "  stderr (tail):\n{}", indent(tail(&self.stderr)))
    }
}

/// A running process, killed (with its whole process group) when dropped.
pub struct Child {
    child: std::process::Child,
    cmdline: String,
    started: Instant,
    status: Option<ExitStatus>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    /// Print diagnostics if dropped during a panic (off for run-to-completion commands, whose
    /// callers report the `Output`, and for children started while already unwinding).
    report_on_panic: bool,
    // Holds the log files; removed when the guard goes.
    _logs: tempfile::TempDir,
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child").field("pid", &self.pid()).field("cmdline", &self.cmdline).finish()
    }
}

impl Child {
    /// Starts `command` in its own process group with stdin from /dev/null and stdout/stderr
    /// going to log files. Panics if it cannot be started.
    pub fn spawn(mut command: Command) -> Child {
        let cmdline = quote_command(&command);
        let logs =
            tempfile::Builder::new().prefix("lbt-logs-").tempdir().expect("create a temporary folder for process logs");
        let stdout_path = logs.path().join("stdout");
        let stderr_path = logs.path().join("stderr");
        let stdout = File::create(&stdout_path).expect("create stdout log");
        let stderr = File::create(&stderr_path).expect("create stderr log");
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {cmdline}: {e}"));
        Child {
            child,
            cmdline,
            started: Instant::now(),
            status: None,
            stdout_path,
            stderr_path,
            report_on_panic: !std::thread::panicking(),
            _logs: logs,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn cmdline(&self) -> &str {
        &self.cmdline
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        read_lossy(&self.stdout_path)
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        read_lossy(&self.stderr_path)
    }

    /// Waits until a line of its stdout contains `expected`, for at most `timeout`; panics with
    /// what it wrote when the time is up.
    #[track_caller]
    pub fn wait_for_line(&self, expected: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.stdout().lines().any(|l| l.contains(expected)) {
            assert!(Instant::now() < deadline, "{expected:?} was not written within {timeout:?}:\n{}", self.stdout());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The exit status if it has exited (reaps it), without waiting.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().unwrap_or_else(|e| panic!("waiting for {}: {e}", self.cmdline));
        }
        self.status
    }

    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }

    /// Sends `signal` to the child's process group (the child and anything it forked).
    pub fn signal(&mut self, signal: Signal) {
        if self.try_status().is_none() {
            // ESRCH only means the group is already gone.
            let _ = killpg(self.pgid(), signal);
        }
    }

    /// Waits up to `timeout` for it to exit by itself; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Waits up to `timeout`; kills the group if it is still running then. `Output::status` is
    /// `None` when it had to be killed.
    pub fn finish(&mut self, timeout: Duration) -> Output {
        let status = self.wait_timeout(timeout);
        if status.is_none() {
            self.kill();
        }
        self.output_with(status)
    }

    /// Waits up to `timeout` and panics with diagnostics unless it exited with status 0.
    #[track_caller]
    pub fn finish_ok(&mut self, timeout: Duration) -> Output {
        let out = self.finish(timeout);
        out.assert_success();
        out
    }

    /// Asks it to stop with SIGTERM, waits up to `grace`, then kills the group with SIGKILL.
    /// Returns its output; `status` is `None` if SIGKILL was needed.
    pub fn terminate(&mut self, grace: Duration) -> Output {
        self.signal(Signal::SIGTERM);
        let status = self.wait_timeout(grace);
        if status.is_none() {
            self.kill();
        }
        self.output_with(status)
    }

    /// SIGKILL to the whole process group, then reaps the child.
    pub fn kill(&mut self) {
        // The child is not reaped until `wait` below, so its PID (= process group id) cannot have
        // been reused by another process.
        let _ = killpg(self.pgid(), Signal::SIGKILL);
        if self.status.is_none() {
            self.status = self.child.wait().ok();
        }
    }

    /// Output so far, with the current status (`None` while running).
    pub fn output(&mut self) -> Output {
        let status = self.try_status();
        self.output_with(status)
    }

    /// Panics with the diagnostics if the process has exited (useful while polling for a server to
    /// come up).
    #[track_caller]
    pub fn assert_running(&mut self, what: &str) {
        if let Some(status) = self.try_status() {
            let out = self.output_with(Some(status));
            panic!("{what}: the process exited early:\n{out}");
        }
    }

    fn output_with(&self, status: Option<ExitStatus>) -> Output {
        Output {
            cmdline: self.cmdline.clone(),
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
            elapsed: self.started.elapsed(),
        }
    }

    fn pgid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("PIDs fit in i32"))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let was_running = self.try_status().is_none();
        // Kill the group even if the leader exited: forked helpers (in.tftpd forks one process
        // per transfer) keep the group alive.
        let _ = killpg(self.pgid(), Signal::SIGKILL);
        if was_running {
            self.status = self.child.wait().ok();
        }
        if self.report_on_panic && std::thread::panicking() {
            let out = self.output_with(if was_running { None } else { self.status });
            eprintln!("--- process (stopped by the harness: {was_running}) ---\n{out}");
        }
    }
}

/// Runs `command` to completion within `timeout`; kills it at the deadline. Never panics on a
/// non-zero exit (see [`Output::assert_success`]).
pub fn run(command: Command, timeout: Duration) -> Output {
    let mut child = Child::spawn(command);
    child.report_on_panic = false;
    child.finish(timeout)
}

/// Builds a [`Command`] from an argument vector.
pub fn command<S: AsRef<OsStr>>(argv: &[S]) -> Command {
    let (program, args) = argv.split_first().expect("a command needs a program");
    let mut command = Command::new(program);
    command.args(args);
    command
}

/// Shell-style quoting of a whole command (for messages only).
pub fn quote_command(command: &Command) -> String {
    let mut words = vec![shell_quote(command.get_program())];
    words.extend(command.get_args().map(shell_quote));
    let envs: Vec<String> = command
        .get_envs()
        .filter_map(|(k, v)| v.map(|v| format!("{}={}", k.to_string_lossy(), shell_quote(v))))
        .collect();
    if envs.is_empty() { words.join(" ") } else { format!("{} {}", envs.join(" "), words.join(" ")) }
}

fn shell_quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%[]".contains(c));
    if plain { word.into_owned() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
}

/// The last few KiB of a log, cut at a character boundary.
pub fn tail(text: &str) -> &str {
    if text.len() <= TAIL_BYTES {
        return text;
    }
    let mut start = text.len() - TAIL_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

fn indent(text: &str) -> String {
    if text.trim().is_empty() {
        return "    (empty)".to_owned();
    }
    text.lines().map(|line| format!("    {line}")).collect::<Vec<_>>().join("\n")
}
