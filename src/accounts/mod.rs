//! Accounts: checked addresses (`address`), directory entries and states (`entry`), where new ones go (`placement`), the SSH sessions
//! an operation needs (`fleet`), an account's mail on a host (`mailstore`), moving it
//! (`mover`, journalled in `journal`; a pair's replica in `replica`) and evening hosts out
//! (`rebalance`).

pub mod address;
pub mod entry;
pub mod fleet;
pub mod journal;
pub mod lists;
pub mod mailstore;
pub mod manage;
pub mod mover;
pub mod placement;
pub mod quota;
pub mod rebalance;
pub mod replica;
