//! The entry points for network.kdl: read the root file and its includes, build the model,
//! validate it, and hand back every diagnostic with the sources they point into.

use std::path::{Path, PathBuf};

use crate::build::Draft;
use crate::diagnostic::Diagnostic;
use crate::model::Network;
use crate::read::Out;
use crate::span::{SourceId, SourceMap, Span};
use crate::syntax;

/// The result of checking a network file: its sources, the model when the file is valid, and
/// every diagnostic (errors and warnings).
#[derive(Debug, Clone)]
pub struct Checked {
    /// Every file read (root first, then includes), with inline secrets masked.
    pub sources: SourceMap,
    /// The model; `Some` exactly when no diagnostic is an error.
    pub network: Option<Network>,
    /// Every problem found, ordered by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    /// True when no diagnostic is an error.
    pub fn is_ok(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// A network file read as far as it goes, errors or not: for tools that complete a file
/// before it is valid (cvlan-lab fills in the keys and endpoints of a template) or look into
/// one that is not (which address does a node pin?). Nothing may apply its model; daemons act
/// on [`Checked`], whose model is there only when the file is valid.
#[derive(Debug, Clone)]
pub struct Partial {
    /// Every file read (root first, then includes), with inline secrets masked.
    pub sources: SourceMap,
    /// The model as far as the files could be read: an item whose required value is missing
    /// or invalid holds a placeholder (with an empty span), an invalid optional value is left
    /// out, and defaults stand for what is absent. `None` when the root file is not KDL.
    pub network: Option<Network>,
    /// Every problem found, ordered by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Partial {
    /// True when no diagnostic is an error: the model is then the checked one.
    pub fn is_ok(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

impl From<Partial> for Checked {
    /// Keeps the model only when the file is valid.
    fn from(partial: Partial) -> Self {
        let ok = partial.is_ok();
        Checked {
            sources: partial.sources,
            network: partial.network.filter(|_| ok),
            diagnostics: partial.diagnostics,
        }
    }
}

/// Why a root file could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
}

/// Reads the file at `path`, follows its `include`s (relative to the file's directory) and
/// checks the whole network.
pub fn load_network(path: &Path) -> Result<Checked, LoadError> {
    let bytes = read_bytes(path)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(check_network_bytes(
        &path.display().to_string(),
        bytes,
        &mut include_reader(dir),
    ))
}

/// Reads included files relative to `dir`.
pub(crate) fn include_reader(dir: PathBuf) -> impl FnMut(&str) -> Result<(String, String), String> {
    move |rel: &str| {
        let full = dir.join(rel);
        let name = full.display().to_string();
        let bytes = read_bytes(&full).map_err(|e| e.to_string())?;
        let text = utf8(bytes, &name)?;
        Ok((name, text))
    }
}

/// Reads a file, refusing oversized files before reading them whole: past the size bound
/// only enough is read to let the scanner report it.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>, LoadError> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| {
            file.take(syntax::scan::MAX_FILE_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
    Ok(bytes)
}

/// `bytes` as text, or why not, naming the file as `name` (for included files, whose
/// problems are reported at their `include` line).
pub fn utf8(bytes: Vec<u8>, name: &str) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{name} is not UTF-8 text (byte {} is not valid UTF-8)",
            e.utf8_error().valid_up_to()
        )
    })
}

/// Checks a network file given as bytes: text that is not UTF-8 gets one `cvlan::encoding`
/// error at its first bad byte (shown with U+FFFD in place of the bad bytes); an oversized
/// file is checked as text, so that the size error is the one reported.
pub fn check_network_bytes(name: &str, bytes: Vec<u8>, include: &mut IncludeReader<'_>) -> Checked {
    match decode(name, bytes) {
        Ok(text) => check_network(name, &text, include),
        Err(parts) => parts.into(),
    }
}

/// Decodes `bytes`, or the checked parts of a file that is not UTF-8.
pub(crate) fn decode<T>(name: &str, bytes: Vec<u8>) -> Result<String, CheckedParts<T>> {
    let err = match String::from_utf8(bytes) {
        Ok(text) => return Ok(text),
        Err(err) if err.as_bytes().len() > syntax::scan::MAX_FILE_BYTES => {
            return Ok(String::from_utf8_lossy(err.as_bytes()).into_owned());
        }
        Err(err) => err,
    };
    let at = err.utf8_error().valid_up_to();
    let text = String::from_utf8_lossy(err.as_bytes()).into_owned();
    let mut sources = SourceMap::default();
    let id = sources.add(name, text.as_str());
    let diagnostic = Diagnostic::error(
        "cvlan::encoding",
        format!("this file is not UTF-8 text: byte {at} is not valid UTF-8"),
        Span::new(id, at, '\u{FFFD}'.len_utf8()),
        "not UTF-8 (shown as \u{FFFD})",
    )
    .with_help("save the file as UTF-8; CloudVLAN files are UTF-8 text");
    Err(CheckedParts {
        sources,
        model: None,
        diagnostics: vec![diagnostic],
    })
}

