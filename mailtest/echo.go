package mailtest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
)

// An echo makes a fake's error answers repeat the request that caused
// them, as identity providers, proxies and web application firewalls
// sometimes do: set AzureOptions.Echo or GoogleOptions.Echo to a function
// returning the text to repeat (the request's form is parsed, in
// r.PostForm; its headers are in r.Header), and every answer of the token
// (and revocation) endpoint with a status of 400 or more carries it: in
// the error description of a JSON answer (before Entra's trace lines),
// at the end of any other body. Tests use it to check that no secret a
// client sent comes back out of its errors and logs.

// withEcho serves r through serve, putting echo(r) into an error answer.
func withEcho(w http.ResponseWriter, r *http.Request, echo func(*http.Request) string, serve func(http.ResponseWriter)) {
	if echo == nil {
		serve(w)
		return
	}
	rec := httptest.NewRecorder()
	serve(rec)
	body := rec.Body.Bytes()
	if rec.Code >= 400 {
		body = echoInto(body, echo(r))
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// echoInto puts text into an error body.
func echoInto(body []byte, text string) []byte {
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		desc, _ := m["error_description"].(string)
		if i := strings.Index(desc, "\r\nTrace ID:"); i >= 0 {
			desc = desc[:i] + " " + text + desc[i:]
		} else {
			desc += " " + text
		}
		m["error_description"] = desc
		if b, err := json.Marshal(m); err == nil {
			return b
		}
	}
	return append(bytes.Clone(body), "\n"+text...)
}
