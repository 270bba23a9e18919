//! Every key the dashboard knows, in one table: `update` looks keys up here and the help
//! screen (`?`) lists this same table, so the help cannot miss a key.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Everywhere (unless typing).
    Global,
    /// The Peers view.
    Peers,
    /// The Policy view.
    Policy,
    /// The Events view.
    Events,
    /// The Relays view.
    Relays,
    /// While typing a filter or in the explain form.
    Typing,
}

impl Context {
    /// The heading in the help screen.
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::Peers => "Peers",
            Context::Policy => "Policy",
            Context::Events => "Events",
            Context::Relays => "Relays",
            Context::Typing => "While typing",
        }
    }
}

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave the dashboard.
    Quit,
    /// Open or close the help.
    Help,
    /// The next view.
    NextView,
    /// The previous view.
    PrevView,
    /// The view with the digit's number.
    GotoView,
    /// Up one row.
    Up,
    /// Down one row.
    Down,
    /// Up one page.
    PageUp,
    /// Down one page.
    PageDown,
    /// The first row (for events: the oldest).
    Top,
    /// The last row (for events: the newest, following).
    Bottom,
    /// The next sort key.
    Sort,
    /// Reverse the sort.
    Reverse,
    /// Start typing a filter.
    Filter,
    /// Open or close the detail pane.
    Detail,
    /// Ping the selected peer.
    Ping,
    /// Open the explain form.
    Explain,
    /// Ask the daemon again.
    Refresh,
    /// Close the pane, form or help; clear the filter.
    Back,
    /// Finish typing (in the explain form: ask the daemon).
    Accept,
    /// Stop typing and drop what was typed.
    Cancel,
    /// Delete the character before the cursor.
    DeleteChar,
    /// The next form field.
    NextField,
    /// The previous form field.
    PrevField,
}

/// One line of the key table.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// Where it applies.
    pub context: Context,
    /// The keys.
    pub keys: &'static [KeyCode],
    /// Whether Ctrl must be held.
    pub ctrl: bool,
    /// How the keys read in the help and the footer.
    pub label: &'static str,
    /// What they do.
    pub action: Action,
    /// What they do, for people (the help screen).
    pub help: &'static str,
    /// The footer's short word for it, when the footer shows it.
    pub hint: Option<&'static str>,
}

const fn bind(
    context: Context,
    keys: &'static [KeyCode],
    label: &'static str,
    action: Action,
    help: &'static str,
) -> Binding {
    Binding {
        context,
        keys,
        ctrl: false,
        label,
        action,
        help,
        hint: None,
    }
}

const fn hint(word: &'static str, b: Binding) -> Binding {
    Binding {
        hint: Some(word),
        ..b
    }
}

use Action as A;
use Context as C;
use KeyCode as K;

const DIGITS: &[KeyCode] = &[
    K::Char('1'),
    K::Char('2'),
    K::Char('3'),
    K::Char('4'),
    K::Char('5'),
    K::Char('6'),
    K::Char('7'),
    K::Char('8'),
    K::Char('9'),
];
const UP: &[KeyCode] = &[K::Up, K::Char('k')];
const DOWN: &[KeyCode] = &[K::Down, K::Char('j')];
const PAGE_UP: &[KeyCode] = &[K::PageUp];
const PAGE_DOWN: &[KeyCode] = &[K::PageDown];
const TOP: &[KeyCode] = &[K::Home, K::Char('g')];
const BOTTOM: &[KeyCode] = &[K::End, K::Char('G')];

