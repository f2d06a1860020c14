//! The portal backend: the XDG desktop portal's `org.freedesktop.portal.GlobalShortcuts`
//! (KDE, GNOME 48+, Hyprland's portal), the one way a Wayland client gets a key whatever has
//! the focus. A session is created, one shortcut (`dictate`) bound with the hotkey as its
//! preferred trigger — the desktop may ask the user to confirm it once — and its `Activated`
//! and `Deactivated` signals are press and release. Closing the session unbinds it.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use zbus::blocking::{Connection, MessageIterator, Proxy};
use zbus::message::Type;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};
use zbus::MatchRule;

use crate::{Hotkey, HotkeyError, KeyEvent, OnKey, Shared};

const DESKTOP: &str = "org.freedesktop.portal.Desktop";
const DESKTOP_PATH: &str = "/org/freedesktop/portal/desktop";
const SHORTCUTS: &str = "org.freedesktop.portal.GlobalShortcuts";
const REQUEST: &str = "org.freedesktop.portal.Request";
const SESSION: &str = "org.freedesktop.portal.Session";
/// The id of rech's one shortcut.
const SHORTCUT_ID: &str = "dictate";

type Results = HashMap<String, OwnedValue>;

/// The session, closed (and the shortcut unbound) when dropped.
pub(crate) struct Session {
    conn: Connection,
    handle: OwnedObjectPath,
}

impl Drop for Session {
    fn drop(&mut self) {
        let closed = Proxy::new(&self.conn, DESKTOP, self.handle.as_str(), SESSION)
            .and_then(|session| session.call_method("Close", &()));
        if let Err(e) = closed {
            log::debug!("closing the portal session: {e}");
        }
    }
}

fn no_portal(e: impl std::fmt::Display) -> HotkeyError {
    HotkeyError::NoPortal {
        detail: e.to_string(),
    }
}

/// Calls `method` of the GlobalShortcuts interface as a portal request, and waits for the
/// request's `Response`: its results, or why the desktop said no.
fn request(
    conn: &Connection,
    portal: &Proxy<'_>,
    token: &str,
    method: &str,
    body: &(impl serde::Serialize + zbus::zvariant::DynamicType),
    hotkey: &Hotkey,
) -> Result<Results, HotkeyError> {
    // The request's path is known before the call (portal 0.9 and later): listen first, so
    // that a quick answer is not missed.
    let sender = conn
        .unique_name()
        .map(|n| n.trim_start_matches(':').replace('.', "_"))
        .unwrap_or_default();
    let path = format!("{DESKTOP_PATH}/request/{sender}/{token}");
    let rule = MatchRule::builder()
        .msg_type(Type::Signal)
        .interface(REQUEST)
        .and_then(|r| r.member("Response"))
        .and_then(|r| r.path(path.as_str()))
        .map_err(no_portal)?
        .build();
    let mut responses = MessageIterator::for_match_rule(rule, conn, Some(4)).map_err(no_portal)?;
    let _: OwnedObjectPath = portal.call(method, body).map_err(no_portal)?;
    let message = responses
        .next()
        .ok_or_else(|| no_portal("the portal closed the connection"))?
        .map_err(no_portal)?;
    let (code, results): (u32, Results) = message.body().deserialize().map_err(no_portal)?;
    match code {
        0 => Ok(results),
        1 => Err(HotkeyError::NotBound {
            hotkey: hotkey.to_string(),
            detail: "the dialog was cancelled".into(),
        }),
        _ => Err(HotkeyError::NotBound {
            hotkey: hotkey.to_string(),
            detail: format!("the portal ended the {method} request"),
        }),
    }
}

