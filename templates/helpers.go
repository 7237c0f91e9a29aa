package templates

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/a-h/templ"
)

// withTitle gives a page its default title when the ui layer set none.
func withTitle(p Page, title string) Page {
	if p.Title == "" {
		p.Title = title
	}
	return p
}

// documentTitle is the <title> text; the product name comes last so tabs
// stay readable when several are open.
func documentTitle(p Page) string {
	if p.Title == "" {
		return "Keyward"
	}
	return p.Title + " · Keyward"
}

// withInteraction keeps the pending OIDC interaction across the links between
// sign-in and sign-up, so the person lands back at the app that asked.
func withInteraction(path, interaction string) templ.SafeURL {
	if interaction == "" {
		return templ.SafeURL(path)
	}
	return templ.SafeURL(path + "?" + url.Values{"interaction": {interaction}}.Encode())
}

// errorHeading is the generic text for a status; the page never shows more
// than the status, the public message and the request id.
func errorHeading(status int) string {
	if t := http.StatusText(status); t != "" && status >= 400 {
		return t
	}
	return "Something went wrong"
}

func errorMessage(v ErrorView) string {
	if v.Message != "" {
		return v.Message
	}
	return "Something went wrong on our side. Please try again in a moment."
}

func statusLine(status int) string {
	if status < 400 {
		return "Error"
	}
	return "Error " + strconv.Itoa(status)
}

// transportLabels turns WebAuthn transport names into words a person knows.
func transportLabels(ts []string) string {
	labels := make([]string, 0, len(ts))
	for _, t := range ts {
		switch t {
		case "internal":
			labels = append(labels, "built in")
		case "hybrid":
			labels = append(labels, "phone")
		case "usb":
			labels = append(labels, "USB")
		case "nfc":
			labels = append(labels, "NFC")
		case "ble":
			labels = append(labels, "Bluetooth")
		case "smart-card":
			labels = append(labels, "smart card")
		default:
			labels = append(labels, t)
		}
	}
	return strings.Join(labels, ", ")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// sessionDevice names a session as "Browser on OS", with whatever is known.
func sessionDevice(s SessionItem) string {
	switch {
	case s.Browser != "" && s.OS != "":
		return s.Browser + " on " + s.OS
	case s.Browser != "":
		return s.Browser
	case s.OS != "":
		return s.OS
	default:
		return "Unknown browser"
	}
}

func statusCode(status int) string {
	return strconv.Itoa(status)
}
