//! Container identity: `name:version`, unique across all repositories. The type is the
//! management protocol's, so a container named in a request is the runtime's key as is.

pub use northstar_api::{ContainerId, InvalidValue as ParseError};
