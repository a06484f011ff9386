//! The `ladder` binary: the server (`ladder serve`) and the staff CLI.

/// mimalloc instead of the system allocator: sled allocates and frees a
/// node delta per insert, and glibc's malloc spent a fifth of the writer's
/// time on them (see the README's Performance section).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ladder::cli::main()
}
