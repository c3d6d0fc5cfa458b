//! Sessions of the pages and single-use portal links, by digest only. A
//! link is redeemed by one conditional `UPDATE ... RETURNING`, so two nodes
//! (or two tabs) racing for it cannot both win.

use sqlx::FromRow;

use super::{Store, StoreError};
use crate::time::Millis;

/// A session as stored (the id itself never is).
#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub kind: String,
    pub actor: String,
    pub management_key_id: String,
    pub account: Option<String>,
    pub return_url: Option<String>,
    /// The SHA-256 digest (hex) of the session's form token (column
    /// `csrf_token`; in rows of earlier versions it holds the token itself,
    /// and such sessions count as ended).
    pub csrf_digest: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

/// A portal link's account and return address, once redeemed.
#[derive(Debug, Clone, FromRow)]
pub struct RedeemedLink {
    pub account: String,
    pub return_url: Option<String>,
    pub management_key_id: String,
}

/// A portal link to store (by its token's digest).
pub struct NewPortalToken<'a> {
    pub token_hash: &'a [u8; 32],
    pub account: &'a str,
    pub return_url: Option<&'a str>,
    /// The management key that asked for it.
    pub management_key_id: &'a str,
    pub created_by: &'a str,
    pub created_at: Millis,
    pub expires_at: Millis,
}

/// An account that has keys, with how many of them are active.
#[derive(Debug, Clone, FromRow)]
pub struct AccountRow {
    pub account: String,
    pub keys: i64,
    pub active: i64,
}

/// `text` as a `LIKE` pattern matching it anywhere, its own `%`, `_` and
/// `\` taken literally.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Store {
    pub async fn insert_session(&self, id_hash: &[u8; 32], row: &SessionRow) -> Result<(), StoreError> {
        let sql =
            "INSERT INTO web_sessions (id_hash, kind, actor, management_key_id, account, return_url, csrf_token, \
                   created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
        on_backend!(self, pool => {
            sqlx::query(sql)
                .bind(&id_hash[..])
                .bind(&row.kind)
                .bind(&row.actor)
                .bind(&row.management_key_id)
                .bind(&row.account)
                .bind(&row.return_url)
                .bind(&row.csrf_digest)
                .bind(row.created_at)
                .bind(row.last_seen_at)
                .bind(row.expires_at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The session with this digest, unless it is past its absolute expiry.
    pub async fn find_session(&self, id_hash: &[u8; 32], now: Millis) -> Result<Option<SessionRow>, StoreError> {
        let sql = "SELECT kind, actor, management_key_id, account, return_url, csrf_token AS csrf_digest, created_at, \
                   last_seen_at, expires_at FROM web_sessions WHERE id_hash = $1 AND expires_at > $2";
        let row =
            on_backend!(self, pool => sqlx::query_as(sql).bind(&id_hash[..]).bind(now.0).fetch_optional(pool).await?);
        Ok(row)
    }

    pub async fn touch_session(&self, id_hash: &[u8; 32], at: Millis) -> Result<(), StoreError> {
        let sql = "UPDATE web_sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2";
        on_backend!(self, pool => { sqlx::query(sql).bind(&id_hash[..]).bind(at.0).execute(pool).await?; });
        Ok(())
    }

    pub async fn delete_session(&self, id_hash: &[u8; 32]) -> Result<(), StoreError> {
        on_backend!(self, pool => {
            sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1").bind(&id_hash[..]).execute(pool).await?;
        });
        Ok(())
    }

    /// Forgets sessions and links that can no longer be used.
    pub async fn delete_expired_sessions(&self, now: Millis, idle_cutoff: Millis) -> Result<(), StoreError> {
        on_backend!(self, pool => {
            sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
                .bind(now.0).bind(idle_cutoff.0).execute(pool).await?;
        });
        on_backend!(self, pool => {
            sqlx::query("DELETE FROM portal_tokens WHERE expires_at <= $1").bind(now.0).execute(pool).await?;
        });
        Ok(())
    }

    pub async fn insert_portal_token(&self, token: &NewPortalToken<'_>) -> Result<(), StoreError> {
        let sql =
            "INSERT INTO portal_tokens (token_hash, account, return_url, management_key_id, created_by, created_at, \
                   expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
        on_backend!(self, pool => {
            sqlx::query(sql)
                .bind(&token.token_hash[..])
                .bind(token.account)
                .bind(token.return_url)
                .bind(token.management_key_id)
                .bind(token.created_by)
                .bind(token.created_at.0)
                .bind(token.expires_at.0)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Marks the link used and answers what it opens, or `None` if it is
    /// unknown, used or expired.
    pub async fn redeem_portal_token(
        &self,
        token_hash: &[u8; 32],
        now: Millis,
    ) -> Result<Option<RedeemedLink>, StoreError> {
        let sql =
            "UPDATE portal_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
                   RETURNING account, return_url, management_key_id";
        let row = on_backend!(self, pool => sqlx::query_as(sql).bind(&token_hash[..]).bind(now.0).fetch_optional(pool).await?);
        Ok(row)
    }

    /// Accounts that have keys, by name, those containing `search` (ASCII
    /// case ignored) if given; at most `limit`.
    pub async fn list_accounts(&self, search: Option<&str>, limit: u32) -> Result<Vec<AccountRow>, StoreError> {
        let sql = "SELECT account, COUNT(*) AS keys, \
                   SUM(CASE WHEN revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3) THEN 1 ELSE 0 END) AS active \
                   FROM keys WHERE ($1::text IS NULL OR lower(account) LIKE $1 ESCAPE '\\') \
                   GROUP BY account ORDER BY account LIMIT $2";
        let sql = super::sqlite_compatible(self, sql);
        let pattern = search.map(contains_pattern);
        let rows = on_backend!(self, pool => sqlx::query_as(&sql)
            .bind(pattern.as_deref())
            .bind(i64::from(limit))
            .bind(Millis::now().0)
            .fetch_all(pool)
            .await?);
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn a_search_takes_like_wildcards_literally() {
        assert_eq!(contains_pattern("Org_1%"), "%org\\_1\\%%");
        assert_eq!(contains_pattern("a\\b"), "%a\\\\b%");
    }
}
