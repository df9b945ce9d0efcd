//! Operations against in-process fake hosts (`remote::fake`) and an in-memory directory:
//! deploy's stage order and per-host failure isolation, a move failing at each phase and then
//! resumed or aborted, rebalance carrying out its plan. Fast, no root, no network. The same
//! operations run against real hosts in the lab tests.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailctl::accounts::journal::{JournalFile, Phase};
use mailctl::deploy::{self, DeployOptions, DirectoryInput, diff::Masker};
use mailctl::directory::{Layout, ServicePasswords};
use mailctl::inventory::Cluster;
use mailctl::observe::Silent;
use mailctl::ops::move_account::{self, Mode, Outcome, Request};
use mailctl::ops::{Ops, rebalance};
use mailctl::playbook::{Playbook, Stage};
use mailctl::remote::Output;
use mailctl::remote::fake::{FakeFleet, fail, ok};
use mailctl::render::RenderedHost;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// A shipped inventory copied into a temporary directory, so journals and locks land there.
fn inventory_copy(name: &str) -> (tempfile::TempDir, PathBuf, Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.yaml"));
    std::fs::copy(common::shipped(name), &path).unwrap();
    let cluster = common::load(&path);
    (dir, path, cluster)
}

// ---------------------------------------------------------------- deploy

/// The deploy of lvlogistics (two MTAs) where one MTA's postfix step fails.
fn deploy_with_failing_mta() -> (FakeFleet, mailctl::deploy::DeployReport, Playbook, Vec<RenderedHost>) {
    let (dir, _, cluster) = inventory_copy("lvlogistics");
    let rendered = common::render(&cluster, dir.path());
    let playbook = Playbook::builtin().unwrap();
    let fleet = FakeFleet::succeeding();
    fleet.fail_step(Some("gsmta1"), "postfix", 1);
    let input = DirectoryInput {
        services: ServicePasswords { reader: "reader-pw".into(), replicator: "replicator-pw".into() },
        passwords: BTreeMap::new(),
    };
    let opts = DeployOptions { check: false, diff: false, limit: vec![], roles: vec![], forks: 10 };
    let report = runtime().block_on(deploy::deploy(
        &fleet,
        &cluster,
        &rendered,
        &playbook.stages,
        &input,
        &Masker::new(Vec::<String>::new()),
        &opts,
        &Silent,
    ));
    (fleet, report, playbook, rendered)
}

#[test]
fn deploy_isolates_a_host_failing_at_the_mta_stage() {
    let (fleet, report, ..) = deploy_with_failing_mta();
    let failed: Vec<&str> = report.hosts.iter().filter(|h| !h.ok).map(|h| h.host.as_str()).collect();
    assert_eq!(failed, ["gsmta1"], "{report:#?}");
    let why = report.hosts.iter().find(|h| h.host == "gsmta1").unwrap().failed.clone().unwrap();
    assert!(why.step.starts_with("postfix"), "{why:?}");
    // gsmta1 stops at postfix; gsmta2, the same role, goes on to the end.
    assert!(!fleet.steps_on("gsmta1").iter().any(|s| s == "ratelimit" || s == "sshd"));
    assert!(fleet.steps_on("gsmta2").contains(&"postfix".to_string()));
    // The proxy stage still ran on the proxy, and the dns stage on the LDAP host.
    assert!(fleet.steps_on("gszhap").contains(&"nginx".to_string()));
    assert!(fleet.steps_on("gsldap").contains(&"bind".to_string()));
}

#[test]
fn deploy_runs_stages_in_playbook_order_across_hosts() {
    let (fleet, _, playbook, rendered) = deploy_with_failing_mta();
    // Each host's components and the stage each runs in there (dovecot runs in the mailbox
    // stage on mailbox hosts, in the mta stage on MTA-only hosts, in the proxy stage on proxies).
    let stage_of: BTreeMap<(&str, &str), Stage> = rendered
        .iter()
        .flat_map(|h| h.components.iter().map(move |c| ((h.host.as_str(), c.name.as_str()), c.stage)))
        .collect();
    // Every step of a stage, on any host, comes before every step of a later stage: a stage
    // is a barrier.
    let log = fleet.log();
    let positions: Vec<(usize, Stage)> = log
        .iter()
        .enumerate()
        .filter_map(|(i, (host, step))| Some((i, *stage_of.get(&(host.as_str(), step.as_str()))?)))
        .collect();
    assert!(positions.len() > 20, "{log:?}");
    for (i, a) in &positions {
        for (j, b) in &positions {
            if playbook.stage_index(*a) < playbook.stage_index(*b) {
                assert!(i < j, "{a:?} step at {i} after {b:?} step at {j}: {log:?}");
            }
        }
    }
    // The directory was brought to the inventory (through the provider's directory client).
    let (_, _, cluster) = inventory_copy("lvlogistics");
    let dn = Layout::new(&cluster).account_dn("admin@lvlogist.com");
    assert_eq!(fleet.directory().get(&dn, "mailHost").as_deref(), Some("gszimbra1.lvlogist.com"));
}

// ---------------------------------------------------------------- mailboxes

