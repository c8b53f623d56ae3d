package main

import (
	"html/template"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/oauth2mail/oauth2mail/azure"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// Onboarding a customer tenant (a multi-tenant app): an administrator of
// the customer's Microsoft 365 organisation opens /tenants, presses
// "Onboard", grants the app's permissions once for the whole tenant
// (Entra's admin consent, started with Client.StartAdminConsent and bound
// to the administrator's browser session), and comes back through the
// same callback handler, whose OnAdminConsent hook hands the app the
// tenant ID. The app then adds an app-only connection for that tenant, so
// that its mailboxes can be connected with Client.ConnectAppOnly (after
// the Exchange Online service principal and mailbox permissions are set,
// see the README).

// tenants are the onboarded customer tenants; the zero value is empty.
// A real application keeps them in its database.
type tenants struct {
	mu  sync.Mutex
	ids []string
}

func (t *tenants) add(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !slices.Contains(t.ids, id) {
		t.ids = append(t.ids, id)
	}
}

func (t *tenants) list() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.ids)
}

// onboardRoutes mounts the onboarding pages.
func (a *app) onboardRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /tenants", a.tenantsPage)
	mux.HandleFunc("POST /tenants/onboard", a.onboard)
}

type tenantsData struct {
	Tenants []string
	Notice  string
	Error   string
}

var tenantsTmpl = template.Must(template.New("tenants").Parse(`<!doctype html><meta charset=utf-8><title>Customer tenants</title>
<h1>Customer tenants</h1>
{{with .Notice}}<p role=status>{{.}}</p>{{end}}
{{with .Error}}<p role=alert>{{.}}</p>{{end}}
<ul>{{range .Tenants}}<li class=tenant>{{.}}</li>{{else}}<li>none yet</li>{{end}}</ul>
<form method=post action="/tenants/onboard"><input name=tenant placeholder="tenant ID or domain (optional)" pattern="[A-Za-z0-9.-]{0,64}"> <button>Onboard a tenant (administrators)</button></form>
`))

func (a *app) tenantsPage(w http.ResponseWriter, r *http.Request) {
	a.session(w, r)
	data := tenantsData{Tenants: a.tenants.list()}
	if r.URL.Query().Get("onboarded") != "" {
		data.Notice = "Access was granted for your organisation."
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = tenantsTmpl.Execute(w, data)
}

func (a *app) onboard(w http.ResponseWriter, r *http.Request) {
	sid := a.session(w, r)
	tenant := strings.TrimSpace(r.FormValue("tenant"))
	if len(tenant) > 64 || strings.Trim(tenant, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
		http.Error(w, "a tenant is a tenant ID or a domain", http.StatusBadRequest)
		return
	}
	u, err := a.client.StartAdminConsent(r.Context(), "mail", &oauth2client.AdminConsentOptions{Session: sid, ReturnTo: "/tenants?onboarded=1", Tenant: tenant})
	if err != nil {
		http.Error(w, "could not start the admin consent", http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, u, http.StatusSeeOther) // #nosec G710 -- the provider's admin consent URL built by the library, not request input
}

// adminConsented is the callback handler's OnAdminConsent hook.
func (a *app) adminConsented(w http.ResponseWriter, r *http.Request, res *oauth2client.AdminConsent) {
	if !res.Granted {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_ = tenantsTmpl.Execute(w, tenantsData{Tenants: a.tenants.list(), Error: oauth2client.UserMessage(res.Err)})
		return
	}
	// An app-only connection for the customer's tenant: its mailboxes can
	// now be connected with Client.ConnectAppOnly(ctx, "tenant-"+ID, ...).
	cfg := a.azure
	cfg.Tenant, cfg.AppOnly = res.Tenant, true
	p, err := azure.New(cfg)
	if err == nil {
		err = a.client.SetConnection("tenant-"+res.Tenant, p)
	}
	if err != nil {
		http.Error(w, "the tenant was granted but could not be added", http.StatusInternalServerError)
		return
	}
	a.tenants.add(res.Tenant)
	http.Redirect(w, r, res.ReturnTo, http.StatusSeeOther)
}

// demoCustomerTenant is the customer tenant the -demo fake knows.
const demoCustomerTenant = "7c3f0b1e-5d2a-4e8f-9b6c-0a1d2e3f4a5b"
