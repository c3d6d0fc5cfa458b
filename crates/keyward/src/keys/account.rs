//! Accounts (docs/KEYS.md) and the reach of whoever asks: an
//! [`AccountScope`] is every account or one, handed out by authentication
//! (a management key, later a portal session) or to the local operator,
//! and required by every account-sensitive service and store method. There
//! is no `None` to pass by mistake.

use std::fmt;

use serde::Serialize;

use super::error::KeyError;

/// 1-128 characters of `A-Z a-z 0-9 . _ : @ + -`, starting with a letter
/// or digit: an account always fits in a header (`X-Keyward-Account`) and
/// never looks like another.
pub const ACCOUNT_MAX_CHARS: usize = 128;

/// An account id that follows the grammar.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(text: &str) -> Result<AccountId, KeyError> {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '@' | '+' | '-');
        let starts_well = text.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if text.len() > ACCOUNT_MAX_CHARS || !starts_well || !text.chars().all(valid_char) {
            return Err(KeyError::Invalid {
                field: "account",
                message: format!(
                    "`{}` must be 1-{ACCOUNT_MAX_CHARS} characters of A-Z a-z 0-9 . _ : @ + -, starting with a letter or digit",
                    text.escape_debug()
                ),
            });
        }
        Ok(AccountId(text.to_owned()))
    }

    /// An account as the store holds it: written by keyward, so trusted
    /// as is (a limit read back must hold even if the grammar changed).
    pub(crate) fn stored(text: String) -> AccountId {
        AccountId(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for AccountId {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<AccountId, KeyError> {
        AccountId::parse(s)
    }
}

/// Which accounts a caller may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountScope(Reach);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Reach {
    All,
    One(AccountId),
}

impl AccountScope {
    /// The reach of an authenticated management key: its one account if it
    /// is limited, else every account.
    pub fn of_management_key(key: &super::ManagementKeyRecord) -> AccountScope {
        match &key.account {
            Some(account) => AccountScope(Reach::One(account.clone())),
            None => AccountScope(Reach::All),
        }
    }

    /// The reach of a portal session: the one account it was opened for.
    pub(crate) fn of_portal_session(account: AccountId) -> AccountScope {
        AccountScope(Reach::One(account))
    }

    /// The local operator (the command line, with the database's own
    /// credentials): every account.
    pub fn operator() -> AccountScope {
        AccountScope(Reach::All)
    }

    /// The one account this scope is confined to, if any (the store's
    /// filter).
    pub fn confined_to(&self) -> Option<&AccountId> {
        match &self.0 {
            Reach::All => None,
            Reach::One(account) => Some(account),
        }
    }

    pub fn reaches(&self, account: &str) -> bool {
        self.confined_to().is_none_or(|mine| mine.as_str() == account)
    }

    /// A listing's filter: `requested` within this scope, or `None` when it
    /// asks for an account out of reach (an empty list, docs/API.md).
    pub fn narrowed_to(&self, requested: Option<&AccountId>) -> Option<AccountScope> {
        match (&self.0, requested) {
            (Reach::One(mine), Some(asked)) if mine != asked => None,
            (Reach::One(_), _) => Some(self.clone()),
            (Reach::All, Some(asked)) => Some(AccountScope(Reach::One(asked.clone()))),
            (Reach::All, None) => Some(AccountScope(Reach::All)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_of_design_section_8() {
        for good in ["acme", "a", "org_42", "user@example.com", "a.b:c+d-e", &"x".repeat(128)] {
            assert!(AccountId::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "../x",
            "a/b",
            "acme\u{200b}",
            "-a",
            ".a",
            "a b",
            &"x".repeat(129),
            "é",
        ] {
            assert!(AccountId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_confined_scope_never_widens() {
        let acme = AccountId::parse("acme").unwrap();
        let other = AccountId::parse("other").unwrap();
        let confined = AccountScope(Reach::One(acme.clone()));
        assert_eq!(confined.narrowed_to(Some(&other)), None);
        assert_eq!(confined.narrowed_to(None), Some(confined.clone()));
        assert!(confined.reaches("acme") && !confined.reaches("other"));
        let all = AccountScope::operator();
        assert_eq!(all.narrowed_to(Some(&other)).unwrap().confined_to(), Some(&other));
        assert!(all.reaches("anything"));
    }
}
