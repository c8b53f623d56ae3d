package storetest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
	"github.com/oauth2mail/oauth2mail/tokenstore/storetest"
)

func TestRunMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) oauth2client.TokenStore { return tokenstore.NewMemory() })
}

// Broken stores: each is Memory with one defect the suite must catch.

// aliasing keeps the caller's record and hands out its own.
type aliasing struct {
	*tokenstore.Memory
	mu   sync.Mutex
	recs map[string]*oauth2client.Record
}

func (s *aliasing) Save(ctx context.Context, rec *oauth2client.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.Version++
	s.recs[rec.Account] = rec
	return s.Memory.Save(ctx, rec.Clone())
}

func (s *aliasing) Load(ctx context.Context, account string) (*oauth2client.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.recs[account]; ok {
		return r, nil
	}
	return s.Memory.Load(ctx, account)
}

// noVersion does not report the new version.
type noVersion struct{ *tokenstore.Memory }

func (s noVersion) Save(ctx context.Context, rec *oauth2client.Record) error {
	v := rec.Version
	err := s.Memory.Save(ctx, rec)
	rec.Version = v
	return err
}

// plainNotFound returns its own error for a missing account.
type plainNotFound struct{ *tokenstore.Memory }

func (s plainNotFound) Load(ctx context.Context, account string) (*oauth2client.Record, error) {
	r, err := s.Memory.Load(ctx, account)
	if errors.Is(err, oauth2client.ErrNotFound) {
		return nil, errors.New("no such account")
	}
	return r, err
}

// blindCAS writes whatever the version.
type blindCAS struct{ *tokenstore.Memory }

func (s blindCAS) CompareAndSwap(ctx context.Context, rec *oauth2client.Record) error {
	return s.Save(ctx, rec)
}

// sharedLock grants every Lock at once.
type sharedLock struct{ *tokenstore.Memory }

func (sharedLock) Lock(context.Context, string, time.Duration) (oauth2client.Lease, error) {
	return noLease{}, nil
}

// noLease is a lease that holds nothing.
type noLease struct{}

func (noLease) Extend(context.Context, time.Duration) error { return nil }
func (noLease) Release(context.Context) error               { return nil }

// ignoresCtx writes even with a cancelled context.
type ignoresCtx struct{ *tokenstore.Memory }

func (s ignoresCtx) Save(_ context.Context, rec *oauth2client.Record) error {
	return s.Memory.Save(context.Background(), rec)
}

// staleList lists deleted accounts too.
type staleList struct {
	*tokenstore.Memory
	mu   sync.Mutex
	ever []string
}

func (s *staleList) Save(ctx context.Context, rec *oauth2client.Record) error {
	s.mu.Lock()
	s.ever = append(s.ever, rec.Account)
	s.mu.Unlock()
	return s.Memory.Save(ctx, rec)
}

func (s *staleList) List(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ever...), nil
}

// foldsCase maps keys that differ in case to one record.
type foldsCase struct{ *tokenstore.Memory }

func (s foldsCase) Save(ctx context.Context, rec *oauth2client.Record) error {
	c := rec.Clone()
	c.Account = strings.ToLower(c.Account)
	err := s.Memory.Save(ctx, c)
	rec.Version = c.Version
	return err
}

func (s foldsCase) Load(ctx context.Context, account string) (*oauth2client.Record, error) {
	r, err := s.Memory.Load(ctx, strings.ToLower(account))
	if r != nil {
		r.Account = account
	}
	return r, err
}

// truncates keeps at most 64 KiB of provider state.
type truncates struct{ *tokenstore.Memory }

func (s truncates) Save(ctx context.Context, rec *oauth2client.Record) error {
	c := rec.Clone()
	if len(c.ProviderState) > 64<<10 {
		c.ProviderState = c.ProviderState[:64<<10]
	}
	err := s.Memory.Save(ctx, c)
	rec.Version = c.Version
	return err
}

var brokenStores = map[string]struct {
	new      func() oauth2client.TokenStore
	failsRun string // the subtest of Run that must fail
}{
	"aliasing": {func() oauth2client.TokenStore {
		return &aliasing{Memory: tokenstore.NewMemory(), recs: map[string]*oauth2client.Record{}}
	}, "LoadReturnsCopy"},
	"noVersion":     {func() oauth2client.TokenStore { return noVersion{tokenstore.NewMemory()} }, "Versions"},
	"plainNotFound": {func() oauth2client.TokenStore { return plainNotFound{tokenstore.NewMemory()} }, "NotFound"},
	"blindCAS":      {func() oauth2client.TokenStore { return blindCAS{tokenstore.NewMemory()} }, "CompareAndSwap"},
	"sharedLock":    {func() oauth2client.TokenStore { return sharedLock{tokenstore.NewMemory()} }, "Locker"},
	"ignoresCtx":    {func() oauth2client.TokenStore { return ignoresCtx{tokenstore.NewMemory()} }, "ContextCancelled"},
	"staleList":     {func() oauth2client.TokenStore { return &staleList{Memory: tokenstore.NewMemory()} }, "Lister"},
	"foldsCase":     {func() oauth2client.TokenStore { return foldsCase{tokenstore.NewMemory()} }, "OddKeys"},
	"truncates":     {func() oauth2client.TokenStore { return truncates{tokenstore.NewMemory()} }, "LargeRecord"},
}

const brokenEnv = "OAUTH2MAIL_STORETEST_BROKEN"

// TestRunCatchesBrokenStores runs the suite, in a subprocess, against
// stores with one defect each, and checks that the right subtest fails.
func TestRunCatchesBrokenStores(t *testing.T) {
	if os.Getenv(brokenEnv) != "" {
		t.Skip("running as a broken store's suite")
	}
	for name, b := range brokenStores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBrokenStore$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), brokenEnv+"="+name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "the suite passed a store that is %s:\n%s", name, out)
			assert.Contains(t, string(out), "--- FAIL: TestHelperBrokenStore/"+b.failsRun+" ")
		})
	}
}

// TestHelperBrokenStore runs the suite against the broken store named
// by the environment; TestRunCatchesBrokenStores expects it to fail.
func TestHelperBrokenStore(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		t.Skip("helper process for TestRunCatchesBrokenStores")
	}
	b, ok := brokenStores[name]
	require.True(t, ok, "unknown broken store %q", name)
	storetest.Run(t, func(t *testing.T) oauth2client.TokenStore { return b.new() })
}
