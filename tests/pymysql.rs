//! PyMySQL through the proxy behaves exactly as against the master directly:
//! tests/clients/pymysql_compat.py runs the same scenarios against both and
//! compares transcripts of everything the application observes.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Proxy, MASTER_PORT};

#[test]
fn pymysql_sees_the_same_as_direct() {
    let proxy = Proxy::start();
    let script = common::repo_root().join("tests/clients/pymysql_compat.py");
    let start = Instant::now();
    let (ok, stdout, stderr) = common::run_with_timeout(
        Command::new(common::system_python()).arg(&script).arg(MASTER_PORT.to_string()).arg(proxy.port.to_string()),
        Duration::from_secs(300),
    );
    println!("{stdout}");
    if !stderr.trim().is_empty() {
        eprintln!("stderr:\n{stderr}");
    }
    println!("pymysql_compat.py took {:.1?}", start.elapsed());
    assert!(ok, "PyMySQL saw differences through the proxy (or the script failed); see the diffs above");
    assert!(stdout.contains(" scenarios, 0 failed"), "unexpected script output");
}