/// Mail homes on the fake mailbox hosts: (host, user) → folders, answered the way doveadm,
/// du and df answer. `doveadm backup` copies the source's folders, so verification passes.
#[derive(Default)]
struct Mailboxes {
    homes: BTreeMap<(String, String), Vec<[u64; 3]>>,
    /// `postqueue -j` lines the MTA answers (deferred mail); `postsuper -r` empties it.
    queue: String,
}

const STATUS_HEADER: &str = "mailbox\tmessages\tuidnext\tuidvalidity\tguid\thighestmodseq\tvsize";

/// The `-u USER` of a doveadm command (or the mail home's path) in a script.
fn user_in(script: &str) -> Option<String> {
    if let Some(rest) = script.split("-u ").nth(1) {
        let word = rest.split_whitespace().next()?;
        return Some(word.trim_matches('\'').to_string());
    }
    let path = script.split("/var/vmail/").nth(1)?;
    let path: String = path.chars().take_while(|c| !c.is_whitespace() && *c != '\'').collect();
    let (domain, local) = path.split_once('/')?;
    Some(format!("{local}@{domain}"))
}

/// Every mail home path in a script, as addresses, in order.
fn homes_in(script: &str) -> Vec<String> {
    script
        .split("/var/vmail/")
        .skip(1)
        .filter_map(|p| {
            let p: String = p.chars().take_while(|c| !c.is_whitespace() && *c != '\'').collect();
            let (domain, local) = p.split_once('/')?;
            Some(format!("{local}@{domain}"))
        })
        .collect()
}

/// The host a doveadm command pulls from (the script's `# from FQDN` line), as its short name.
fn source_in(script: &str) -> Option<String> {
    let rest = script.split("# from ").nth(1)?;
    Some(rest.split('.').next()?.to_string())
}

impl Mailboxes {
    fn answer(&mut self, host: &str, step: &str, script: &str) -> Output {
        let user = user_in(script).unwrap_or_default();
        let key = (host.to_string(), user.clone());
        match step {
            "look for the mail home" => ok(if self.homes.contains_key(&key) { "yes\n" } else { "no\n" }),
            "df /var/vmail" => ok("10000000000\n"),
            "du the mail home" => ok(if self.homes.contains_key(&key) { "4096\n" } else { "" }),
            "du mail homes" => {
                let lines: Vec<String> = self
                    .homes
                    .keys()
                    .filter(|(h, _)| h == host)
                    .map(|(_, u)| {
                        let (local, domain) = u.split_once('@').unwrap();
                        format!("4096\t{domain}/{local}")
                    })
                    .collect();
                ok(&(lines.join("\n") + "\n"))
            }
            "doveadm backup" | "doveadm sync (merge)" | "doveadm sync -1 (catch-up)" => {
                let source = source_in(script).expect("doveadm names its source");
                let copy = self.homes.get(&(source, user)).cloned().unwrap_or_default();
                self.homes.insert(key, copy);
                ok("state-token\n")
            }
            "doveadm mailbox status" => match self.homes.get(&key) {
                None => ok(""),
                Some(folders) => {
                    let mut out = format!("{STATUS_HEADER}\n");
                    for (i, [messages, uidnext, modseq]) in folders.iter().enumerate() {
                        let name = if i == 0 { "INBOX".to_string() } else { format!("Folder{i}") };
                        out += &format!("{name}\t{messages}\t{uidnext}\t77\tguid{i}\t{modseq}\t{}\n", messages * 1000);
                    }
                    ok(&out)
                }
            },
            "rename the mail home" => {
                let homes = homes_in(script);
                let (old, new) = ((host.to_string(), homes[0].clone()), (host.to_string(), homes[1].clone()));
                match (self.homes.contains_key(&old), self.homes.contains_key(&new)) {
                    (true, true) => ok("both\n"),
                    (false, _) => ok("nothing\n"),
                    (true, false) => {
                        let mail = self.homes.remove(&old).unwrap();
                        self.homes.insert(new, mail);
                        ok("moved\n")
                    }
                }
            }
            "remove the mail home" => {
                self.homes.remove(&key);
                ok("")
            }
            "postqueue -j" => ok(&self.queue),
            "postsuper -r" => {
                self.queue.clear();
                ok("")
            }
            "doveadm quota get" => {
                let mut out = "Username\tQuota name\tType\tValue\tLimit\t%\n".to_string();
                for (_, u) in self.homes.keys().filter(|(h, _)| h == host) {
                    out += &format!("{u}\tUser quota\tSTORAGE\t2048\t1048576\t0\n{u}\tUser quota\tMESSAGE\t15\t-\t0\n");
                }
                ok(&out)
            }
            "facts" => ok(mailctl::remote::fake::DEBIAN_12_FACTS),
            _ => ok(""),
        }
    }
}

struct MoveWorld {
    _dir: tempfile::TempDir,
    inventory: PathBuf,
    cluster: Cluster,
    fleet: FakeFleet,
    mail: Arc<Mutex<Mailboxes>>,
}

