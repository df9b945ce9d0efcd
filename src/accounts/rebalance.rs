//! `rebalance`: the moves that even out the mailbox hosts by fill (accounts / capacity), a
//! mailbox pair counting as one host of both capacities.
//! Each step moves one account from the fullest host to the emptiest while that lowers the
//! fullest host's fill; the account moved is the smallest mailbox there (cheapest to move).

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone)]
pub struct Resident {
    pub address: String,
    pub host: String,
    pub bytes: u64,
    /// False for an account in the middle of a move (never planned).
    pub movable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedMove {
    pub address: String,
    pub from: String,
    pub to: String,
    pub bytes: u64,
}

/// `hosts` are (name, capacity) in inventory order; ties go to the earlier host. A mailbox pair
/// (`pairs`, docs/pairs.md) is evened out with the rest as one unit: each member holds both
/// members' mail, so only a move out of the pair frees room, and a failover leaves one member
/// serving both. Within a pair the members are evened out after, which copies nothing.
pub fn plan(
    hosts: &[(String, u32)],
    pairs: &[[String; 2]],
    residents: &[Resident],
    max_moves: usize,
) -> Vec<PlannedMove> {
    let mut count: BTreeMap<&str, u64> = hosts.iter().map(|(h, _)| (h.as_str(), 0)).collect();
    for r in residents {
        if let Some(c) = count.get_mut(r.host.as_str()) {
            *c += 1;
        }
    }
    let units = units(hosts, pairs);
    let mut moved: Vec<PlannedMove> = Vec::new();
    while moved.len() < max_moves {
        let unit_fill = |u: &Vec<&(String, u32)>, extra: i64| {
            let accounts: u64 = u.iter().map(|h| count[h.0.as_str()]).sum();
            let capacity: u32 = u.iter().map(|h| h.1.max(1)).sum();
            (accounts as i64 + extra) as f64 / f64::from(capacity)
        };
        let fullest = units.iter().rev().max_by(|a, b| unit_fill(a, 0).total_cmp(&unit_fill(b, 0)));
        let emptiest = units.iter().min_by(|a, b| unit_fill(a, 0).total_cmp(&unit_fill(b, 0)));
        let (Some(from), Some(to)) = (fullest, emptiest) else { break };
        if std::ptr::eq(from, to) || unit_fill(to, 1) >= unit_fill(from, 0) {
            break;
        }
        let mut givers = from.clone();
        givers.sort_by(|a, b| fill(&count, b, 0).total_cmp(&fill(&count, a, 0)));
        let Some((giver, r)) = givers.iter().find_map(|h| smallest(residents, &moved, &h.0).map(|r| (*h, r))) else {
            break;
        };
        let taker =
            to.iter().min_by(|a, b| fill(&count, a, 0).total_cmp(&fill(&count, b, 0))).expect("a unit has hosts");
        moved.push(step(&mut count, r, giver, taker));
    }
    for pair in units.iter().filter(|u| u.len() == 2) {
        while moved.len() < max_moves {
            let (a, b) = (pair[0], pair[1]);
            let (from, to) = if fill(&count, b, 0) > fill(&count, a, 0) { (b, a) } else { (a, b) };
            if fill(&count, to, 1) >= fill(&count, from, 0) {
                break;
            }
            let Some(r) = smallest(residents, &moved, &from.0) else { break };
            moved.push(step(&mut count, r, from, to));
        }
    }
    moved
}

/// A host's accounts against its capacity, with `extra` more.
fn fill(count: &BTreeMap<&str, u64>, h: &(String, u32), extra: i64) -> f64 {
    (count[h.0.as_str()] as i64 + extra) as f64 / f64::from(h.1.max(1))
}

/// The hosts evened out against each other: each pair, and each host in no pair.
fn units<'h>(hosts: &'h [(String, u32)], pairs: &[[String; 2]]) -> Vec<Vec<&'h (String, u32)>> {
    let mut units: Vec<Vec<&(String, u32)>> = Vec::new();
    for h in hosts {
        let partner = pairs.iter().find(|p| p.contains(&h.0)).and_then(|p| p.iter().find(|m| **m != h.0));
        match units.iter_mut().find(|u| partner.is_some_and(|p| u.iter().any(|m| &m.0 == p))) {
            Some(unit) => unit.push(h),
            None => units.push(vec![h]),
        }
    }
    units
}

/// The cheapest account of `host` to move: its smallest mailbox not planned already.
fn smallest<'r>(residents: &'r [Resident], moved: &[PlannedMove], host: &str) -> Option<&'r Resident> {
    residents
        .iter()
        .filter(|r| r.host == host && r.movable && !moved.iter().any(|m| m.address == r.address))
        .min_by(|a, b| a.bytes.cmp(&b.bytes).then_with(|| a.address.cmp(&b.address)))
}

