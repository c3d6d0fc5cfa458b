//! Writes a set of real keys for the load bench (benches/load/real_keys.sh):
//! generated as keyward generates them, stored by digest in an embedded
//! SQLite data directory or a PostgreSQL database (migrated first), and
//! their plaintexts written one per line to a file the load generator
//! presents at random. Not a criterion bench.
//!
//! Run: `cargo bench -p keyward-benches --bench key_set -- N OUT.txt sqlite DATA_DIR`
//!  or: `cargo bench -p keyward-benches --bench key_set -- N OUT.txt postgres DATABASE_NAME`
//! (PostgreSQL from `KEYWARD_TEST_POSTGRES_URL`; prints the database URL.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/keys.rs"]
mod keys;
#[path = "support/postgres.rs"]
mod postgres;

use std::io::Write;

use keyward::store::Store;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [n, out, store, place] = &args[..] else {
        panic!("usage: key_set N OUT.txt (sqlite DATA_DIR | postgres DATABASE_NAME)");
    };
    let n: usize = n.parse().unwrap();
    let set = keys::generate(n);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        match store.as_str() {
            "sqlite" => {
                let db = std::path::Path::new(place).join(keyward::store::SQLITE_FILE);
                Store::open_sqlite(&db).await.unwrap().close().await;
                keys::fill_sqlite(&db, &set).await;
            }
            "postgres" => {
                let url = postgres::fresh_database(place).await;
                Store::open_postgres(&url).await.unwrap().close().await;
                keys::fill_postgres(&url, &set).await;
                println!("{url}");
            }
            other => panic!("unknown store {other}"),
        }
    });
    let mut file = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    for (plaintext, _, _) in &set {
        writeln!(file, "{plaintext}").unwrap();
    }
    file.flush().unwrap();
    eprintln!("{n} keys stored ({store} {place}), plaintexts in {out}");
}