impl MoveWorld {
    /// tgg with `accounts` on mbox-1, each with mail there.
    fn new(accounts: &[&str]) -> MoveWorld {
        let (dir, inventory, cluster) = inventory_copy("tgg");
        MoveWorld::with(dir, inventory, cluster, accounts)
    }

    /// The same with mbox-1 and mbox-2 a mailbox pair: mbox-2 holds the replica of each.
    fn paired(accounts: &[&str]) -> MoveWorld {
        let (dir, inventory, _) = inventory_copy("tgg");
        let text = std::fs::read_to_string(&inventory).unwrap()
            + "\npairs:\n  - { hosts: [mbox-1, mbox-2], addresses: [172.16.0.21, 172.16.0.22] }\n";
        std::fs::write(&inventory, text).unwrap();
        let cluster = common::load(&inventory);
        let w = MoveWorld::with(dir, inventory, cluster, accounts);
        for a in accounts {
            w.mail.lock().unwrap().homes.insert(("mbox-2".into(), a.to_string()), vec![[12, 13, 40], [3, 4, 9]]);
        }
        w
    }

    fn with(dir: tempfile::TempDir, inventory: PathBuf, cluster: Cluster, accounts: &[&str]) -> MoveWorld {
        let mail = Arc::new(Mutex::new(Mailboxes::default()));
        let answers = mail.clone();
        let fleet = FakeFleet::new(move |host, step, script| answers.lock().unwrap().answer(host, step, script));
        let layout = Layout::new(&cluster);
        let mbox1 = cluster.host("mbox-1").unwrap().fqdn.clone();
        for a in accounts {
            fleet.directory().insert(
                &layout.account_dn(a),
                &[
                    ("objectClass", "inetLocalMailRecipient"),
                    ("mail", a),
                    ("mailHost", &mbox1),
                    ("mailctlState", "active"),
                ],
            );
            mail.lock().unwrap().homes.insert(("mbox-1".into(), a.to_string()), vec![[12, 13, 40], [3, 4, 9]]);
        }
        MoveWorld { _dir: dir, inventory, cluster, fleet, mail }
    }

    fn ops(&self) -> Ops<'_> {
        Ops { cluster: &self.cluster, inventory: &self.inventory, connector: &self.fleet, observer: &Silent }
    }

    fn run(&self, address: &str, mode: Mode) -> anyhow::Result<Outcome> {
        let req = Request { address: address.into(), mode, hold: Duration::from_secs(5), purge: false };
        runtime().block_on(move_account::run(&self.ops(), &req))
    }

    fn attr(&self, address: &str, attr: &str) -> Option<String> {
        self.fleet.directory().get(&Layout::new(&self.cluster).account_dn(address), attr)
    }

    fn phase(&self, address: &str) -> Phase {
        let file = JournalFile::lock(&self.inventory, address).unwrap();
        file.load().unwrap().expect("a journal").phase
    }

    fn has_home(&self, host: &str, address: &str) -> bool {
        self.mail.lock().unwrap().homes.contains_key(&(host.to_string(), address.to_string()))
    }

    fn assert_lives_on(&self, address: &str, host: &str) {
        let fqdn = self.cluster.host(host).unwrap().fqdn.clone();
        assert_eq!(self.attr(address, "mailHost").as_deref(), Some(fqdn.as_str()), "{address} on {host}");
        assert_eq!(self.attr(address, "mailctlState").as_deref(), Some("active"));
        assert_eq!(self.attr(address, "mailctlMoveTarget"), None);
        assert_eq!(self.attr(address, "mailctlHoldUntil"), None);
        assert!(self.has_home(host, address), "{address} has mail on {host}");
    }
}

const SITI: &str = "siti@tgg.net.id";

#[test]
fn a_move_runs_every_phase_and_verifies() {
    let w = MoveWorld::new(&[SITI]);
    let Outcome::Moved(r) = w.run(SITI, Mode::Start("mbox-2".into())).unwrap() else { panic!("not moved") };
    assert_eq!((r.from.as_str(), r.to.as_str(), r.messages), ("mbox-1", "mbox-2", 15));
    w.assert_lives_on(SITI, "mbox-2");
    assert_eq!(w.phase(SITI), Phase::Done);
    // Deferred mail is released on every MTA at the end.
    assert_eq!(w.fleet.steps_on("transport").last().map(String::as_str), Some("postqueue -f"));
}

/// Where a move is made to fail: the step, how many times, and the phase it leaves.
struct FailurePoint {
    step: &'static str,
    host: Option<&'static str>,
    times: usize,
    left_in: Phase,
}

const FAILURE_POINTS: [FailurePoint; 3] = [
    // The online copy's first pass.
    FailurePoint { step: "doveadm backup", host: Some("mbox-2"), times: 1, left_in: Phase::Copy },
    // The cutover's reload fails, and so does the rollback's: the move is left mid-cutover.
    FailurePoint { step: "postfix reload", host: None, times: 2, left_in: Phase::Cutover },
    // Releasing deferred mail after the switch.
    FailurePoint { step: "postqueue -f", host: None, times: 1, left_in: Phase::Release },
];

