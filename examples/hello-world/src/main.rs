//! Example container: prints a greeting, its arguments and selected environment.
#![forbid(unsafe_code)]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let name = std::env::var("NAME").unwrap_or_else(|_| "world".to_string());
    println!("Hello, {name}! args: {args:?}");
}
