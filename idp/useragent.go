package idp

import "github.com/mileusna/useragent"

// UserAgent is what account pages say about a browser: its family and operating system, never
// versions (they add nothing for recognising one's own devices and change every few weeks).
// Empty fields mean "not recognised". Parsing is github.com/mileusna/useragent's.
type UserAgent struct {
	Browser string
	OS      string
}

// maxUserAgentLen bounds the work on a hostile header; real user agents are 100–300 bytes.
const maxUserAgentLen = 512

// ParseUserAgent recognises the browser and operating system of a User-Agent header.
func ParseUserAgent(ua string) UserAgent {
	if len(ua) > maxUserAgentLen {
		ua = ua[:maxUserAgentLen]
	}
	if ua == "" {
		return UserAgent{}
	}
	p := useragent.Parse(ua)
	// The library names anything it does not know after the header's first token; only
	// well-known browsers are shown, so a hostile header cannot put its own words on the page.
	return UserAgent{Browser: browserNames[p.Name], OS: p.OS}
}

// browserNames maps the library's names to the ones the pages show.
var browserNames = map[string]string{
	useragent.Chrome: "Chrome", useragent.HeadlessChrome: "Chrome", useragent.Edge: "Edge",
	useragent.Firefox: "Firefox", useragent.Safari: "Safari", useragent.Opera: "Opera",
	useragent.OperaMini: "Opera", useragent.Vivaldi: "Vivaldi",
	"Samsung Browser": "Samsung Internet", useragent.InternetExplorer: "Internet Explorer",
}

// String is "Chrome on macOS", "Chrome", "macOS" or "".
func (u UserAgent) String() string {
	switch {
	case u.Browser != "" && u.OS != "":
		return u.Browser + " on " + u.OS
	case u.Browser != "":
		return u.Browser
	default:
		return u.OS
	}
}
