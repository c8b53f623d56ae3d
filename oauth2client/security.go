package oauth2client

import (
	"encoding/json"
	"fmt"
	"strings"
)

// MarshalText implements [encoding.TextMarshaler]: "tls", "starttls" or
// "none". Any other value is an error.
func (s Security) MarshalText() ([]byte, error) {
	switch s {
	case SecurityTLS, SecuritySTARTTLS, SecurityNone:
		return []byte(s.String()), nil
	}
	return nil, fmt.Errorf("oauth2client: security %d is not one of SecurityTLS, SecuritySTARTTLS, SecurityNone", int(s))
}

// UnmarshalText implements [encoding.TextUnmarshaler]: it accepts "tls",
// "starttls" and "none", in any case. Anything else, the empty string
// included, is an error naming the field and the accepted values.
func (s *Security) UnmarshalText(text []byte) error {
	for _, v := range []Security{SecurityTLS, SecuritySTARTTLS, SecurityNone} {
		if strings.EqualFold(string(text), v.String()) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("oauth2client: security %q is not one of \"tls\" (implicit TLS, ports 993 and 465), \"starttls\" (ports 143 and 587) or \"none\" (loopback test servers only)", text)
}

// UnmarshalJSON implements [json.Unmarshaler]: a string as
// [Security.UnmarshalText] reads it, or the number 0, 1 or 2 that
// settings stored before Security had a text form hold.
func (s *Security) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		if n < int(SecurityTLS) || n > int(SecurityNone) {
			return fmt.Errorf("oauth2client: security %d is not one of \"tls\", \"starttls\" or \"none\"", n)
		}
		*s = Security(n)
		return nil
	}
	var text string
	if err := json.Unmarshal(b, &text); err != nil {
		return fmt.Errorf("oauth2client: security %s is not one of \"tls\", \"starttls\" or \"none\"", b)
	}
	return s.UnmarshalText([]byte(text))
}
