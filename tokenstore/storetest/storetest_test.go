package storetest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
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

// stampsUpdated sets Updated to its own clock.
type stampsUpdated struct{ *tokenstore.Memory }

func (s stampsUpdated) Save(ctx context.Context, rec *oauth2client.Record) error {
	c := rec.Clone()
	c.Updated = time.Now()
	err := s.Memory.Save(ctx, c)
	rec.Version = c.Version
	return err
}

// perAccountVersions numbers each account's records from 1, and starts
// again after Delete: the ABA hole.
type perAccountVersions struct {
	mu   sync.Mutex
	recs map[string]*oauth2client.Record
}

func (s *perAccountVersions) Load(ctx context.Context, account string) (*oauth2client.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[account]
	if !ok {
		return nil, oauth2client.ErrNotFound
	}
	return r.Clone(), nil
}

func (s *perAccountVersions) write(ctx context.Context, rec *oauth2client.Record, cas bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur int64
	if r, ok := s.recs[rec.Account]; ok {
		cur = r.Version
	}
	if cas && cur != rec.Version {
		return oauth2client.ErrConflict
	}
	rec.Version = cur + 1
	s.recs[rec.Account] = rec.Clone()
	return nil
}

func (s *perAccountVersions) Save(ctx context.Context, rec *oauth2client.Record) error {
	return s.write(ctx, rec, false)
}

func (s *perAccountVersions) CompareAndSwap(ctx context.Context, rec *oauth2client.Record) error {
	return s.write(ctx, rec, true)
}

func (s *perAccountVersions) Delete(ctx context.Context, account string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.recs, account)
	return nil
}

// extendsAnyway extends leases it no longer holds.
type extendsAnyway struct{ *tokenstore.Memory }

func (s extendsAnyway) Lock(ctx context.Context, account string, ttl time.Duration) (oauth2client.Lease, error) {
	l, err := s.Memory.Lock(ctx, account, ttl)
	if err != nil {
		return nil, err
	}
	return blindExtend{l}, nil
}

type blindExtend struct{ oauth2client.Lease }

func (blindExtend) Extend(context.Context, time.Duration) error { return nil }

// readsBeforeDelete is a File store whose Delete loads the record first,
// and so cannot delete one it cannot read.
type readsBeforeDelete struct{ *tokenstore.File }

func (s readsBeforeDelete) Delete(ctx context.Context, account string) error {
	if _, err := s.Load(ctx, account); err != nil && !errors.Is(err, oauth2client.ErrNotFound) {
		return err
	}
	return s.File.Delete(ctx, account)
}

// corruptFile overwrites the record file of account in a File store (or
// one embedding it) with something that is not JSON.
func corruptFile(t *testing.T, s oauth2client.TokenStore, account string) {
	t.Helper()
	var dir string
	switch f := s.(type) {
	case *tokenstore.File:
		dir = f.Dir()
	case readsBeforeDelete:
		dir = f.Dir()
	default:
		t.Fatalf("corruptFile: %T is not a File store", s)
	}
	h := sha256.Sum256([]byte(account))
	require.NoError(t, os.WriteFile(filepath.Join(dir, hex.EncodeToString(h[:])+".json"), []byte("{truncated"), 0o600))
}

func openFile(t *testing.T) *tokenstore.File {
	t.Helper()
	f, err := tokenstore.OpenFile(filepath.Join(t.TempDir(), "tokens"))
	require.NoError(t, err)
	return f
}

func TestRunFileWithCorrupt(t *testing.T) {
	storetest.RunWith(t, func(t *testing.T) oauth2client.TokenStore { return openFile(t) },
		storetest.Options{Corrupt: corruptFile})
}

var brokenStores = map[string]struct {
	new      func(t *testing.T) oauth2client.TokenStore
	opts     storetest.Options
	failsRun string // the subtest of Run that must fail
}{
	"aliasing": {func(*testing.T) oauth2client.TokenStore {
		return &aliasing{Memory: tokenstore.NewMemory(), recs: map[string]*oauth2client.Record{}}
	}, storetest.Options{}, "LoadReturnsCopy"},
	"noVersion":     {func(*testing.T) oauth2client.TokenStore { return noVersion{tokenstore.NewMemory()} }, storetest.Options{}, "Versions"},
	"plainNotFound": {func(*testing.T) oauth2client.TokenStore { return plainNotFound{tokenstore.NewMemory()} }, storetest.Options{}, "NotFound"},
	"blindCAS":      {func(*testing.T) oauth2client.TokenStore { return blindCAS{tokenstore.NewMemory()} }, storetest.Options{}, "CompareAndSwap"},
	"sharedLock":    {func(*testing.T) oauth2client.TokenStore { return sharedLock{tokenstore.NewMemory()} }, storetest.Options{}, "Locker"},
	"ignoresCtx":    {func(*testing.T) oauth2client.TokenStore { return ignoresCtx{tokenstore.NewMemory()} }, storetest.Options{}, "ContextCancelled"},
	"staleList":     {func(*testing.T) oauth2client.TokenStore { return &staleList{Memory: tokenstore.NewMemory()} }, storetest.Options{}, "Lister"},
	"foldsCase":     {func(*testing.T) oauth2client.TokenStore { return foldsCase{tokenstore.NewMemory()} }, storetest.Options{}, "OddKeys"},
	"truncates":     {func(*testing.T) oauth2client.TokenStore { return truncates{tokenstore.NewMemory()} }, storetest.Options{}, "LargeRecord"},
	"stampsUpdated": {func(*testing.T) oauth2client.TokenStore { return stampsUpdated{tokenstore.NewMemory()} }, storetest.Options{}, "KeepsUpdated"},
	"perAccountVersions": {func(*testing.T) oauth2client.TokenStore {
		return &perAccountVersions{recs: map[string]*oauth2client.Record{}}
	}, storetest.Options{}, "VersionsAfterDelete"},
	"extendsAnyway": {func(*testing.T) oauth2client.TokenStore { return extendsAnyway{tokenstore.NewMemory()} }, storetest.Options{}, "Lease"},
	"readsBeforeDelete": {func(t *testing.T) oauth2client.TokenStore { return readsBeforeDelete{openFile(t)} },
		storetest.Options{Corrupt: corruptFile}, "Unreadable"},
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
	storetest.RunWith(t, b.new, b.opts)
}
