package tokenstore

import (
	"bytes"
	"errors"
	"testing"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// fuzzStore has two keys: "fuzz-1" (bytes 0..31, primary) and "fuzz-2"
// (bytes 32..63). The seed corpus in testdata/fuzz/FuzzOpenEnvelope was
// sealed with them.
func fuzzStore(t testing.TB) *Encrypted {
	k1, k2 := Key{ID: "fuzz-1", Secret: make([]byte, KeySize)}, Key{ID: "fuzz-2", Secret: make([]byte, KeySize)}
	for i := range KeySize {
		k1.Secret[i], k2.Secret[i] = byte(i), byte(i+KeySize)
	}
	e, err := newEncrypted(NewMemory(), EncryptionConfig{Keys: []Key{k1, k2}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// FuzzOpenEnvelope feeds arbitrary envelopes and account keys to the
// decoder: it must never panic, every failure must be a *DecryptError
// matching ErrDecrypt and one reason, and what opens must seal and open
// again to the same secrets.
func FuzzOpenEnvelope(f *testing.F) {
	e := fuzzStore(f)
	good, err := e.seal(&oauth2client.Record{Account: "alice", Grant: oauth2client.Grant{AccessToken: "at", RefreshToken: "rt", ProviderState: []byte("ps")}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(good.ProviderState), "alice")
	f.Add([]byte(good.ProviderState), "bob")
	f.Add([]byte("O2ME"), "")
	f.Fuzz(func(t *testing.T, env []byte, account string) {
		s, _, err := e.openEnvelope(account, env)
		if err != nil {
			var de *DecryptError
			if !errors.As(err, &de) || !errors.Is(err, ErrDecrypt) {
				t.Fatalf("openEnvelope error is not a *DecryptError: %v", err)
			}
			if de.Account != account {
				t.Fatalf("DecryptError.Account = %q, want %q", de.Account, account)
			}
			known := false
			for _, r := range []error{ErrUnknownKey, ErrWrongKey, ErrTampered, ErrMalformed, ErrNotEncrypted} {
				known = known || errors.Is(err, r)
			}
			if !known {
				t.Fatalf("DecryptError without a known reason: %v", err)
			}
			_ = err.Error()
			return
		}
		rec := &oauth2client.Record{Account: account, Grant: oauth2client.Grant{
			AccessToken: oauth2client.Secret(s.AccessToken), RefreshToken: oauth2client.Secret(s.RefreshToken), ProviderState: s.ProviderState}}
		sealed, err := e.seal(rec)
		if err != nil {
			t.Fatalf("seal: %v", err)
		}
		again, _, err := e.openEnvelope(account, sealed.ProviderState)
		if err != nil {
			t.Fatalf("open after seal: %v", err)
		}
		if again.AccessToken != s.AccessToken || again.RefreshToken != s.RefreshToken || !bytes.Equal(again.ProviderState, s.ProviderState) {
			t.Fatal("secrets differ after sealing again")
		}
	})
}
