//! Classifier cost: a cache hit (lex + lookup, the common path), a miss
//! (lex + sqlparser + tree walk) and an uncacheable SET, on statements real
//! clients send.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rwsplit::classify::Classifier;

/// sysbench oltp_read_write, driver preambles, an ORM-style join.
const CORPUS: &[&str] = &[
    "SELECT c FROM sbtest1 WHERE id=5012",
    "SELECT c FROM sbtest1 WHERE id BETWEEN 5012 AND 5111",
    "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 5012 AND 5111",
    "SELECT c FROM sbtest1 WHERE id BETWEEN 5012 AND 5111 ORDER BY c",
    "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 5012 AND 5111 ORDER BY c",
    "UPDATE sbtest1 SET k=k+1 WHERE id=5012",
    "UPDATE sbtest1 SET c='83868641912-28773972837-60736120486-75162659906' WHERE id=5012",
    "DELETE FROM sbtest1 WHERE id=5012",
    "INSERT INTO sbtest1 (id, k, c, pad) VALUES (5012, 4997, '83868641912-28773972837', '67847967377-48000963322')",
    "SELECT @@max_allowed_packet , @@system_time_zone, @@time_zone, @@auto_increment_increment",
    "/* mysql-connector-java-8.0.33 (Revision: 7d6b0800528b6b25c68b52dc10d6c1c8429c100c) */SELECT  @@session.auto_increment_increment AS auto_increment_increment, @@character_set_client AS character_set_client, @@character_set_connection AS character_set_connection, @@sql_mode AS sql_mode, @@time_zone AS time_zone",
    "SHOW VARIABLES LIKE 'max_allowed_packet'",
    "select @@version_comment limit 1",
    "SELECT VERSION()",
    "SELECT o.id, o.total, u.email FROM orders o JOIN users u ON u.id = o.user_id WHERE o.status IN (1, 2, 3, 4) AND o.created_at > NOW() - INTERVAL 1 DAY ORDER BY o.id DESC LIMIT 50",
    "COMMIT",
];

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(CORPUS.len() as u64));

    let warm = Classifier::new(10_000);
    for sql in CORPUS {
        warm.classify(sql.as_bytes());
    }
    group.bench_function("hit/corpus", |b| {
        b.iter(|| {
            for sql in CORPUS {
                black_box(warm.classify(black_box(sql.as_bytes())));
            }
        })
    });

    // Capacity 0: every call lexes, parses and walks.
    let cold = Classifier::new(0);
    group.bench_function("miss/corpus", |b| {
        b.iter(|| {
            for sql in CORPUS {
                black_box(cold.classify(black_box(sql.as_bytes())));
            }
        })
    });
    group.finish();

    let mut single = c.benchmark_group("classify_one");
    let point_select = b"SELECT c FROM sbtest1 WHERE id=5012";
    single.bench_function("hit/point_select", |b| b.iter(|| black_box(warm.classify(black_box(point_select)))));
    single.bench_function("miss/point_select", |b| b.iter(|| black_box(cold.classify(black_box(point_select)))));
    let set = b"SET autocommit=0";
    single.bench_function("uncacheable/set_autocommit", |b| b.iter(|| black_box(warm.classify(black_box(set)))));
    let in_list =
        format!("SELECT * FROM t WHERE id IN ({})", (0..1000).map(|i| i.to_string()).collect::<Vec<_>>().join(","));
    warm.classify(in_list.as_bytes());
    single.bench_function("hit/in_list_1000", |b| b.iter(|| black_box(warm.classify(black_box(in_list.as_bytes())))));
    single.finish();

    // A miss (lexer, digest, sqlparser, walk) by statement size: a SELECT
    // whose WHERE clause grows with AND-ed conditions, from ~100 B to ~10 KiB.
    let mut by_size = c.benchmark_group("classify_miss_by_size");
    for conditions in [2usize, 20, 200] {
        let sql = format!(
            "SELECT id, k, c, pad FROM sbtest1 WHERE {}",
            (0..conditions).map(|i| format!("(c{i} = 'value {i}' OR k > {i})")).collect::<Vec<_>>().join(" AND ")
        );
        by_size.throughput(Throughput::Bytes(sql.len() as u64));
        by_size.bench_function(format!("{}_bytes", sql.len()), |b| {
            b.iter(|| black_box(cold.classify(black_box(sql.as_bytes()))))
        });
    }
    by_size.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