#[test]
fn a_move_within_a_pair_keeps_the_old_copy_as_the_replica() {
    let w = MoveWorld::paired(&[SITI]);
    let Outcome::Moved(r) = w.run(SITI, Mode::Start("mbox-2".into())).unwrap() else { panic!("not moved") };
    w.assert_lives_on(SITI, "mbox-2");
    assert_eq!(r.replica_on.as_deref(), Some("mbox-1"));
    assert!(r.old_copies.is_empty(), "{:?}", r.old_copies);
    assert!(w.has_home("mbox-1", SITI), "the replica on mbox-1 is kept");
    // Nothing to copy to a partner, nothing for the pair to forget.
    let steps = w.fleet.steps_on("mbox-2");
    assert!(!steps.iter().any(|s| s == "copy to the pair partner" || s == "forget in the replicator"), "{steps:?}");
    // purge-moved spares the replica.
    let purged = runtime().block_on(mailctl::ops::accounts::purge_moved(&w.ops(), SITI)).unwrap();
    assert!(purged.deleted_on.is_empty(), "{:?}", purged.deleted_on);
    assert!(w.has_home("mbox-1", SITI) && w.has_home("mbox-2", SITI));
}

#[test]
fn an_aborted_move_within_a_pair_keeps_the_replica() {
    let w = MoveWorld::paired(&[SITI]);
    w.fleet.fail_step(None, "postfix reload", 2);
    w.run(SITI, Mode::Start("mbox-2".into())).expect_err("the cutover fails, and its rollback");
    w.run(SITI, Mode::Abort).unwrap();
    w.assert_lives_on(SITI, "mbox-1");
    assert!(w.has_home("mbox-2", SITI), "the abort removed the partner's replica");
}

#[test]
fn no_account_moves_while_its_pair_is_failed_over() {
    let w = MoveWorld::paired(&[SITI]);
    // mbox-1 does not hold its pair address: mbox-2 serves its accounts.
    w.fleet.fail_step(Some("mbox-1"), "pair address", 1);
    let err = w.run(SITI, Mode::Start("mbox-2".into())).expect_err("refused");
    assert!(format!("{err:#}").contains("mailctl failback mbox-1"), "{err:#}");
    w.assert_lives_on(SITI, "mbox-1");
    assert!(!w.fleet.steps_on("mbox-2").iter().any(|s| s == "doveadm backup"), "nothing was copied");
}

#[test]
fn a_move_failing_at_each_phase_is_resumed_to_the_target() {
    for p in FAILURE_POINTS {
        let w = MoveWorld::new(&[SITI]);
        w.fleet.fail_step(p.host, p.step, p.times);
        let err = w.run(SITI, Mode::Start("mbox-2".into())).expect_err(p.step);
        assert!(format!("{err:#}").contains(p.step) || format!("{err:#}").contains("failed on purpose"), "{err:#}");
        assert_eq!(w.phase(SITI), p.left_in, "failing at {}", p.step);
        // A second start is refused while the journal is unfinished.
        let again = w.run(SITI, Mode::Start("mbox-2".into())).expect_err("refused");
        assert!(format!("{again:#}").contains("--resume"), "{again:#}");
        let Outcome::Moved(_) = w.run(SITI, Mode::Resume).unwrap() else { panic!("resume after {}", p.step) };
        w.assert_lives_on(SITI, "mbox-2");
        assert_eq!(w.phase(SITI), Phase::Done);
    }
}

#[test]
fn a_move_failing_at_each_phase_is_aborted_to_the_source() {
    for p in FAILURE_POINTS {
        let w = MoveWorld::new(&[SITI]);
        w.fleet.fail_step(p.host, p.step, p.times);
        w.run(SITI, Mode::Start("mbox-2".into())).expect_err(p.step);
        let aborted = w.run(SITI, Mode::Abort);
        if p.left_in == Phase::Release {
            // Released means the account already works on the target: going back is a new
            // move, and abort says so instead of undoing it.
            let e = aborted.expect_err("abort after release");
            assert!(format!("{e:#}").contains("--resume"), "{e:#}");
            continue;
        }
        let Outcome::Said(text) = aborted.unwrap() else { panic!("abort after {}", p.step) };
        assert!(text.contains("rolled back"), "{text}");
        w.assert_lives_on(SITI, "mbox-1");
        assert!(!w.has_home("mbox-2", SITI), "the partial copy on the target is removed");
        assert_eq!(w.phase(SITI), Phase::Aborted);
    }
}

#[test]
fn a_failed_cutover_rolls_back_by_itself() {
    let w = MoveWorld::new(&[SITI]);
    // Verification never matches: the final pass copies nothing.
    w.fleet.fail_step(Some("mbox-2"), "doveadm mailbox status", 3);
    let err = w.run(SITI, Mode::Start("mbox-2".into())).expect_err("verification fails");
    assert!(format!("{err:#}").contains("rolled back"), "{err:#}");
    w.assert_lives_on(SITI, "mbox-1");
    assert_eq!(w.phase(SITI), Phase::Aborted);
}

