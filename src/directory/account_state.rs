//! The states an account's entry can be in (mailctl's schema, `mailctlState`).

use serde::Serialize;

/// `mailctlState`. Absent means active; the MTAs defer mail for `moving`, Dovecot and the
/// MTAs refuse `closed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum AccountState {
    Active,
    Moving,
    Closed,
    /// A value mailctl did not write; shown as it is, never treated as active.
    Other(String),
}

impl AccountState {
    pub fn parse(value: Option<&str>) -> AccountState {
        match value {
            None | Some("active") => AccountState::Active,
            Some("moving") => AccountState::Moving,
            Some("closed") => AccountState::Closed,
            Some(other) => AccountState::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            AccountState::Active => "active",
            AccountState::Moving => "moving",
            AccountState::Closed => "closed",
            AccountState::Other(s) => s,
        }
    }
}

impl From<AccountState> for String {
    fn from(s: AccountState) -> String {
        s.as_str().to_string()
    }
}

impl std::fmt::Display for AccountState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
