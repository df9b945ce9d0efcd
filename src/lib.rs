//! mailctl: provisions and operates Zimbra-style multi-server mail clusters.
//!
//! Data flows one way: inventory → validated `Cluster` → rendered files per host → (deploy).

pub mod accounts;
pub mod cli;
pub mod conventions;
pub mod deploy;
pub mod directory;
pub mod escape;
pub mod inventory;
pub mod lab;
pub mod lock;
pub mod mailauth;
pub mod nat;
pub mod observe;
pub mod ops;
pub mod pki;
pub mod playbook;
pub mod proxmox;
pub mod release;
pub mod remote;
pub mod render;
pub mod state;
pub mod status;
pub mod systemd;
pub mod ui;
