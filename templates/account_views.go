package templates

// EmailConfirmView is the page the link mailed to a new address opens: a form that confirms it
// (Token set), the outcome (Done), or why the link does not work (Error).
type EmailConfirmView struct {
	Page
	Token    string
	Done     bool
	NewEmail string
	DueAt    string
	Error    string
}
