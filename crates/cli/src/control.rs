//! `rech dictate ctl` (what a window manager's key binding runs) and `--listen-on`'s socket,
//! which is the library's (`rech::control`), in the binary's words.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::builder::PossibleValue;
use clap::{Args, ValueEnum};
use rech::control::{self, Command, ControlError};
pub use rech::control::{default_socket, Control};

use crate::UsageError;

/// A command `rech dictate ctl` sends, as clap lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlCommand(Command);

impl ValueEnum for ControlCommand {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            ControlCommand(Command::Start),
            ControlCommand(Command::Stop),
            ControlCommand(Command::Toggle),
            ControlCommand(Command::Status),
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self.0 {
            Command::Start => "Start listening",
            Command::Stop => "Finish the phrase under way and stop listening",
            Command::Toggle => "Start when stopped, stop when listening",
            Command::Status => "Print the state without changing it",
        };
        Some(PossibleValue::new(self.0.word()).help(help))
    }
}

#[derive(Debug, Args)]
pub struct CtlArgs {
    /// What to do.
    #[arg(value_enum)]
    command: ControlCommand,

    /// The control socket of the `rech dictate --listen-on` to talk to [default:
    /// $RECH_DICTATE_SOCKET, else $XDG_RUNTIME_DIR/rech-dictate.sock].
    #[arg(long, value_name = "SOCKET")]
    socket: Option<PathBuf>,
}

/// `rech dictate ctl`: sends one command and prints the answer.
pub fn run_ctl(args: &CtlArgs, quiet: bool) -> Result<()> {
    let path = args.socket.clone().unwrap_or_else(default_socket);
    let answer = control::send(&path, args.command.0).map_err(explain)?;
    if !quiet || args.command.0 == Command::Status {
        println!("{answer}");
    }
    Ok(())
}

/// Binds `--listen-on`'s socket.
pub fn bind(path: &Path) -> Result<Control> {
    Control::bind(path).map_err(explain)
}

/// A control error in the binary's words.
fn explain(e: ControlError) -> anyhow::Error {
    match e {
        ControlError::NotRunning { path } => UsageError(format!(
            "no `rech dictate --listen-on` is running at {}",
            path.display()
        ))
        .into(),
        ControlError::NotASocket { path } => UsageError(format!(
            "{} exists and is not a socket: pass another path to --listen-on",
            path.display()
        ))
        .into(),
        ControlError::Taken { path } => UsageError(format!(
            "{} is taken: another `rech dictate --listen-on` is running there",
            path.display()
        ))
        .into(),
        other => other.into(),
    }
}
