//! cvtui: the CloudVLAN terminal dashboard, on the same local API as cvlanctl.
//!
//! It follows the Elm architecture:
//! - [`msg::Msg`]: everything that happens (a key, a tick of the clock, news from the daemon);
//! - [`update::update`]: the only place state changes; it returns [`msg::Cmd`]s for the IO side;
//! - [`ui::render`]: draws an [`app::App`] and changes nothing;
//! - [`io`]: the task that turns the local API's streams into messages and runs the commands,
//!   and [`run`]: the terminal loop that feeds keys in and coalesces redraws.

pub mod app;
pub mod cli;
pub mod io;
pub mod keys;
pub mod msg;
pub mod run;
pub mod ui;
pub mod update;
