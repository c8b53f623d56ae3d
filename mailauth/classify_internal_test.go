package mailauth

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
)

// The server answers that real servers give (Exchange Online, Gmail,
// Dovecot; see interop for the observed ones) map to the verdict that
// decides between one refresh-and-retry, a temporary error and no retry.
func TestClassify(t *testing.T) {
	imapNo := func(code imap.ResponseCode, text string) error {
		return fmt.Errorf("authenticate: %w", &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text})
	}
	for _, tc := range []struct {
		name string
		err  error
		want verdict
	}{
		{"Dovecot/Gmail AUTHENTICATIONFAILED", imapNo(imap.ResponseCodeAuthenticationFailed, "Authentication failed."), rejected},
		{"Exchange: NO AUTHENTICATE failed (no code)", imapNo("", "AUTHENTICATE failed."), rejected},
		{"EXPIRED", imapNo(imap.ResponseCodeExpired, "token expired"), rejected},
		{"AUTHORIZATIONFAILED", imapNo(imap.ResponseCodeAuthorizationFailed, "no access"), rejected},
		{"other NO code", imapNo(imap.ResponseCodeLimit, "too many connections"), rejected},
		{"Dovecot verification down", imapNo(imap.ResponseCodeUnavailable, "Temporary authentication failure."), temporary},
		{"BAD from a continuation go-imap sent as =", &imap.Error{Type: imap.StatusResponseTypeBad, Code: "", Text: "Invalid base64 data in continued response"}, rejected},
		{"BAD with a code", &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeCannot, Text: "x"}, notAuth},
		{"network", io.ErrUnexpectedEOF, notAuth},
	} {
		assert.Equal(t, tc.want, classifyIMAP(tc.err), "IMAP: %s", tc.name)
	}
	for _, tc := range []struct {
		name string
		err  error
		want verdict
	}{
		{"535 5.7.8 (Dovecot, Gmail)", &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed"}, rejected},
		{"535 5.7.139 (Exchange: SMTP AUTH disabled)", &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 139}, Message: "Authentication unsuccessful"}, rejected},
		{"534 5.7.9 (Gmail: web login required)", &smtp.SMTPError{Code: 534, Message: "Please log in with your web browser"}, rejected},
		{"530 5.7.0 (authentication required)", &smtp.SMTPError{Code: 530, Message: "Authentication required"}, rejected},
		{"454 4.7.0 (Dovecot verification down)", &smtp.SMTPError{Code: 454, Message: "Temporary authentication failure."}, temporary},
		{"421 (service closing)", &smtp.SMTPError{Code: 421, Message: "closing"}, temporary},
		{"500 5.5.2 Line too long", &smtp.SMTPError{Code: 500, Message: "Line too long"}, notAuth},
		{"network", errors.New("write: broken pipe"), notAuth},
	} {
		assert.Equal(t, tc.want, classifySMTP(tc.err), "SMTP: %s", tc.name)
	}
}
