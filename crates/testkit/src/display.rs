//! Real display servers for the typing tests: Xvfb with a chosen keyboard layout, headless sway
//! (wlroots), and a client on each that logs the characters it receives — `xev` on X11 and
//! `wev` on Wayland, both reading keys through the same libraries applications use (Xlib's
//! `XmbLookupString`, xkbcommon), so that what they log is what an editor would show.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

/// An Xvfb server of the test's own, killed when dropped.
pub struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    /// Starts Xvfb on a free display and sets the keyboard layout (`us`, `ru`, `us,ru`, …).
    pub fn start(layout: &str) -> Self {
        // Xvfb picks a free display itself and prints its number once it accepts clients:
        // no race between tests starting servers at the same time. `-noreset`: an X server
        // resets when its last client leaves, and the reset forgets the layout that
        // `setxkbmap` (itself a client that leaves) has just set.
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-noreset", "-screen", "0", "800x600x24"])
            .args(["-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb");
        let stdout = child.stdout.take().expect("Xvfb's stdout");
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let Ok(n) = line.trim().parse::<u32>() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("Xvfb did not start (it printed {line:?})");
        };
        let server = Self {
            child,
            display: format!(":{n}"),
        };
        server.set_layout(layout);
        server
    }

    /// `setxkbmap LAYOUT` (`us`, `ru`, `ru,us`, …) on this server, checked by reading the
    /// mapping back.
    pub fn set_layout(&self, layout: &str) {
        let status = Command::new("setxkbmap")
            .args(["-display", &self.display, "-layout", layout])
            .status()
            .expect("run setxkbmap");
        assert!(status.success(), "setxkbmap {layout} failed");
        // `ru` puts Cyrillic_ef on the key of the Latin A (keycode 38), `us` an a.
        let first = layout.split(',').next().unwrap_or(layout);
        let want = if first == "ru" { "Cyrillic_ef" } else { "a" };
        let shown = Command::new("xmodmap")
            .args(["-display", &self.display, "-pke"])
            .output()
            .expect("run xmodmap -pke");
        let line = String::from_utf8_lossy(&shown.stdout)
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some("38"))
            .unwrap_or_default()
            .to_owned();
        assert!(
            line.split_whitespace().nth(3) == Some(want),
            "the {layout} layout did not take: {line}"
        );
    }

    /// `DISPLAY`'s value for it.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// Sets the environment a client of this server needs (and clears Wayland's).
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("DISPLAY", &self.display)
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("XDG_CURRENT_DESKTOP");
    }

    /// `xev` in a window covering the screen (so that the pointer, and with it the focus, is
    /// in it), logging characters; returns once it has the focus.
    pub fn key_log(&self) -> KeyLog {
        let mut cmd = Command::new("xev");
        cmd.args(["-geometry", "800x600+0+0", "-event", "keyboard"])
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8");
        self.apply(&mut cmd);
        KeyLog::start(cmd, Parser::Xev, "KeymapNotify event")
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Headless sway of the test's own (no GPU, no input devices), killed when dropped. sway will
/// not run as root: as root, it runs as `nobody` in a runtime directory it owns, which the
/// root test can still reach.
pub struct Sway {
    child: Child,
    /// `wtype -` waiting on its stdin: a keyboard on the seat for the session's lifetime, as
    /// a real machine has, so that clients bind one and get the focus before rech types.
    keyboard: Option<Child>,
    runtime: tempfile_dir::Dir,
    socket: String,
}

/// A directory removed when dropped (the testkit does without the tempfile crate).
mod tempfile_dir {
    use std::path::{Path, PathBuf};

    pub struct Dir(pub PathBuf);

    impl Dir {
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Whether ydotool's daemon answers here (it needs /dev/uinput, which test machines lack).
pub fn ydotool_running() -> bool {
    ["/tmp/.ydotool_socket"]
        .iter()
        .any(|p| Path::new(p).exists())
}

/// Debian's `nobody` and `nogroup`.
const NOBODY: u32 = 65_534;

impl Sway {
    /// Starts sway with `WLR_BACKENDS=headless` and the pixman renderer.
    pub fn start() -> Self {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("rech-sway-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create sway's runtime directory");
        let runtime = tempfile_dir::Dir(dir);
        let config = runtime.path().join("config");
        std::fs::write(&config, "output HEADLESS-1 resolution 800x600\n").expect("sway config");
        let root = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(1)
            == 0;
        let mut cmd = if root {
            std::os::unix::fs::chown(runtime.path(), Some(NOBODY), Some(NOBODY))
                .expect("give sway's runtime directory to nobody");
            std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644))
                .expect("make sway's config readable");
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={NOBODY}"))
                .arg(format!("--regid={NOBODY}"))
                .arg("--clear-groups")
                .arg("sway");
            c
        } else {
            Command::new("sway")
        };
        std::fs::set_permissions(runtime.path(), std::fs::Permissions::from_mode(0o700))
            .expect("restrict sway's runtime directory");
        let log = std::fs::File::create(
            std::env::temp_dir().join(format!("rech-sway-{}-{n}.log", std::process::id())),
        )
        .expect("sway's log");
        let mut child = cmd
            .arg("-c")
            .arg(&config)
            .env("XDG_RUNTIME_DIR", runtime.path())
            .env("HOME", runtime.path())
            .env("WLR_BACKENDS", "headless")
            .env("WLR_LIBINPUT_NO_DEVICES", "1")
            .env("WLR_RENDERER", "pixman")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sway");
        let mut socket = None;
        wait_until(Duration::from_secs(15), || {
            socket = std::fs::read_dir(runtime.path()).ok().and_then(|entries| {
                entries.flatten().find_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name.starts_with("wayland-") && !name.ends_with(".lock")).then_some(name)
                })
            });
            socket.is_some() || child.try_wait().ok().flatten().is_some()
        });
        let Some(socket) = socket else {
            let _ = child.kill();
            panic!("sway did not start (see its log in the temporary directory)");
        };
        let mut sway = Self {
            child,
            keyboard: None,
            runtime,
            socket,
        };
        let mut keyboard = Command::new("wtype");
        sway.apply(&mut keyboard);
        sway.keyboard = Some(
            keyboard
                .arg("-")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start wtype as the seat's keyboard"),
        );
        sway
    }

    /// Sets the environment a client of this compositor needs (and clears X11's).
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("WAYLAND_DISPLAY", &self.socket)
            .env("XDG_RUNTIME_DIR", self.runtime.path())
            .env_remove("DISPLAY")
            .env_remove("XDG_CURRENT_DESKTOP");
    }

    /// The compositor's socket.
    pub fn socket(&self) -> PathBuf {
        self.runtime.path().join(&self.socket)
    }

    /// `wev`, which sway gives the focus as its only window; returns once it has it.
    pub fn key_log(&self) -> KeyLog {
        let mut cmd = Command::new("wev");
        self.apply(&mut cmd);
        KeyLog::start(cmd, Parser::Wev, "wl_keyboard] enter:")
    }
}

