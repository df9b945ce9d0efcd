//! How an operation tells whoever runs it what it is doing: a line per subject (a host, an
//! account). The command line draws it as progress bars on a terminal (`ui::Progress`);
//! tests and cron use `Silent`.

pub trait Observer: Send + Sync {
    /// `subject` is now doing `message`.
    fn step(&self, subject: &str, message: &str);
    /// `subject` is done, with a last word.
    fn finish(&self, subject: &str, message: &str) {
        self.step(subject, message);
    }
}

/// Says nothing.
pub struct Silent;

impl Observer for Silent {
    fn step(&self, _: &str, _: &str) {}
}

impl Observer for crate::ui::Progress {
    fn step(&self, subject: &str, message: &str) {
        tracing::info!("{subject}: {message}");
        self.set(subject, message);
    }

    fn finish(&self, subject: &str, message: &str) {
        crate::ui::Progress::finish(self, subject, message);
    }
}
