//! What the benchmarks share.

use std::time::Duration;

use criterion::Criterion;

/// Short runs: each case is a tight loop with little variance, and the whole
/// suite should stay well under a minute with `--quick`.
pub fn short_runs() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(500))
}
