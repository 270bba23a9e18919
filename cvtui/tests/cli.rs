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

#[test]
fn man_prints_the_section_1_page_and_is_hidden_from_help() {
    let out = cvtui(&["--man"]);
    assert!(out.status.success(), "no terminal needed");
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH cvtui 1 "), "{page}");
    assert!(page.contains("socket"), "the flags: {page}");
    assert!(
        !page.contains("\\-\\-man"),
        "the page does not list --man: {page}"
    );
    let help = cvtui(&["--help"]);
    assert!(!String::from_utf8_lossy(&help.stdout).contains("--man"));
}
