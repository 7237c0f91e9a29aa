// Package internal pins, with blank imports, maintained libraries that Keyward's features use
// (mail delivery, user-agent parsing) so that `go mod tidy` keeps them while the features that
// import them are built. Remove an entry once a package imports it directly.
package internal

import (
	_ "github.com/wneessen/go-mail"
)
