//! A `rech` running in the background while a test talks to it: its stderr read line by line
//! on a thread, so that the test can wait for what it says (`listening`, `stopped`) and still
//! get everything at the end.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `rech` whose stderr is read line by line on a thread.
pub struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Vec<String>,
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
        let (tx, lines) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            lines,
            stderr: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `needle`.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.stderr.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "no {needle:?} on stderr within {limit:?}: {:?}",
                        self.stderr
                    );
                }
            }
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
        while self.child.try_wait().unwrap().is_none() {
            if started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("rech ran longer than {limit:?}: {:?}", self.stderr);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let Output { status, stdout, .. } = self.child.wait_with_output().unwrap();
        // The reader thread ends with the pipe.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.stderr.push(line);
        }
        (
            String::from_utf8(stdout).unwrap(),
            self.stderr.join("\n"),
            status.code(),
        )
    }
}
