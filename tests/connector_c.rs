//! MariaDB Connector/C (libmariadb) through the proxy: the client library of
//! sysbench and of most C and C++ applications. It negotiates
//! MARIADB_CLIENT_CACHE_METADATA, under which executions of a prepared
//! statement come without column definitions unless they changed, and rows
//! are decoded with the definitions the client cached.
//!
//! tests/clients/c/cache_metadata.c changes a table under two sessions'
//! statements; what each execution returned must read the same through the
//! proxy as against the master directly. The proxy runs with one replica and
//! one pooled connection per server, so both sessions' statements share a
//! connection, and a session whose cached definitions are older than the
//! connection's must be given the new ones by the proxy (the server, which
//! sent them to the other session, leaves them out).

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{admin, cluster, num, repo_root, row, run_with_timeout, Proxy};

/// Compiles tests/clients/c/`name`.c against libmariadb into `dir`.
fn compile_c(name: &str, dir: &std::path::Path) -> PathBuf {
    let flags = Command::new("mariadb_config").args(["--cflags", "--libs"]).output();
    let flags = match flags {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        other => {
            panic!("mariadb_config failed ({other:?}): install libmariadb-dev and gcc (scripts/install-deps.sh does)")
        }
    };
    let source = repo_root().join(format!("tests/clients/c/{name}.c"));
    let binary = dir.join(name);
    let (ok, out, err) = run_with_timeout(
        Command::new("gcc")
            .args(["-Wall", "-Werror", "-O1", "-o"])
            .arg(&binary)
            .arg(&source)
            .args(flags.split_whitespace()),
        Duration::from_secs(60),
    );
    assert!(ok, "gcc {} failed:\n{out}\n{err}", source.display());
    binary
}

fn transcript(binary: &std::path::Path, port: u16) -> String {
    let (ok, out, err) = run_with_timeout(
        Command::new(binary).args(["127.0.0.1", &port.to_string(), "app", "app", "test"]),
        Duration::from_secs(120),
    );
    assert!(ok, "{} against port {port} failed:\n{out}\n{err}", binary.display());
    out
}

#[test]
fn cached_metadata_of_prepared_statements_matches_the_server() {
    cluster();
    let dir = tempfile::tempdir().expect("tempdir");
    let binary = compile_c("cache_metadata", dir.path());
    let direct = transcript(&binary, 13306);
    // The program changes column names, lengths and types between executions:
    // a transcript without those changes would prove nothing.
    assert!(direct.contains("cache_meta.id:3/11") && direct.contains("cache_meta.id:8/20"), "{direct}");
    assert!(direct.contains(":253/80") && direct.contains(":252/262140"), "{direct}");
    assert!(!direct.contains("error"), "the program itself failed against the server:\n{direct}");

    let replica2 = "[[servers]]\nname = \"replica2\"\naddress = \"127.0.0.1:13308\"\nrole = \"replica\"\n";
    let proxy = Proxy::builder().replace("pool_max = 256", "pool_max = 1").replace(replica2, "").spawn();
    let through = transcript(&binary, proxy.port);
    if through != direct {
        let diff: Vec<String> = direct
            .lines()
            .zip(through.lines())
            .filter(|(d, p)| d != p)
            .take(10)
            .map(|(d, p)| format!("direct: {d}\nproxy:  {p}"))
            .collect();
        panic!("through the proxy the client saw something else:\n{}\n\nproxy log:\n{}", diff.join("\n"), proxy.log());
    }
    let status = admin(&proxy, "SHOW STATUS").expect("admin SHOW STATUS");
    let restored = num(row(&status, "variable", "statements_metadata_restored"), "value");
    assert!(restored > 0, "the sessions never needed definitions put back: the test did not test that: {status:?}");
}
