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

#[test]
fn completions_and_man_pages_come_from_the_definitions() {
    let bash = common::mailctl().args(["completions", "bash"]).output().unwrap();
    assert_eq!(bash.status.code(), Some(0));
    let text = String::from_utf8_lossy(&bash.stdout);
    assert!(text.contains("move-account") && text.contains("--accept-new-host-keys"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let man = common::mailctl().args(["completions", "man", "--out"]).arg(dir.path()).output().unwrap();
    assert_eq!(man.status.code(), Some(0), "{}", String::from_utf8_lossy(&man.stderr));
    let page = std::fs::read_to_string(dir.path().join("mailctl-deploy.1")).unwrap();
    assert!(page.contains(".TH mailctl-deploy") && page.contains("check"), "{page}");
    let bad = common::mailctl().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
