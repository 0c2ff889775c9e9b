//! Runs parsed steps in order. Owns the mapping from a [`Step`] to the module that
//! performs it; a step that fails returns its [`Failure`] and no later step runs.

use crate::{
    actions, console, escape, net, notify, out::Failure, processes, report, signals, steps::Step,
    syscalls,
};

/// Runs one step.
pub fn step(step: &Step) -> Result<(), Failure> {
    match step {
        Step::Report(path) => report::run(path.as_deref()),
        Step::Exit(code) => actions::exit(*code),
        Step::Signal(signo) => signals::raise(*signo),
        Step::Sleep(d) => {
            actions::sleep(*d);
            Ok(())
        }
        Step::SleepForever => actions::sleep_forever(),
        Step::Print {
            stream,
            count,
            text,
        } => actions::print(*stream, *count, text.as_deref()),
        Step::Flood { stream, bytes } => actions::flood(*stream, *bytes),
        Step::Write { path, text, append } => actions::write_file(path, text, *append),
        Step::Read(path) => actions::read_file(path),
        Step::Mkdir(path) => actions::mkdir(path),
        Step::Stat(path) => actions::stat(path),
        Step::Syscall { call, args, path } => syscalls::run(*call, args, path.as_deref()),
        Step::ForkBomb { max } => processes::fork_bomb(*max),
        Step::Orphans(n) => processes::orphans(*n),
        Step::Children(n) => processes::children("children", *n, true),
        Step::Zombies(n) => processes::children("zombies", *n, false),
        Step::ScanZombies(dir) => processes::scan_zombies(dir),
        Step::Alloc { mib } => actions::alloc(*mib),
        Step::Spin(d) => {
            actions::spin(*d);
            Ok(())
        }
        Step::Ignore(signo) => signals::ignore(*signo),
        Step::WaitSignal => signals::wait_signal(),
        Step::Escape => escape::run(),
        Step::Exec { program, arg } => actions::exec(program, arg.as_deref()),
        Step::Net => net::net(),
        Step::Connect(addr) => net::connect(*addr),
        Step::Listen(addr) => net::listen(*addr),
        Step::Console(request) => console::run(request),
        Step::Notify(text) => notify::send(text),
        Step::Watchdog(n) => notify::watchdog(*n),
    }
}

/// Runs all steps in order.
pub fn all(steps: &[Step]) -> Result<(), Failure> {
    steps.iter().try_for_each(step)
}
