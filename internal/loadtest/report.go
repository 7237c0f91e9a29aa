package loadtest

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is the outcome of a run.
type Result struct {
	Mode        Mode
	Target      string
	Alg         string
	Concurrency int // operations in flight (fewer than asked when there are fewer people)
	People      int
	Setup       time.Duration // discovery, sign-ups and first sign-ins
	Elapsed     time.Duration // from the first operation's start to the last one's end
	OK          uint64        // operations completed without error
	Failed      uint64
	Latency     Latency // of the completed operations
	Errors      []ErrorCount
	Routes      []RouteStat
	ClientCPU   time.Duration // this process, during the run
	ServerCPU   time.Duration // the server process (Options.ServerPID), during the run
	ServerRSS   int64         // the server's resident memory at the end, bytes
	// LoadBefore and LoadAfter are the machine's load averages (1, 5, 15 min): on a shared
	// machine every figure needs them next to it.
	LoadBefore, LoadAfter string
	Interrupted           bool
}

// ErrorCount is one kind of error with how often it happened and one (sanitised) message.
type ErrorCount struct {
	Kind    string
	Count   uint64
	Example string
}

// Throughput is completed operations per second.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// Err is non-nil when any operation failed or none completed: the load command's exit status.
func (r *Result) Err() error {
	switch {
	case r.Failed > 0:
		return fmt.Errorf("loadtest: %d of %d operations failed", r.Failed, r.Failed+r.OK)
	case r.OK == 0:
		return errors.New("loadtest: no operation completed")
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// WriteText prints the result for people: totals, latency, CPU, load, per-route table, errors.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	alg := ""
	if r.Mode == ModeSignIn || r.Mode == ModeRefresh {
		alg = ", id_token " + r.Alg
	}
	fmt.Fprintf(&b, "mode %s%s against %s: concurrency %d", r.Mode, alg, r.Target, r.Concurrency)
	if r.People > 0 {
		fmt.Fprintf(&b, ", %d people (set up in %s)", r.People, r.Setup.Round(time.Millisecond))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "completed   %d in %s: %.1f/s\n", r.OK, r.Elapsed.Round(time.Millisecond), r.Throughput())
	l := r.Latency
	fmt.Fprintf(&b, "latency     p50 %s  p90 %s  p99 %s  max %s  mean %s\n", ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max), ms(l.Mean))
	fmt.Fprintf(&b, "errors      %d\n", r.Failed)
	if ops := r.OK + r.Failed; ops > 0 {
		per := func(d time.Duration) string { return fmt.Sprintf("%.0fµs/op", float64(d.Microseconds())/float64(ops)) }
		if r.ServerCPU > 0 || r.ServerRSS > 0 {
			fmt.Fprintf(&b, "server CPU  %s (%s, %.2f cores), RSS %.1f MB at the end\n", r.ServerCPU.Round(10*time.Millisecond),
				per(r.ServerCPU), r.ServerCPU.Seconds()/r.Elapsed.Seconds(), float64(r.ServerRSS)/(1<<20))
		}
		fmt.Fprintf(&b, "client CPU  %s (%s, %.2f cores; this load generator)\n", r.ClientCPU.Round(10*time.Millisecond),
			per(r.ClientCPU), r.ClientCPU.Seconds()/r.Elapsed.Seconds())
	}
	fmt.Fprintf(&b, "load avg    %s before, %s after\n", r.LoadBefore, r.LoadAfter)
	if r.Interrupted {
		b.WriteString("interrupted before the end\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if len(r.Routes) > 0 {
		fmt.Fprintln(w, "\nper request (time to response headers):")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ROUTE\tCOUNT\tP50\tP90\tP99\tMAX\tFAILED")
		for _, s := range r.Routes {
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\t%s\n", s.Route, s.Latency.Count, ms(s.Latency.P50),
				ms(s.Latency.P90), ms(s.Latency.P99), ms(s.Latency.Max), statusCounts(s.Errors))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "\nerrors by kind:")
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  %7d  %s\n           e.g. %s\n", e.Count, e.Kind, e.Example)
		}
	}
	return nil
}

func statusCounts(m map[int]uint64) string {
	if len(m) == 0 {
		return "0"
	}
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		name := fmt.Sprint(k)
		if k == 0 {
			name = "transport"
		}
		parts = append(parts, fmt.Sprintf("%d×%s", m[k], name))
	}
	return strings.Join(parts, " ")
}
