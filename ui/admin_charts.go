package ui

import (
	"fmt"
	"strconv"

	"github.com/keyward/keyward/internal/metrics"
	"github.com/keyward/keyward/templates"
)

// Server-side SVG charts: this file computes every coordinate, the template only draws. The
// colours are presentation attributes, which the style-src CSP does not govern.

const (
	colorOK      = "#2e7d32"
	colorFail    = "#c62828"
	colorNeutral = "#1565c0"
	colorMuted   = "#9e9e9e"
)

// hbar is one horizontal bar of hbarChart.
type hbar struct {
	label string
	value int
	fill  string
	note  string
}

// hbarChart draws labelled horizontal bars scaled to the largest value.
func hbarChart(title string, bars []hbar) templates.Chart {
	const width, labelW, valueW, rowH = 640, 170, 90, 30
	c := templates.Chart{Title: title, Width: width, Height: len(bars)*rowH + 10}
	top := 1
	for _, b := range bars {
		top = max(top, b.value)
	}
	span := width - labelW - valueW
	for i, b := range bars {
		y := 5 + i*rowH
		w := b.value * span / top
		c.Bars = append(c.Bars, templates.ChartBar{X: labelW, Y: y, W: max(w, 1), H: rowH - 8, Fill: b.fill,
			Title: fmt.Sprintf("%s: %d %s", b.label, b.value, b.note)})
		c.Texts = append(c.Texts,
			templates.ChartText{X: labelW - 8, Y: y + 16, Anchor: "end", Text: b.label},
			templates.ChartText{X: labelW + max(w, 1) + 6, Y: y + 16, Anchor: "start", Text: strconv.Itoa(b.value) + " " + b.note})
	}
	return c
}

func funnelChart(s metrics.Summary) templates.Chart {
	begun := s.Funnel[metrics.StageBegun]
	note := func(n int) string {
		if begun == 0 {
			return ""
		}
		return "(" + percent(n, begun) + ")"
	}
	created, completed := s.Funnel[metrics.StagePasskeyCreated], s.Funnel[metrics.StageCompleted]
	return hbarChart("Enrollment funnel", []hbar{
		{"Sign-up begun", begun, colorNeutral, ""},
		{"Passkey created", created, colorNeutral, note(created)},
		{"Completed", completed, colorOK, note(completed)},
	})
}

// routesChart groups, per route, a bar of successes and one of failures.
func routesChart(s metrics.Summary) templates.Chart {
	const width, height, left, bottom, top = 640, 220, 40, 190, 10
	c := templates.Chart{Title: "Sign-ins by route", Width: width, Height: height,
		Legend: []templates.LegendItem{{Fill: colorOK, Label: "succeeded"}, {Fill: colorFail, Label: "failed"}}}
	most := 1
	for _, r := range s.SignIns {
		most = max(most, r.OK, r.Failed())
	}
	c.Lines = append(c.Lines, templates.ChartLine{X1: left, Y1: bottom, X2: width, Y2: bottom})
	c.Texts = append(c.Texts, templates.ChartText{X: left - 4, Y: top + 10, Anchor: "end", Text: strconv.Itoa(most)},
		templates.ChartText{X: left - 4, Y: bottom, Anchor: "end", Text: "0"})
	group := (width - left) / max(len(s.SignIns), 1)
	for i, r := range s.SignIns {
		x := left + i*group + group/6
		barW := group / 3
		for j, v := range []struct {
			n    int
			fill string
			what string
		}{{r.OK, colorOK, "succeeded"}, {r.Failed(), colorFail, "failed"}} {
			h := v.n * (bottom - top) / most
			c.Bars = append(c.Bars, templates.ChartBar{X: x + j*barW, Y: bottom - h, W: barW - 2, H: h, Fill: v.fill,
				Title: fmt.Sprintf("%s: %d %s", r.Route, v.n, v.what)})
		}
		c.Texts = append(c.Texts, templates.ChartText{X: x + barW, Y: bottom + 18, Anchor: "middle", Text: r.Route})
	}
	return c
}

// seriesChart stacks successful and failed sign-ins per time bucket, with completed sign-ups
// as a thin bar beside them.
func seriesChart(s metrics.Summary) templates.Chart {
	const width, height, left, bottom, top = 720, 200, 40, 170, 10
	c := templates.Chart{Title: "Sign-ins and sign-ups over time", Width: width, Height: height,
		Legend: []templates.LegendItem{{Fill: colorOK, Label: "sign-ins succeeded"}, {Fill: colorFail, Label: "sign-ins failed"},
			{Fill: colorNeutral, Label: "sign-ups completed"}}}
	n := len(s.Series)
	if n == 0 {
		return c
	}
	most := 1
	for _, b := range s.Series {
		most = max(most, b.SignInsOK+b.SignInsFailed, b.SignupsCompleted)
	}
	step := (width - left) / n
	barW := max(step*2/3, 2)
	c.Lines = append(c.Lines, templates.ChartLine{X1: left, Y1: bottom, X2: width, Y2: bottom})
	c.Texts = append(c.Texts, templates.ChartText{X: left - 4, Y: top + 10, Anchor: "end", Text: strconv.Itoa(most)},
		templates.ChartText{X: left - 4, Y: bottom, Anchor: "end", Text: "0"})
	layout := "2 Jan 15:04"
	if s.Step >= 24*60*60*1e9 {
		layout = "2 Jan"
	}
	for i, b := range s.Series {
		x := left + i*step
		okH := b.SignInsOK * (bottom - top) / most
		failH := b.SignInsFailed * (bottom - top) / most
		when := b.Start.Format(layout)
		c.Bars = append(c.Bars,
			templates.ChartBar{X: x, Y: bottom - okH, W: barW, H: okH, Fill: colorOK, Title: fmt.Sprintf("%s: %d sign-ins succeeded", when, b.SignInsOK)},
			templates.ChartBar{X: x, Y: bottom - okH - failH, W: barW, H: failH, Fill: colorFail, Title: fmt.Sprintf("%s: %d sign-ins failed", when, b.SignInsFailed)})
		if b.SignupsCompleted > 0 {
			h := b.SignupsCompleted * (bottom - top) / most
			c.Bars = append(c.Bars, templates.ChartBar{X: x + barW, Y: bottom - h, W: max(step-barW-1, 1), H: h, Fill: colorNeutral,
				Title: fmt.Sprintf("%s: %d sign-ups completed", when, b.SignupsCompleted)})
		}
		switch {
		case i == n-1 && n > 1:
			c.Texts = append(c.Texts, templates.ChartText{X: x + barW, Y: bottom + 18, Anchor: "end", Text: when})
		case i == 0 || i == n/2:
			c.Texts = append(c.Texts, templates.ChartText{X: x, Y: bottom + 18, Anchor: "start", Text: when})
		}
	}
	return c
}

func coverageChart(cov metrics.Coverage) templates.Chart {
	return hbarChart("Passkey coverage", []hbar{
		{"No passkey", cov.NoPasskey, colorFail, "accounts"},
		{"One passkey", cov.OnePasskey, colorMuted, "accounts"},
		{"Two or more", cov.TwoOrMore, colorOK, "accounts"},
		{"Synced passkeys", cov.SyncedPasskeys, colorNeutral, ""},
		{"Device-bound", cov.DeviceBoundPasskeys, colorNeutral, ""},
	})
}
