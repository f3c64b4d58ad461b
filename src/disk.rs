//! The durable store behind `--data-dir`: one SQLite database written behind the memory store
//! by one writer thread, read once at start.
