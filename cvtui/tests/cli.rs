//! The binary's command line: `--help` teaches with an example, and without a terminal it
//! refuses clearly instead of drawing into a pipe.

use std::process::Command;

fn cvtui(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cvtui"))
        .args(args)
        .output()
        .expect("cvtui runs")
}

#[test]
fn help_names_the_socket_flag_and_shows_examples() {
    let out = cvtui(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--socket <PATH>"), "{text}");
    assert!(
        text.contains("/run/cloudvlan/cvland.sock"),
        "the default: {text}"
    );
    assert!(text.contains("Examples:"), "{text}");
    assert!(text.contains("cvtui --socket /run/cvlan-lab/"), "{text}");
}

#[test]
fn without_a_terminal_it_says_so_and_fails() {
    let out = cvtui(&["--socket", "/nonexistent/cvland.sock"]);
    assert_eq!(out.status.code(), Some(1), "an error, not a panic");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a terminal"), "{err}");
    assert!(out.stdout.is_empty(), "nothing drawn into the pipe");
}

#[test]
fn a_bad_flag_is_a_usage_error() {
    let out = cvtui(&["--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
}
