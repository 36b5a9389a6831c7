//! Turning playbooks into text for people: inline markup shared by every output, and the
//! terminal layout used by `socbot show` and the console. (Discord's layout lives in `discord/`.)

pub mod inline;
pub mod terminal;
