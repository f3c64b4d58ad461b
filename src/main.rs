//! The `hookpit` binary: parses the command line, runs it through the library, prints one
//! coloured `error:` line on failure and exits 0 (ok), 1 (not matched / timed out) or 2 (error).
//! Allocates with mimalloc: a capture makes many small, short-lived allocations, and mimalloc
//! serves them with less CPU and less resident overhead than the system allocator.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(hookpit::cli::main());
}