#[test]
fn a_second_move_of_one_account_is_refused_by_the_directory_claim() {
    let w = MoveWorld::new(&[SITI]);
    // Another admin's move (another journal, elsewhere) claimed the entry first.
    let dn = Layout::new(&w.cluster).account_dn(SITI);
    w.fleet.directory().insert(
        &dn,
        &[
            ("objectClass", "inetLocalMailRecipient"),
            ("mail", SITI),
            ("mailHost", "mbox-1.tgg.net.id"),
            ("mailctlState", "active"),
            ("mailctlMoveTarget", "mbox-2.tgg.net.id"),
        ],
    );
    let err = w.run(SITI, Mode::Start("mbox-2".into())).expect_err("claimed");
    assert!(format!("{err:#}").contains("unfinished move"), "{err:#}");
    assert!(!w.has_home("mbox-2", SITI), "nothing was copied");
}

// ---------------------------------------------------------------- rebalance

#[test]
fn rebalance_applies_its_plan_one_move_at_a_time() {
    let accounts = ["a1@tgg.net.id", "a2@tgg.net.id", "a3@tgg.net.id", "a4@tgg.net.id"];
    let w = MoveWorld::new(&accounts);
    let moved = Mutex::new(Vec::new());
    let events = |e: rebalance::Event<'_>| {
        if let rebalance::Event::Moved(r) = e {
            moved.lock().unwrap().push(r.address.clone());
        }
    };
    let report = runtime().block_on(rebalance::run(&w.ops(), usize::MAX, true, &events)).unwrap();
    assert_eq!(report.moves.len(), 2, "{report:#?}");
    assert!(report.failed.is_none(), "{report:#?}");
    assert_eq!(*moved.lock().unwrap(), report.moves.iter().map(|m| m.address.clone()).collect::<Vec<_>>());
    for m in &report.moves {
        w.assert_lives_on(&m.address, "mbox-2");
    }
    let counts: Vec<(String, usize)> = report.hosts.iter().map(|h| (h.host.clone(), h.after)).collect();
    assert_eq!(counts, [("mbox-1".to_string(), 2), ("mbox-2".to_string(), 2)]);
}

#[test]
fn rebalance_stops_at_the_first_failed_move() {
    let accounts = ["a1@tgg.net.id", "a2@tgg.net.id", "a3@tgg.net.id", "a4@tgg.net.id"];
    let w = MoveWorld::new(&accounts);
    w.fleet.fail_step(Some("mbox-2"), "doveadm backup", 1);
    let report = runtime().block_on(rebalance::run(&w.ops(), usize::MAX, true, &|_| {})).unwrap();
    assert!(report.applied.is_empty());
    let failed = report.failed.expect("the first move failed");
    assert!(failed.starts_with(&report.moves[0].address), "{failed}");
    assert!(!w.has_home("mbox-2", &report.moves[1].address), "the second move never started");
}

/// The fake's own contract: a failing step exits 1 with a message, like a real one.
#[test]
fn fake_steps_fail_like_real_ones() {
    let fleet = FakeFleet::succeeding();
    fleet.fail_step(None, "x", 1);
    let host = fleet.host("h");
    let host: &dyn mailctl::remote::RemoteHost = &host;
    let rt = runtime();
    assert!(rt.block_on(host.run_ok("x", "true")).is_err());
    assert!(rt.block_on(host.run_ok("x", "true")).is_ok(), "only once");
    assert_eq!(fail(2, "no").status, Some(2));
}

// ---------------------------------------------------------------- statuses and passwords

#[test]
fn a_status_change_reaches_every_host_that_asks_the_directory() {
    use mailctl::accounts::entry::AccountState;
    use mailctl::ops::accounts;
    let w = MoveWorld::new(&[SITI]);
    let rt = runtime();
    let change = rt.block_on(accounts::set_state(&w.ops(), SITI, AccountState::Maintenance)).unwrap();
    assert_eq!((change.from, change.to), (AccountState::Active, AccountState::Maintenance));
    assert_eq!(w.attr(SITI, "mailctlState").as_deref(), Some("maintenance"));
    // MTA maps reloaded, every Dovecot's cache flushed, sessions closed.
    let transport = w.fleet.steps_on("transport");
    assert!(transport.contains(&"postfix reload".to_string()), "{transport:?}");
    for host in ["transport", "mbox-1", "mbox-2"] {
        assert!(w.fleet.steps_on(host).contains(&"doveadm auth cache flush".to_string()), "{host}");
    }
    assert!(w.fleet.steps_on("mbox-1").contains(&"kick sessions".to_string()));
    // Leaving maintenance releases the held mail.
    assert!(!transport.contains(&"postqueue -f".to_string()));
    rt.block_on(accounts::set_state(&w.ops(), SITI, AccountState::Active)).unwrap();
    assert_eq!(w.fleet.steps_on("transport").last().map(String::as_str), Some("postqueue -f"));
}

#[test]
fn a_status_change_is_refused_while_the_account_moves() {
    use mailctl::accounts::entry::AccountState;
    let w = MoveWorld::new(&[SITI]);
    w.fleet.fail_step(None, "postfix reload", 2);
    w.run(SITI, Mode::Start("mbox-2".into())).expect_err("left mid-cutover");
    let rt = runtime();
    let e = rt.block_on(mailctl::ops::accounts::set_state(&w.ops(), SITI, AccountState::Locked)).unwrap_err();
    assert!(format!("{e:#}").contains("middle of a move"), "{e:#}");
    assert_eq!(w.attr(SITI, "mailctlState").as_deref(), Some("moving"));
}

