package provider

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// UnmarshalJSON implements [json.Unmarshaler]: the fields as tagged, and
// for a bad mail server ("imap", "smtp") a [*FieldError] naming it, e.g.
// Field "IMAP.Security" for "security":"startls", with the accepted
// values in its message.
func (s *Settings) UnmarshalJSON(b []byte) error {
	var aux struct {
		loggedSettings
		IMAP json.RawMessage `json:"imap"`
		SMTP json.RawMessage `json:"smtp"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	out := Settings(aux.loggedSettings)
	for _, m := range []struct {
		name string
		raw  json.RawMessage
		dst  *oauth2client.ServerAddr
	}{{"IMAP", aux.IMAP, &out.IMAP}, {"SMTP", aux.SMTP, &out.SMTP}} {
		if len(m.raw) == 0 || string(m.raw) == "null" {
			continue
		}
		if err := json.Unmarshal(m.raw, m.dst); err != nil {
			return &FieldError{Field: m.name + "." + serverField(err), Problem: "is invalid", Err: err}
		}
	}
	*s = out
	return nil
}

// serverField names the ServerAddr field a decoding error is about: the
// type error's field, else Security (the only field with a text form).
func serverField(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		f := te.Field[strings.LastIndexByte(te.Field, '.')+1:]
		return strings.ToUpper(f[:1]) + f[1:]
	}
	return "Security"
}
