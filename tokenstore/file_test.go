package tokenstore_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
	"github.com/oauth2mail/oauth2mail/tokenstore/storetest"
)

func openFile(t *testing.T) *tokenstore.File {
	t.Helper()
	s, err := tokenstore.OpenFile(filepath.Join(t.TempDir(), "tokens"))
	require.NoError(t, err)
	return s
}

func TestFile(t *testing.T) {
	storetest.RunWith(t, func(t *testing.T) oauth2client.TokenStore { return openFile(t) },
		storetest.Options{Corrupt: corruptFile})
}

func TestFileInvalidRecord(t *testing.T) {
	testInvalidRecord(t, openFile(t))
}

// recordFiles returns the record files in dir.
func recordFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	return files
}

func TestFilePermissions(t *testing.T) {
	s := openFile(t)
	ctx := context.Background()
	require.NoError(t, s.Save(ctx, storetest.Record("a")))
	st, err := os.Stat(s.Dir())
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	files := recordFiles(t, s.Dir())
	require.Len(t, files, 1)
	st, err = os.Stat(files[0])
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	require.NoError(t, os.Chmod(files[0], 0o644))
	_, err = s.Load(ctx, "a")
	require.ErrorIs(t, err, tokenstore.ErrInsecure)
	assert.ErrorContains(t, err, "chmod 600")
	require.NoError(t, os.Chmod(files[0], 0o600))

	require.NoError(t, os.Chmod(s.Dir(), 0o755))
	_, err = tokenstore.OpenFile(s.Dir())
	require.ErrorIs(t, err, tokenstore.ErrInsecure)
	assert.ErrorContains(t, err, "chmod 700")
}

func TestOpenFileErrors(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notDir, nil, 0o600))
	tests := []struct {
		name, dir, want string
	}{
		{"empty", "", "needs a directory"},
		{"not a directory", notDir, "not a directory"},
		{"parent is a file", filepath.Join(notDir, "sub"), "creating the token directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tokenstore.OpenFile(tt.dir)
			assert.Nil(t, s)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestFileCorruptRecord(t *testing.T) {
	const secret = "SECRET-IN-FILE"
	other := storetest.Record("b")
	other.Version = 1
	otherJSON, err := json.Marshal(other)
	require.NoError(t, err)
	tests := []struct {
		name, content, want string
	}{
		{"truncated", `{"account":"a","access_token":"` + secret, "truncated JSON"},
		{"empty", ``, "truncated JSON"},
		{"syntax", `{"account":"a","access_token":` + secret + `}`, "invalid JSON at byte"},
		{"trailing data", `{"account":"a","version":1}{"access_token":"` + secret + `"}`, "trailing data"},
		{"wrong type", `{"account":"a","version":"` + secret + `"}`, `field "version" has the wrong type`},
		{"no account", `{"access_token":"` + secret + `"}`, "no account key"},
		{"another account", string(otherJSON), "another account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openFile(t)
			ctx := context.Background()
			require.NoError(t, s.Save(ctx, storetest.Record("a")))
			files := recordFiles(t, s.Dir())
			require.Len(t, files, 1)
			require.NoError(t, os.WriteFile(files[0], []byte(tt.content), 0o600))

			_, err := s.Load(ctx, "a")
			var ce *tokenstore.CorruptError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, files[0], ce.Path)
			assert.ErrorIs(t, err, tokenstore.ErrCorrupt)
			assert.ErrorContains(t, err, tt.want)
			assert.ErrorContains(t, err, "delete it and have the account authorized again")
			assert.NotContains(t, err.Error(), secret)
			assert.NotContains(t, err.Error(), "refresh-b")

			keys, err := s.List(ctx)
			require.NoError(t, err)
			assert.Empty(t, keys, "List leaves out a file Load cannot read")

			rec := storetest.Record("a")
			rec.Version = 1
			require.ErrorIs(t, s.CompareAndSwap(ctx, rec), tokenstore.ErrCorrupt, "a conditional write does not overwrite a corrupt record")
			require.NoError(t, s.Save(ctx, storetest.Record("a")), "an unconditional save replaces a corrupt record")
			got, err := s.Load(ctx, "a")
			require.NoError(t, err)
			assert.Greater(t, got.Version, int64(1), "the record replacing a corrupt one has a version above the one before")
		})
	}
}

