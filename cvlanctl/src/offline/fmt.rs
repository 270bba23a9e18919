//! `cvlanctl fmt`: rewrite files in canonical form (comments kept), or with `--check` say
//! which files are not.

use std::path::Path;

use cvlan_schema::report::render_human;
use cvlan_schema::{FormattedFile, SourceMap};

use crate::cli::FmtArgs;
use crate::outcome::{Answer, Failure, Outcome};
use crate::output::{print_err, print_text};

/// Runs `fmt`.
pub fn run(args: &FmtArgs) -> Outcome {
    let mut answer = Answer::Yes;
    for path in &args.files {
        let FormattedFile { text, formatted } = cvlan_schema::format_file(path)?;
        let formatted = match formatted {
            Ok(formatted) => formatted,
            Err(err) => {
                let mut sources = SourceMap::default();
                sources.add(path.display().to_string(), text.as_str());
                print_err(&render_human(&sources, &err.diagnostics));
                answer = Answer::No;
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        if args.check {
            print_text(&format!("would reformat {}", path.display()))?;
            answer = Answer::No;
        } else {
            write_replacing(path, &formatted)?;
            print_text(&format!("formatted {}", path.display()))?;
        }
    }
    Ok(answer)
}

/// Writes `text` beside `path` and renames it over, so a crash never leaves half a file;
/// the file keeps its permissions.
fn write_replacing(path: &Path, text: &str) -> Result<(), Failure> {
    let write_err = |source| Failure::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".cvlanctl-fmt.tmp");
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, text).map_err(write_err)?;
    let renamed = std::fs::metadata(path)
        .and_then(|meta| std::fs::set_permissions(&tmp, meta.permissions()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(err) = renamed {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_err(err));
    }
    Ok(())
}
