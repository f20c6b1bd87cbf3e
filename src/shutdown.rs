//! One way to stop herald: a [`Shutdown`] handle is cloned into everything
//! that runs until told to stop. Triggering any clone stops them all.

use std::sync::Arc;

use tokio::sync::watch;

/// A shared stop signal.
#[derive(Debug, Clone)]
pub struct Shutdown {
    sender: Arc<watch::Sender<bool>>,
    receiver: watch::Receiver<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        let (sender, receiver) = watch::channel(false);
        Shutdown {
            sender: Arc::new(sender),
            receiver,
        }
    }
}

impl Shutdown {
    /// Ask everything holding a clone of this handle to stop.
    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Resolves once [`Shutdown::trigger`] has been called on any clone.
    pub async fn wait(&self) {
        let mut receiver = self.receiver.clone();
        // An error means every sender is gone, which also means "stop".
        let _ = receiver.wait_for(|stop| *stop).await;
    }

    /// Trigger this handle on SIGINT or SIGTERM. Returns the signal's name.
    pub async fn on_signal(&self) -> std::io::Result<&'static str> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
            _ = self.wait() => "shutdown",
        };
        self.trigger();
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_trigger() {
        let shutdown = Shutdown::default();
        let waiter = shutdown.clone();
        let task = tokio::spawn(async move { waiter.wait().await });
        assert!(!shutdown.is_triggered());
        shutdown.clone().trigger();
        tokio::time::timeout(std::time::Duration::from_secs(5), task)
            .await
            .expect("waiter woke")
            .expect("task ran");
        assert!(shutdown.is_triggered());
    }
}
