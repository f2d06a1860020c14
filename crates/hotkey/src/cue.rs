//! Feedback when listening starts and stops: a desktop notification through the freedesktop
//! notification service on the session bus (any desktop's, or dunst, mako, swaync), the one
//! notification replaced in place rather than piling up. Sent from a thread of its own, so that
//! a slow notification daemon never delays the key.

use std::collections::HashMap;
use std::sync::mpsc::{self, Sender};

use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::Value;

/// Why notifications cannot be shown.
#[derive(Debug, thiserror::Error)]
#[error("no desktop notifications on this session ({detail}): use --cue none")]
pub struct CueError {
    detail: String,
}

/// Shows "listening" and "stopped" as one desktop notification.
#[derive(Debug)]
pub struct Notifier {
    tx: Sender<bool>,
}

impl Notifier {
    /// Connects to the session bus's notification service (checked now: a missing one fails
    /// here, not at the first press).
    pub fn connect() -> Result<Self, CueError> {
        let failed = |e: zbus::Error| CueError {
            detail: e.to_string(),
        };
        let conn = Connection::session().map_err(failed)?;
        let proxy = zbus::blocking::proxy::Builder::<Proxy<'_>>::new(&conn)
            .destination("org.freedesktop.Notifications")
            .and_then(|b| b.path("/org/freedesktop/Notifications"))
            .and_then(|b| b.interface("org.freedesktop.Notifications"))
            .map(|b| b.cache_properties(zbus::proxy::CacheProperties::No))
            .and_then(|b| b.build())
            .map_err(failed)?;
        let _: (String, String, String, String) =
            proxy.call("GetServerInformation", &()).map_err(failed)?;
        let (tx, rx) = mpsc::channel::<bool>();
        std::thread::Builder::new()
            .name("rech-cue".into())
            .spawn(move || {
                let mut id = 0u32;
                for listening in rx {
                    let (summary, timeout) = if listening {
                        ("rech: listening…", 0i32)
                    } else {
                        ("rech: stopped", 1500)
                    };
                    let hints: HashMap<&str, Value<'_>> = HashMap::from([
                        ("transient", Value::from(true)),
                        ("urgency", Value::from(0u8)),
                    ]);
                    let actions: Vec<&str> = Vec::new();
                    let shown: zbus::Result<u32> = proxy.call(
                        "Notify",
                        &(
                            "rech",
                            id,
                            "audio-input-microphone",
                            summary,
                            "",
                            actions,
                            hints,
                            timeout,
                        ),
                    );
                    match shown {
                        Ok(new) => id = new,
                        Err(e) => log::warn!("cannot show a notification: {e}"),
                    }
                }
            })
            .map_err(|_| CueError {
                detail: "cannot start its thread".into(),
            })?;
        Ok(Self { tx })
    }

    /// Shows that listening started (`true`) or stopped.
    pub fn show(&self, listening: bool) {
        let _ = self.tx.send(listening);
    }
}
