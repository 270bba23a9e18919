//! `cvlan-lab up`: build a lab, wait for its daemons, then either leave it running with
//! instructions for attaching, or (`--headless`) run its checks and tear it down. Ctrl-C,
//! SIGTERM or SIGHUP while it works tears the lab down.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use cvlan_lab::record::LabRecord;
use cvlan_lab::{Lab, LabError, LabOptions, LoadError, checks};

use super::{FAILED, NO, complain, out, print_err, report};

/// `cvlan-lab up FILE [--headless]`.
pub fn run(
    root: &Path,
    file: &Path,
    headless: bool,
    bin_dir: Option<PathBuf>,
    ready_timeout: u64,
) -> ExitCode {
    let interrupt = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&interrupt)) {
            complain(&format!("cannot install a signal handler: {e}"));
            return ExitCode::from(FAILED);
        }
    }
    let options = LabOptions {
        run_root: root.to_owned(),
        bin_dir,
        ready_timeout: Duration::from_secs(ready_timeout),
        interrupt: Some(interrupt),
    };
    let lab = match Lab::start_file(file, options) {
        Ok(lab) => lab,
        Err(err) => {
            let problems = match &err {
                LabError::Topology(LoadError::Invalid(invalid)) => Some(invalid.render()),
                _ => None,
            };
            report(err);
            let Some(problems) = problems else {
                return ExitCode::from(FAILED);
            };
            print_err(&problems);
            return ExitCode::from(NO);
        }
    };
    if headless {
        return run_checks(lab);
    }
    match lab.detach() {
        Ok(record) => {
            print_attach(&record);
            ExitCode::SUCCESS
        }
        Err(err) => {
            report(err);
            ExitCode::from(FAILED)
        }
    }
}

fn run_checks(lab: Lab) -> ExitCode {
    out(&format!(
        "lab {} ({}) is up; running its checks",
        lab.id(),
        lab.topology().name
    ));
    let results = checks::run_all(&lab);
    let failed = results.iter().filter(|r| r.outcome.is_err()).count();
    for r in &results {
        match &r.outcome {
            Ok(()) => out(&format!("ok    {}", r.what)),
            Err(e) => out(&format!("FAIL  {}: {e}", r.what)),
        }
    }
    out(&format!(
        "{} passed, {failed} failed",
        results.len() - failed
    ));
    if let Err(failures) = lab.teardown() {
        for f in failures {
            complain(&f);
        }
        return ExitCode::from(FAILED);
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(NO)
    }
}

fn print_attach(record: &LabRecord) {
    let id = &record.id;
    out(&format!(
        "lab {id} ({}) is up; run dir {}",
        record.name,
        record.run_dir.display()
    ));
    for (name, host) in &record.hosts {
        out(&format!("\n{name}  (namespace {})", host.namespace));
        if let Some(socket) = &host.socket {
            let vrouter = socket.file_stem().is_some_and(|s| s == "vrouterd");
            let socket = socket.display();
            out(&format!("    cvlanctl --socket {socket} status"));
            if vrouter {
                out(&format!("    cvlanctl --socket {socket} sas"));
            }
            out(&format!("    cvtui --socket {socket}"));
        }
        if let Some(vici) = &host.vici {
            out(&format!(
                "    swanctl --list-sas --uri unix://{}",
                vici.display()
            ));
        }
        out(&format!("    cvlan-lab exec {id} {name} -- ip -br addr"));
    }
    out(&format!("\ntear it down with: cvlan-lab down {id}"));
}
