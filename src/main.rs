//! The `hookpit` binary: parses the command line, runs it through the library, prints one
//! coloured `error:` line on failure and exits 0 (ok), 1 (not matched / timed out) or 2 (error).

fn main() {
    std::process::exit(hookpit::cli::main());
}
