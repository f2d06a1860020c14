//! The one factory for progress bars: a real bar on a terminal's stderr, a hidden one when
//! stderr is not a terminal or `--quiet` is set, so stdout only ever carries results.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Progress of `rech transcribe`: one bar per file being transcribed (audio done, real-time
/// factor, time left) and, with several files, an overall bar above them.
pub struct Progress {
    /// `None` when nothing is drawn (not a terminal, or `--quiet`).
    multi: Option<MultiProgress>,
    overall: Option<ProgressBar>,
}

impl Progress {
    /// Progress for a run over `files` inputs.
    pub fn new(quiet: bool, files: usize) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            return Self {
                multi: None,
                overall: None,
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = (files > 1).then(|| {
            let bar = multi.add(ProgressBar::new(files as u64));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:.bold} [{elapsed_precise}] {wide_bar:.green/blue} {pos}/{len} files, ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("█▉▊▋▌▍▎▏ "),
            );
            bar.set_prefix("all");
            bar
        });
        Self {
            multi: Some(multi),
            overall,
        }
    }

    /// A bar for one file; `seconds` is the audio's length when the header tells it.
    pub fn file_bar(&self, label: &str, seconds: Option<f64>) -> FileBar {
        let Some(multi) = &self.multi else {
            return FileBar {
                bar: ProgressBar::hidden(),
            };
        };
        let length = seconds.map(|s| (s * 1000.0) as u64);
        let bar = multi.add(ProgressBar::with_draw_target(
            length,
            ProgressDrawTarget::hidden(),
        ));
        let template = if length.is_some() {
            "{prefix:.bold} {wide_bar:.cyan/blue} {percent:>3}% {msg} ETA {eta}"
        } else {
            "{prefix:.bold} {spinner} [{elapsed_precise}] {msg}"
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("█▉▊▋▌▍▎▏ "),
        );
        bar.set_prefix(label.to_owned());
        bar.set_message("decoding");
        FileBar { bar }
    }

    /// Counts one more file as done on the overall bar.
    pub fn file_done(&self) {
        if let Some(overall) = &self.overall {
            overall.inc(1);
        }
    }

    /// Prints a line on stderr above the bars.
    pub fn println(&self, line: &str) {
        match &self.multi {
            Some(multi) => {
                let _ = multi.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// Removes the bars.
    pub fn finish(&self) {
        if let Some(overall) = &self.overall {
            overall.finish_and_clear();
        }
        if let Some(multi) = &self.multi {
            let _ = multi.clear();
        }
    }
}

/// A real-time factor in words that say which way it goes: `0.31× real time (3.2× faster)`,
/// `3.27× real time (3.3× slower)`.
pub fn speed(real_time_factor: f64) -> String {
    if !real_time_factor.is_finite() || real_time_factor <= 0.0 {
        return "speed unknown".into();
    }
    let way = if real_time_factor <= 1.0 {
        format!("{:.1}× faster", 1.0 / real_time_factor)
    } else {
        format!("{real_time_factor:.1}× slower")
    };
    format!("{real_time_factor:.2}× real time ({way})")
}

/// One file's bar, counting milliseconds of audio transcribed.
pub struct FileBar {
    bar: ProgressBar,
}

impl FileBar {
    /// `seconds` of audio are done after `elapsed` seconds of work.
    pub fn audio_done(&self, seconds: f64, elapsed: f64) {
        self.bar.set_position((seconds * 1000.0) as u64);
        if seconds > 0.0 {
            let done = seconds as u64;
            self.bar.set_message(format!(
                "{}:{:02} done, {}",
                done / 60,
                done % 60,
                speed(elapsed / seconds)
            ));
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A bar for a model download: bytes, speed and time left; a spinner with bytes and speed when
/// the size is unknown.
pub fn download_bar(quiet: bool, label: &str, total: Option<u64>) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(total) => (
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
            "{prefix:.bold} {wide_bar:.cyan/blue} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ),
        None => (
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            "{prefix:.bold} {spinner} {binary_bytes} {binary_bytes_per_sec} [{elapsed_precise}]",
        ),
    };
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("█▉▊▋▌▍▎▏ ");
    bar.set_style(style);
    bar.set_prefix(label.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    use super::speed;

    #[test]
    fn the_speed_says_which_way_it_goes() {
        assert_eq!(speed(0.31), "0.31× real time (3.2× faster)");
        assert_eq!(speed(3.27), "3.27× real time (3.3× slower)");
        assert_eq!(speed(1.0), "1.00× real time (1.0× faster)");
        assert_eq!(speed(f64::NAN), "speed unknown");
    }
}
