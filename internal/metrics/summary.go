package metrics

import (
	"slices"
	"time"

	"github.com/keyward/keyward/idp"
	"github.com/keyward/keyward/store"
)

// Summary is the dashboard's view of the audit events of a time range, classified exactly as
// Observe classifies them for /metrics.
type Summary struct {
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until"`
	Events int       `json:"events"`
	// Truncated: the caller stopped reading events at its cap; the numbers cover the newest
	// Events events of the range only.
	Truncated bool           `json:"truncated"`
	Funnel    map[string]int `json:"funnel"` // stage → count
	// FunnelByPlatform is the funnel per OS and browser family, largest "begun" first.
	FunnelByPlatform []PlatformFunnel `json:"funnel_by_platform"`
	SignupFailures   map[string]int   `json:"signup_failures"` // code → count
	// SignIns has one row per route, in Routes order.
	SignIns        []RouteCounts             `json:"signins"`
	Recovery       map[string]int            `json:"recovery"` // stage → count
	AccountChanges map[string]map[string]int `json:"account_changes"`
	AdminActions   map[string]int            `json:"admin_actions"`
	CloneSuspected int                       `json:"clone_suspected"`
	// Series counts sign-ups completed and sign-ins by time bucket, oldest first.
	Series []Bucket      `json:"series"`
	Step   time.Duration `json:"step_ns"`
}

// PlatformFunnel is the funnel of one OS and browser family.
type PlatformFunnel struct {
	OS      string         `json:"os"`
	Browser string         `json:"browser"`
	Stages  map[string]int `json:"stages"`
}

// RouteCounts are the sign-ins of one route.
type RouteCounts struct {
	Route    string         `json:"route"`
	OK       int            `json:"ok"`
	Failures map[string]int `json:"failures"` // failure code → count
}

// Failed is the number of failed sign-ins of the route.
func (r RouteCounts) Failed() int {
	n := 0
	for _, v := range r.Failures {
		n += v
	}
	return n
}

// Bucket is one interval of the series.
type Bucket struct {
	Start            time.Time `json:"start"`
	SignupsBegun     int       `json:"signups_begun"`
	SignupsCompleted int       `json:"signups_completed"`
	SignInsOK        int       `json:"signins_ok"`
	SignInsFailed    int       `json:"signins_failed"`
}

// maxBuckets bounds the series: an hour per bucket up to two days, then days.
const maxBuckets = 120

// Summarize classifies events (any order) that fall in [since, until).
func Summarize(events []store.AuditEvent, since, until time.Time) Summary {
	s := Summary{Since: since, Until: until, Funnel: map[string]int{}, SignupFailures: map[string]int{},
		Recovery: map[string]int{}, AccountChanges: map[string]map[string]int{}, AdminActions: map[string]int{}}
	for _, st := range Stages {
		s.Funnel[st] = 0
	}
	for _, st := range RecoveryStages {
		s.Recovery[st] = 0
	}
	routes := map[string]*RouteCounts{}
	for _, r := range Routes {
		s.SignIns = append(s.SignIns, RouteCounts{Route: r, Failures: map[string]int{}})
	}
	for i := range s.SignIns {
		routes[s.SignIns[i].Route] = &s.SignIns[i]
	}
	s.Step = time.Hour
	if until.Sub(since) > 48*time.Hour {
		s.Step = 24 * time.Hour
	}
	start := since.Truncate(s.Step)
	n := int(until.Sub(start)/s.Step) + 1
	if n > maxBuckets {
		n = maxBuckets
		start = until.Add(-time.Duration(n-1) * s.Step).Truncate(s.Step)
	}
	for i := 0; i < n; i++ {
		s.Series = append(s.Series, Bucket{Start: start.Add(time.Duration(i) * s.Step)})
	}
	platforms := map[[2]string]*PlatformFunnel{}
	for _, e := range events {
		if e.Time.Before(since) || !e.Time.Before(until) {
			continue
		}
		s.Events++
		var b *Bucket
		if i := int(e.Time.Sub(start) / s.Step); i >= 0 && i < len(s.Series) {
			b = &s.Series[i]
		} else {
			b = &Bucket{}
		}
		if stages := FunnelStages(e); stages != nil {
			os, browser := Platform(e.UserAgent)
			pf := platforms[[2]string{os, browser}]
			if pf == nil {
				pf = &PlatformFunnel{OS: os, Browser: browser, Stages: map[string]int{}}
				platforms[[2]string{os, browser}] = pf
			}
			for _, st := range stages {
				s.Funnel[st]++
				pf.Stages[st]++
			}
			switch e.Event {
			case idp.EventSignupFailed:
				s.SignupFailures[Code(e.Result)]++
			case idp.EventSignupBegun:
				b.SignupsBegun++
			case idp.EventSignupCompleted:
				b.SignupsCompleted++
			}
		}
		if IsSignIn(e) {
			rc := routes[SignInRoute(e)]
			if code := Code(e.Result); code == idp.ResultOK {
				rc.OK++
				b.SignInsOK++
			} else {
				rc.Failures[code]++
				b.SignInsFailed++
			}
		}
		if e.Event == idp.EventCloneSuspected {
			s.CloneSuspected++
		}
		if st, ok := RecoveryStage(e); ok {
			s.Recovery[st]++
		}
		if kind, outcome, ok := AccountChange(e); ok {
			if s.AccountChanges[kind] == nil {
				s.AccountChanges[kind] = map[string]int{}
			}
			s.AccountChanges[kind][outcome]++
		}
		if a, ok := AdminAction(e); ok {
			s.AdminActions[a]++
		}
	}
	for _, pf := range platforms {
		s.FunnelByPlatform = append(s.FunnelByPlatform, *pf)
	}
	slices.SortFunc(s.FunnelByPlatform, func(a, b PlatformFunnel) int {
		if d := b.Stages[StageBegun] - a.Stages[StageBegun]; d != 0 {
			return d
		}
		if a.OS != b.OS {
			if a.OS < b.OS {
				return -1
			}
			return 1
		}
		if a.Browser < b.Browser {
			return -1
		}
		if a.Browser > b.Browser {
			return 1
		}
		return 0
	})
	return s
}
