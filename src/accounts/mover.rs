//! `move-account`: moving one account's mailbox to another mailbox host without losing mail
//! (ARCHITECTURE.md, "The move protocol"). Online dsync passes while the user works, then a short
//! cutover: one LDAP change (state moving, logins held, new mailHost), Postfix reloaded so
//! new mail is deferred, sessions kicked, in-flight deliveries awaited by watching the MTA
//! queues, a final stateless pass, per-folder verification, release. Every phase is in the
//! journal first, so a killed move is resumed (`resume`) or rolled back (`abort`).
//!
//! Mailbox pairs (docs/pairs.md): a move to another pair ends with the account copied to the
//! target's partner at once, and the old pair forgets it; a move to the source's own partner
//! goes through the same cutover, but the copy is the replica already there, and it stays.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde::Serialize;

use super::entry::{self, AccountState};
use super::fleet::Fleet;
use super::journal::{Journal, JournalFile, Phase};
use super::mailstore::{self, Folder, Peer};
use super::replica;
use crate::directory::Layout;
use crate::directory::client::DirectoryClient;
use crate::inventory::model::{Cluster, Host};

#[derive(Debug, Clone)]
pub struct MoveOptions {
    /// How long logins wait at the proxies from the start of the cutover. Must outlast the
    /// cutover: a held login goes to the new host when it expires.
    pub hold: Duration,
    /// Online passes stop once one takes less than this...
    pub small_pass: Duration,
    /// ...or after this many.
    pub max_passes: usize,
    /// Longest wait for deliveries already on their way to the old host.
    pub in_flight_limit: Duration,
}

impl Default for MoveOptions {
    fn default() -> Self {
        MoveOptions {
            hold: Duration::from_secs(5),
            small_pass: Duration::from_secs(1),
            max_passes: 6,
            in_flight_limit: Duration::from_secs(15),
        }
    }
}

/// What a finished move reports.
#[derive(Debug, Clone, Serialize)]
pub struct MoveReport {
    pub address: String,
    pub from: String,
    pub to: String,
    /// Seconds of each online pass (the first is the full copy).
    pub online_passes: Vec<f64>,
    pub online_copy_secs: f64,
    /// From the LDAP change that defers mail and holds logins to the release of both.
    pub cutover_secs: f64,
    pub messages: u64,
    pub bytes: u64,
    /// Mail that reached the old host after the final pass and was copied over after.
    pub caught_up: bool,
    /// Deliveries to the old host were still running when the wait gave up.
    pub in_flight_timed_out: bool,
    /// The target's pair partner, which holds the account's replica (copied during the move,
    /// or already there when the account moved within its pair).
    pub replica_on: Option<String>,
    /// Seconds the copy to the target's partner took after the release (0 when none was
    /// needed).
    pub replica_copy_secs: f64,
    /// Hosts keeping the old copy, closed to logins, until `purge-moved` (the source and,
    /// paired, its partner; none for a move within a pair: the source keeps the replica).
    pub old_copies: Vec<String>,
    /// The old copies were deleted (`--purge`).
    pub old_copy_purged: bool,
}

pub struct Mover<'a> {
    pub cluster: &'a Cluster,
    pub fleet: &'a Fleet,
    pub ldap: &'a mut dyn DirectoryClient,
    pub layout: Layout,
    pub file: &'a JournalFile,
    pub opts: MoveOptions,
    /// Called with a short line at each step (a progress bar on a terminal).
    pub progress: &'a (dyn Fn(&str) + Sync),
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

