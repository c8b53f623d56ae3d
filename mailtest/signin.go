package mailtest

import (
	"html/template"
	"net"
	"net/http"
	"net/url"
)

// skipPageHeader makes the authorize endpoint answer at once even when
// the fake shows a sign-in page ([Azure.Authorize] and [Google.Authorize]
// play the user without a browser).
const skipPageHeader = "X-Mailtest-Skip-Sign-In-Page"

// Buttons of the sign-in page, the value of its "action" field.
const (
	signInContinue = "continue"
	signInCancel   = "cancel"
)

var signInTmpl = template.Must(template.New("signin").Parse(`<!doctype html><meta charset=utf-8><title>Sign in to your account</title>
<h1>{{.Provider}}</h1>
<p>Sign in as <b id=user>{{.User}}</b> and let the application read and send your mail?</p>
<form method=post action="{{.Action}}"><input type=hidden name=request value="{{.Request}}">
<button id=continue name=action value=continue>Continue</button>
<button id=cancel name=action value=cancel>Cancel</button></form>
`))

// writeSignInPage shows the sign-in and consent page of a fake provider:
// its form posts the authorization request (query) back to action with
// the button the user pressed.
func writeSignInPage(w http.ResponseWriter, provider, action, user string, query url.Values) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = signInTmpl.Execute(w, struct{ Provider, Action, User, Request string }{provider, action, user, query.Encode()})
}

// signInAnswer reads the sign-in page's form: the original authorization
// request and whether the user cancelled.
func signInAnswer(r *http.Request) (q url.Values, cancelled, ok bool) {
	if err := r.ParseForm(); err != nil {
		return nil, false, false
	}
	q, err := url.ParseQuery(r.PostForm.Get("request"))
	if err != nil {
		return nil, false, false
	}
	switch r.PostForm.Get("action") {
	case signInContinue:
		return q, false, true
	case signInCancel:
		return q, true, true
	}
	return nil, false, false
}

var formPostTmpl = template.Must(template.New("formpost").Parse(`<!doctype html><meta charset=utf-8><title>Working...</title>
<form method=post action="{{.Action}}">{{range $k, $vs := .Fields}}{{range $vs}}<input type=hidden name="{{$k}}" value="{{.}}">{{end}}{{end}}
<noscript><button>Continue</button></noscript></form>
<script>document.forms[0].submit()</script>
`))

// writeFormPost answers with response_mode=form_post (OAuth 2.0 Form Post
// Response Mode): a page whose form posts fields to the redirect URI
// by itself, as Entra ID does.
func writeFormPost(w http.ResponseWriter, redirect string, fields url.Values) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = formPostTmpl.Execute(w, struct {
		Action string
		Fields url.Values
	}{redirect, fields})
}

// browserURL is base (https://127.0.0.1:port) with its host replaced by
// host, when host is set.
func browserURL(base, host string) string {
	if host == "" {
		return base
	}
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	u.Host = net.JoinHostPort(host, u.Port())
	return u.String()
}
