//! What the ledger's benches share.

use std::time::Duration;

/// User and system CPU time of the whole process so far: on a shared machine
/// a steadier measure of what an append costs than throughput.
pub fn process_cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer it is given.
    let usage = unsafe {
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()), 0);
        usage.assume_init()
    };
    let micros = |time: libc::timeval| time.tv_sec as u64 * 1_000_000 + time.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// A latency histogram: microseconds, up to a minute.
pub fn latency_histogram() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram")
}

/// One latency histogram per writer.
pub fn fresh_histograms(writers: usize) -> Vec<hdrhistogram::Histogram<u64>> {
    (0..writers).map(|_| latency_histogram()).collect()
}