/// Binds the hotkey through the portal and listens for it on a thread of its own; returns
/// the thread, the session, and the trigger as the desktop describes it.
pub(crate) fn start(
    hotkey: &Hotkey,
    shared: Arc<Shared>,
    mut on_key: OnKey,
) -> Result<(Option<JoinHandle<()>>, Session, String), HotkeyError> {
    let conn = Connection::session().map_err(no_portal)?;
    // No property cache: it would ask for every property first, which is not needed.
    let portal: Proxy<'_> = zbus::blocking::proxy::Builder::new(&conn)
        .destination(DESKTOP)
        .and_then(|b| b.path(DESKTOP_PATH))
        .and_then(|b| b.interface(SHORTCUTS))
        .map(|b| b.cache_properties(zbus::proxy::CacheProperties::No))
        .and_then(|b| b.build())
        .map_err(no_portal)?;
    // No portal, or one without the interface, fails here with the bus's own words.
    let version: u32 = portal.get_property("version").map_err(no_portal)?;
    log::debug!("GlobalShortcuts portal, version {version}");

    let pid = std::process::id();
    let session_token = format!("rech_{pid}");
    let options: HashMap<&str, Value<'_>> = HashMap::from([
        ("handle_token", Value::from(format!("rech_session_{pid}"))),
        ("session_handle_token", Value::from(session_token.as_str())),
    ]);
    let created = request(
        &conn,
        &portal,
        &format!("rech_session_{pid}"),
        "CreateSession",
        &(options,),
        hotkey,
    )?;
    let handle = created
        .get("session_handle")
        .and_then(|v| {
            // The specification says a string; some portals send an object path.
            String::try_from(v.try_clone().ok()?).ok().or_else(|| {
                OwnedObjectPath::try_from(v.try_clone().ok()?)
                    .ok()
                    .map(|p| p.to_string())
            })
        })
        .and_then(|s| OwnedObjectPath::try_from(s).ok())
        .ok_or_else(|| no_portal("CreateSession gave no session handle"))?;
    let session = Session {
        conn: conn.clone(),
        handle: handle.clone(),
    };

    // Listen before binding, so that a press right after the dialog is not missed.
    let rule = MatchRule::builder()
        .msg_type(Type::Signal)
        .interface(SHORTCUTS)
        .and_then(|r| r.path(DESKTOP_PATH))
        .map_err(no_portal)?
        .build();
    let signals = MessageIterator::for_match_rule(rule, &conn, Some(64)).map_err(no_portal)?;

    let trigger = hotkey.portal_trigger();
    let description = format!("rech: dictate while held ({hotkey})");
    let shortcut: HashMap<&str, Value<'_>> = HashMap::from([
        ("description", Value::from(description.as_str())),
        ("preferred_trigger", Value::from(trigger.as_str())),
    ]);
    let bind_options: HashMap<&str, Value<'_>> =
        HashMap::from([("handle_token", Value::from(format!("rech_bind_{pid}")))]);
    let bound = request(
        &conn,
        &portal,
        &format!("rech_bind_{pid}"),
        "BindShortcuts",
        &(&handle, vec![(SHORTCUT_ID, shortcut)], "", bind_options),
        hotkey,
    )?;
    let shortcuts: Vec<(String, Results)> = bound
        .get("shortcuts")
        .and_then(|v| v.try_clone().ok())
        .and_then(|v| Vec::try_from(v).ok())
        .unwrap_or_default();
    let Some((_, properties)) = shortcuts.iter().find(|(id, _)| id == SHORTCUT_ID) else {
        return Err(HotkeyError::NotBound {
            hotkey: hotkey.to_string(),
            detail: "the desktop bound no shortcut (was it turned off in its settings?)".into(),
        });
    };
    let bound_as = properties
        .get("trigger_description")
        .and_then(|v| String::try_from(v.try_clone().ok()?).ok())
        .filter(|s| !s.is_empty())
        .unwrap_or(trigger);

    let thread = std::thread::Builder::new()
        .name("rech-hotkey-portal".into())
        .spawn(move || {
            let mut held = false;
            for message in signals {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(message) = message else { continue };
                let header = message.header();
                let member = header.member().map(|m| m.as_str().to_owned());
                let Ok((session, id, _time, _options)) =
                    message
                        .body()
                        .deserialize::<(OwnedObjectPath, String, u64, Results)>()
                else {
                    continue;
                };
                if session != handle || id != SHORTCUT_ID {
                    continue;
                }
                match member.as_deref() {
                    Some("Activated") if !held => {
                        held = true;
                        on_key(KeyEvent::Pressed);
                    }
                    Some("Activated") => {
                        shared.repeats.fetch_add(1, Ordering::Relaxed);
                    }
                    Some("Deactivated") if held => {
                        held = false;
                        on_key(KeyEvent::Released);
                    }
                    _ => {}
                }
            }
        })
        .map_err(|_| HotkeyError::Thread)?;
    Ok((Some(thread), session, bound_as))
}