/// Checks network text held in memory. `include` lines cannot be followed without a file
/// system, so each is reported (`cvlan::include`); use [`load_network`] for files with
/// includes.
pub fn parse_network(name: &str, text: &str) -> Checked {
    parse_network_partial(name, text).into()
}

/// Reads network text held in memory as far as it goes, also when it has errors (see
/// [`Partial`]); `include` lines are reported as by [`parse_network`].
pub fn parse_network_partial(name: &str, text: &str) -> Partial {
    let mut include = |_: &str| -> Result<(String, String), String> {
        Err(
            "includes are followed only when checking a file on disk (cvlanctl check FILE)"
                .to_owned(),
        )
    };
    read_network(name, text, &mut include)
}

/// Resolves an include path to the included file's display name and text, or says why not.
pub type IncludeReader<'a> = dyn FnMut(&str) -> Result<(String, String), String> + 'a;

/// Checks network text, asking `include` for the name and text of each included path.
pub fn check_network(name: &str, text: &str, include: &mut IncludeReader<'_>) -> Checked {
    read_network(name, text, include).into()
}

/// Reads and validates network text and its includes, keeping the model whatever was found.
fn read_network(name: &str, text: &str, include: &mut IncludeReader<'_>) -> Partial {
    let mut sources = SourceMap::default();
    let mut out = Out::default();
    let mut draft = Draft::new();
    let root = sources.add(name, text);
    let root_ok = read_source(&mut out, &mut draft, root, text, true);
    let includes = std::mem::take(&mut draft.includes);
    let mut seen: Vec<String> = Vec::new();
    for (path, span) in includes {
        if path.starts_with('/') || path.is_empty() {
            include_error(
                &mut out,
                span,
                format!("`{path}` is not a relative path"),
                "include paths are relative to the including file, e.g. include \"relays.kdl\"",
            );
            continue;
        }
        if seen.contains(&path) {
            include_error(
                &mut out,
                span,
                format!("`{path}` is included twice"),
                "include each file once",
            );
            continue;
        }
        seen.push(path.clone());
        match include(&path) {
            Ok((name, text)) => {
                let id = sources.add(name, text.as_str());
                read_source(&mut out, &mut draft, id, &text, false);
            }
            Err(message) => include_error(
                &mut out,
                span,
                message,
                "check the path; it is relative to the including file",
            ),
        }
    }
    draft.finish();
    if root_ok && draft.network_at.is_none() {
        out.error(
            "cvlan::missing-network",
            Span::new(root, 0, 0),
            "there is no `network` block".to_owned(),
            "file starts here",
            "start the file with `network \"NAME\" { overlay \"100.64.0.0/10\" }`",
        );
    }
    crate::validate::validate(&draft.net, &sources, &mut out.diags);
    let (sources, diagnostics) = settle(sources, out);
    Partial {
        sources,
        network: root_ok.then_some(draft.net),
        diagnostics,
    }
}

fn read_source(out: &mut Out, draft: &mut Draft, id: SourceId, text: &str, root: bool) -> bool {
    // Node by node: at 100,000 nodes the whole tree would be ~20 times the text.
    match syntax::parse_each(id, text, |node| {
        draft.read_file(out, std::slice::from_ref(&node), root);
    }) {
        Ok(()) => true,
        Err(diags) => {
            out.diags.extend(diags);
            false
        }
    }
}

fn include_error(out: &mut Out, span: Span, message: String, help: &str) {
    out.error("cvlan::include", span, message, "this include", help);
}

/// Masks secrets, orders diagnostics and decides whether the model is handed out.
pub(crate) fn finish<T>(sources: SourceMap, out: Out, model: T) -> CheckedParts<T> {
    let (sources, diagnostics) = settle(sources, out);
    let ok = !diagnostics.iter().any(Diagnostic::is_error);
    CheckedParts {
        sources,
        model: ok.then_some(model),
        diagnostics,
    }
}

/// Masks the secrets `out` found in `sources` and orders its diagnostics.
fn settle(mut sources: SourceMap, out: Out) -> (SourceMap, Vec<Diagnostic>) {
    for span in &out.redact {
        sources.mask(*span);
    }
    let mut diagnostics = out.diags;
    diagnostics.sort_by_key(|d| (d.span.source, d.span.offset));
    (sources, diagnostics)
}

/// What [`finish`] produces, before it is named for its file kind.
pub(crate) struct CheckedParts<T> {
    pub sources: SourceMap,
    pub model: Option<T>,
    pub diagnostics: Vec<Diagnostic>,
}

impl From<CheckedParts<Network>> for Checked {
    fn from(parts: CheckedParts<Network>) -> Self {
        Checked {
            sources: parts.sources,
            network: parts.model,
            diagnostics: parts.diagnostics,
        }
    }
}
