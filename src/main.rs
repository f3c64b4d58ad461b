//! The `hookpit` binary: hands the process to the library's `cli::main`, which parses the command
//! line, runs it, prints one coloured `error:` line on failure and returns the exit code, 0 (ok),
//! 1 (not matched / timed out) or 2 (error).
//! Allocates with mimalloc: a capture makes many small, short-lived allocations, and mimalloc
//! serves them with less CPU and less resident overhead than the system allocator.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(hookpit::cli::main());
}
