//! Runs a service's checker against new files without installing them: in a private mount
//! namespace, each top-level directory of the new tree is laid over the live one, with a
//! throwaway writable layer on top, so the checker reads exactly what would go live and
//! anything it writes (pid dirs, caches) vanishes with the namespace.

/// A POSIX shell script for `sh -c` that runs `check` with `new_root/<dir>` over `/<dir>`
/// for each of `top_dirs` (and a throwaway /run). Exits with the checker's status.
pub fn check_script(new_root: &str, top_dirs: &[String], check: &str) -> String {
    let mut inner = String::from("set -eu\ns=$1\nmount -t tmpfs mailctl-check \"$s\"\n");
    let mut layered: Vec<(String, Option<String>)> =
        top_dirs.iter().map(|d| (d.clone(), Some(format!("{new_root}/{d}")))).collect();
    if !top_dirs.iter().any(|d| d == "run") {
        layered.push(("run".to_string(), None));
    }
    for (dir, new) in layered {
        let lower = match new {
            Some(new) => format!("{}:/{dir}", quote(&new)),
            None => format!("/{dir}"),
        };
        inner.push_str(&format!(
            "mkdir -p \"$s/{dir}.up\" \"$s/{dir}.work\"\n\
             mount -t overlay mailctl-check -o lowerdir={lower},upperdir=\"$s/{dir}.up\",workdir=\"$s/{dir}.work\" /{dir}\n"
        ));
    }
    inner.push_str("cd /\n");
    inner.push_str(check);
    inner.push('\n');
    format!(
        "scratch=$(mktemp -d /tmp/mailctl-check.XXXXXX) || exit 1\n\
         unshare --mount --propagation private sh -c {} mailctl-check \"$scratch\"\n\
         rc=$?\nrmdir \"$scratch\" 2>/dev/null\nexit $rc\n",
        quote(&inner)
    )
}

/// `check_script` run inside another release's root filesystem (`release_root`, left
/// untouched: a throwaway layer takes every write), with the new files at /mailctl-new.
pub fn check_script_in_root(release_root: &str, new_root: &str, top_dirs: &[String], check: &str) -> String {
    let inner = check_script("/mailctl-new", top_dirs, check);
    let outer = format!(
        "set -eu\ns=$1\nmount -t tmpfs mailctl-root \"$s\"\nmkdir \"$s/up\" \"$s/work\" \"$s/root\"\n\
         mount -t overlay mailctl-root -o lowerdir={root},upperdir=\"$s/up\",workdir=\"$s/work\" \"$s/root\"\n\
         mount -t proc proc \"$s/root/proc\"\nmount --rbind /dev \"$s/root/dev\"\n\
         mkdir -p \"$s/root/mailctl-new\"\nmount --bind {new} \"$s/root/mailctl-new\"\n\
         exec chroot \"$s/root\" sh -c {inner}\n",
        root = quote(release_root),
        new = quote(new_root),
        inner = quote(&inner),
    );
    format!(
        "scratch=$(mktemp -d /tmp/mailctl-root.XXXXXX) || exit 1\n\
         unshare --mount --propagation private sh -c {} mailctl-root \"$scratch\"\n\
         rc=$?\nrmdir \"$scratch\" 2>/dev/null\nexit $rc\n",
        quote(&outer)
    )
}

/// The top-level directories a set of absolute target paths lives under.
pub fn top_dirs<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut dirs: Vec<String> = paths
        .into_iter()
        .filter_map(|p| p.trim_start_matches('/').split('/').next())
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

pub fn quote(s: &str) -> String {
    shlex::try_quote(s).map(|q| q.into_owned()).unwrap_or_else(|_| format!("'{}'", s.replace('\0', "")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_dirs_are_unique_and_sorted() {
        let dirs = top_dirs(["/etc/hosts", "/var/www/x", "/etc/postfix/main.cf"]);
        assert_eq!(dirs, vec!["etc", "var"]);
    }

    #[test]
    fn script_quotes_the_new_root() {
        let s = check_script("/tmp/a b", &["etc".to_string()], "true");
        assert!(s.contains("a b"));
        assert!(s.starts_with("scratch=$(mktemp"));
    }
}
