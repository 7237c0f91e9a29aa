package ui

import (
	"strings"
	"testing"
)

// TestRL09_JSONDepthScan: nesting is counted only outside strings (escaped quotes included),
// and the scan stops at the first level past the limit.
func TestRL09_JSONDepthScan(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{`{}`, 1},
		{`{"a":[1,{"b":[]}]}`, 4},
		{`{"a":"[[[[{{{{"}`, 1},
		{`{"a":"\"[[[[","b":[[]]}`, 3},
		{`"\\"`, 0},
		{strings.Repeat("[", 100000), 33},
	} {
		if got := jsonDepth([]byte(c.in), 32); got != c.want {
			t.Errorf("jsonDepth(%.30q) = %d, want %d", c.in, got, c.want)
		}
	}
}
