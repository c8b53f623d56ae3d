package provider_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/provider"
)

// The client authentication method follows the credentials and what the
// server supports, unless ClientAuth says which.
func ExampleGenericConfig_clientAuth() {
	base := provider.GenericConfig{ClientID: "groupware", AuthURL: "https://idp.example/authorize", TokenURL: "https://idp.example/token",
		Mail: oauth2client.MailService{IMAP: oauth2client.ServerAddr{Host: "imap.example", Port: 993}, SMTP: oauth2client.ServerAddr{Host: "smtp.example", Port: 465}}}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  func(*provider.GenericConfig)
	}{
		{"secret, server silent", func(c *provider.GenericConfig) { c.ClientSecret = "s" }},
		{"secret, server lists post only", func(c *provider.GenericConfig) {
			c.ClientSecret, c.TokenAuthMethods = "s", []string{"client_secret_post"}
		}},
		{"secret, post configured", func(c *provider.GenericConfig) { c.ClientSecret, c.ClientAuth = "s", provider.ClientSecretPost }},
		{"private key", func(c *provider.GenericConfig) { c.ClientKey, c.ClientKeyID = key, "key-1" }},
		{"neither (public client)", func(*provider.GenericConfig) {}},
	} {
		cfg := base
		tc.set(&cfg)
		p, err := provider.NewGeneric(cfg)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-31s %s\n", tc.name+":", p.ClientAuth())
	}
	// Output:
	// secret, server silent:          client_secret_basic
	// secret, server lists post only: client_secret_post
	// secret, post configured:        client_secret_post
	// private key:                    private_key_jwt
	// neither (public client):        none
}
