//! How whisper.cpp's OpenMP threads wait between operations: spinning wins on an idle machine
//! and collapses beside another busy process, and libgomp reads its setting before `main`, so a
//! program chooses by running itself again (what `rech transcribe` and `rech serve` do).

/// How whisper.cpp's OpenMP threads wait between operations, unless the user chose
/// (`OMP_WAIT_POLICY` or `GOMP_SPINCOUNT` set). Spinning is what makes an idle machine fast —
/// the decoder's many small operations each wake the threads — and what collapses beside
/// another busy process: `-t 2` with a bounded spin took 4.3–4.7 s idle against 6.2 s waiting
/// passively, but 5–7× that beside a second job, where passive took 1.2× (BENCHMARKS.md,
/// `bench/threads.py --policies`). So with `spin_when_idle` (what `rech transcribe` passes) the
/// threads spin briefly (30,000 turns, about 0.3 ms) when no other thread keeps the cores busy
/// as the program starts, and sleep otherwise; without it (`rech serve`, which lives on while
/// other load comes and goes) they always sleep. libgomp reads the variables
/// when it is loaded, before `main`, so this runs the program again (the same executable and
/// arguments) with them set: call it first thing in `main`; if the exec fails, the program
/// carries on as it is.
pub fn choose_openmp_waiting(spin_when_idle: bool) {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("OMP_WAIT_POLICY").is_some() || std::env::var_os("GOMP_SPINCOUNT").is_some()
    {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let spin = spin_when_idle && others_busy() == Some(false);
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    let mut command = std::process::Command::new(&exe);
    command
        .arg0(arg0)
        .args(args)
        .env("OMP_WAIT_POLICY", "passive");
    if spin {
        // With passive waiting named, libgomp still spins this many turns first.
        command.env("GOMP_SPINCOUNT", "30000");
    }
    command.env(
        OPENMP_CHOICE,
        if spin {
            "a short spin (no other thread kept the cores busy)"
        } else if spin_when_idle {
            "sleeping (other threads kept the cores busy)"
        } else {
            "sleeping"
        },
    );
    // exec only returns when it failed.
    let _ = command.exec();
}

/// Where rech tells itself, across its own exec, why it chose its OpenMP waiting (for `-v`).
const OPENMP_CHOICE: &str = "RECH_OPENMP_WAITING";

/// What [`choose_openmp_waiting`] chose for this process and why ("a short spin (no other
/// thread kept the cores busy)"), when it chose; `None` when the user set the variables.
pub fn openmp_choice() -> Option<String> {
    std::env::var_os(OPENMP_CHOICE).map(|c| c.to_string_lossy().into_owned())
}

/// Whether other threads keep the cores busy: in at least three of five looks at the kernel's
/// count of runnable threads (`procs_running`) over 40 ms, another thread than this one was
/// running. One look is not enough either way: a busy neighbour that waits between its own
/// steps is not running at every instant, and an idle machine's daemons wake now and then.
fn others_busy() -> Option<bool> {
    let mut seen = 0;
    for look in 0..5 {
        if look > 0 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let running: u64 = stat
            .lines()
            .find_map(|l| l.strip_prefix("procs_running "))?
            .trim()
            .parse()
            .ok()?;
        if running > 1 {
            seen += 1;
        }
    }
    Some(seen >= 3)
}
