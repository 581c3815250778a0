//! The MariaDB command-line tools through the proxy see exactly what they see
//! against the master directly: tests/clients/cli_compat.py runs mysql (batch,
//! table, column-type-info and interactive on a pty), mysqladmin, mysqlshow,
//! mysqldump and friends against both and diffs their output.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Proxy, MASTER_PORT};

#[test]
fn command_line_tools_see_the_same_as_direct() {
    // The proxy presents the servers' certificate: the mysql client uses TLS
    // whenever it is offered, and its errors name what it finds wrong with it.
    let proxy = Proxy::builder().append(&common::cluster_certificate_toml()).spawn();
    let script = common::repo_root().join("tests/clients/cli_compat.py");
    let start = Instant::now();
    // Only the standard library is needed: any python3 will do.
    let (ok, stdout, stderr) = common::run_with_timeout(
        Command::new("python3").arg(&script).arg(MASTER_PORT.to_string()).arg(proxy.port.to_string()),
        Duration::from_secs(300),
    );
    println!("{stdout}");
    if !stderr.trim().is_empty() {
        eprintln!("stderr:\n{stderr}");
    }
    println!("cli_compat.py took {:.1?}", start.elapsed());
    assert!(ok, "the command-line tools saw differences through the proxy (or the script failed); see the diffs above");
    assert!(stdout.contains(" cases, 0 failed"), "unexpected script output");
}
