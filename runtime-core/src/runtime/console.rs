//! Where containers' console connections go. The runtime creates the connection at each
//! start of a container whose manifest has a `console`, keeps nothing of it, and hands the
//! other end to the [`ConsolePort`] it was given (the management API server's, in a
//! product). The runtime knows nothing of who serves the connection.

use crate::id::ContainerId;
use std::os::fd::OwnedFd;

/// A container's console connection, for whoever serves the management API.
#[derive(Debug)]
pub struct ConsoleHandOver {
    /// The container.
    pub id: ContainerId,
    /// Its manifest's `console`: permissions and limits.
    pub console: npk::manifest::Console,
    /// The serving end of the connection.
    pub fd: OwnedFd,
}

/// Takes console connections; called on the runtime's thread, it must not block.
pub type ConsolePort = Box<dyn Fn(ConsoleHandOver) + Send>;