impl Drop for Sway {
    fn drop(&mut self) {
        if let Some(mut keyboard) = self.keyboard.take() {
            let _ = keyboard.kill();
            let _ = keyboard.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy)]
enum Parser {
    Xev,
    Wev,
}

/// The characters a logging client received, each with the moment its line was read.
pub struct KeyLog {
    child: Child,
    received: Arc<Mutex<Vec<(Instant, char)>>>,
}

impl KeyLog {
    fn start(cmd: Command, parser: Parser, ready: &str) -> Self {
        // stdbuf: both clients print through stdio, block-buffered into a pipe.
        let program = cmd.get_program().to_owned();
        let mut wrapped = Command::new("stdbuf");
        wrapped.arg("-oL").arg(program).args(cmd.get_args());
        for (key, value) in cmd.get_envs() {
            match value {
                Some(v) => wrapped.env(key, v),
                None => wrapped.env_remove(key),
            };
        }
        let mut child = wrapped
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the key logger");
        let stdout = child.stdout.take().expect("the logger's stdout");
        let received = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let ready_flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let received = Arc::clone(&received);
            let lines = Arc::clone(&lines);
            let ready_flag = Arc::clone(&ready_flag);
            let ready = ready.to_owned();
            std::thread::spawn(move || {
                let mut pressed = false;
                let mut reader = BufReader::new(stdout);
                let mut bytes = Vec::new();
                // Lines are read as bytes: a client may print a byte that is not UTF-8 for a
                // keysym it cannot convert, and that must not end the log.
                while reader.read_until(b'\n', &mut bytes).unwrap_or(0) > 0 {
                    let line = String::from_utf8_lossy(&bytes)
                        .trim_end_matches('\n')
                        .to_owned();
                    bytes.clear();
                    let mut kept = lines.lock().unwrap_or_else(|p| p.into_inner());
                    if kept.len() < 200 {
                        kept.push(line.clone());
                    }
                    drop(kept);
                    if line.contains(&ready) {
                        ready_flag.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    let chars = match parser {
                        Parser::Xev => xev_chars(&line),
                        Parser::Wev => wev_chars(&line, &mut pressed),
                    };
                    if let Some(chars) = chars {
                        let now = Instant::now();
                        let mut received = received.lock().unwrap_or_else(|p| p.into_inner());
                        received.extend(chars.chars().map(|c| (now, c)));
                    }
                }
            });
        }
        let ready = wait_until(Duration::from_secs(10), || {
            ready_flag.load(std::sync::atomic::Ordering::SeqCst)
        });
        let log = Self { child, received };
        if !ready {
            let seen = lines.lock().unwrap_or_else(|p| p.into_inner()).join("\n");
            panic!("the key logger never got the keyboard focus; it printed:\n{seen}");
        }
        log
    }

