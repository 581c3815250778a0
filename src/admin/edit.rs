//! Admin commands that change servers: each edits a copy of the running
//! config, which then goes through the same validation and swap as a reload,
//! so nothing is ever half-applied.

use std::sync::Arc;

use super::command::Command;
use crate::config::{Config, Role, ServerConfig, ServerState};
use crate::frontend::Shared;

pub enum Change {
    Weight(String, u32),
    State(String, ServerState),
    Add { name: String, address: String, role: Role, weight: u32 },
    Remove(String),
}

pub fn change_for(command: &Command) -> Option<Change> {
    Some(match command {
        Command::SetWeight { server, weight } => Change::Weight(server.clone(), *weight),
        Command::SetState { server, state } => Change::State(server.clone(), *state),
        Command::AddServer { name, address, role, weight } => {
            Change::Add { name: name.clone(), address: address.clone(), role: *role, weight: *weight }
        }
        Command::RemoveServer { server } => Change::Remove(server.clone()),
        _ => return None,
    })
}

pub async fn apply(shared: &Arc<Shared>, change: Change, text: &str) -> Result<(), String> {
    let mut config = (*shared.runtime.load().config).clone();
    edit(&mut config, change)?;
    crate::control::apply(shared, config, text).await.map_err(|errors| {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("refused, nothing changed: {}", text.join("; "))
    })
}

fn edit(config: &mut Config, change: Change) -> Result<(), String> {
    let find = |config: &mut Config, name: &str| -> Result<usize, String> {
        config.servers.iter().position(|s| s.name == name).ok_or_else(|| format!("no server named '{name}'"))
    };
    match change {
        Change::Weight(name, weight) => {
            let i = find(config, &name)?;
            config.servers[i].weight = weight;
        }
        Change::State(name, state) => {
            let i = find(config, &name)?;
            config.servers[i].state = state;
        }
        Change::Add { name, address, role, weight } => {
            if config.servers.iter().any(|s| s.name == name) {
                return Err(format!("a server named '{name}' exists already"));
            }
            config.servers.push(ServerConfig {
                name,
                address,
                role,
                weight,
                state: ServerState::Ready,
                priority: None,
                inter: None,
                fastinter: None,
                downinter: None,
                rise: None,
                fall: None,
                max_replication_lag: None,
            });
        }
        Change::Remove(name) => {
            let i = find(config, &name)?;
            config.servers.remove(i);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Config {
        Config::parse(include_str!("../../config/rwsplit.toml")).expect("valid")
    }

    #[test]
    fn edits_are_validated_as_a_whole() {
        let mut c = demo();
        edit(&mut c, Change::Weight("replica2".into(), 3)).expect("weight");
        assert_eq!(c.servers[2].weight, 3);
        assert!(edit(&mut c, Change::Weight("nope".into(), 3)).unwrap_err().contains("no server named 'nope'"));
        let add = Change::Add { name: "r3".into(), address: "127.0.0.1:0".into(), role: Role::Replica, weight: 1 };
        edit(&mut c, add).expect("added");
        let errors = c.check().expect_err("port 0 is invalid");
        assert!(errors.iter().any(|e| e.path == "servers[3].address"), "{errors:?}");
        let dup = Change::Add { name: "master".into(), address: "127.0.0.1:1".into(), role: Role::Replica, weight: 1 };
        assert!(edit(&mut c, dup).unwrap_err().contains("exists already"));
        edit(&mut c, Change::Remove("r3".into())).expect("removed");
        edit(&mut c, Change::State("replica1".into(), ServerState::Drain)).expect("drain");
        assert!(c.check().is_ok());
    }
}