#[test]
fn a_password_is_stored_hashed_and_every_cache_forgets_the_old_one() {
    let w = MoveWorld::new(&[SITI]);
    let rt = runtime();
    rt.block_on(mailctl::ops::accounts::set_password(&w.ops(), SITI, "n3w-Secret")).unwrap();
    let stored = w.attr(SITI, "userPassword").unwrap();
    assert!(stored.starts_with("{SSHA}") && !stored.contains("n3w-Secret"), "{stored}");
    assert!(mailctl::state::ssha_matches(&stored, "n3w-Secret"));
    for host in ["transport", "mbox-1", "mbox-2"] {
        assert!(w.fleet.steps_on(host).contains(&"doveadm auth cache flush".to_string()), "{host}");
    }
}

#[test]
fn account_list_asks_each_mailbox_host_once_for_every_mailbox_use() {
    use mailctl::ops::accounts;
    let w = MoveWorld::new(&[SITI, "budi@tgg.net.id"]);
    let rt = runtime();
    let listing = rt.block_on(accounts::list(&w.ops(), None, true)).unwrap();
    let siti = listing.accounts.iter().find(|a| a.address == SITI).unwrap();
    let usage = siti.usage.clone().expect("siti's use");
    assert_eq!((usage.bytes, usage.messages, usage.storage_limit), (2048 * 1024, 15, Some(1 << 30)));
    for host in ["mbox-1", "mbox-2"] {
        let asked = w.fleet.steps_on(host).iter().filter(|s| *s == "doveadm quota get").count();
        assert_eq!(asked, 1, "{host}: one call for all its accounts");
    }
    // Without use, the mailbox hosts are not asked; a host that cannot answer is named and the
    // listing still comes back.
    let before = w.fleet.log().len();
    rt.block_on(accounts::list(&w.ops(), None, false)).unwrap();
    assert!(w.fleet.log()[before..].iter().all(|(h, _)| h == "ldap"), "{:?}", &w.fleet.log()[before..]);
    w.fleet.unreachable("mbox-1");
    let listing = rt.block_on(accounts::list(&w.ops(), None, true)).unwrap();
    assert_eq!(listing.accounts.len(), 2);
    assert!(listing.accounts.iter().all(|a| a.usage.is_none()));
    assert_eq!(listing.usage_failed.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>(), ["mbox-1"]);
}

#[test]
fn a_class_or_own_quota_sets_the_limits_dovecot_reads_and_releases_deferred_mail() {
    use mailctl::inventory::model::ClassOfService;
    use mailctl::ops::quota::{LimitChange, set_limits};
    let mut w = MoveWorld::new(&[SITI]);
    w.cluster.classes.push(ClassOfService { name: "staff".into(), quota: Some(10 << 30), messages: Some(5000) });
    let rt = runtime();
    let set = rt.block_on(set_limits(&w.ops(), SITI, LimitChange::Class(Some("staff".into())))).unwrap();
    assert_eq!((set.limits.storage, set.limits.from.as_str()), (10 << 30, "class staff"));
    assert_eq!(w.attr(SITI, "mailctlStorageLimit"), Some((10u64 << 30).to_string()));
    assert_eq!(w.attr(SITI, "mailctlMessageLimit").as_deref(), Some("5000"));
    // Its own quota wins over the class; `default` hands it back to the class.
    rt.block_on(set_limits(&w.ops(), SITI, LimitChange::Quota(Some(1 << 20)))).unwrap();
    assert_eq!(w.attr(SITI, "mailctlStorageLimit"), Some((1u64 << 20).to_string()));
    rt.block_on(set_limits(&w.ops(), SITI, LimitChange::Quota(None))).unwrap();
    assert_eq!(w.attr(SITI, "mailctlQuota"), None);
    assert_eq!(w.attr(SITI, "mailctlStorageLimit"), Some((10u64 << 30).to_string()));
    // No class and no own quota: the cluster's default from dovecot.conf, nothing stored.
    rt.block_on(set_limits(&w.ops(), SITI, LimitChange::Class(None))).unwrap();
    assert_eq!((w.attr(SITI, "mailctlStorageLimit"), w.attr(SITI, "mailctlMessageLimit")), (None, None));
    assert!(w.fleet.steps_on("mbox-1").contains(&"doveadm auth cache flush".to_string()));
    assert_eq!(w.fleet.steps_on("transport").last().map(String::as_str), Some("postqueue -f"));
    let e = rt.block_on(set_limits(&w.ops(), SITI, LimitChange::Class(Some("nobody".into())))).unwrap_err();
    assert!(format!("{e:#}").contains("no class of service `nobody`"), "{e:#}");
}

// ---------------------------------------------------------------- rename

const RENAMED: &str = "siti.rahma@gec-course.com";

