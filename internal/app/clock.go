package app

import (
	"sync"
	"time"
)

// SteadyClock returns a clock that follows wall forward but never runs backwards. When the
// wall clock steps back (an NTP step, a manual date change, a restored VM), it keeps counting
// from the last time it returned at the rate of mono, a monotonic clock, until the wall
// clock catches up or jumps ahead. Expiry times are stored as absolute UTC instants, so
// without this a step back of one hour would revive every code, challenge, session and link
// that expired in the last hour and give every live one an hour more (SECURITY RL-08). A
// forward step is followed at once: it ends what it should end.
//
// The guarantee holds while the process runs; a restart takes the wall clock as it is.
// Production passes time.Now and MonotonicSince(time.Now()); tests pass fakes of both.
func SteadyClock(wall func() time.Time, mono func() time.Duration) func() time.Time {
	var (
		mu       sync.Mutex
		last     time.Time
		lastMono time.Duration
	)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		// Round(0) drops the monotonic reading time.Now carries: with it, After would compare
		// monotonic readings and never see the wall clock's step.
		now, m := wall().Round(0), mono()
		if !last.IsZero() {
			if ahead := last.Add(m - lastMono); ahead.After(now) {
				now = ahead
			}
		}
		last, lastMono = now, m
		return now
	}
}

// MonotonicSince is a monotonic clock for SteadyClock: the time elapsed since start, read
// from start's monotonic reading (time.Now carries one), which wall clock steps do not move.
func MonotonicSince(start time.Time) func() time.Duration {
	return func() time.Duration { return time.Since(start) }
}
