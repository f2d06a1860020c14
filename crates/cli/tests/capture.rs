//! The real microphone path — cpal (its PulseAudio client), the ring buffer, downmixing and
//! resampling — on a machine without a sound card: each test starts its own PulseAudio server
//! with a pipe source as the default input (remapped to 48 kHz stereo), and plays real Russian
//! speech into it in real time, as a microphone would deliver it. `rech record` must capture the speech faithfully and write valid WAV files (also on
//! Ctrl-C, and when the server dies mid-recording), and `rech dictate` must hear it.
#![cfg(target_os = "linux")]

use rech_testkit::needs;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use rech_testkit::{assert_success, looping_model, shared_dir, Running};

/// Linux's O_NONBLOCK: the test writes to the fifo without ever blocking on it.
const O_NONBLOCK: i32 = 0o4000;
const RATE: usize = 16_000;

/// Waits until the WAV being recorded at `wav` holds `bytes` of audio after its 44-byte header
/// (the recorder keeps the header valid every second and the file grows as audio arrives).
fn wait_for_recorded(wav: &Path, bytes: f64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let len = std::fs::metadata(wav).map_or(0, |m| m.len());
        if len.saturating_sub(44) as f64 >= bytes {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} holds {len} bytes after 30 s",
            wav.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A PulseAudio server of this test's own, with a pipe source `fakemic` as its default input.
/// Dropped, it is killed (by its process id) and its directory removed.
struct Pulse {
    child: Child,
    dir: tempfile::TempDir,
    fifo: PathBuf,
}

impl Pulse {
    /// Starts the server (a test that does carries `#[needs(programs(pulseaudio pactl))]`).
    fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rech-pulse")
            .tempdir()
            .unwrap();
        let fifo = dir.path().join("mic.fifo");
        let log = File::create(dir.path().join("pulseaudio.log")).unwrap();
        // -n: no default.pa; anonymous auth (no cookie); no shared memory (containers often
        // refuse it); never exit while idle. As root PulseAudio warns and runs all the same.
        let child = Command::new("pulseaudio")
            .args([
                "-n",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--disable-shm=yes",
            ])
            .args(["--use-pid-file=no", "--system=no", "--log-target=stderr"])
            .arg("-L")
            .arg(format!(
                "module-native-protocol-unix auth-anonymous=1 socket={}",
                dir.path().join("native").display()
            ))
            .arg("-L")
            .arg(format!(
                "module-pipe-source source_name=fakemic file={} format=s16le rate=16000 channels=1",
                fifo.display()
            ))
            // What rech records from: the pipe source as a 48 kHz stereo microphone, so that
            // downmixing and resampling are part of the path.
            .arg("-L")
            .arg("module-remap-source source_name=mic master=fakemic rate=48000 channels=2")
            // A speaker for the sound cue, whose monitor the tests record.
            .arg("-L")
            .arg("module-null-sink sink_name=speaker rate=48000 channels=2")
            .envs(Self::client_env_for(dir.path()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start pulseaudio");
        let mut pulse = Self { child, dir, fifo };
        pulse.wait_until_ready();
        pulse
    }

    fn client_env_for(dir: &Path) -> Vec<(String, String)> {
        vec![
            (
                "PULSE_SERVER".into(),
                format!("unix:{}", dir.join("native").display()),
            ),
            ("XDG_RUNTIME_DIR".into(), dir.display().to_string()),
            ("HOME".into(), dir.display().to_string()),
            ("PULSE_RUNTIME_PATH".into(), dir.display().to_string()),
        ]
    }

    fn client_env(&self) -> Vec<(String, String)> {
        Self::client_env_for(self.dir.path())
    }

    fn pactl(&self, args: &[&str]) -> bool {
        let mut child = Command::new("pactl")
            .args(args)
            .envs(self.client_env())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run pactl");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.success();
            }
            if started.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_until_ready(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("pulseaudio exited ({status}):\n{}", self.log());
            }
            if self.fifo.exists() && self.pactl(&["info"]) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "pulseaudio did not come up:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(self.pactl(&["set-default-source", "mic"]), "{}", self.log());
        assert!(
            self.pactl(&["set-default-sink", "speaker"]),
            "{}",
            self.log()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pulseaudio.log")).unwrap_or_default()
    }

    /// `rech dictate ctl COMMAND --socket SOCKET` against a dictation of this server; what it
    /// printed (the state, for `status`).
    fn ctl(&self, socket: &Path, command: &str) -> String {
        let out = self
            .rech()
            .args(["dictate", "ctl", command, "--socket"])
            .arg(socket)
            .output()
            .unwrap();
        assert_success(&out);
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// `rech` talking to this server.
    fn rech(&self) -> Command {
        let mut cmd = Command::cargo_bin("rech").unwrap();
        let no_models = Path::new(env!("CARGO_TARGET_TMPDIR")).join("capture-no-models");
        cmd.envs(self.client_env())
            .env_remove("RECH_MODEL")
            .env_remove("RECH_VAD_MODEL")
            .env_remove("RECH_DEVICE")
            .env_remove("ALSA_CONFIG_PATH")
            .env("RECH_OFFLINE", "1")
            .env("RECH_MODELS_DIR", no_models)
            .env("RUST_BACKTRACE", "0");
        cmd
    }

    /// How many recording streams clients have open (the remapped source's own stream has no
    /// client): what tells whether rech holds the microphone.
    fn recording_streams(&self) -> usize {
        let out = Command::new("pactl")
            .args(["list", "short", "source-outputs"])
            .envs(self.client_env())
            .output()
            .expect("run pactl");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.split('\t').nth(2).is_some_and(|client| client != "-"))
            .count()
    }

    /// Waits (up to 10 s) until `recording_streams` is `n`.
    fn wait_for_streams(&self, n: usize) -> bool {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if self.recording_streams() == n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Kills the server now (its clients see the device vanish).
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Feeds the pipe source in real time — 100 ms every 100 ms — as a microphone would: silence
/// from the start (PulseAudio starts a recording only once its source delivers), `speech` once
/// [`play`](Self::play) is called, then silence again until dropped. Writes never block: what
/// the pipe cannot take is dropped, as a microphone's sound would be.
struct Feeder {
    stop: Arc<AtomicBool>,
    playing: Arc<AtomicBool>,
    /// When the speech's first chunk went into the pipe.
    spoke: Arc<std::sync::OnceLock<Instant>>,
    handle: Option<JoinHandle<()>>,
}

impl Feeder {
    fn start(fifo: &Path, speech: Vec<f32>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let playing = Arc::new(AtomicBool::new(false));
        let spoke = Arc::new(std::sync::OnceLock::new());
        let (stop_flag, play_flag) = (Arc::clone(&stop), Arc::clone(&playing));
        let spoken = Arc::clone(&spoke);
        let mut pipe = OpenOptions::new()
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(fifo)
            .expect("open the fifo (PulseAudio holds its reading end)");
        let handle = std::thread::spawn(move || {
            let chunk = RATE / 10;
            let started = Instant::now();
            let (mut ticks, mut played) = (0u32, 0usize);
            while !stop_flag.load(Ordering::SeqCst) {
                let bytes: Vec<u8> = (0..chunk)
                    .flat_map(|i| {
                        let s = if play_flag.load(Ordering::Relaxed) {
                            speech.get(played + i).copied().unwrap_or(0.0)
                        } else {
                            0.0
                        };
                        ((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()
                    })
                    .collect();
                if play_flag.load(Ordering::Relaxed) {
                    played += chunk;
                }
                match pipe.write(&bytes) {
                    Ok(_) if played > 0 => {
                        let _ = spoken.set(Instant::now());
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
                ticks += 1;
                let due = started + Duration::from_millis(100) * ticks;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        });
        Self {
            stop,
            playing,
            spoke,
            handle: Some(handle),
        }
    }

    fn play(&self) {
        self.playing.store(true, Ordering::SeqCst);
    }

    /// Plays, and returns once the speech's first chunk is in the pipe: when that was.
    fn play_and_wait(&self) -> Instant {
        self.play();
        let started = Instant::now();
        loop {
            if let Some(at) = self.spoke.get() {
                return *at;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the feeder never played"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn read_wav(path: &Path) -> (hound::WavSpec, Vec<f32>) {
    let mut reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    let samples = reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect();
    (spec, samples)
}

fn speech(shared: &Path, name: &str) -> Vec<f32> {
    let (spec, samples) = read_wav(&shared.join(format!("audio/ru/human/{name}.wav")));
    assert_eq!((spec.sample_rate, spec.channels), (16_000, 1));
    samples
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

/// Normalised cross-correlation of `recorded` with `source` over their overlap, at `lag`
/// (recorded sample `i + lag` against source sample `i`).
fn ncc_at(source: &[f32], recorded: &[f32], lag: i64) -> f64 {
    let (s, r) = if lag >= 0 {
        let r = recorded.get(lag as usize..).unwrap_or(&[]);
        (source, r)
    } else {
        (source.get((-lag) as usize..).unwrap_or(&[]), recorded)
    };
    let n = s.len().min(r.len());
    let (s, r) = (&s[..n], &r[..n]);
    let denominator = (dot(s, s) * dot(r, r)).sqrt();
    if denominator == 0.0 {
        0.0
    } else {
        dot(s, r) / denominator
    }
}

/// The best normalised cross-correlation within ±2 s: found coarsely on 8× decimated signals,
/// then sample by sample around the best coarse lag.
fn best_ncc(source: &[f32], recorded: &[f32]) -> (f64, f64) {
    let decimate = |x: &[f32]| -> Vec<f32> {
        x.chunks(8)
            .map(|c| c.iter().sum::<f32>() / c.len() as f32)
            .collect()
    };
    let (ds, dr) = (decimate(source), decimate(recorded));
    let range = (2 * RATE / 8) as i64;
    let coarse = (-range..=range)
        .max_by(|&a, &b| ncc_at(&ds, &dr, a).total_cmp(&ncc_at(&ds, &dr, b)))
        .unwrap();
    let (ncc, lag) = (coarse * 8 - 12..=coarse * 8 + 12)
        .map(|lag| (ncc_at(source, recorded, lag), lag))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    (ncc, lag as f64 / RATE as f64)
}

/// 0.3 s of silence, then the recording.
fn with_lead_in(samples: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; RATE * 3 / 10];
    out.extend_from_slice(samples);
    out
}

#[needs(shared, programs(pulseaudio pactl))]
#[test]
fn recording_from_the_default_input_captures_the_speech() {
    let shared = shared_dir();
    let pulse = Pulse::start();
    let dir = tempfile::tempdir().unwrap();
    let source = with_lead_in(&speech(&shared, "ru_0024"));
    let duration = format!("{:.1}", source.len() as f64 / RATE as f64 + 1.0);
    let seconds: f64 = duration.parse().unwrap();
    let wav = dir.path().join("mic.wav");

    let feeder = Feeder::start(&pulse.fifo, source.clone());
    let mut rec = Running::spawn(
        pulse
            .rech()
            .arg("record")
            .arg(&wav)
            .args(["--duration", &duration]),
    );
    rec.wait_for(
        "recording from mic (48000 Hz, 2 ch",
        Duration::from_secs(20),
    );
    feeder.play();
    let (_, err, code) = rec.finish(Duration::from_secs(60));
    drop(feeder);
    assert_eq!(code, Some(0), "{err}\n--- pulseaudio ---\n{}", pulse.log());

    let (spec, recorded) = read_wav(&wav);
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (16_000, 1, 16)
    );
    assert_eq!(recorded.len(), (seconds * RATE as f64).round() as usize);
    let (ncc, lag) = best_ncc(&source, &recorded);
    eprintln!("correlation with the spoken file: {ncc:.3} at lag {lag:.3} s");
    assert!(ncc >= 0.9, "correlation {ncc:.3} at lag {lag:.3} s");
    assert!(err.contains("recorded"), "{err}");
    assert!(!err.contains("lost"), "{err}");
}

#[needs(shared, programs(pulseaudio pactl))]
#[test]
fn ctrl_c_and_native_format_give_valid_files() {
    let shared = shared_dir();
    let pulse = Pulse::start();
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("native.wav");
    let feeder = Feeder::start(&pulse.fifo, speech(&shared, "ru_0025"));
    let mut rec = Running::spawn(pulse.rech().args(["record", "--native"]).arg(&wav));
    rec.wait_for(
        "recording from mic (48000 Hz, 2 ch",
        Duration::from_secs(20),
    );
    feeder.play();
    // Interrupted once 2.5 s are on disk (48 kHz stereo 16-bit: 192,000 bytes a second).
    wait_for_recorded(&wav, 2.5 * 192_000.0);
    rec.interrupt();
    let (_, err, code) = rec.finish(Duration::from_secs(30));
    drop(feeder);
    assert_eq!(code, Some(0), "{err}");
    let reader = hound::WavReader::open(&wav).expect("a valid WAV file after Ctrl-C");
    let spec = reader.spec();
    // The microphone is 48 kHz stereo: --native keeps it.
    assert_eq!((spec.sample_rate, spec.channels), (48_000, 2), "{err}");
    let seconds = f64::from(reader.duration()) / 48_000.0;
    assert!((2.5..4.5).contains(&seconds), "{seconds} s recorded");
}

#[needs(shared, programs(pulseaudio pactl))]
#[test]
fn a_vanishing_device_ends_the_recording_with_an_error_and_a_valid_file() {
    let shared = shared_dir();
    let mut pulse = Pulse::start();
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("cut.wav");
    let feeder = Feeder::start(&pulse.fifo, speech(&shared, "ru_0031"));
    let mut rec = Running::spawn(pulse.rech().arg("record").arg(&wav));
    rec.wait_for(
        "recording from mic (48000 Hz, 2 ch",
        Duration::from_secs(20),
    );
    feeder.play();
    // The device goes once 1.5 s are on disk (16 kHz mono 16-bit: 32,000 bytes a second).
    wait_for_recorded(&wav, 1.5 * 32_000.0);
    pulse.kill();
    drop(feeder);
    let (_, err, code) = rec.finish(Duration::from_secs(30));
    eprintln!("{err}");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("failed while recording") && err.contains("recorded before are in"),
        "{err}"
    );
    let reader = hound::WavReader::open(&wav).expect("a valid WAV file after the failure");
    let seconds = f64::from(reader.duration()) / 16_000.0;
    assert!((1.5..3.5).contains(&seconds), "{seconds} s kept");
}

#[needs(shared, programs(pulseaudio pactl))]
#[test]
fn dictation_hears_the_microphone() {
    let shared = shared_dir();
    let pulse = Pulse::start();
    let spoken = speech(&shared, "ru_0031");
    let feeder = Feeder::start(&pulse.fifo, with_lead_in(&spoken));
    let mut dictate = Running::spawn(
        pulse
            .rech()
            .args(["dictate", "--format", "jsonl", "-t", "1", "-m"])
            .arg(looping_model())
            .arg("--vad-model")
            .arg(shared.join("models/ggml-silero-v6.2.0.bin")),
    );
    dictate.wait_for("listening to mic", Duration::from_secs(30));
    feeder.play();
    // Stopped once the phrase's final is out (the pause after the speech ends it).
    dictate.wait_for_output("\"final\"", Duration::from_secs(60));
    dictate.interrupt();
    let (out, err, code) = dictate.finish(Duration::from_secs(30));
    drop(feeder);
    assert_eq!(code, Some(0), "{err}");
    let finals: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["type"] == "final")
        .collect();
    assert_eq!(finals.len(), 1, "{out}\n{err}");
    let (start, end) = (
        finals[0]["start"].as_f64().unwrap(),
        finals[0]["end"].as_f64().unwrap(),
    );
    // ru_0031 holds about 5.2 s of speech (1.0 s to 6.2 s).
    assert!((4.7..5.8).contains(&(end - start)), "{start}..{end}");
}

#[needs(shared, programs(pulseaudio pactl))]
#[test]
fn push_to_talk_on_demand_holds_the_microphone_only_while_listening() {
    let shared = shared_dir();
    let pulse = Pulse::start();
    let spoken = speech(&shared, "ru_0031");
    let feeder = Feeder::start(&pulse.fifo, with_lead_in(&spoken));
    let socket = pulse.dir.path().join("dictate.sock");
    let ctl = |command: &str| pulse.ctl(&socket, command);
    let mut dictate = Running::spawn(
        pulse
            .rech()
            .args(["dictate", "--format", "jsonl", "-t", "1", "--mic-on-demand"])
            .arg("--listen-on")
            .arg(&socket)
            .arg("-m")
            .arg(looping_model())
            .arg("--vad-model")
            .arg(shared.join("models/ggml-silero-v6.2.0.bin")),
    );
    dictate.wait_for("controls listening", Duration::from_secs(30));
    // Stopped: no recording stream at all, not one that is read and thrown away (half a
    // second of watching for one: an absence has no event to wait for).
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(pulse.recording_streams(), 0);
    assert_eq!(ctl("status"), "stopped");

    assert_eq!(ctl("start"), "listening");
    dictate.wait_for("listening to mic", Duration::from_secs(10));
    assert!(pulse.wait_for_streams(1), "the microphone was not opened");
    feeder.play();
    // Released once the phrase has been heard whole (its final: the pause after it ends it).
    dictate.wait_for_output("\"final\"", Duration::from_secs(60));
    // Released: the microphone is closed and nothing more is finalised.
    assert_eq!(ctl("toggle"), "stopped");
    dictate.wait_for("rech: stopped", Duration::from_secs(30));
    assert!(pulse.wait_for_streams(0), "the microphone stayed open");

    dictate.interrupt();
    let (out, err, code) = dictate.finish(Duration::from_secs(30));
    drop(feeder);
    assert_eq!(code, Some(0), "{err}");
    let finals = out.lines().filter(|l| l.contains("\"final\"")).count();
    assert_eq!(finals, 1, "{out}\n{err}");
    // The socket goes with the dictation.
    assert!(!socket.exists());
}

/// Where speech starts in `samples`: the first 10 ms frame whose level is a tenth of the
/// loudest frame's.
fn speech_onset(samples: &[f32]) -> usize {
    let frame = RATE / 100;
    let levels: Vec<f32> = samples
        .chunks(frame)
        .map(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt())
        .collect();
    let loudest = levels.iter().copied().fold(0.0, f32::max);
    levels.iter().position(|&l| l >= loudest / 10.0).unwrap() * frame
}

/// Push-to-talk on `pulse`'s microphone with `--save-audio`: the press (`ctl start`) comes
/// 50 ms after the speech's first chunk went into the pipe — a phrase begun a moment before the
/// key is down; returns where the speech's first sample is in the audio the recogniser was
/// given (negative: that much of the onset was lost), and the correlation there.
fn onset_in_phrase(pulse: &Pulse, spoken: &[f32], flags: &[&str]) -> (f64, f64) {
    let shared = shared_dir();
    let socket = pulse.dir.path().join("onset.sock");
    let kept = tempfile::tempdir().unwrap();
    let feeder = Feeder::start(&pulse.fifo, spoken.to_vec());
    let ctl = |command: &str| {
        pulse.ctl(&socket, command);
    };
    let mut dictate = Running::spawn(
        pulse
            .rech()
            .args(["-v", "dictate", "--format", "jsonl", "-t", "1"])
            .args(flags)
            .arg("--listen-on")
            .arg(&socket)
            .arg("--save-audio")
            .arg(kept.path())
            .arg("-m")
            .arg(looping_model())
            .arg("--vad-model")
            .arg(shared.join("models/ggml-silero-v6.2.0.bin")),
    );
    dictate.wait_for("controls listening", Duration::from_secs(30));
    // Kept open: the microphone is read while nobody listens (and nothing is decoded).
    let kept_open = !flags.contains(&"--mic-on-demand");
    assert!(pulse.wait_for_streams(usize::from(kept_open)));
    let spoke = feeder.play_and_wait();
    std::thread::sleep(
        (spoke + Duration::from_millis(50)).saturating_duration_since(Instant::now()),
    );
    ctl("start");
    dictate.wait_for_output("\"final\"", Duration::from_secs(60));
    ctl("stop");
    dictate.wait_for("rech: stopped", Duration::from_secs(30));
    dictate.interrupt();
    let (out, err, code) = dictate.finish(Duration::from_secs(30));
    drop(feeder);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("\"final\""), "{out}");
    let (spec, heard) = read_wav(&kept.path().join("phrase-0001.wav"));
    assert_eq!((spec.sample_rate, spec.channels), (16_000, 1));
    assert!(!kept.path().join("phrase-0002.wav").exists());
    best_ncc(spoken, &heard)
}

#[needs(shared, programs(pulseaudio pactl))]
#[test]
fn a_phrase_spoken_right_at_the_press_keeps_its_first_syllable() {
    let shared = shared_dir();
    let pulse = Pulse::start();
    // ru_0031 from its first syllable (about 1.0 s in), then 1.5 s of silence to end it.
    let whole = speech(&shared, "ru_0031");
    let mut spoken = whole[speech_onset(&whole)..].to_vec();
    spoken.extend(std::iter::repeat_n(0.0, RATE * 3 / 2));

    // Kept open (the default): the phrase's audio begins before the speech, which is whole.
    let (ncc, at) = onset_in_phrase(&pulse, &spoken, &[]);
    eprintln!(
        "kept open: the phrase's audio begins {:.0} ms before the speech",
        at * 1000.0
    );
    assert!(ncc > 0.9, "the speech is not in the phrase's audio: {ncc}");
    assert!(
        at >= 0.0,
        "the first {:.0} ms of the speech were lost with the microphone kept open",
        -at * 1000.0
    );
    // Opened at the press: what the device's start costs (reported, not bounded: it is the
    // device's, and the reason the default keeps it open).
    let (ncc, at) = onset_in_phrase(&pulse, &spoken, &["--mic-on-demand"]);
    assert!(ncc > 0.9, "the speech is not in the phrase's audio: {ncc}");
    eprintln!(
        "--mic-on-demand: the phrase's audio begins {:.0} ms {} the speech",
        at.abs() * 1000.0,
        if at >= 0.0 { "before" } else { "into" }
    );
}

/// The pitch of each tone in `samples` (16 kHz): whole bursts louder than -26 dBFS at least
/// 100 ms long, each split in halves, the pitch of each half from its zero crossings.
fn tones(samples: &[f32]) -> Vec<[f32; 2]> {
    let frame = RATE / 100;
    let loud: Vec<bool> = samples
        .chunks(frame)
        .map(|c| (c.iter().map(|s| s * s).sum::<f32>() / c.len() as f32).sqrt() > 0.05)
        .collect();
    let pitch = |part: &[f32]| {
        let crossings = part
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        crossings as f32 / 2.0 / (part.len() as f32 / RATE as f32)
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i < loud.len() {
        if !loud[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < loud.len() && loud[i] {
            i += 1;
        }
        // A burst still sounding at the end of the recording is not whole yet.
        if i - start >= 10 && i < loud.len() {
            // The edges fade: the middle of each half.
            let burst = &samples[start * frame..i * frame];
            let half = burst.len() / 2;
            let (a, b) = burst.split_at(half);
            let trim = |x: &[f32]| x[x.len() / 5..x.len() * 4 / 5].to_vec();
            found.push([pitch(&trim(a)), pitch(&trim(b))]);
        }
    }
    found
}

#[needs(shared, programs(pulseaudio pactl parec))]
#[test]
fn the_sound_cue_rises_when_listening_starts_and_falls_when_it_stops() {
    let shared = shared_dir();
    let pulse = Pulse::start();
    // What the speaker plays, recorded from its monitor.
    let recording = pulse.dir.path().join("speaker.raw");
    let mut parec = Command::new("parec")
        .args([
            "-d",
            "speaker.monitor",
            "--raw",
            "--format=s16le",
            "--latency-msec=20",
        ])
        .args(["--rate=16000", "--channels=1"])
        .envs(pulse.client_env())
        .stdout(File::create(&recording).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let heard = || -> Vec<[f32; 2]> {
        let bytes = std::fs::read(&recording).unwrap_or_default();
        let samples: Vec<f32> = bytes
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect();
        tones(&samples)
    };
    let wait_for_tones = |n: usize| {
        let started = Instant::now();
        while heard().len() < n && started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(50));
        }
        heard()
    };
    let socket = pulse.dir.path().join("cue.sock");
    let ctl = |command: &str| {
        pulse.ctl(&socket, command);
    };
    let mut dictate = Running::spawn(
        pulse
            .rech()
            .args([
                "dictate",
                "--no-vad",
                "-t",
                "1",
                "--cue",
                "sound",
                "--realtime",
            ])
            .arg("--input")
            .arg(shared.join("audio/ru/human/ru_0031.wav"))
            .arg("--listen-on")
            .arg(&socket)
            .arg("-m")
            .arg(looping_model()),
    );
    dictate.wait_for("controls listening", Duration::from_secs(30));
    assert!(heard().is_empty(), "a tone before anything happened");
    ctl("start");
    dictate.wait_for("rech: listening", Duration::from_secs(10));
    let after_start = wait_for_tones(1);
    if after_start.len() != 1 {
        let recorded = std::fs::metadata(&recording).map_or(0, |m| m.len());
        dictate.interrupt();
        let (_, err, _) = dictate.finish(Duration::from_secs(30));
        panic!("{after_start:?} in {recorded} bytes recorded; rech said: {err}");
    }
    ctl("stop");
    dictate.wait_for("rech: stopped", Duration::from_secs(30));
    let after_stop = wait_for_tones(2);
    dictate.interrupt();
    let (_, err, code) = dictate.finish(Duration::from_secs(30));
    let _ = parec.kill();
    let _ = parec.wait();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(after_stop.len(), 2, "{after_stop:?}");
    let near = |got: f32, want: f32| (got - want).abs() < 30.0;
    let [low, high] = after_stop[0];
    assert!(
        near(low, 660.0) && near(high, 880.0),
        "start: {:?}",
        after_stop[0]
    );
    let [high, low] = after_stop[1];
    assert!(
        near(high, 880.0) && near(low, 660.0),
        "stop: {:?}",
        after_stop[1]
    );
}
