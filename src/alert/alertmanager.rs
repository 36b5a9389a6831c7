//! The alertmanager format.

use super::json::At;
use super::{Alert, AlertError, ParseOptions};

pub(super) fn read(_root: At<'_>, _options: &ParseOptions) -> Result<Vec<Alert>, AlertError> {
    Err(AlertError::whole(
        "the alertmanager format is not read yet: use the generic format",
    ))
}
