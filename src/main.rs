//! The `hookpit` binary: hands the process to the library's `cli::main`, which parses the command
//! line, runs it, prints one coloured `error:` line on failure and returns the exit code, 0 (ok),
//! 1 (not matched / timed out) or 2 (error).

fn main() {
    std::process::exit(hookpit::cli::main());
}
