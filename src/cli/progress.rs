//! One progress line on a terminal's stderr for long CLI commands (`ladder
//! sync`, `ladder seed`), rewritten in place at most a few times a second.
//!
//! The rate is only shown once a second has passed and is measured from
//! that moment on: the first rows of a stream go into buffers (the
//! client's channel, the HTTP/2 windows, the server's read-ahead) far faster
//! than they are processed, so a rate over the first moments reads several
//! times too high.

use std::io::Write as _;
use std::time::{Duration, Instant};

/// How often the line is rewritten.
const EVERY: Duration = Duration::from_millis(500);
/// When the rate's baseline is taken.
const SETTLE: Duration = Duration::from_secs(1);

/// A progress line: `what done/total, rate unit/s`.
pub struct Progress {
    what: &'static str,
    unit: &'static str,
    total: usize,
    shown: bool,
    started: Instant,
    last: Option<Instant>,
    baseline: Option<(Instant, usize)>,
}

impl Progress {
    /// A progress line, drawn only when stderr is a terminal.
    pub fn new(what: &'static str, unit: &'static str, total: usize) -> Self {
        Self::with_terminal(what, unit, total, std::io::IsTerminal::is_terminal(&std::io::stderr()))
    }

    fn with_terminal(what: &'static str, unit: &'static str, total: usize, shown: bool) -> Self {
        Self { what, unit, total, shown, started: Instant::now(), last: None, baseline: None }
    }

    /// Notes that `done` of the total are done; redraws when it is time.
    pub fn tick(&mut self, done: usize) {
        if !self.shown {
            return;
        }
        let now = Instant::now();
        if self.last.is_some_and(|l| now - l < EVERY) {
            return;
        }
        self.last = Some(now);
        let line = self.line(now, done);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}   ");
        let _ = err.flush();
    }

    /// The text for `done` at `now` (takes the rate's baseline when due).
    fn line(&mut self, now: Instant, done: usize) -> String {
        if self.baseline.is_none() && now - self.started >= SETTLE {
            self.baseline = Some((now, done));
        }
        let rate = self.baseline.and_then(|(at, base)| {
            let secs = (now - at).as_secs_f64();
            (secs >= 0.25).then(|| done.saturating_sub(base) as f64 / secs)
        });
        match rate {
            Some(r) => format!("{} {done}/{} {}, {r:.0} {}/s", self.what, self.total, self.unit, self.unit),
            None => format!("{} {done}/{} {}…", self.what, self.total, self.unit),
        }
    }

    /// Ends the line with the total time.
    pub fn finish(&mut self, done: usize) {
        if self.shown {
            eprintln!(
                "\r{} {done}/{} {} in {:.1}s          ",
                self.what,
                self.total,
                self.unit,
                self.started.elapsed().as_secs_f64()
            );
            self.shown = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_rate_before_the_buffers_settle_then_the_rate_since_then() {
        let mut p = Progress::with_terminal("sent", "rows", 100_000, false);
        let t0 = p.started;
        // 20,000 rows vanish into buffers in the first 100 ms: no rate yet.
        assert_eq!(p.line(t0 + Duration::from_millis(100), 20_000), "sent 20000/100000 rows…");
        // The baseline is taken at one second ...
        assert_eq!(p.line(t0 + Duration::from_secs(1), 25_000), "sent 25000/100000 rows…");
        // ... and the rate counts from it: 10,000 rows in 2 s, not 35,000 in 3 s.
        assert_eq!(p.line(t0 + Duration::from_secs(3), 35_000), "sent 35000/100000 rows, 5000 rows/s");
    }
}