fn step(count: &mut BTreeMap<&str, u64>, r: &Resident, from: &(String, u32), to: &(String, u32)) -> PlannedMove {
    *count.get_mut(from.0.as_str()).unwrap() -= 1;
    *count.get_mut(to.0.as_str()).unwrap() += 1;
    PlannedMove { address: r.address.clone(), from: from.0.clone(), to: to.0.clone(), bytes: r.bytes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resident(address: &str, host: &str, bytes: u64) -> Resident {
        Resident { address: address.into(), host: host.into(), bytes, movable: true }
    }

    fn plan_unpaired(hosts: &[(String, u32)], r: &[Resident], max: usize) -> Vec<PlannedMove> {
        plan(hosts, &[], r, max)
    }

    fn hosts(caps: &[(&str, u32)]) -> Vec<(String, u32)> {
        caps.iter().map(|(h, c)| (h.to_string(), *c)).collect()
    }

    #[test]
    fn all_on_one_host_is_evened_out_smallest_mailboxes_first() {
        let r: Vec<Resident> = (0..5).map(|i| resident(&format!("u{i}@x"), "mbox-1", 100 - i)).collect();
        let p = plan_unpaired(&hosts(&[("mbox-1", 3000), ("mbox-2", 3000)]), &r, 100);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].address, "u4@x");
        assert_eq!(p[1].address, "u3@x");
        assert!(p.iter().all(|m| m.from == "mbox-1" && m.to == "mbox-2"));
        assert_eq!(plan_unpaired(&hosts(&[("mbox-1", 3000), ("mbox-2", 3000)]), &r, 1).len(), 1);
    }

    #[test]
    fn capacity_weighs_and_balanced_needs_nothing() {
        // 30 accounts, capacities 1:2 → 10 and 20.
        let r: Vec<Resident> = (0..30).map(|i| resident(&format!("u{i:02}@x"), "a", 1)).collect();
        let p = plan_unpaired(&hosts(&[("a", 1000), ("b", 2000)]), &r, 100);
        assert_eq!(p.len(), 20);
        let even = vec![resident("a@x", "a", 1), resident("b@x", "b", 1), resident("c@x", "a", 1)];
        assert!(plan_unpaired(&hosts(&[("a", 10), ("b", 10)]), &even, 100).is_empty());
    }

    #[test]
    fn accounts_being_moved_stay_put() {
        let mut r = vec![resident("a@x", "a", 1), resident("b@x", "a", 1)];
        r.iter_mut().for_each(|r| r.movable = false);
        assert!(plan_unpaired(&hosts(&[("a", 10), ("b", 10)]), &r, 100).is_empty());
    }

    fn pair(a: &str, b: &str) -> [String; 2] {
        [a.to_string(), b.to_string()]
    }

    #[test]
    fn a_pair_is_evened_out_with_the_rest_as_one_unit_then_within() {
        // A pair of 1000 + 1000 holding 30 accounts, all on mbox-1, and a lone host of 1000
        // with none: 10 go to the lone host (20 of 2000 against 10 of 1000), then the pair's
        // 20 are split 10/10 between its members.
        let r: Vec<Resident> = (0..30).map(|i| resident(&format!("u{i:02}@x"), "mbox-1", 100 + i)).collect();
        let caps = hosts(&[("mbox-1", 1000), ("mbox-2", 1000), ("mbox-3", 1000)]);
        let p = plan(&caps, &[pair("mbox-1", "mbox-2")], &r, 100);
        let to = |h: &str| p.iter().filter(|m| m.to == h).count();
        assert_eq!((to("mbox-3"), to("mbox-2"), to("mbox-1")), (10, 10, 0), "{p:#?}");
        assert!(p[..10].iter().all(|m| m.to == "mbox-3"), "moves out of the pair come first: {p:#?}");
        assert_eq!(p[0].address, "u00@x", "the smallest mailbox moves first");
        // Unpaired, the same hosts split the 30 evenly three ways.
        let flat = plan_unpaired(&caps, &r, 100);
        assert_eq!(flat.iter().filter(|m| m.to == "mbox-3").count(), 10);
    }

    #[test]
    fn a_pair_whose_members_differ_but_whose_unit_is_even_only_moves_within() {
        // 12 accounts on a pair of 10 + 10 (8 on one member, 4 on the other) and 6 on a
        // lone host of 10: 12/20 = 6/10, so nothing leaves the pair; 2 move inside it.
        let mut r: Vec<Resident> = (0..8).map(|i| resident(&format!("a{i}@x"), "p1", 1)).collect();
        r.extend((0..4).map(|i| resident(&format!("b{i}@x"), "p2", 1)));
        r.extend((0..6).map(|i| resident(&format!("c{i}@x"), "solo", 1)));
        let p = plan(&hosts(&[("p1", 10), ("solo", 10), ("p2", 10)]), &[pair("p2", "p1")], &r, 100);
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(p.iter().all(|m| m.from == "p1" && m.to == "p2"));
    }
}