func TestFileNotARegularFile(t *testing.T) {
	s := openFile(t)
	ctx := context.Background()
	require.NoError(t, s.Save(ctx, storetest.Record("a")))
	files := recordFiles(t, s.Dir())
	require.Len(t, files, 1)
	require.NoError(t, os.Remove(files[0]))
	require.NoError(t, os.Mkdir(files[0], 0o700))
	_, err := s.Load(ctx, "a")
	require.ErrorIs(t, err, tokenstore.ErrCorrupt)
	assert.ErrorContains(t, err, "not a regular file")
	require.NoError(t, os.WriteFile(filepath.Join(files[0], "x"), nil, 0o600))
	assert.ErrorContains(t, s.Delete(ctx, "a"), "tokenstore: deleting account")
}

func TestFileListIgnoresOtherFiles(t *testing.T) {
	s := openFile(t)
	ctx := context.Background()
	require.NoError(t, s.Save(ctx, storetest.Record("a")))
	write := func(name string) {
		require.NoError(t, os.WriteFile(filepath.Join(s.Dir(), name), []byte(`{"account":"x"}`), 0o600))
	}
	write(".rec-123.tmp")
	write("notes.txt")
	write(".hidden.json")
	write("copied.json") // a valid record under a name that is not its hash
	require.NoError(t, os.Mkdir(filepath.Join(s.Dir(), "sub.json"), 0o700))
	keys, err := s.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, keys)

	again, err := tokenstore.OpenFile(s.Dir())
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(s.Dir(), ".rec-123.tmp"))
	assert.ErrorIs(t, err, os.ErrNotExist, "OpenFile removes interrupted writes")
	_, err = os.Stat(filepath.Join(s.Dir(), "notes.txt"))
	assert.NoError(t, err, "OpenFile leaves other files alone")
	got, err := again.Load(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, "a", got.Account)
}

func TestFileListMissingDir(t *testing.T) {
	s := openFile(t)
	require.NoError(t, os.RemoveAll(s.Dir()))
	_, err := s.List(context.Background())
	assert.ErrorContains(t, err, "tokenstore: listing")
	assert.Error(t, s.Save(context.Background(), storetest.Record("a")))
}

const writerEnv = "OAUTH2MAIL_TOKENSTORE_WRITER_DIR"

// writerAccounts is how many accounts the killed writer rewrites in turn.
const writerAccounts = 3

// writeCount is the number of writes the killed writer made to rec's
// account, which it keeps in the access token ("v<n>").
func writeCount(rec *oauth2client.Record) int64 {
	n, err := strconv.ParseInt(strings.TrimPrefix(string(rec.AccessToken), "v"), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// stateFor is the provider state the writer stores at version v: its
// length and bytes both depend on v, so a mix of two versions shows.
func stateFor(v int64) []byte {
	return bytes.Repeat([]byte{byte(v)}, 256+int(v%7)*64)
}

// TestFileSurvivesKilledWriter kills (SIGKILL) processes that rewrite
// records in a tight loop, each at a random point after it reported
// progress, and checks that every record on disk is one complete version
// and that no reported write was lost. Writers run side by side so that
// many kills land in a short test.
func TestFileSurvivesKilledWriter(t *testing.T) {
	if os.Getenv(writerEnv) != "" {
		t.Skip("running as the writer")
	}
	const rounds, writers = 4, 8
	for round := range rounds {
		type killed struct {
			dir      string
			target   int
			reported int
			err      error
		}
		results := make(chan killed, writers)
		for range writers {
			dir := filepath.Join(t.TempDir(), "tokens")
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), writerEnv+"="+dir)
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			go func() {
				k := killed{dir: dir, target: 5 + rand.IntN(40)}
				lines := bufio.NewScanner(out)
				for k.reported < k.target && lines.Scan() {
					if _, err := strconv.Atoi(lines.Text()); err == nil {
						k.reported++
					}
				}
				k.err = cmd.Process.Kill() // SIGKILL, most likely mid-write
				_ = cmd.Wait()
				results <- k
			}()
		}
		for range writers {
			k := <-results
			require.NoError(t, k.err)
			require.Equal(t, k.target, k.reported, "round %d: the writer stopped early", round)
			checkKilledStore(t, k.dir, k.target)
		}
	}
}

