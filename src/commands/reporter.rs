//! indicatif progress bars behind the domain's [`Reporter`] trait, drawn on
//! stderr and only when it is a terminal.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::printer::Printer;
use crate::progress::{Reporter, Silent};

pub struct BarReporter {
    bar: Mutex<Option<ProgressBar>>,
    /// Objects done and expected, for transfer bars (whose unit is bytes).
    objects: Mutex<(u64, u64)>,
}

impl Reporter for BarReporter {
    fn start(&self, label: &str, total: Option<u64>) {
        let bar = match total {
            Some(n) => ProgressBar::new(n).with_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({per_sec}, {eta})")
                    .expect("static template")
                    .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner(),
        };
        bar.set_message(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        if let Some(old) = self.bar.lock().expect("progress lock").replace(bar) {
            old.finish_and_clear();
        }
    }

    fn start_transfer(&self, label: &str, objects: u64, bytes: u64) {
        let bar = ProgressBar::new(bytes).with_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}) {prefix}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_message(label.to_string());
        bar.set_prefix(format!("0/{objects} objects"));
        bar.enable_steady_tick(Duration::from_millis(120));
        *self.objects.lock().expect("progress lock") = (0, objects);
        if let Some(old) = self.bar.lock().expect("progress lock").replace(bar) {
            old.finish_and_clear();
        }
    }

    fn transferred(&self, objects: u64, bytes: u64) {
        let (done, total) = {
            let mut o = self.objects.lock().expect("progress lock");
            o.0 += objects;
            *o
        };
        if let Some(bar) = &*self.bar.lock().expect("progress lock") {
            bar.inc(bytes);
            bar.set_prefix(format!("{done}/{total} objects"));
        }
    }

    fn inc(&self, n: u64) {
        if let Some(bar) = &*self.bar.lock().expect("progress lock") {
            bar.inc(n);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().expect("progress lock").take() {
            bar.finish_and_clear();
        }
    }
}

/// A reporter that draws bars on a terminal and stays silent elsewhere.
pub fn for_printer(printer: &Printer) -> Box<dyn Reporter> {
    if printer.progress_enabled() {
        Box::new(BarReporter {
            bar: Mutex::new(None),
            objects: Mutex::new((0, 0)),
        })
    } else {
        Box::new(Silent)
    }
}
