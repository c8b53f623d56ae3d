package redisstore_test

import (
	"log"
	"net/http"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/redisstore"
	"github.com/oauth2mail/oauth2mail/tokenstore"
)

// Several instances behind a load balancer share the pending
// authorizations and the tokens through one Redis; the tokens are sealed
// with a key every instance reads from the same key file.
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	cfg := redisstore.Config{Client: rdb, Prefix: "{groupware}:"}

	states, err := redisstore.NewStateStore(cfg)
	if err != nil {
		log.Fatal(err)
	}
	tokens, err := redisstore.NewTokenStore(cfg)
	if err != nil {
		log.Fatal(err)
	}
	keys, err := tokenstore.LoadOrCreateKeyFile("/etc/groupware/tokens.key")
	if err != nil {
		log.Fatal(err)
	}
	sealed, err := tokenstore.NewEncrypted(tokens, tokenstore.EncryptionConfig{Keys: keys})
	if err != nil {
		log.Fatal(err)
	}

	client, err := oauth2client.New(oauth2client.Config{
		RedirectURL: "https://mail.example.com/oauth2/callback",
		Store:       sealed, // compare-and-swap, a refresh lock across instances, listing
		States:      states, // the callback may land on any instance
	})
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("GET /oauth2/callback", client.Handler(oauth2client.HandlerConfig{}))
}

// The state store alone, with the tokens in PostgreSQL (tokenstore.NewSQL).
func ExampleNewStateStore() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	states, err := redisstore.NewStateStore(redisstore.Config{Client: rdb})
	if err != nil {
		log.Fatal(err)
	}
	_ = oauth2client.Config{States: states}
}
