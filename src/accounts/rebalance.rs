//! `rebalance`: the moves that even out the mailbox hosts by fill (accounts / capacity).
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

/// `hosts` are (name, capacity) in inventory order; ties go to the earlier host.
pub fn plan(hosts: &[(String, u32)], residents: &[Resident], max_moves: usize) -> Vec<PlannedMove> {
    let mut count: BTreeMap<&str, u64> = hosts.iter().map(|(h, _)| (h.as_str(), 0)).collect();
    for r in residents {
        if let Some(c) = count.get_mut(r.host.as_str()) {
            *c += 1;
        }
    }
    let fill = |count: &BTreeMap<&str, u64>, h: &(String, u32), extra: i64| {
        (count[h.0.as_str()] as i64 + extra) as f64 / f64::from(h.1.max(1))
    };
    let mut moved: Vec<PlannedMove> = Vec::new();
    while moved.len() < max_moves {
        let fullest = hosts.iter().rev().max_by(|a, b| fill(&count, a, 0).total_cmp(&fill(&count, b, 0)));
        let emptiest = hosts.iter().min_by(|a, b| fill(&count, a, 0).total_cmp(&fill(&count, b, 0)));
        let (Some(from), Some(to)) = (fullest, emptiest) else { break };
        if from.0 == to.0 || fill(&count, to, 1) >= fill(&count, from, 0) {
            break;
        }
        let candidate = residents
            .iter()
            .filter(|r| r.host == from.0 && r.movable && !moved.iter().any(|m| m.address == r.address))
            .min_by(|a, b| a.bytes.cmp(&b.bytes).then_with(|| a.address.cmp(&b.address)));
        let Some(r) = candidate else { break };
        moved.push(PlannedMove { address: r.address.clone(), from: from.0.clone(), to: to.0.clone(), bytes: r.bytes });
        *count.get_mut(from.0.as_str()).unwrap() -= 1;
        *count.get_mut(to.0.as_str()).unwrap() += 1;
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resident(address: &str, host: &str, bytes: u64) -> Resident {
        Resident { address: address.into(), host: host.into(), bytes, movable: true }
    }

    fn hosts(caps: &[(&str, u32)]) -> Vec<(String, u32)> {
        caps.iter().map(|(h, c)| (h.to_string(), *c)).collect()
    }

    #[test]
    fn all_on_one_host_is_evened_out_smallest_mailboxes_first() {
        let r: Vec<Resident> = (0..5).map(|i| resident(&format!("u{i}@x"), "mbox-1", 100 - i)).collect();
        let p = plan(&hosts(&[("mbox-1", 3000), ("mbox-2", 3000)]), &r, 100);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].address, "u4@x");
        assert_eq!(p[1].address, "u3@x");
        assert!(p.iter().all(|m| m.from == "mbox-1" && m.to == "mbox-2"));
        assert_eq!(plan(&hosts(&[("mbox-1", 3000), ("mbox-2", 3000)]), &r, 1).len(), 1);
    }

    #[test]
    fn capacity_weighs_and_balanced_needs_nothing() {
        // 30 accounts, capacities 1:2 → 10 and 20.
        let r: Vec<Resident> = (0..30).map(|i| resident(&format!("u{i:02}@x"), "a", 1)).collect();
        let p = plan(&hosts(&[("a", 1000), ("b", 2000)]), &r, 100);
        assert_eq!(p.len(), 20);
        let even = vec![resident("a@x", "a", 1), resident("b@x", "b", 1), resident("c@x", "a", 1)];
        assert!(plan(&hosts(&[("a", 10), ("b", 10)]), &even, 100).is_empty());
    }

    #[test]
    fn accounts_being_moved_stay_put() {
        let mut r = vec![resident("a@x", "a", 1), resident("b@x", "a", 1)];
        r.iter_mut().for_each(|r| r.movable = false);
        assert!(plan(&hosts(&[("a", 10), ("b", 10)]), &r, 100).is_empty());
    }
}
