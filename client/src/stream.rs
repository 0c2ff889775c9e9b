//! What keeps coming after an answer: the lines of a followed log, and notifications.
//! Both are iterators that block until the next item (no timeout: they wait for events).

use crate::{
    client::{Client, FollowFrame},
    connection::Deadline,
    error::Error,
    requests::{logs, unexpected, Logs},
};
use northstar_api::{ContainerId, Notification, Request, ServerMessage};
use std::collections::VecDeque;

/// A followed log: the lines the answer carried ([`LogFollow::initial`]), then, as an
/// iterator, each later batch of lines until the log ends (the container was uninstalled
/// or the runtime shuts down). Notifications that arrive meanwhile are kept for
/// [`Client::next_notification`]. Dropping it stops following (the server's later lines
/// are then dropped as they arrive).
#[derive(Debug)]
pub struct LogFollow<'a> {
    client: &'a mut Client,
    initial: Logs,
    done: bool,
}

impl LogFollow<'_> {
    /// The lines of the answer, before the followed ones.
    pub fn initial(&self) -> &Logs {
        &self.initial
    }
}

impl Client {
    /// The last `tail` lines of a container's output (absent: all kept), then every later
    /// line as it comes.
    pub fn follow_logs(
        &mut self,
        container: &ContainerId,
        tail: Option<u32>,
    ) -> Result<LogFollow<'_>, Error> {
        let request = Request::Logs {
            container: container.clone(),
            tail,
            follow: true,
        };
        let id = self.send(&request)?;
        // Lines may come right behind the answer: collect them from now on.
        self.follow = Some((id, VecDeque::new()));
        let timeout = self.options.request_timeout;
        let initial = match self.answer(id, "logs", timeout) {
            Ok(response) => logs(response).map_err(|other| unexpected("logs", &other)),
            Err(e) => Err(e),
        };
        match initial {
            Ok(initial) => Ok(LogFollow {
                client: self,
                initial,
                done: false,
            }),
            Err(e) => {
                self.follow = None;
                Err(e)
            }
        }
    }

    /// The notifications of this connection, as an iterator that blocks until the next
    /// one. Subscribe first ([`Client::subscribe`]). It ends after an error.
    pub fn notifications(&mut self) -> Notifications<'_> {
        Notifications {
            client: self,
            done: false,
        }
    }
}

impl Iterator for LogFollow<'_> {
    type Item = Result<Vec<String>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_frame();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

impl LogFollow<'_> {
    fn next_frame(&mut self) -> Option<Result<Vec<String>, Error>> {
        loop {
            let Some((id, frames)) = &mut self.client.follow else {
                return None;
            };
            let id = *id;
            match frames.pop_front() {
                Some(FollowFrame::Lines(lines)) => return Some(Ok(lines)),
                Some(FollowFrame::End) => return None,
                None => {}
            }
            if let Err(e) = self.client.usable() {
                return Some(Err(e));
            }
            let waiting = || "the next lines of the log".to_string();
            let message = match self
                .client
                .connection
                .receive(Deadline::after(None), &waiting)
            {
                Ok(message) => message,
                Err(e) => return Some(Err(self.client.failed(e))),
            };
            match message {
                ServerMessage::Error {
                    id: None, error, ..
                } => {
                    self.client.broken = Some(error.to_string());
                    return Some(Err(Error::Api {
                        request: "logs",
                        error: Box::new(error),
                    }));
                }
                ServerMessage::Error {
                    id: Some(got),
                    error,
                    ..
                } if got == id => {
                    return Some(Err(Error::Api {
                        request: "logs",
                        error: Box::new(error),
                    }))
                }
                other => {
                    if let Err(e) = self.client.keep(other) {
                        return Some(Err(e));
                    }
                }
            }
        }
    }
}

impl Drop for LogFollow<'_> {
    fn drop(&mut self) {
        self.client.follow = None;
    }
}

/// The notifications of a connection, as they come.
#[derive(Debug)]
pub struct Notifications<'a> {
    client: &'a mut Client,
    done: bool,
}

impl Iterator for Notifications<'_> {
    type Item = Result<Notification, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.client.next_notification(None) {
            Ok(Some(notification)) => Some(Ok(notification)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
