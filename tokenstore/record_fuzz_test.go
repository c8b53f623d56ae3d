package tokenstore

import (
	"errors"
	"regexp"
	"testing"

	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// safeDecodeError is every text decodeRecord may give: kinds, offsets and
// the names of the record's own fields, never stored data.
var safeDecodeError = regexp.MustCompile(`^(truncated JSON|invalid JSON|invalid JSON at byte \d+|field "[A-Za-z_.]*" has the wrong type|trailing data after the record|no account key|damaged checksum|checksum mismatch: the file was damaged or edited|no checksum: the file was damaged or not written by this store)$`)

// FuzzDecodeRecord feeds arbitrary bytes, as a damaged disk or database
// could hold them, to the record decoding the File and SQL stores share:
// no panic, either a record with an account key or a *CorruptError
// matching ErrCorrupt whose text describes the damage without quoting it.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(`{"account":"a@example.com","connection":"m365","access_token":"at-secret","refresh_token":"rt-secret","expiry":"2026-11-24T10:00:00Z","version":3}`))
	f.Add([]byte(`{"account":""}`))
	f.Add([]byte(`{"account":"a"} trailing`))
	f.Add([]byte(`{"account":"a","expiry":"not a time"}`))
	f.Add([]byte(`{"account":"a","provider_state":"!!not base64"}`))
	f.Add([]byte{0xff, 0xfe, '{'})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeRecord("/store/acct.json", b)
		if err == nil {
			if rec == nil || rec.Account == "" {
				t.Fatalf("decoded a record without an account key: %+v", rec)
			}
			return
		}
		var ce *CorruptError
		if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%T is not a *CorruptError matching ErrCorrupt", err)
		}
		if !safeDecodeError.MatchString(ce.Err.Error()) {
			t.Fatalf("unexpected error text (it must describe, never quote): %q", ce.Err.Error())
		}
	})
}

// FuzzDecodeFileRecord feeds arbitrary bytes to the File store's
// checksummed decoding: no panic; what decodes has an account key and,
// unless it is an earlier release's file, a checksum that matches; every
// failure is a *CorruptError that describes without quoting.
func FuzzDecodeFileRecord(f *testing.F) {
	good, err := encodeFileRecord(&oauth2client.Record{Account: "a@example.com", Connection: "m365",
		Grant: oauth2client.Grant{AccessToken: "at-secret", RefreshToken: "rt-secret"}, Version: 3})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 1
	f.Add(flipped)
	f.Add(good[:len(good)-3])
	f.Add([]byte(`{"account":"a","access_token":"at"}`))
	f.Add([]byte(`{"checksum":"sha256:00",`))
	f.Add([]byte(`{"version":1,"account":"a"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeFileRecord("/store/acct.json", b)
		if err == nil {
			if rec == nil || rec.Account == "" {
				t.Fatalf("decoded a record without an account key: %+v", rec)
			}
			return
		}
		var ce *CorruptError
		if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%T is not a *CorruptError matching ErrCorrupt", err)
		}
		if !safeDecodeError.MatchString(ce.Err.Error()) {
			t.Fatalf("unexpected error text (it must describe, never quote): %q", ce.Err.Error())
		}
	})
}
