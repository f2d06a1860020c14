//! `rech devices`: the input devices rech can record from, with what each offers, so that a
//! user can pick one for `--device` by index, id or a part of its name.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Args;
use rech_audio::{capabilities, input_devices, ConfigRange, DeviceCapabilities};

use crate::Context;

#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// List the devices only, without opening each to ask what it supports.
    #[arg(long)]
    brief: bool,
}

pub fn run(args: DevicesArgs, _ctx: &Context) -> Result<ExitCode> {
    let devices = input_devices()?;
    if devices.is_empty() {
        return Err(rech_audio::CaptureError::NoDevices.into());
    }
    let mut out = io::stdout().lock();
    for device in &devices {
        let default = if device.is_default { "  [default]" } else { "" };
        let name = if device.name == device.id {
            String::new()
        } else {
            format!("  {}", device.name)
        };
        writeln!(out, "{:>2}  {}{name}{default}", device.index, device.id)
            .context("cannot write to stdout")?;
        if args.brief {
            continue;
        }
        let line = match capabilities(device) {
            Ok(caps) => describe(&caps),
            Err(err) => format!("cannot be opened: {err}"),
        };
        writeln!(out, "    {line}").context("cannot write to stdout")?;
    }
    out.flush().context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// One line: the configuration rech would use, then the ranges the device accepts.
fn describe(caps: &DeviceCapabilities) -> String {
    let mut parts = Vec::new();
    if let Some(d) = &caps.default {
        parts.push(format!(
            "records {} Hz, {} ch, {}",
            d.min_rate, d.channels, d.format
        ));
    }
    if !caps.ranges.is_empty() {
        parts.push(format!("supports {}", summarise(&caps.ranges)));
    }
    if parts.is_empty() {
        "offers no capture configuration".to_owned()
    } else {
        parts.join("; ")
    }
}

/// Rates, channel counts and formats over all ranges, compactly.
fn summarise(ranges: &[ConfigRange]) -> String {
    let min_rate = ranges.iter().map(|r| r.min_rate).min().unwrap_or(0);
    let max_rate = ranges.iter().map(|r| r.max_rate).max().unwrap_or(0);
    let min_ch = ranges.iter().map(|r| r.channels).min().unwrap_or(0);
    let max_ch = ranges.iter().map(|r| r.channels).max().unwrap_or(0);
    let mut formats: Vec<&str> = Vec::new();
    for r in ranges {
        if !formats.contains(&r.format.as_str()) {
            formats.push(&r.format);
        }
    }
    let rates = if min_rate == max_rate {
        format!("{min_rate} Hz")
    } else {
        format!("{min_rate}–{max_rate} Hz")
    };
    let channels = if min_ch == max_ch {
        format!("{min_ch} ch")
    } else {
        format!("{min_ch}–{max_ch} ch")
    };
    format!("{rates}, {channels}, {}", formats.join("/"))
}
