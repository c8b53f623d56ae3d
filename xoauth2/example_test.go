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

// The initial response for Microsoft's documented example.
func ExampleNewClient() {
	_, ir, _ := xoauth2.NewClient("test@contoso.onmicrosoft.com", "EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA").Start()
	fmt.Println(base64.StdEncoding.EncodeToString(ir))
	// Output:
	// dXNlcj10ZXN0QGNvbnRvc28ub25taWNyb3NvZnQuY29tAWF1dGg9QmVhcmVyIEV3QkFBbDNCQUFVRkZwVUFvN0ozVmUwYmpMQldaV0NjbFJDM0VvQUEBAQ==
}

// Log in to IMAP with go-imap v2. The token comes from your OAuth 2.0
// client (oauth2client.Client.Token).
func ExampleNewClient_imap() {
	c, err := imapclient.DialTLS("outlook.office365.com:993", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	sc := xoauth2.NewClient("user@contoso.com", "ACCESS-TOKEN")
	if err := c.Authenticate(sc); err != nil {
		if e := sc.Err(); e != nil {
			log.Fatalf("token rejected (status %s, scope %s): %v", e.Status, e.Scope, err)
		}
		log.Fatal(err)
	}
}

// Send mail with go-smtp after STARTTLS.
func ExampleNewClient_smtp() {
	c, err := smtp.DialStartTLS("smtp.office365.com:587", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(xoauth2.NewClient("user@contoso.com", "ACCESS-TOKEN")); err != nil {
		log.Fatal(err)
	}
}

// A server side check, e.g. in a go-imap imapserver.SessionSASL.
func ExampleNewServer() {
	s := xoauth2.NewServer(func(username, token string) error {
		if token != "valid-token" {
			return &xoauth2.Error{Status: "401", Schemes: "bearer", Scope: "mail"}
		}
		return nil
	})
	challenge, done, err := s.Next([]byte("user=alice@example.com\x01auth=Bearer expired\x01\x01"))
	fmt.Println(string(challenge), done, err)
	_, done, err = s.Next([]byte{}) // the client's acknowledgement
	fmt.Println(done, errors.Is(err, xoauth2.ErrAuthFailed))
	// Output:
	// {"status":"401","schemes":"bearer","scope":"mail"} false <nil>
	// true true
}
