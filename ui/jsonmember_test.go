package ui

import "testing"

// TestWA13_RepeatedMemberDetected: a body naming a member twice at any depth is found; distinct
// names, the same name in sibling objects, names inside strings and malformed documents are not.
func TestWA13_RepeatedMemberDetected(t *testing.T) {
	for body, want := range map[string]bool{
		`{"a":1,"a":2}`: true,
		`{"response":{"x":1},"id":"q","response":{}}`: true,
		`{"r":{"c":"e30","c":"e31"}}`:                 true,
		`[{"a":1},{"b":2,"b":3}]`:                     true,
		`{"a":{"a":{"a":1}}}`:                         false,
		`{"Response":{},"response":{}}`:               true,
		`[{"a":1},{"a":2}]`:                           false,
		`{"a":"\"a\":1,","b":[1,{"a":2}],"c":{}}`:     false,
		`{"a":1,"A":2}`:                               true, // encoding/json reads "A" into a`
		`{}`:                                          false,
		`{"a":1,"a"`:                                  true,  // repeated before it breaks off
		`{"a":1,"b"`:                                  false, // malformed: left to the decoder
		`not json`:                                    false,
	} {
		if got := repeatsMember([]byte(body)); got != want {
			t.Errorf("repeatsMember(%s) = %v, want %v", body, got, want)
		}
	}
}

func FuzzRepeatsMember(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `[{"a":[{"b":{}}]}]`, `{"a":"}{"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<12 || jsonDepth(b, 32) > 32 {
			return
		}
		repeatsMember(b) // must not panic on any input within the depth bound
	})
}
