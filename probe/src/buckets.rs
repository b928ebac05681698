//! Poll-duration buckets: powers of two of a microsecond, from under 2 µs to over 2 s.

/// Number of buckets. Bucket 0 holds polls under 2 µs; bucket `k` (1..=20) holds
/// `[2^k, 2^(k+1))` µs; the last holds everything from 2^21 µs (about 2.1 s) up.
pub const BUCKETS: usize = 22;

/// The bucket a poll of `ns` nanoseconds falls in.
#[inline]
pub fn bucket_of(ns: u64) -> usize {
    let micros = ns / 1000;
    if micros < 2 {
        return 0;
    }
    let log2 = 63 - micros.leading_zeros() as usize;
    log2.min(BUCKETS - 1)
}

/// The lower bound of bucket `i`, in nanoseconds.
pub fn bucket_floor_ns(i: usize) -> u64 {
    if i == 0 {
        0
    } else {
        (1u64 << i.min(63)) * 1000
    }
}

/// The upper bound of bucket `i`, in nanoseconds; `None` for the last, open bucket.
pub fn bucket_ceiling_ns(i: usize) -> Option<u64> {
    (i + 1 < BUCKETS).then(|| (1u64 << (i + 1)) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bounds() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1_999), 0);
        assert_eq!(bucket_of(2_000), 1);
        assert_eq!(bucket_of(3_999), 1);
        assert_eq!(bucket_of(4_000), 2);
        assert_eq!(bucket_of(100_000_000), 16); // 100 ms: 65.5..131 ms
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        for i in 0..BUCKETS {
            assert_eq!(bucket_of(bucket_floor_ns(i)), i);
            if let Some(c) = bucket_ceiling_ns(i) {
                assert_eq!(bucket_of(c - 1), i);
                assert_eq!(bucket_of(c), i + 1);
            }
        }
    }
}
