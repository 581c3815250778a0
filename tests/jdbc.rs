//! MariaDB Connector/J through the proxy behaves as against the master directly:
//! tests/clients/jdbc/JdbcCompat.java runs the same scenarios against both and
//! compares transcripts of everything the application observes.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Proxy, MASTER_PORT};

#[test]
fn jdbc_sees_the_same_as_direct() {
    let java = common::compile_java(&common::repo_root().join("tests/clients/jdbc/JdbcCompat.java"));
    common::cluster();
    let classpath = &java.classpath;

    let proxy = Proxy::start();
    let start = Instant::now();
    let (ok, stdout, stderr) = common::run_with_timeout(
        Command::new("java")
            .arg("-Xmx1g")
            .arg("-cp")
            .arg(classpath)
            .arg("JdbcCompat")
            .arg(format!("127.0.0.1:{MASTER_PORT}"))
            .arg(proxy.addr()),
        Duration::from_secs(300),
    );
    let elapsed = start.elapsed();
    println!("{stdout}");
    if !stderr.trim().is_empty() {
        eprintln!("stderr:\n{stderr}");
    }
    println!("JdbcCompat took {elapsed:.1?}");
    let log = proxy.log();
    // Locks a proxy connection may still hold in a database go with the proxy;
    // only then can databases the run could not drop be dropped.
    drop(proxy);
    let leftovers: Vec<&str> =
        stdout.lines().filter_map(|l| l.strip_prefix("LEFTOVER DATABASE ")?.split_whitespace().next()).collect();
    if !leftovers.is_empty() {
        let (_, out, err) = common::run_with_timeout(
            Command::new("java")
                .arg("-cp")
                .arg(classpath)
                .arg("JdbcCompat")
                .arg("--drop")
                .arg(format!("127.0.0.1:{MASTER_PORT}"))
                .args(&leftovers),
            Duration::from_secs(60),
        );
        println!("clean-up:\n{out}{err}");
    }
    if !ok {
        eprintln!("----- rwsplit log -----\n{log}");
    }
    assert!(ok, "JDBC saw differences through the proxy (or JdbcCompat failed); see the diffs above");
    assert!(stdout.contains(" 0 failed"), "unexpected JdbcCompat output");
}
