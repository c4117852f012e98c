//! (being written)

use std::sync::Arc;

use crate::build::BuildContext;
use crate::channel::{Channel, ChannelConfigError, ChannelSpec};

pub fn build(name: &str, spec: &ChannelSpec, _ctx: &BuildContext) -> Result<Arc<dyn Channel>, ChannelConfigError> {
    Err(ChannelConfigError { name: name.to_string(), reason: format!("kind {} is not supported yet", spec.kind) })
}
