package templates

import (
	"net/url"
	"strconv"

	"github.com/a-h/templ"
)

type adminSection struct{ key, label, href string }

// adminSections is the console navigation, in order.
var adminSections = []adminSection{
	{"dashboard", "Dashboard", "/admin"},
	{"users", "Users", "/admin/users"},
	{"pending", "Pending actions", "/admin/pending"},
	{"clients", "Clients", "/admin/clients"},
	{"audit", "Audit log", "/admin/audit"},
	{"keys", "Signing keys", "/admin/keys"}, {"logouts", "Logouts", "/admin/logouts"},
	{"settings", "Settings", "/admin/settings"},
}

func itoa(n int) string { return strconv.Itoa(n) }

func viewBox(c Chart) string { return "0 0 " + itoa(c.Width) + " " + itoa(c.Height) }

// clientURL is the console address of a client (suffix "", "/secret" or "/delete"); ids of
// config-file clients may hold any character.
func clientURL(id, suffix string) templ.SafeURL {
	return templ.SafeURL("/admin/clients/" + url.PathEscape(id) + suffix)
}

// userURL is the console address of an account (suffix "" or an action path).
func userURL(id, suffix string) templ.SafeURL {
	return templ.SafeURL("/admin/users/" + url.PathEscape(id) + suffix)
}
