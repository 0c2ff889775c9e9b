//! A queue from other threads into an epoll loop: messages go through an mpsc channel and
//! an eventfd becomes readable when one was queued, so the loop waits for them beside its
//! other descriptors. The runtime's requests, the API server's events and the init's events
//! all come this way.

use nix::sys::eventfd::{EfdFlags, EventFd};
use std::{
    os::fd::{AsFd, BorrowedFd},
    sync::{mpsc, Arc},
};

/// The sending side; clone it for every thread that queues.
pub struct WakeSender<T> {
    tx: mpsc::Sender<T>,
    wake: Arc<EventFd>,
}

impl<T> Clone for WakeSender<T> {
    fn clone(&self) -> Self {
        WakeSender {
            tx: self.tx.clone(),
            wake: self.wake.clone(),
        }
    }
}

impl<T> WakeSender<T> {
    /// Queue `message` and wake the loop. The message comes back when the loop has ended
    /// (its receiving side is gone).
    pub fn send(&self, message: T) -> Result<(), T> {
        self.tx.send(message).map_err(|e| e.0)?;
        // The counter only grows; a full counter (never in practice) still reads ready.
        let _ = self.wake.write(1);
        Ok(())
    }
}

/// The loop's side.
pub struct WakeReceiver<T> {
    rx: mpsc::Receiver<T>,
    wake: Arc<EventFd>,
}

impl<T> WakeReceiver<T> {
    /// The descriptor the loop waits on: readable while messages may be queued.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// Every queued message, in order. The wake-up is cleared first, so a message queued
    /// meanwhile is taken now or wakes the loop again.
    pub fn drain(&self) -> std::sync::mpsc::TryIter<'_, T> {
        self.clear();
        self.rx.try_iter()
    }

    /// Clear the wake-up before taking messages one by one with [`WakeReceiver::next`].
    pub fn clear(&self) {
        // Non-blocking: EAGAIN when the counter is already 0.
        let _ = self.wake.read();
    }

    /// The next queued message, if any.
    pub fn next(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// A new, empty queue.
pub fn wake_queue<T>() -> nix::Result<(WakeSender<T>, WakeReceiver<T>)> {
    let wake = Arc::new(EventFd::from_value_and_flags(
        0,
        EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK,
    )?);
    let (tx, rx) = mpsc::channel();
    Ok((
        WakeSender {
            tx,
            wake: wake.clone(),
        },
        WakeReceiver { rx, wake },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

    fn readable(fd: BorrowedFd<'_>) -> bool {
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::ZERO).unwrap() == 1
    }

    #[test]
    fn a_message_wakes_and_a_drain_clears() {
        let (tx, rx) = wake_queue().unwrap();
        assert!(!readable(rx.fd()));
        tx.send(1).unwrap();
        tx.clone().send(2).unwrap();
        assert!(readable(rx.fd()));
        assert_eq!(rx.drain().collect::<Vec<_>>(), [1, 2]);
        assert!(!readable(rx.fd()));
    }

    #[test]
    fn a_message_to_an_ended_loop_comes_back() {
        let (tx, rx) = wake_queue().unwrap();
        drop(rx);
        assert_eq!(tx.send("late"), Err("late"));
    }
}
