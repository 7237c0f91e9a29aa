package loadtest

import (
	"math/bits"
	"time"
)

// histogram records durations in log-linear buckets: exact below 128 ns, then 64 buckets per
// power of two (at most 1.6% relative error). Its size is fixed whatever the run's length, so a
// long run cannot exhaust memory, and two histograms merge by adding counts.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

const (
	histSub     = 64 // buckets per power of two
	histLinear  = 2 * histSub
	histBuckets = histLinear + 57*histSub // covers every positive int64
)

func bucketOf(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < histLinear {
		return int(v)
	}
	shift := bits.Len64(v) - 7 // keeps the top 7 bits: 64 ≤ v>>shift < 128
	return histLinear + (shift-1)*histSub + int(v>>shift) - histSub
}

// bucketUpper is the largest duration that falls in bucket i.
func bucketUpper(i int) time.Duration {
	if i < histLinear {
		return time.Duration(i)
	}
	shift := (i-histLinear)/histSub + 1
	m := uint64((i-histLinear)%histSub + histSub)
	return time.Duration((m+1)<<shift - 1)
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.n++
	h.sum += d
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the upper bound of the bucket holding the q-th value (0 < q ≤ 1), never more
// than the largest value recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(bucketUpper(i), h.max)
		}
	}
	return h.max
}

// Latency summarises a histogram.
type Latency struct {
	Count                    uint64
	Mean, P50, P90, P99, Max time.Duration
}

func (h *histogram) summary() Latency {
	l := Latency{Count: h.n, Max: h.max, P50: h.quantile(0.50), P90: h.quantile(0.90), P99: h.quantile(0.99)}
	if h.n > 0 {
		l.Mean = h.sum / time.Duration(h.n)
	}
	return l
}
