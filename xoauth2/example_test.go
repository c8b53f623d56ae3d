package xoauth2_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/oauth2mail/oauth2mail/xoauth2"
)

// The initial response for Microsoft's documented example, base64-encoded
// as it goes on the wire.
func ExampleNewClient() {
	c := xoauth2.NewClient("test@contoso.onmicrosoft.com", "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA")
	mech, ir, err := c.Start()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(mech)
	fmt.Println(base64.StdEncoding.EncodeToString(ir))
	// Output:
	// XOAUTH2
	// dXNlcj10ZXN0QGNvbnRvc28ub25taWNyb3NvZnQuY29tAWF1dGg9QmVhcmVyIEV3QkFBbDNCQUFVRkZwVUFvN0ozVmUwYmpMQldaV0NjbFJDM0VvQUEBAQ==
}

// Log in to IMAP with go-imap v2. Get the access token first (from your
// OAuth 2.0 client): Authenticate takes no context and the SASL client
// does no I/O.
func ExampleNewClient_imap() {
	accessToken := "ACCESS-TOKEN"

	c, err := imapclient.DialTLS("outlook.office365.com:993", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	sc := xoauth2.NewClient("user@contoso.com", accessToken)
	if err := c.Authenticate(sc); err != nil {
		// err is the server's *imap.Error (NO); Gmail also says why.
		if e := xoauth2.ChallengeError(sc); e != nil {
			log.Fatalf("token rejected (status %q, scope %q): %v", e.Status, e.Scope, err)
		}
		log.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		log.Fatal(err)
	}
}

// Authenticate to SMTP with go-smtp after STARTTLS.
func ExampleNewClient_smtp() {
	accessToken := "ACCESS-TOKEN"

	c, err := smtp.DialStartTLS("smtp.office365.com:587", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	sc := xoauth2.NewClient("user@contoso.com", accessToken)
	if err := c.Auth(sc); err != nil {
		var serr *smtp.SMTPError
		if errors.As(err, &serr) && serr.Code == 535 {
			log.Fatalf("token rejected: %v (challenge: %v)", err, xoauth2.ChallengeError(sc))
		}
		log.Fatal(err)
	}
}

// A server-side check, as an imapserver.SessionSASL or smtp.AuthSession
// would run it. Returning an *xoauth2.Error chooses the challenge.
func ExampleNewServer() {
	s := xoauth2.NewServer(func(username, token string) error {
		if token != "valid-token" {
			return &xoauth2.Error{Status: "401", Schemes: "bearer", Scope: "mail"}
		}
		return nil
	})

	challenge, done, err := s.Next([]byte("user=alice@example.com\x01auth=Bearer expired\x01\x01"))
	fmt.Printf("%s done=%v err=%v\n", challenge, done, err)

	_, done, err = s.Next([]byte{}) // the client's empty answer
	fmt.Printf("done=%v auth failed=%v\n", done, errors.Is(err, xoauth2.ErrAuthFailed))
	// Output:
	// {"status":"401","schemes":"bearer","scope":"mail"} done=false err=<nil>
	// done=true auth failed=true
}