fn rename(w: &MoveWorld, old: &str, new: &str) -> anyhow::Result<mailctl::ops::rename::Renamed> {
    use mailctl::inventory::address::parse;
    runtime().block_on(mailctl::ops::rename::run(&w.ops(), &parse(old).unwrap(), &parse(new).unwrap()))
}

/// The renamed account as the directory and the mailbox host have it afterwards.
fn assert_renamed(w: &MoveWorld) {
    let layout = Layout::new(&w.cluster);
    assert!(w.fleet.directory().get(&layout.account_dn(SITI), "mail").is_none(), "the old entry is gone");
    assert_eq!(w.attr(RENAMED, "mail").as_deref(), Some(RENAMED));
    assert_eq!(w.attr(RENAMED, "uid").as_deref(), Some(RENAMED));
    assert_eq!(w.attr(RENAMED, "mailLocalAddress").as_deref(), Some(SITI), "the old address stays as an alias");
    assert_eq!(w.attr(RENAMED, "mailctlState").as_deref(), Some("active"));
    assert_eq!((w.attr(RENAMED, "mailctlMoveTarget"), w.attr(RENAMED, "mailctlHoldUntil")), (None, None));
    assert!(w.has_home("mbox-1", RENAMED) && !w.has_home("mbox-1", SITI));
}

