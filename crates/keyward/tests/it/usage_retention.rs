//! Usage that does not grow forever (issue 13): hourly rows older than
//! what any usage answer reads become daily rows, daily rows past the
//! retention are deleted; every usage answer is the same before and after;
//! two nodes sweeping at once count nothing twice; a flush of many keys
//! (several multi-row statements) lands whole. On both stores.

use keyward::catalog::LiveCatalog;
use keyward::keys::{AccountScope, NewKey};
use keyward::services::Services;
use keyward::time::Millis;
use keyward::usage::retention::{sweep, Swept, HOURLY_KEPT_MS};
use keyward::usage::{DAY_MS, HOUR_MS};

use crate::support::{catalog_named, on_both_stores, TestStore};

fn hour_of(ms: i64) -> i64 {
    ms - ms.rem_euclid(HOUR_MS)
}

fn day_of(ms: i64) -> i64 {
    ms - ms.rem_euclid(DAY_MS)
}

/// Inserts hourly rows `(key, hour, allowed, denied)` and, for each, a
/// per-scope row of `campaigns:read` with the allowed count.
async fn seed_hours(t: &TestStore, rows: &[(String, i64, i64, i64)]) {
    for chunk in rows.chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .map(|(key, hour, allowed, denied)| format!("('{key}', {hour}, {allowed}, {denied})"))
            .collect();
        t.raw_execute(&format!(
            "INSERT INTO usage_hourly (key_id, hour, allowed, denied) VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap();
        let scopes: Vec<String> = chunk
            .iter()
            .map(|(key, hour, allowed, _)| format!("('{key}', {hour}, 'campaigns:read', {allowed})"))
            .collect();
        t.raw_execute(&format!(
            "INSERT INTO usage_scopes (key_id, hour, scope, count) VALUES {}",
            scopes.join(", ")
        ))
        .await
        .unwrap();
    }
}

/// `SELECT` of one number from the store, through a raw pool.
async fn number(t: &TestStore, sql: &str) -> i64 {
    match (&t.sqlite_dir, &t.pg_database) {
        (Some(dir), _) => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("keyward.db").display()))
                .await
                .unwrap();
            let n: Option<i64> = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n.unwrap_or(0)
        }
        _ => {
            let url = t.cli_args()[1].clone();
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let n: Option<i64> = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n.unwrap_or(0)
        }
    }
}

async fn usage_rolls_up_old_hours_into_days_and_every_answer_stays_exact(t: &TestStore) {
    let catalog = LiveCatalog::fixed(catalog_named("coldsend"));
    let services = Services::for_cli(&t.store, catalog.clone());
    let new = NewKey::parse("acme", "k", &["campaigns:read"], &catalog.current()).unwrap();
    let (key, _) = services
        .keys
        .create(new, "test", &AccountScope::operator())
        .await
        .unwrap();
    let now = Millis::now();
    let id = key.id.clone();
    let old_day = day_of(now.0 - 40 * DAY_MS);
    let rows = vec![
        // Read by the windows and the chart: kept by the hour.
        (id.clone(), hour_of(now.0 - HOUR_MS), 5, 1),
        (id.clone(), hour_of(now.0 - 29 * DAY_MS), 7, 0),
        // At the edge of the 30-day window (counted by it).
        (id.clone(), hour_of(now.0 - 30 * DAY_MS), 11, 2),
        // Older than anything read: rolled up, two hours into one day.
        (id.clone(), old_day + HOUR_MS, 3, 1),
        (id.clone(), old_day + 5 * HOUR_MS, 4, 0),
        (id.clone(), hour_of(now.0 - 200 * DAY_MS), 9, 9),
    ];
    seed_hours(t, &rows).await;
    // Daily rows from earlier sweeps: one inside the retention, one past it.
    t.raw_execute(&format!(
        "INSERT INTO usage_daily (key_id, day, allowed, denied) VALUES ('{id}', {}, 1, 0), ('{id}', {}, 2, 0)",
        day_of(now.0 - 300 * DAY_MS),
        day_of(now.0 - 500 * DAY_MS)
    ))
    .await
    .unwrap();
    t.raw_execute(&format!(
        "INSERT INTO usage_scopes_daily (key_id, day, scope, count) VALUES ('{id}', {}, 'campaigns:read', 2)",
        day_of(now.0 - 500 * DAY_MS)
    ))
    .await
    .unwrap();

    let before = serde_json::to_value(services.usage.of(&key, now).await.unwrap()).unwrap();
    let swept = sweep(&t.store, now, 400).await.unwrap();
    assert_eq!(
        swept,
        Swept {
            hourly: 3,
            scopes: 3,
            daily_deleted: 2
        }
    );
    let after = serde_json::to_value(services.usage.of(&key, now).await.unwrap()).unwrap();
    assert_eq!(before, after, "the usage answer is exactly the same");
    assert_eq!(before["windows"]["30d"]["allowed"], 5 + 7 + 11);

    // The old hours are in their days, summed.
    assert_eq!(
        number(t, &format!("SELECT allowed FROM usage_daily WHERE day = {old_day}")).await,
        7
    );
    assert_eq!(
        number(t, &format!("SELECT denied FROM usage_daily WHERE day = {old_day}")).await,
        1
    );
    assert_eq!(
        number(
            t,
            &format!("SELECT count FROM usage_scopes_daily WHERE day = {old_day} AND scope = 'campaigns:read'")
        )
        .await,
        7
    );
    assert_eq!(
        number(
            t,
            &format!(
                "SELECT COUNT(*) FROM usage_hourly WHERE hour < {}",
                now.0 - HOURLY_KEPT_MS
            )
        )
        .await,
        0
    );
    assert_eq!(number(t, "SELECT COUNT(*) FROM usage_hourly").await, 3);
    // Past the retention: gone; inside it: kept.
    assert_eq!(number(t, "SELECT COUNT(*) FROM usage_daily").await, 3);
    assert_eq!(
        number(
            t,
            &format!("SELECT COUNT(*) FROM usage_daily WHERE day < {}", now.0 - 400 * DAY_MS)
        )
        .await,
        0
    );
    // Nothing more to do.
    assert_eq!(sweep(&t.store, now, 400).await.unwrap(), Swept::default());
}

