//! The command line as scripts and cron use it: global options after the subcommand, a
//! reader that closes the pipe early, out-of-range numbers.

mod common;

use std::process::Stdio;

#[test]
fn global_options_work_after_the_subcommand() {
    let tgg = common::shipped("tgg");
    for args in [&["validate", "-i"][..], &["validate", "--inventory"], &["validate", "--format", "json", "-i"]] {
        let out = common::mailctl().args(args).arg(&tgg).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn a_closed_stdout_ends_the_program_quietly() {
    let mut child = common::mailctl()
        .args(["validate", "--format", "json"])
        .arg(common::shipped("tgg"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before the first byte is written (`| head -c 0`).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(out.status.code(), Some(141));
}

#[test]
fn out_of_range_numbers_are_usage_errors_not_panics() {
    let lab = common::shipped("lab");
    for args in [
        &["status", "--connect-timeout", "1e30"][..],
        &["status", "--watch", "1e30"],
        &["status", "--watch", "NaN"],
        &["status", "--forks", "0"],
        &["deploy", "--connect-timeout", "99999999999999999999"],
    ] {
        let out = common::mailctl().args(args).arg(&lab).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked") && stderr.contains("invalid value"), "{args:?}: {stderr}");
    }
}