impl Mover<'_> {
    /// Checks that `address` can move to `target` and journals the start. Nothing changes on
    /// any host when a check fails.
    pub async fn preflight(&mut self, address: &str, target: &Host) -> anyhow::Result<Journal> {
        let entry = entry::read(self.ldap, &self.layout, address)
            .await?
            .with_context(|| format!("no account {address} in the directory"))?;
        if let Some(t) = &entry.move_target {
            bail!(
                "{address} has an unfinished move to {t}: finish it with `mailctl move-account --resume {address}` \
                 or roll it back with `--abort`"
            );
        }
        if entry.state != AccountState::Active {
            bail!("{address} is {} (not active): it cannot be moved now", entry.state);
        }
        let source = self.cluster.host_by_fqdn(&entry.mail_host).with_context(|| {
            format!("{address} lives on {}, which is not a host of this inventory", entry.mail_host)
        })?;
        if source.name == target.name {
            bail!("{address} already lives on {}", target.name);
        }
        for h in [source, target] {
            if !replica::serves_own(self.cluster, h, self.fleet.get(&h.name)).await? {
                bail!(
                    "{}'s accounts are served by its pair partner since a failover: move accounts after \
                     `mailctl failback {}`",
                    h.name,
                    h.name
                );
            }
        }
        let within_pair = self.within_pair(source, target);
        let target_partner = self.cluster.partner_of(&target.name).filter(|_| !within_pair);
        let on_target = self
            .ldap
            .search(
                &self.layout.accounts_base(),
                &format!("(mailHost={})", ldap3::ldap_escape(&target.fqdn)),
                &["mail"],
            )
            .await?
            .len();
        let capacity = target.capacity.unwrap_or(super::placement::DEFAULT_CAPACITY) as usize;
        if on_target >= capacity {
            bail!("{} is full: {on_target} accounts for a capacity of {capacity}", target.name);
        }
        // Within a pair, the target's copy is the replica and already takes its room.
        let receiving: Vec<&Host> =
            if within_pair { Vec::new() } else { [target].into_iter().chain(target_partner).collect() };
        let needed = match receiving.is_empty() {
            true => 0,
            false => mailstore::home_bytes(self.fleet.get(&source.name), address).await?,
        };
        for h in receiving {
            if mailstore::has_home(self.fleet.get(&h.name), address).await? {
                bail!(
                    "{} already has a mail home for {address} ({}), left by an earlier move: remove it with \
                     `mailctl account purge-moved {address}` first",
                    h.name,
                    mailstore::home_dir(address)?
                );
            }
            let free = mailstore::free_bytes(self.fleet.get(&h.name)).await?;
            // Room for the mailbox plus a tenth for indexes and mail arriving during the move.
            if needed + needed / 10 > free {
                bail!(
                    "{} has {:.1} MB free for mail; {address} needs {:.1} MB there",
                    h.name,
                    free as f64 / 1e6,
                    needed as f64 / 1e6
                );
            }
        }
        let journal = Journal {
            address: address.to_string(),
            source: source.name.clone(),
            target: target.name.clone(),
            phase: Phase::Copy,
            started: now(),
            dsync_state: None,
            passes: Vec::new(),
            hold_until: None,
            source_at_final: Vec::new(),
            report: None,
        };
        // The claim is one compare-and-swap in the directory: of two admins starting a move
        // of one account (each with a journal of their own), only one gets it.
        let claimed = self
            .ldap
            .replace_if(&entry.dn, &[("mailctlMoveTarget", vec![target.fqdn.as_str()])], entry::MOVABLE)
            .await?;
        if !claimed {
            bail!(
                "{address} was claimed by another move (or its state changed) while this one checked it: \
                 see `mailctl account show {address}`"
            );
        }
        if let Err(e) = self.file.save(&journal) {
            // No journal, no move: give the claim back so nothing is left half-started.
            let _ = self.ldap.replace(&entry.dn, &[("mailctlMoveTarget", vec![])]).await;
            return Err(e);
        }
        Ok(journal)
    }

    /// A mailbox host as the other end of a dsync pass.
    fn peer<'h>(&'h self, host: &'h Host) -> Peer<'h> {
        Peer { host, conn: self.fleet.get(&host.name) }
    }

    /// Whether `a` and `b` are the two members of one pair.
    fn within_pair(&self, a: &Host, b: &Host) -> bool {
        self.cluster.partner_of(&a.name).is_some_and(|p| p.name == b.name)
    }

    fn hosts(&self, j: &Journal) -> anyhow::Result<(&Host, &Host)> {
        let find =
            |n: &str| self.cluster.host(n).with_context(|| format!("the journal names host {n}, not in the inventory"));
        Ok((find(&j.source)?, find(&j.target)?))
    }

    /// Runs (or continues) a move from its journal to the end. A failure during the cutover
    /// is rolled back, so the account is usable on its source when this returns an error.
    pub async fn run(&mut self, mut j: Journal) -> anyhow::Result<MoveReport> {
        if j.phase == Phase::Copy {
            self.online_copy(&mut j).await?;
        }
        let started = Instant::now();
        let mut in_flight_timed_out = false;
        if j.phase == Phase::Copy || j.phase == Phase::Cutover {
            match self.cutover(&mut j).await {
                Ok(timed_out) => in_flight_timed_out = timed_out,
                Err(e) => {
                    (self.progress)("cutover failed: rolling back");
                    return match self.abort(j).await {
                        Ok(()) => Err(e.context("the move was rolled back: the account lives on its source")),
                        Err(rollback) => Err(e.context(format!(
                            "the rollback failed too ({rollback:#}); mail for the account is deferred and logins \
                             held: run `move-account --resume` or `--abort`"
                        ))),
                    };
                }
            }
        }
        let caught_up = self.release(&mut j).await?;
        let cutover_secs = started.elapsed().as_secs_f64();
        let (replica_on, replica_copy_secs) = self.replicate(&j).await?;
        let (source, target) = self.hosts(&j)?;
        let (source, target) = (source.clone(), target.clone());
        let old_copies = self.old_copy_hosts(&source, &target);
        let (messages, bytes) = mailstore::totals(&mailstore::folders(self.fleet.get(&target.name), &j.address).await?);
        let report = MoveReport {
            address: j.address.clone(),
            from: source.name,
            to: target.name,
            online_copy_secs: j.passes.iter().sum(),
            online_passes: j.passes.clone(),
            cutover_secs,
            messages,
            bytes,
            caught_up,
            in_flight_timed_out,
            replica_copy_secs,
            replica_on,
            old_copies,
            old_copy_purged: false,
        };
        j.phase = Phase::Done;
        j.dsync_state = None;
        j.report = Some(serde_json::to_value(&report)?);
        self.file.save(&j)?;
        Ok(report)
    }

    /// dsync passes pulled by the target while the user keeps working, until one is small.
    async fn online_copy(&mut self, j: &mut Journal) -> anyhow::Result<()> {
        let (source, target) = self.hosts(j)?;
        let target_session = self.fleet.get(&target.name);
        let mut started_over = false;
        loop {
            let n = j.passes.len() + 1;
            (self.progress)(&format!("online copy: pass {n}"));
            let started = Instant::now();
            let state = j.dsync_state.clone().unwrap_or_default();
            let peer = Peer { host: source, conn: self.fleet.get(&source.name) };
            let pass = mailstore::backup_from(target_session, &j.address, peer, Some(&state)).await;
            // dsync's data error (65): a pass killed half-way left the target a copy it cannot
            // reconcile (Dovecot 2.4 will not replace an INBOX whose GUID differs). Before
            // the cutover the target's copy holds nothing but what the copy put there (mail
            // and logins still go to the source), so it is dropped and the copy starts over.
            if let Err(e) = &pass
                && !started_over
                && format!("{e:#}").contains("(exit 65)")
            {
                (self.progress)("online copy: the target's partial copy is unusable; starting the copy over");
                mailstore::remove_home(target_session, &j.address).await?;
                j.dsync_state = None;
                self.file.save(j)?;
                started_over = true;
                continue;
            }
            let new_state =
                pass.with_context(|| format!("online copy pass {n} from {} to {}", source.name, target.name))?;
            let took = started.elapsed();
            j.passes.push(took.as_secs_f64());
            j.dsync_state = new_state;
            self.file.save(j)?;
            if took < self.opts.small_pass || j.passes.len() >= self.opts.max_passes {
                return Ok(());
            }
        }
    }

    /// The cutover up to a verified final copy. Returns whether the wait for in-flight
    /// deliveries gave up.
    async fn cutover(&mut self, j: &mut Journal) -> anyhow::Result<bool> {
        let (source, target) = self.hosts(j)?;
        let (source, target) = (source.clone(), target.clone());
        let entry = entry::read(self.ldap, &self.layout, &j.address)
            .await?
            .with_context(|| format!("{} vanished from the directory during its move", j.address))?;
        // A hold that ran out while nobody watched (a killed run) let logins reach the new
        // host: its copy may have changes of the user's, so the final pass merges instead.
        let previous_hold_expired =
            entry.mail_host.eq_ignore_ascii_case(&target.fqdn) && j.hold_until.is_some_and(|t| t <= now());
        let hold_until = now() + self.opts.hold.as_secs();
        j.phase = Phase::Cutover;
        j.hold_until = Some(hold_until);
        self.file.save(j)?;

        (self.progress)("cutover: deferring mail, holding logins");
        let hold = hold_until.to_string();
        self.ldap
            .replace(
                &entry.dn,
                &[
                    ("mailctlState", vec![AccountState::Moving.as_str()]),
                    ("mailctlHoldUntil", vec![hold.as_str()]),
                    ("mailHost", vec![target.fqdn.as_str()]),
                    ("mailctlMoveTarget", vec![target.fqdn.as_str()]),
                ],
            )
            .await?;
        let both = [source.name.as_str(), target.name.as_str()];
        let old = [source.name.as_str()];
        let (reload, flush, kick) = tokio::join!(
            self.fleet.reload_mtas(),
            self.fleet.flush_auth_caches(&j.address, &both),
            self.fleet.kick(&j.address, &old),
        );
        reload?;
        flush?;
        kick?;
        (self.progress)("cutover: waiting for deliveries in flight");
        // Never wait past half of what is left of the hold: the final pass needs the rest,
        // and mail still in flight then is caught up after the release.
        let hold_left = Duration::from_secs(hold_until.saturating_sub(now()));
        let limit = self.opts.in_flight_limit.min(hold_left / 2);
        let drained = self.fleet.wait_for_in_flight(&j.address, limit).await?;
        // A session that slipped in before the auth caches were flushed.
        self.fleet.kick(&j.address, &both).await?;

        let mut differences = Vec::new();
        for attempt in 1..=3 {
            (self.progress)(&format!("cutover: final pass {attempt}"));
            let target_session = self.fleet.get(&target.name);
            if previous_hold_expired {
                mailstore::merge_with(target_session, &j.address, self.peer(&source)).await?;
            } else {
                mailstore::backup_from(target_session, &j.address, self.peer(&source), None).await?;
            }
            let (s, t) = tokio::join!(
                mailstore::folders(self.fleet.get(&source.name), &j.address),
                mailstore::folders(target_session, &j.address),
            );
            let (s, t) = (s?, t?);
            differences = mailstore::differences(&s, &t);
            if differences.is_empty() {
                j.source_at_final = s;
                break;
            }
        }
        if !differences.is_empty() {
            bail!("verification after the final pass: {}", differences.join("; "));
        }
        if now() >= hold_until {
            bail!(
                "the cutover outlasted the {} s login hold; held logins may have reached {} early",
                self.opts.hold.as_secs(),
                target.name
            );
        }
        j.phase = Phase::Release;
        self.file.save(j)?;
        Ok(!drained)
    }

    /// Lifts the hold and releases deferred mail to the new host; copies over anything the
    /// old host got after the final pass. Returns whether that catch-up ran.
    async fn release(&mut self, j: &mut Journal) -> anyhow::Result<bool> {
        let (source, target) = self.hosts(j)?;
        let (source, target) = (source.clone(), target.clone());
        (self.progress)("release: lifting the hold, delivering deferred mail");
        self.settle(&j.address, &target, &source).await?;
        let now_on_source = mailstore::folders(self.fleet.get(&source.name), &j.address).await?;
        if changed_since(&j.source_at_final, &now_on_source) {
            (self.progress)("catch-up: the old host changed after the final pass");
            mailstore::catch_up(self.fleet.get(&target.name), &j.address, self.peer(&source)).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// After the release, for paired hosts: the target's partner gets its copy now (not at the
    /// account's next change), and the source's pair, which keeps only a closed old copy,
    /// stops replicating the account. Returns the partner holding the replica and the seconds
    /// its copy took (0 when it was there already). Run again by `--resume` when it fails,
    /// which leaves the account working on the target.
    async fn replicate(&mut self, j: &Journal) -> anyhow::Result<(Option<String>, f64)> {
        let (source, target) = self.hosts(j)?;
        let (source, target) = (source.clone(), target.clone());
        if self.within_pair(&source, &target) {
            return Ok((Some(source.name), 0.0));
        }
        for h in [Some(&source), self.cluster.partner_of(&source.name)].into_iter().flatten() {
            replica::forget(h, self.fleet.get(&h.name), &j.address)
                .await
                .with_context(|| format!("telling {}'s replication to forget {}", h.name, j.address))?;
        }
        let Some(partner) = self.cluster.partner_of(&target.name) else { return Ok((None, 0.0)) };
        (self.progress)(&format!("replica: copying to {}", partner.name));
        let started = Instant::now();
        replica::copy_to_partner(&target, self.fleet.get(&target.name), &j.address).await.with_context(|| {
            format!(
                "{} lives on {} and takes mail, but its copy on the pair partner {} was not made: \
                 `mailctl move-account --resume {}` tries again",
                j.address, target.name, partner.name, j.address
            )
        })?;
        Ok((Some(partner.name.clone()), started.elapsed().as_secs_f64()))
    }

    /// Where a finished move leaves closed copies of the account: the source and its partner,
    /// unless the account stayed within their pair.
    fn old_copy_hosts(&self, source: &Host, target: &Host) -> Vec<String> {
        if self.within_pair(source, target) {
            return Vec::new();
        }
        [Some(source), self.cluster.partner_of(&source.name)].into_iter().flatten().map(|h| h.name.clone()).collect()
    }

    /// Ends a move either way: the account active on `home` with no hold or move mark, the
    /// MTAs' routes and the auth caches refreshed, and the mail deferred meanwhile released.
    async fn settle(&mut self, address: &str, home: &Host, other: &Host) -> anyhow::Result<()> {
        let dn = self.layout.account_dn(address);
        self.ldap
            .replace(
                &dn,
                &[
                    ("mailctlState", vec![AccountState::Active.as_str()]),
                    ("mailctlHoldUntil", vec![]),
                    ("mailctlMoveTarget", vec![]),
                    ("mailHost", vec![home.fqdn.as_str()]),
                ],
            )
            .await?;
        let both = [home.name.as_str(), other.name.as_str()];
        let (reload, flush) = tokio::join!(self.fleet.reload_mtas(), self.fleet.flush_auth_caches(address, &both));
        reload?;
        flush?;
        self.fleet.flush_mta_queues().await
    }

    /// Rolls a move back to its source, whatever phase it reached before Done. The target's
    /// partial copy is removed once nothing on it is needed.
    pub async fn abort(&mut self, mut j: Journal) -> anyhow::Result<()> {
        if j.phase == Phase::Done {
            bail!(
                "the move of {} to {} finished: to go back, move it again with `mailctl move-account {} {}`",
                j.address,
                j.target,
                j.address,
                j.source
            );
        }
        let (source, target) = self.hosts(&j)?;
        let (source, target) = (source.clone(), target.clone());
        let entry = entry::read(self.ldap, &self.layout, &j.address)
            .await?
            .with_context(|| format!("{} vanished from the directory", j.address))?;
        let switched = !entry.mail_host.eq_ignore_ascii_case(&source.fqdn);
        if switched && entry.state == AccountState::Active && j.phase == Phase::Release {
            bail!(
                "the move of {} was released to {} already: finish it with `--resume`, or move it back with \
                 `mailctl move-account {} {}`",
                j.address,
                target.name,
                j.address,
                source.name
            );
        }
        if switched || entry.state == AccountState::Moving {
            (self.progress)("abort: holding logins, routing back to the source");
            let hold_expired = j.hold_until.is_some_and(|t| t <= now());
            let hold = (now() + self.opts.hold.as_secs()).to_string();
            self.ldap
                .replace(
                    &entry.dn,
                    &[
                        ("mailctlState", vec![AccountState::Moving.as_str()]),
                        ("mailctlHoldUntil", vec![hold.as_str()]),
                        ("mailHost", vec![source.fqdn.as_str()]),
                    ],
                )
                .await?;
            let both = [source.name.as_str(), target.name.as_str()];
            let (reload, flush, kick) = tokio::join!(
                self.fleet.reload_mtas(),
                self.fleet.flush_auth_caches(&j.address, &both),
                self.fleet.kick(&j.address, &both),
            );
            reload?;
            flush?;
            kick?;
            self.fleet.wait_for_in_flight(&j.address, self.opts.in_flight_limit).await?;
            if hold_expired && mailstore::has_home(self.fleet.get(&target.name), &j.address).await? {
                // Logins reached the target after the hold ran out: keep what the user did there.
                (self.progress)("abort: merging the target's changes back");
                mailstore::merge_with(self.fleet.get(&source.name), &j.address, self.peer(&target)).await?;
            }
        }
        self.settle(&j.address, &source, &target).await?;
        self.remove_partial_copies(&j.address, &source, &target).await?;
        j.phase = Phase::Aborted;
        j.dsync_state = None;
        self.file.save(&j)?;
        Ok(())
    }

    /// After a rollback: the target's copy, and the one its pair partner's replication may
    /// have made meanwhile. Within a pair the target's copy is the replica, and stays.
    async fn remove_partial_copies(&mut self, address: &str, source: &Host, target: &Host) -> anyhow::Result<()> {
        if self.within_pair(source, target) {
            return Ok(());
        }
        let partner = self.cluster.partner_of(&target.name);
        for h in [Some(target), partner].into_iter().flatten() {
            let session = self.fleet.get(&h.name);
            if partner.is_some() {
                replica::forget(h, session, address).await?;
            }
            mailstore::remove_home(session, address).await?;
        }
        Ok(())
    }
}

/// Whether the source's copy changed after the final pass was verified.
fn changed_since(at_final: &[Folder], now: &[Folder]) -> bool {
    now.iter().any(|f| {
        at_final
            .iter()
            .find(|a| a.name == f.name)
            .is_none_or(|a| a.uidnext != f.uidnext || a.highestmodseq != f.highestmodseq || a.messages != f.messages)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str, uidnext: u64, modseq: u64) -> Folder {
        Folder {
            name: name.into(),
            messages: uidnext - 1,
            uidnext,
            uidvalidity: 1,
            guid: "g".into(),
            highestmodseq: modseq,
            vsize: 0,
        }
    }

    #[test]
    fn catch_up_only_when_the_source_changed() {
        let at_final = vec![folder("INBOX", 5, 9)];
        assert!(!changed_since(&at_final, &at_final));
        assert!(changed_since(&at_final, &[folder("INBOX", 6, 10)]));
        assert!(changed_since(&at_final, &[folder("INBOX", 5, 10)]));
        assert!(changed_since(&at_final, &[folder("INBOX", 5, 9), folder("New", 2, 1)]));
    }
}