#[test]
fn a_rename_moves_the_home_readdresses_the_entry_and_repoints_lists_and_forwards() {
    use mailctl::inventory::address::parse;
    use mailctl::ops::{accounts, lists};
    let w = MoveWorld::new(&[SITI, "budi@tgg.net.id"]);
    let rt = runtime();
    let staff = parse("staff@tgg.net.id").unwrap();
    rt.block_on(lists::run(&w.ops(), &staff, lists::Change::Create, &[])).unwrap();
    rt.block_on(lists::run(&w.ops(), &staff, lists::Change::Add, &[parse(SITI).unwrap()])).unwrap();
    rt.block_on(accounts::forward(&w.ops(), "budi@tgg.net.id", &[parse(SITI).unwrap()], true)).unwrap();
    w.mail.lock().unwrap().queue =
        format!(r#"{{"queue_name": "deferred", "queue_id": "A1B2", "recipients": [{{"address": "{SITI}"}}]}}"#) + "\n";
    let r = rename(&w, SITI, RENAMED).unwrap();
    assert_renamed(&w);
    assert_eq!((r.lists, r.forwards), (vec!["staff@tgg.net.id".to_string()], vec!["budi@tgg.net.id".to_string()]));
    assert_eq!(r.homes_renamed_on, ["mbox-1"]);
    let list = w.fleet.directory().get(&Layout::new(&w.cluster).list_dn("staff@tgg.net.id"), "mailctlMember");
    assert_eq!(list.as_deref(), Some(RENAMED));
    assert_eq!(w.attr("budi@tgg.net.id", "mailctlForward").as_deref(), Some(RENAMED));
    // Held mail is sent back through cleanup so the old address becomes the new one.
    assert_eq!(r.requeued, 1);
    let transport = w.fleet.steps_on("transport");
    assert!(transport.contains(&"postsuper -r".to_string()) && transport.contains(&"postqueue -f".to_string()));
    assert!(w.mail.lock().unwrap().queue.is_empty());
    // Running it again finds it done; the new name taken or the old one missing are refused.
    assert!(rename(&w, SITI, RENAMED).unwrap().already_done);
    assert!(format!("{:#}", rename(&w, RENAMED, "budi@tgg.net.id").unwrap_err()).contains("both accounts"));
    assert!(format!("{:#}", rename(&w, "nobody@tgg.net.id", "x@tgg.net.id").unwrap_err()).contains("no account"));
    // An alias of another account is not free either.
    assert!(format!("{:#}", rename(&w, "budi@tgg.net.id", SITI).unwrap_err()).contains("alias of"));
}

#[test]
fn a_rename_killed_at_any_step_is_finished_by_running_it_again() {
    for step in [
        "postfix reload",
        "doveadm auth cache flush",
        "rename the mail home",
        "postqueue -j",
        "postsuper -r",
        "postqueue -f",
    ] {
        let w = MoveWorld::new(&[SITI]);
        w.mail.lock().unwrap().queue =
            format!(r#"{{"queue_name": "deferred", "queue_id": "A1B2", "recipients": [{{"address": "{SITI}"}}]}}"#)
                + "\n";
        w.fleet.fail_step(None, step, 1);
        let first = rename(&w, SITI, RENAMED);
        assert!(first.is_err(), "{step}: the injected failure stops it");
        // Meanwhile nothing bounces: the account is held (maintenance) under one name or the other.
        let held = [SITI, RENAMED].iter().any(|a| w.attr(a, "mailctlState").as_deref() == Some("maintenance"));
        let done = w.attr(RENAMED, "mailctlState").as_deref() == Some("active");
        assert!(held || done, "{step}: neither held nor finished");
        let again = rename(&w, SITI, RENAMED).unwrap();
        assert!(again.resumed || again.already_done, "{step}: {again:?}");
        assert_renamed(&w);
        assert!(w.mail.lock().unwrap().queue.is_empty(), "{step}: the held mail was requeued");
    }
}

#[test]
fn a_rename_is_refused_while_the_account_moves_or_is_not_active() {
    use mailctl::accounts::entry::AccountState;
    let w = MoveWorld::new(&[SITI]);
    runtime().block_on(mailctl::ops::accounts::set_state(&w.ops(), SITI, AccountState::Locked)).unwrap();
    assert!(format!("{:#}", rename(&w, SITI, RENAMED).unwrap_err()).contains("make it active first"));
    let w = MoveWorld::new(&[SITI]);
    w.fleet.fail_step(None, "postfix reload", 2);
    w.run(SITI, Mode::Start("mbox-2".into())).expect_err("left mid-cutover");
    assert!(format!("{:#}", rename(&w, SITI, RENAMED).unwrap_err()).contains("middle of a move"));
    assert!(w.has_home("mbox-1", SITI), "nothing was renamed");
}

#[test]
fn an_address_is_one_account_or_one_alias() {
    use mailctl::inventory::address::parse;
    use mailctl::ops::accounts;
    let w = MoveWorld::new(&[SITI, "budi@tgg.net.id"]);
    let rt = runtime();
    let info = parse("info@tgg.net.id").unwrap();
    let added = rt.block_on(accounts::alias(&w.ops(), SITI, &info, true)).unwrap();
    assert_eq!(added.aliases, ["info@tgg.net.id"]);
    assert_eq!(w.attr(SITI, "mailLocalAddress").as_deref(), Some("info@tgg.net.id"));
    let e = rt.block_on(accounts::alias(&w.ops(), "budi@tgg.net.id", &info, true)).unwrap_err();
    assert!(format!("{e:#}").contains("is an alias of siti@tgg.net.id"), "{e:#}");
    let budi = parse("budi@tgg.net.id").unwrap();
    let e = rt.block_on(accounts::alias(&w.ops(), SITI, &budi, true)).unwrap_err();
    assert!(format!("{e:#}").contains("is an account"), "{e:#}");
    // Adding it again is a no-op; removing it empties the attribute.
    rt.block_on(accounts::alias(&w.ops(), SITI, &info, true)).unwrap();
    let removed = rt.block_on(accounts::alias(&w.ops(), SITI, &info, false)).unwrap();
    assert!(removed.aliases.is_empty());
    assert_eq!(w.attr(SITI, "mailLocalAddress"), None);
    assert!(w.fleet.steps_on("transport").contains(&"postfix reload".to_string()));
}

#[test]
fn forwarding_is_stored_with_its_copy_flag_and_never_to_itself() {
    use mailctl::inventory::address::parse;
    use mailctl::ops::accounts;
    let w = MoveWorld::new(&[SITI]);
    let rt = runtime();
    let out = parse("siti@example.org").unwrap();
    let f = rt.block_on(accounts::forward(&w.ops(), SITI, std::slice::from_ref(&out), true)).unwrap();
    assert!(f.keep_copy);
    assert_eq!(w.attr(SITI, "mailctlForward").as_deref(), Some("siti@example.org"));
    assert_eq!(w.attr(SITI, "mailctlForwardKeepCopy").as_deref(), Some("TRUE"));
    let me = parse(SITI).unwrap();
    assert!(rt.block_on(accounts::forward(&w.ops(), SITI, &[me], false)).is_err());
    rt.block_on(accounts::forward(&w.ops(), SITI, &[], true)).unwrap();
    assert_eq!((w.attr(SITI, "mailctlForward"), w.attr(SITI, "mailctlForwardKeepCopy")), (None, None));
}

#[test]
fn a_list_takes_members_that_exist_and_no_list_inside() {
    use mailctl::inventory::address::parse;
    use mailctl::ops::lists::{Change, run};
    let w = MoveWorld::new(&[SITI]);
    let rt = runtime();
    let staff = parse("staff@tgg.net.id").unwrap();
    let p = |a: &str| parse(a).unwrap();
    rt.block_on(run(&w.ops(), &staff, Change::Create, &[])).unwrap();
    let l = rt.block_on(run(&w.ops(), &staff, Change::Add, &[p(SITI), p("partner@example.org")])).unwrap();
    assert_eq!(l.members, ["partner@example.org", SITI]);
    let e = rt.block_on(run(&w.ops(), &staff, Change::Add, &[p("ghost@tgg.net.id")])).unwrap_err();
    assert!(format!("{e:#}").contains("no account or alias"), "{e:#}");
    let inner = p("inner@tgg.net.id");
    rt.block_on(run(&w.ops(), &inner, Change::Create, &[])).unwrap();
    let e = rt.block_on(run(&w.ops(), &staff, Change::Add, std::slice::from_ref(&inner))).unwrap_err();
    assert!(format!("{e:#}").contains("lists inside lists"), "{e:#}");
    let e = rt.block_on(run(&w.ops(), &p(SITI), Change::Create, &[])).unwrap_err();
    assert!(format!("{e:#}").contains("is an account"), "{e:#}");
    rt.block_on(run(&w.ops(), &staff, Change::Delete, &[])).unwrap();
    assert!(rt.block_on(run(&w.ops(), &staff, Change::Show, &[])).is_err());
}
