//! Accounts: checked addresses (`address`), where new ones go (`placement`), and the
//! directory and mailbox operations behind `mailctl account`.

pub mod address;
pub mod placement;