async fn two_nodes_sweeping_at_once_count_nothing_twice(t: &TestStore) {
    let now = Millis::now();
    let first = hour_of(now.0 - 100 * DAY_MS);
    let mut rows = Vec::new();
    for key in 0..20 {
        for h in 0..150 {
            rows.push((format!("key_{key}"), first + h * 7 * HOUR_MS, 2 + key, key % 3));
        }
    }
    let allowed: i64 = rows.iter().map(|r| r.2).sum();
    let denied: i64 = rows.iter().map(|r| r.3).sum();
    seed_hours(t, &rows).await;
    let other = t.another_node().await;
    let (a, b) = tokio::join!(sweep(&t.store, now, 400), sweep(&other, now, 400));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.hourly + b.hourly, rows.len() as u64, "{a:?} {b:?}");
    assert_eq!(a.scopes + b.scopes, rows.len() as u64, "{a:?} {b:?}");
    assert_eq!(number(t, "SELECT COUNT(*) FROM usage_hourly").await, 0);
    assert_eq!(
        number(t, "SELECT CAST(SUM(allowed) AS BIGINT) FROM usage_daily").await,
        allowed
    );
    assert_eq!(
        number(t, "SELECT CAST(SUM(denied) AS BIGINT) FROM usage_daily").await,
        denied
    );
    assert_eq!(
        number(t, "SELECT CAST(SUM(count) AS BIGINT) FROM usage_scopes_daily").await,
        allowed
    );
    other.close().await;
}

on_both_stores!(
    usage_rolls_up_old_hours_into_days_and_every_answer_stays_exact,
    two_nodes_sweeping_at_once_count_nothing_twice,
    a_flush_of_many_keys_lands_whole,
    a_flush_that_fails_part_way_keeps_the_rest_for_the_next,
);

/// A flush of many keys (several transactions, each of several multi-row
/// statements) lands whole; a key used in two hours of one batch is last
/// used at the later time; and a usage answer read while the flush writes
/// chunk after chunk counts every use once, stored or unflushed.
async fn a_flush_of_many_keys_lands_whole(t: &TestStore) {
    use keyward::keys::KeyId;
    use keyward::usage::{Recorder, UsageService};
    use keyward::verify::Code;
    use std::sync::Arc;
    let catalog = LiveCatalog::fixed(catalog_named("coldsend"));
    let services = Services::for_cli(&t.store, catalog.clone());
    let new = NewKey::parse("acme", "k", &["campaigns:read"], &catalog.current()).unwrap();
    let (real, _) = services
        .keys
        .create(new, "test", &AccountScope::operator())
        .await
        .unwrap();
    let recorder = Arc::new(Recorder::new(true));
    let usage = UsageService::new(recorder.clone(), t.store.clone(), catalog.clone());
    let now = Millis::now();
    let earlier = Millis(now.0 - HOUR_MS);
    let read = catalog
        .current()
        .usage_scope(catalog.current().scope_id("campaigns:read").unwrap());
    const MANY: usize = 4321;
    let ids: Vec<Arc<str>> = (0..MANY).map(|i| Arc::from(format!("key_many_{i}").as_str())).collect();
    for id in &ids {
        recorder.record(id, Code::Valid, [read].into_iter(), now);
        recorder.record(id, Code::InsufficientScope, std::iter::empty(), now);
    }
    let real_id: Arc<str> = Arc::from(real.id.as_str());
    recorder.record(&real_id, Code::Valid, [read].into_iter(), now);
    recorder.record(&real_id, Code::Valid, [read].into_iter(), earlier);
    let record = services
        .keys
        .get(&KeyId::parse(&real.id).unwrap(), &AccountScope::operator())
        .await
        .unwrap();
    let flush = tokio::spawn({
        let (recorder, store, catalog) = (recorder.clone(), t.store.clone(), catalog.clone());
        async move { recorder.flush(&store, &catalog).await }
    });
    let mut reads = 0;
    while !flush.is_finished() || reads == 0 {
        let answer = usage.of(&record, now).await.unwrap();
        assert_eq!(answer.windows.last_day.allowed, 2, "read {reads} during the flush");
        assert_eq!(answer.scopes_used.get("campaigns:read"), Some(&2));
        assert_eq!(
            answer.last_used_at,
            Some(now),
            "read {reads}: stored or not, the newest use"
        );
        let totals = usage.totals_of(std::slice::from_ref(&record), now).await.unwrap();
        assert_eq!(
            (totals[0].0.last_day.allowed, totals[0].1),
            (2, Some(now)),
            "read {reads}"
        );
        reads += 1;
    }
    assert_eq!(flush.await.unwrap().unwrap(), MANY + 2, "key-hours written");
    let total = |column: &str| format!("SELECT CAST(SUM({column}) AS BIGINT) FROM usage_hourly");
    assert_eq!(number(t, &total("allowed")).await, MANY as i64 + 2);
    assert_eq!(number(t, &total("denied")).await, MANY as i64);
    assert_eq!(
        number(t, "SELECT CAST(SUM(count) AS BIGINT) FROM usage_scopes").await,
        MANY as i64 + 2
    );
    let stored = services
        .keys
        .get(&KeyId::parse(&real.id).unwrap(), &AccountScope::operator())
        .await
        .unwrap();
    assert_eq!(stored.last_used_at, Some(now), "the later of the two hours");
    assert_eq!(usage.of(&stored, now).await.unwrap().windows.last_day.allowed, 2);
}

