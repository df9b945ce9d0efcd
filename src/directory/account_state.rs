//! The states an account's entry can be in (mailctl's schema, `mailctlState`).

use serde::Serialize;

/// `mailctlState`, Zimbra's account status. Absent means active.
///
/// | state       | logins (IMAP, POP3, SMTP AUTH) | mail to it                      |
/// |-------------|--------------------------------|---------------------------------|
/// | active      | yes                            | delivered                       |
/// | locked      | refused                        | delivered                       |
/// | maintenance | refused                        | deferred in the MTAs' queues    |
/// | closed      | refused                        | refused (550, unknown user)     |
/// | moving      | held, then let in              | deferred (a move's cutover)     |
///
/// The templates (dovecot-ldap.conf.ext, postfix/ldap-*.cf) spell the same table as filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum AccountState {
    #[default]
    Active,
    Locked,
    Maintenance,
    Moving,
    Closed,
    /// A value mailctl did not write; shown as it is, never treated as active.
    Other(String),
}

impl AccountState {
    pub fn parse(value: Option<&str>) -> AccountState {
        match value {
            None | Some("active") => AccountState::Active,
            Some("locked") => AccountState::Locked,
            Some("maintenance") => AccountState::Maintenance,
            Some("moving") => AccountState::Moving,
            Some("closed") => AccountState::Closed,
            Some(other) => AccountState::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            AccountState::Active => "active",
            AccountState::Locked => "locked",
            AccountState::Maintenance => "maintenance",
            AccountState::Moving => "moving",
            AccountState::Closed => "closed",
            AccountState::Other(s) => s,
        }
    }
}

impl AccountState {
    /// A state an admin may set (`moving` belongs to move-account).
    pub fn settable(text: &str) -> Result<AccountState, String> {
        match AccountState::parse(Some(text)) {
            AccountState::Moving | AccountState::Other(_) => {
                Err(format!("`{}` is not a status to set: active, locked, maintenance or closed", text.escape_debug()))
            }
            state => Ok(state),
        }
    }

    /// Whether a user with this state may log in.
    pub fn may_log_in(&self) -> bool {
        matches!(self, AccountState::Active | AccountState::Moving)
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