// checkKilledStore checks the store a killed writer left in dir after at
// least reported writes.
func checkKilledStore(t *testing.T, dir string, reported int) {
	t.Helper()
	// Every record file on disk is whole JSON, before any cleanup.
	files := recordFiles(t, dir)
	require.Len(t, files, writerAccounts)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.True(t, json.Valid(b), "%s holds partial JSON", f)
	}

	ctx := context.Background()
	s, err := tokenstore.OpenFile(dir)
	require.NoError(t, err)
	keys, err := s.List(ctx)
	require.NoError(t, err)
	assert.Len(t, keys, writerAccounts, "List shows the accounts and nothing else")
	var total int64
	for _, k := range keys {
		rec, err := s.Load(ctx, k)
		require.NoError(t, err, "record %q is damaged", k)
		n := writeCount(rec)
		assert.Positive(t, n, "%q has no write count", k)
		assert.True(t, bytes.Equal(stateFor(n), rec.ProviderState), "%q mixes versions", k)
		total += n
	}
	assert.GreaterOrEqual(t, total, int64(reported), "a reported write was lost")
	tmps, err := filepath.Glob(filepath.Join(dir, ".rec-*.tmp"))
	require.NoError(t, err)
	assert.Empty(t, tmps, "OpenFile removes interrupted temp files")
}

// TestHelperProcess is the writer TestFileSurvivesKilledWriter kills. It
// prints the number of each completed write.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(writerEnv)
	if dir == "" {
		t.Skip("helper process for TestFileSurvivesKilledWriter")
	}
	s, err := tokenstore.OpenFile(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		rec := storetest.Record(fmt.Sprintf("account-%d", i%writerAccounts))
		n := int64(1) // the account's write count, stored in its access token
		if cur, err := s.Load(ctx, rec.Account); err == nil {
			rec.Version = cur.Version
			n += writeCount(cur)
		}
		rec.AccessToken = oauth2client.Secret(fmt.Sprintf("v%d", n))
		rec.ProviderState = stateFor(n)
		if err := s.CompareAndSwap(ctx, rec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println(i)
	}
}

// Versions never repeat, even when a record file is removed by hand
// (not through Delete) or the version sequence file is damaged: the
// sequence outlives the record files, and is rebuilt from the highest
// stored version when it cannot be read.
func TestFileVersionsSurviveRemovedFiles(t *testing.T) {
	s := openFile(t)
	ctx := context.Background()
	rec := storetest.Record("a")
	for range 3 {
		require.NoError(t, s.Save(ctx, rec))
	}
	old := rec.Version
	files := recordFiles(t, s.Dir())
	require.Len(t, files, 1)
	require.NoError(t, os.Remove(files[0]), "an operator removes the record file")
	fresh := storetest.Record("a")
	require.NoError(t, s.CompareAndSwap(ctx, fresh), "version 0 creates over nothing")
	assert.Greater(t, fresh.Version, old, "the version restarted after the file was removed by hand")
	stale := rec.Clone()
	assert.ErrorIs(t, s.CompareAndSwap(ctx, stale), oauth2client.ErrConflict)

	require.NoError(t, s.Save(ctx, storetest.Record("b")))
	top := fresh.Version + 1 // b's version
	require.NoError(t, os.WriteFile(filepath.Join(s.Dir(), ".sequence"), []byte("garbage"), 0o600))
	require.NoError(t, s.Save(ctx, storetest.Record("c")))
	got, err := s.Load(ctx, "c")
	require.NoError(t, err)
	assert.Greater(t, got.Version, top, "a damaged sequence is rebuilt above every stored version")

	again, err := tokenstore.OpenFile(s.Dir())
	require.NoError(t, err)
	require.NoError(t, again.Save(ctx, storetest.Record("d")))
	assert.Greater(t, mustLoad(t, again, "d").Version, got.Version, "another File over the directory continues the sequence")
	keys, err := again.List(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"a", "b", "c", "d"}, keys, "the sequence file is not listed as an account")
}

func mustLoad(t *testing.T, s oauth2client.TokenStore, account string) *oauth2client.Record {
	t.Helper()
	rec, err := s.Load(context.Background(), account)
	require.NoError(t, err)
	return rec
}
