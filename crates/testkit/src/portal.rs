//! A desktop portal for the hotkey tests: a private D-Bus session bus (`dbus-daemon`) with a
//! service that implements `org.freedesktop.portal.GlobalShortcuts` as the XDG specification
//! defines it — CreateSession and BindShortcuts answered through Request objects' `Response`,
//! `Activated` and `Deactivated` signals, the Session's `Close` — and lets the test press and
//! release the bound shortcut; and the freedesktop notification service, which records what it
//! is asked to show. Debian 12's xdg-desktop-portal (1.16) predates the interface,
//! and the desktops that implement it (KDE, GNOME 48+, Hyprland) do not run headless here.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zbus::blocking::{Connection, MessageIterator};
use zbus::message::Type;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};

const DESKTOP_PATH: &str = "/org/freedesktop/portal/desktop";
const SHORTCUTS: &str = "org.freedesktop.portal.GlobalShortcuts";

/// What the portal has been asked, for the test to check.
#[derive(Debug, Default, Clone)]
pub struct Asked {
    /// The session handle it gave out.
    pub session: Option<String>,
    /// Each bound shortcut: id and preferred trigger.
    pub bound: Vec<(String, String)>,
    /// Whether the session was closed.
    pub closed: bool,
    /// Each notification shown: the id it replaced, and its summary.
    pub notifications: Vec<(u32, String)>,
}

/// A private session bus with the test portal on it; both killed when dropped.
pub struct TestPortal {
    daemon: Child,
    address: String,
    conn: Connection,
    asked: Arc<Mutex<Asked>>,
}

impl TestPortal {
    /// Starts the bus and the portal; `cancel_binding`: the user cancels the desktop's dialog.
    pub fn start(cancel_binding: bool) -> Self {
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        let mut line = String::new();
        let stdout = daemon.stdout.take().expect("dbus-daemon's stdout");
        let _ = BufReader::new(stdout).read_line(&mut line);
        let address = line.trim().to_owned();
        assert!(!address.is_empty(), "dbus-daemon printed no address");
        let conn = zbus::blocking::connection::Builder::address(address.as_str())
            .and_then(|b| b.name("org.freedesktop.portal.Desktop"))
            .and_then(|b| b.name("org.freedesktop.Notifications"))
            .and_then(|b| b.build())
            .expect("the test portal joins its bus");
        let asked = Arc::new(Mutex::new(Asked::default()));
        let (service, state) = (conn.clone(), Arc::clone(&asked));
        std::thread::spawn(move || serve(&service, &state, cancel_binding));
        Self {
            daemon,
            address,
            conn,
            asked,
        }
    }

