package idp

import "strings"

// UserAgent is what account pages say about a browser: its family and operating system, never
// versions (they add nothing for recognising one's own devices and change every few weeks).
// Empty fields mean "not recognised".
//
// go.mod has no user-agent library, so this is a small parser of our own, deliberately bounded:
// it reads at most maxUserAgentLen bytes, does a fixed number of substring searches and knows
// only the browsers and systems that cover nearly all passkey use (Chrome, Edge, Firefox, Safari,
// Opera, Samsung Internet; Windows, macOS, iOS, iPadOS, Android, ChromeOS, Linux). Anything else
// reads as unknown, which the pages show as such. Order matters below: Edge and Opera carry
// "Chrome/", Chrome carries "Safari/", iOS carries "like Mac OS X", Android carries "Linux".
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
	return UserAgent{Browser: uaBrowser(ua), OS: uaOS(ua)}
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

// uaTokens are checked in order; the first token found names the browser.
var uaTokens = []struct{ token, name string }{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"},
	{"OPR/", "Opera"}, {"OPiOS/", "Opera"},
	{"SamsungBrowser/", "Samsung Internet"},
	{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
	{"CriOS/", "Chrome"}, {"Chrome/", "Chrome"}, {"HeadlessChrome/", "Chrome"},
}

func uaBrowser(ua string) string {
	for _, t := range uaTokens {
		if strings.Contains(ua, t.token) {
			return t.name
		}
	}
	// Safari says "Version/x Safari/y"; in-app web views on iOS say neither and stay unknown.
	if strings.Contains(ua, "Safari/") && strings.Contains(ua, "Version/") {
		return "Safari"
	}
	return ""
}

func uaOS(ua string) string {
	switch {
	case strings.Contains(ua, "iPhone") || strings.Contains(ua, "iPod"):
		return "iOS"
	case strings.Contains(ua, "iPad"):
		return "iPadOS"
	case strings.Contains(ua, "Android"):
		return "Android"
	case strings.Contains(ua, "CrOS"):
		return "ChromeOS"
	case strings.Contains(ua, "Windows"):
		return "Windows"
	case strings.Contains(ua, "Macintosh") || strings.Contains(ua, "Mac OS X"):
		// iPadOS 13+ asks for desktop sites with a Mac user agent; nothing in it tells them apart.
		return "macOS"
	case strings.Contains(ua, "Linux") || strings.Contains(ua, "X11"):
		return "Linux"
	}
	return ""
}