    /// What has arrived so far.
    pub fn text(&self) -> String {
        self.received().into_iter().map(|(_, c)| c).collect()
    }

    /// Each character with the moment it arrived.
    pub fn received(&self) -> Vec<(Instant, char)> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until `chars` characters have arrived (or `limit` passes); returns the text.
    pub fn wait_for(&self, chars: usize, limit: Duration) -> String {
        wait_until(limit, || self.received().len() >= chars);
        // Anything more that was on its way.
        std::thread::sleep(Duration::from_millis(100));
        self.text()
    }

    /// Waits until nothing has arrived for `quiet`; returns the text.
    pub fn settle(&self, quiet: Duration) -> String {
        let mut last = self.received().len();
        let mut since = Instant::now();
        while since.elapsed() < quiet {
            std::thread::sleep(Duration::from_millis(20));
            let now = self.received().len();
            if now != last {
                last = now;
                since = Instant::now();
            }
        }
        self.text()
    }
}

impl Drop for KeyLog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `    XmbLookupString gives 2 bytes: (d0 9f) "П"` → `П` (printed for key presses only).
fn xev_chars(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix("XmbLookupString gives ")?;
    let (_, quoted) = rest.split_once(") \"")?;
    quoted.strip_suffix('"').map(str::to_owned)
}

/// wev prints a key line (`… key: 33; state: 1 (pressed)`) and then its symbol line
/// (`sym: Cyrillic_pe (1744), utf8: 'п'`); only presses count.
fn wev_chars(line: &str, pressed: &mut bool) -> Option<String> {
    if line.contains("wl_keyboard] key:") {
        *pressed = line.contains("(pressed)");
        return None;
    }
    if !std::mem::take(pressed) {
        return None;
    }
    let (_, quoted) = line.split_once("utf8: '")?;
    quoted.strip_suffix('\'').map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loggers_lines_are_read_as_their_clients_print_them() {
        assert_eq!(
            xev_chars("    XmbLookupString gives 2 bytes: (d0 9f) \"П\""),
            Some("П".into())
        );
        assert_eq!(
            xev_chars("    XmbLookupString gives 1 bytes: (22) \"\"\""),
            Some("\"".into())
        );
        assert_eq!(xev_chars("    XmbLookupString gives 0 bytes: "), None);
        let mut pressed = false;
        let key =
            "[14:     wl_keyboard] key: serial: 2040; time: 1234; key: 33; state: 1 (pressed)";
        assert_eq!(wev_chars(key, &mut pressed), None);
        assert_eq!(
            wev_chars(
                "                      sym: Cyrillic_PE  (1776), utf8: 'П'",
                &mut pressed
            ),
            Some("П".into())
        );
        let release =
            "[14:     wl_keyboard] key: serial: 2041; time: 1234; key: 33; state: 0 (released)";
        assert_eq!(wev_chars(release, &mut pressed), None);
        assert_eq!(
            wev_chars(
                "                      sym: Cyrillic_PE  (1776), utf8: ''",
                &mut pressed
            ),
            None
        );
    }
}
