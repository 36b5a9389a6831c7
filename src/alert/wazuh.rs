//! The wazuh format.

use super::json::At;
use super::{Alert, AlertError};

pub(super) fn read(_root: At<'_>) -> Result<Vec<Alert>, AlertError> {
    Err(AlertError::whole(
        "the wazuh format is not read yet: use the generic format",
    ))
}
