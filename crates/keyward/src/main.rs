// mimalloc: the hot path's few allocations (request head, answer body)
// cost less than with the system allocator (benches/load/load.sh, docs/BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    keyward::cli::run()
}