/// The key table, in the order the help lists it.
pub const BINDINGS: &[Binding] = &[
    hint(
        "quit",
        bind(C::Global, &[K::Char('q')], "q", A::Quit, "quit"),
    ),
    Binding {
        ctrl: true,
        ..bind(C::Global, &[K::Char('c')], "Ctrl-C", A::Quit, "quit")
    },
    hint(
        "help",
        bind(
            C::Global,
            &[K::Char('?')],
            "?",
            A::Help,
            "this help: every key",
        ),
    ),
    hint(
        "view",
        bind(C::Global, &[K::Tab], "Tab", A::NextView, "next view"),
    ),
    bind(
        C::Global,
        &[K::BackTab],
        "S-Tab",
        A::PrevView,
        "previous view",
    ),
    bind(
        C::Global,
        DIGITS,
        "1-6",
        A::GotoView,
        "go to view N (see tabs)",
    ),
    bind(
        C::Global,
        &[K::Esc],
        "Esc",
        A::Back,
        "close help, pane or form",
    ),
    bind(C::Peers, UP, "↑ k", A::Up, "previous peer"),
    bind(C::Peers, DOWN, "↓ j", A::Down, "next peer"),
    bind(C::Peers, PAGE_UP, "PgUp", A::PageUp, "one page up"),
    bind(C::Peers, PAGE_DOWN, "PgDn", A::PageDown, "one page down"),
    bind(C::Peers, TOP, "Home g", A::Top, "first peer"),
    bind(C::Peers, BOTTOM, "End G", A::Bottom, "last peer"),
    hint(
        "sort",
        bind(
            C::Peers,
            &[K::Char('s')],
            "s",
            A::Sort,
            "sort: name rx tx hs rtt",
        ),
    ),
    bind(
        C::Peers,
        &[K::Char('S')],
        "S",
        A::Reverse,
        "reverse the sort",
    ),
    hint(
        "filter",
        bind(
            C::Peers,
            &[K::Char('/')],
            "/",
            A::Filter,
            "filter: name, addr, tag…",
        ),
    ),
    hint(
        "detail",
        bind(C::Peers, &[K::Enter], "Enter", A::Detail, "detail pane"),
    ),
    hint(
        "ping",
        bind(
            C::Peers,
            &[K::Char('p')],
            "p",
            A::Ping,
            "ping the selected peer",
        ),
    ),
    bind(
        C::Peers,
        &[K::Esc],
        "Esc",
        A::Back,
        "close pane, clear filter",
    ),
    bind(C::Policy, UP, "↑ k", A::Up, "previous rule"),
    bind(C::Policy, DOWN, "↓ j", A::Down, "next rule"),
    bind(C::Policy, TOP, "Home g", A::Top, "first rule"),
    bind(C::Policy, BOTTOM, "End G", A::Bottom, "default-deny"),
    hint(
        "explain",
        bind(
            C::Policy,
            &[K::Char('e')],
            "e",
            A::Explain,
            "explain a packet",
        ),
    ),
    bind(
        C::Policy,
        &[K::Esc],
        "Esc",
        A::Back,
        "close the explanation",
    ),
    bind(C::Events, UP, "↑ k", A::Up, "older events"),
    bind(C::Events, DOWN, "↓ j", A::Down, "newer events"),
    bind(C::Events, PAGE_UP, "PgUp", A::PageUp, "one page older"),
    bind(C::Events, PAGE_DOWN, "PgDn", A::PageDown, "one page newer"),
    bind(C::Events, TOP, "Home g", A::Top, "oldest buffered"),
    hint(
        "follow",
        bind(C::Events, BOTTOM, "End G", A::Bottom, "newest; follow live"),
    ),
    hint(
        "kind",
        bind(
            C::Events,
            &[K::Char('/')],
            "/",
            A::Filter,
            "filter by kind prefix",
        ),
    ),
    bind(C::Events, &[K::Esc], "Esc", A::Back, "clear the filter"),
    hint(
        "refresh",
        bind(
            C::Relays,
            &[K::Char('r')],
            "r",
            A::Refresh,
            "ask for relays again",
        ),
    ),
    bind(
        C::Typing,
        &[K::Enter],
        "Enter",
        A::Accept,
        "done; form: explain",
    ),
    bind(C::Typing, &[K::Esc], "Esc", A::Cancel, "cancel and clear"),
    bind(
        C::Typing,
        &[K::Backspace],
        "Backspace",
        A::DeleteChar,
        "delete a character",
    ),
    bind(
        C::Typing,
        &[K::Tab, K::Down],
        "Tab ↓",
        A::NextField,
        "next form field",
    ),
    bind(
        C::Typing,
        &[K::BackTab, K::Up],
        "S-Tab ↑",
        A::PrevField,
        "previous form field",
    ),
    Binding {
        ctrl: true,
        ..bind(C::Typing, &[K::Char('c')], "Ctrl-C", A::Quit, "quit")
    },
];

/// The action `key` triggers in `context`: the context's own bindings first, then (unless
/// typing) the global ones.
pub fn lookup(context: Context, key: &KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if key.modifiers.contains(KeyModifiers::ALT) {
        return None;
    }
    let find = |ctx: Context| {
        BINDINGS
            .iter()
            .find(|b| b.context == ctx && b.ctrl == ctrl && b.keys.contains(&key.code))
            .map(|b| b.action)
    };
    find(context).or_else(|| (context != Context::Typing).then(|| find(Context::Global))?)
}

/// The bindings of one context, in table order.
pub fn of(context: Context) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |b| b.context == context)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn view_keys_come_before_global_ones_and_typing_takes_plain_keys() {
        assert_eq!(lookup(Context::Peers, &key(K::Char('s'))), Some(A::Sort));
        assert_eq!(lookup(Context::Peers, &key(K::Esc)), Some(A::Back));
        assert_eq!(lookup(Context::Events, &key(K::Char('q'))), Some(A::Quit));
        assert_eq!(lookup(Context::Policy, &key(K::Char('s'))), None);
        // While typing, q is a letter and Tab moves between fields; Ctrl-C still quits.
        assert_eq!(lookup(Context::Typing, &key(K::Char('q'))), None);
        assert_eq!(lookup(Context::Typing, &key(K::Tab)), Some(A::NextField));
        let ctrl_c = KeyEvent::new(K::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(lookup(Context::Typing, &ctrl_c), Some(A::Quit));
        assert_eq!(lookup(Context::Peers, &ctrl_c), Some(A::Quit));
        // Shift is part of the character, not a modifier to refuse.
        let shifted = KeyEvent::new(K::Char('S'), KeyModifiers::SHIFT);
        assert_eq!(lookup(Context::Peers, &shifted), Some(A::Reverse));
    }

    #[test]
    fn no_key_means_two_things_in_one_context() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                let same = a.context == b.context
                    && a.ctrl == b.ctrl
                    && a.keys.iter().any(|k| b.keys.contains(k));
                assert!(
                    !same,
                    "{} and {} clash in {:?}",
                    a.label, b.label, a.context
                );
            }
        }
    }
}
