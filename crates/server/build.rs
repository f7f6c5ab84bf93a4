//! Rebuilds the server when the web console's files change: they are
//! embedded at compile time (`routes/console.rs`), and a new file in `web/`
//! would otherwise go unnoticed until something else changed.

fn main() {
    println!("cargo:rerun-if-changed=../../web");
}
