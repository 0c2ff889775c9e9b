//! Example container: prints a greeting, its arguments and selected environment. An
//! empty `NAME` is a broken configuration: it says so and exits with 1 (the demo's bad
//! update).
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = std::env::var("NAME").unwrap_or_else(|_| "world".to_string());
    if name.is_empty() {
        eprintln!("hello-world: NAME is empty: nobody to greet");
        return ExitCode::FAILURE;
    }
    println!("Hello, {name}! args: {args:?}");
    ExitCode::SUCCESS
}
