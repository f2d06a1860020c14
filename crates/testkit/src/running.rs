//! A `rech` running in the background while a test talks to it: its stderr and stdout read
//! line by line on threads, so that the test can wait for what it says (`listening`, `stopped`,
//! a final on stdout) and still get everything at the end.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `rech` whose stderr and stdout are read line by line on threads.
pub struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Vec<String>,
    output: mpsc::Receiver<String>,
    stdout: Vec<String>,
}

/// Sends `pipe`'s lines to a new channel from a thread of their own.
fn lines_of(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Takes lines from `rx` into `seen` until one contains `needle` (true) or `limit` passes.
fn wait_in(
    rx: &mpsc::Receiver<String>,
    seen: &mut Vec<String>,
    needle: &str,
    limit: Duration,
) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
}

impl Running {
    /// Starts `cmd` with stdin closed and stdout and stderr piped.
    pub fn spawn(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = lines_of(child.stderr.take().unwrap());
        let output = lines_of(child.stdout.take().unwrap());
        Self {
            child,
            lines,
            stderr: Vec::new(),
            output,
            stdout: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `needle`.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) {
        if !wait_in(&self.lines, &mut self.stderr, needle, limit) {
            let _ = self.child.kill();
            panic!(
                "no {needle:?} on stderr within {limit:?}: {:?}",
                self.stderr
            );
        }
    }

    /// Waits for a stdout line containing `needle` (a result: a final, a typed phrase).
    pub fn wait_for_output(&mut self, needle: &str, limit: Duration) {
        if !wait_in(&self.output, &mut self.stdout, needle, limit) {
            let _ = self.child.kill();
            let stderr: Vec<String> = self.lines.try_iter().collect();
            panic!(
                "no {needle:?} on stdout within {limit:?}: {:?}\nstderr: {:?}",
                self.stdout,
                [self.stderr.clone(), stderr].concat()
            );
        }
    }

    /// Sends SIGINT, as Ctrl-C does.
    pub fn interrupt(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the exit (killing it after `limit`); returns stdout, stderr and the code.
    pub fn finish(mut self, limit: Duration) -> (String, String, Option<i32>) {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("rech ran longer than {limit:?}: {:?}", self.stderr);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader threads end with the pipes.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.stderr.push(line);
        }
        while let Ok(line) = self.output.recv_timeout(Duration::from_secs(2)) {
            self.stdout.push(line);
        }
        let mut stdout = self.stdout.join("\n");
        if !stdout.is_empty() {
            stdout.push('\n');
        }
        (stdout, self.stderr.join("\n"), status.code())
    }
}
