// Package mail delivers Keyward's messages (idp.Mail): over SMTP with github.com/wneessen/go-mail
// when a host is configured, or to the log when none is (a local run still works).
//
// Every message has a plain-text body and an HTML alternative built from the same text, with
// the action link as the one button. Links in messages are bearer secrets (recovery, cancel,
// verification): the SMTP mailer never logs them, and the log mailer writes them only at debug
// level, so a production log at info level never holds one.
package mail
