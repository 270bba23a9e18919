//! `down`, `list` and `exec`: working on labs through their records; `pathological`: writing
//! the test inputs out.

use std::path::Path;
use std::process::{Command, ExitCode};

use cvlan_lab::record::{self, LabRecord, LabState};

use super::{FAILED, complain, out};

/// `cvlan-lab down`.
pub fn down(root: &Path, id: Option<&str>, all: bool, stale: bool) -> ExitCode {
    let labs: Vec<LabRecord> = match id {
        Some(id) => match record::find(root, id) {
            Some(lab) => vec![lab],
            None => {
                complain(&format!("no lab with id `{id}` (see `cvlan-lab list`)"));
                return ExitCode::from(FAILED);
            }
        },
        None => record::list(root)
            .into_iter()
            .filter(|l| all || (stale && l.state() == LabState::Stale))
            .collect(),
    };
    let mut ok = true;
    for lab in &labs {
        let failures = lab.teardown();
        if failures.is_empty() {
            out(&format!("removed lab {} ({})", lab.id, lab.name));
        } else {
            ok = false;
            for f in failures {
                complain(&format!("lab {}: {f}", lab.id));
            }
        }
    }
    if labs.is_empty() {
        out("no labs to remove");
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILED)
    }
}

/// `cvlan-lab list`.
pub fn list(root: &Path, json: bool) -> ExitCode {
    let labs = record::list(root);
    if json {
        let doc: Vec<serde_json::Value> = labs
            .iter()
            .map(|l| {
                serde_json::json!({
                    "id": l.id,
                    "name": l.name,
                    "state": l.state().as_str(),
                    "created": l.created,
                    "run_dir": l.run_dir,
                    "topology": l.topology,
                    "namespaces": l.namespaces,
                    "hosts": l.hosts,
                    "processes": l.processes,
                })
            })
            .collect();
        out(&serde_json::Value::Array(doc).to_string());
        return ExitCode::SUCCESS;
    }
    if labs.is_empty() {
        out("no labs");
        return ExitCode::SUCCESS;
    }
    out(&format!("{:<8} {:<9} {:<20} HOSTS", "ID", "STATE", "NAME"));
    for l in &labs {
        let hosts: Vec<&str> = l.hosts.keys().map(String::as_str).collect();
        out(&format!(
            "{:<8} {:<9} {:<20} {}",
            l.id,
            l.state().as_str(),
            l.name,
            hosts.join(" ")
        ));
    }
    ExitCode::SUCCESS
}

/// `cvlan-lab exec ID HOST -- CMD…`: the command's own exit code.
pub fn exec(root: &Path, id: &str, host: &str, command: &[String]) -> ExitCode {
    let Some(lab) = record::find(root, id) else {
        complain(&format!("no lab with id `{id}` (see `cvlan-lab list`)"));
        return ExitCode::from(FAILED);
    };
    let (ns, dir) = match (lab.hosts.get(host), lab.nats.get(host)) {
        (Some(h), _) => (h.namespace.clone(), Some(h.dir.clone())),
        (None, Some(ns)) => (ns.clone(), None),
        (None, None) => {
            let mut names: Vec<&str> = lab.hosts.keys().map(String::as_str).collect();
            names.extend(lab.nats.keys().map(String::as_str));
            complain(&format!(
                "lab {} has no host `{host}` (hosts: {})",
                lab.id,
                names.join(", ")
            ));
            return ExitCode::from(FAILED);
        }
    };
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns]).args(command);
    if let Some(dir) = dir.filter(|d| d.is_dir()) {
        cmd.current_dir(dir);
    }
    match cmd.status() {
        Ok(status) => ExitCode::from(
            status
                .code()
                .and_then(|c| u8::try_from(c).ok())
                .unwrap_or(FAILED),
        ),
        Err(e) => {
            complain(&format!("cannot run ip netns exec: {e}"));
            ExitCode::from(FAILED)
        }
    }
}

/// `cvlan-lab pathological`: writes each pathological case to `dir`.
pub fn pathological(dir: &Path, small: bool) -> ExitCode {
    use cvlan_lab::pathological::{SMALL, cases};
    let cases = cases(if small { SMALL } else { usize::MAX });
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        cases
            .iter()
            .try_for_each(|c| std::fs::write(dir.join(format!("{}.kdl", c.name)), &c.bytes))
    });
    match written {
        Ok(()) => {
            out(&format!("wrote {} files to {}", cases.len(), dir.display()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            complain(&format!("cannot write to {}: {e}", dir.display()));
            ExitCode::from(FAILED)
        }
    }
}
