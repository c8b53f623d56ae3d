package mailtest

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
)

// newTLSServer starts an HTTPS test server with a certificate of its own
// (httptest's servers all share one), so that each fake is a distinct
// TLS peer as real identity providers are: the server's Client trusts
// this server only.
func newTLSServer(h http.Handler) (*httptest.Server, error) {
	cert, err := NewCertificate()
	if err != nil {
		return nil, err
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = cert.ServerConfig()
	// A client that does not trust the certificate is what some tests
	// check; its handshake error is not worth a log line.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	return srv, nil
}