    /// `DBUS_SESSION_BUS_ADDRESS` for a client of this bus.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// What the portal has been asked so far.
    pub fn asked(&self) -> Asked {
        self.asked.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits up to `limit` until `done` holds for what was asked.
    pub fn wait_until(&self, limit: Duration, done: impl Fn(&Asked) -> bool) -> Asked {
        let started = Instant::now();
        loop {
            let asked = self.asked();
            if done(&asked) || started.elapsed() > limit {
                return asked;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn emit(&self, member: &str) {
        let session = self.asked().session.expect("a session was created");
        let session = ObjectPath::try_from(session.as_str()).unwrap();
        let options: HashMap<&str, Value<'_>> = HashMap::new();
        self.conn
            .emit_signal(
                None::<&str>,
                DESKTOP_PATH,
                SHORTCUTS,
                member,
                &(session, "dictate", 0u64, options),
            )
            .expect("emit the shortcut's signal");
    }

    /// The user presses the bound shortcut.
    pub fn press(&self) {
        self.emit("Activated");
    }

    /// The user releases it.
    pub fn release(&self) {
        self.emit("Deactivated");
    }
}

impl Drop for TestPortal {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// A sender's unique name as a path element (`:1.42` → `1_42`).
fn path_element(sender: &str) -> String {
    sender.trim_start_matches(':').replace('.', "_")
}

fn token(options: &HashMap<String, OwnedValue>, key: &str) -> String {
    options
        .get(key)
        .and_then(|v| String::try_from(v.try_clone().ok()?).ok())
        .unwrap_or_else(|| "t".to_owned())
}

/// Answers the portal's methods until the bus goes away.
fn serve(conn: &Connection, asked: &Mutex<Asked>, cancel_binding: bool) {
    for message in MessageIterator::from(conn) {
        let Ok(message) = message else { return };
        if message.message_type() != Type::MethodCall {
            continue;
        }
        let header = message.header();
        let member = header.member().map(|m| m.to_string()).unwrap_or_default();
        let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
        let respond = |request: &str, code: u32, results: HashMap<&str, Value<'_>>| {
            let _ = conn.emit_signal(
                Some(sender.as_str()),
                request,
                "org.freedesktop.portal.Request",
                "Response",
                &(code, results),
            );
        };
        match member.as_str() {
            "Get" | "GetAll" => {
                let version = Value::from(2u32);
                let _ = if member == "Get" {
                    conn.reply(&header, &version)
                } else {
                    conn.reply(&header, &HashMap::from([("version", version)]))
                };
            }
            "CreateSession" => {
                let Ok((options,)) = message
                    .body()
                    .deserialize::<(HashMap<String, OwnedValue>,)>()
                else {
                    continue;
                };
                let who = path_element(&sender);
                let request = format!(
                    "{DESKTOP_PATH}/request/{who}/{}",
                    token(&options, "handle_token")
                );
                let session = format!(
                    "{DESKTOP_PATH}/session/{who}/{}",
                    token(&options, "session_handle_token")
                );
                asked.lock().unwrap_or_else(|p| p.into_inner()).session = Some(session.clone());
                let _ = conn.reply(&header, &ObjectPath::try_from(request.as_str()).unwrap());
                respond(
                    &request,
                    0,
                    HashMap::from([("session_handle", Value::from(session))]),
                );
            }
            "BindShortcuts" => {
                type Shortcuts = Vec<(String, HashMap<String, OwnedValue>)>;
                let Ok((_session, shortcuts, _parent, options)) = message.body().deserialize::<(
                    OwnedObjectPath,
                    Shortcuts,
                    String,
                    HashMap<String, OwnedValue>,
                )>(
                ) else {
                    continue;
                };
                let request = format!(
                    "{DESKTOP_PATH}/request/{}/{}",
                    path_element(&sender),
                    token(&options, "handle_token")
                );
                let _ = conn.reply(&header, &ObjectPath::try_from(request.as_str()).unwrap());
                if cancel_binding {
                    respond(&request, 1, HashMap::new());
                    continue;
                }
                let mut bound = Vec::new();
                for (id, properties) in &shortcuts {
                    let trigger = token(properties, "preferred_trigger");
                    asked
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .bound
                        .push((id.clone(), trigger.clone()));
                    let described: HashMap<&str, Value<'_>> = HashMap::from([
                        ("description", Value::from("rech")),
                        (
                            "trigger_description",
                            Value::from(format!("Press {trigger}")),
                        ),
                    ]);
                    bound.push((id.clone(), described));
                }
                respond(
                    &request,
                    0,
                    HashMap::from([("shortcuts", Value::from(bound))]),
                );
            }
            "GetServerInformation" => {
                let _ = conn.reply(&header, &("rech-test", "rech", "1", "1.2"));
            }
            "Notify" => {
                type Notify<'a> = (
                    String,
                    u32,
                    String,
                    String,
                    String,
                    Vec<String>,
                    HashMap<String, OwnedValue>,
                    i32,
                );
                let Ok((_, replaces, _, summary, ..)) = message.body().deserialize::<Notify<'_>>()
                else {
                    continue;
                };
                let mut asked = asked.lock().unwrap_or_else(|p| p.into_inner());
                asked.notifications.push((replaces, summary));
                let _ = conn.reply(&header, &7u32);
            }
            "Close" => {
                asked.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
                let _ = conn.reply(&header, &());
            }
            _ => {
                let _ = conn.reply_error(
                    &header,
                    "org.freedesktop.DBus.Error.UnknownMethod",
                    &format!("the test portal has no {member}"),
                );
            }
        }
    }
}