/// A flush that fails part way (here a constraint refuses one key's row in
/// the second transaction) keeps what it did not commit: answers stay
/// exact, and the next flush stores the rest, nothing twice.
async fn a_flush_that_fails_part_way_keeps_the_rest_for_the_next(t: &TestStore) {
    use keyward::usage::{Recorder, UsageService};
    use keyward::verify::Code;
    use std::sync::Arc;
    let catalog = LiveCatalog::fixed(catalog_named("coldsend"));
    let recorder = Arc::new(Recorder::new(true));
    let usage = UsageService::new(recorder.clone(), t.store.clone(), catalog.clone());
    let now = Millis::now();
    const MANY: usize = 4321;
    for i in 0..MANY {
        recorder.record(
            &Arc::from(format!("key_many_{i}").as_str()),
            Code::Valid,
            std::iter::empty(),
            now,
        );
    }
    let (refuse, allow) = if t.sqlite_dir.is_some() {
        (
            "CREATE TRIGGER refuse_one BEFORE INSERT ON usage_hourly WHEN NEW.key_id = 'key_many_3000' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
            "DROP TRIGGER refuse_one",
        )
    } else {
        (
            "ALTER TABLE usage_hourly ADD CONSTRAINT refuse_one CHECK (key_id <> 'key_many_3000')",
            "ALTER TABLE usage_hourly DROP CONSTRAINT refuse_one",
        )
    };
    t.raw_execute(refuse).await.unwrap();
    assert!(recorder.flush(&t.store, &catalog).await.is_err());
    let stored = number(t, "SELECT CAST(SUM(allowed) AS BIGINT) FROM usage_hourly").await;
    assert_eq!(
        stored, 2000,
        "the first transaction (in key order) committed, the second did not"
    );
    for i in [0, 3000, 999, MANY - 1] {
        let id = format!("key_many_{i}");
        let totals = totals_of_id(&usage, &id, now).await;
        assert_eq!(totals, 1, "{id}: stored or kept, counted once");
    }
    t.raw_execute(allow).await.unwrap();
    assert_eq!(recorder.flush(&t.store, &catalog).await.unwrap(), MANY - 2000);
    assert_eq!(
        number(t, "SELECT CAST(SUM(allowed) AS BIGINT) FROM usage_hourly").await,
        MANY as i64
    );
    assert_eq!(totals_of_id(&usage, "key_many_3000", now).await, 1);
}

/// The 24 h allowed count of a key by id, through the keys page's read.
async fn totals_of_id(usage: &keyward::usage::UsageService, id: &str, now: Millis) -> u64 {
    let record = keyward::keys::KeyRecord {
        id: id.to_owned(),
        account: "acme".into(),
        name: "n".into(),
        environment: "live".into(),
        scopes: vec!["campaigns:read".into()],
        start: "cs_live_Ab3x".into(),
        metadata: serde_json::Map::new(),
        created_at: Millis(0),
        created_by: "t".into(),
        expires_at: None,
        revoked_at: None,
        revoked_by: None,
        revoke_reason: None,
        rotated_to: None,
        last_used_at: None,
        hash: keyward::keys::format::KeyHash([0; 32]),
    };
    usage.totals_of(&[record], now).await.unwrap()[0].0.last_day.allowed
}
