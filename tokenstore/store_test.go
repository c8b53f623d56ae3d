package tokenstore_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/oauth2mail/oauth2mail/oauth2client"
	"github.com/oauth2mail/oauth2mail/tokenstore"
	"github.com/oauth2mail/oauth2mail/tokenstore/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) oauth2client.TokenStore { return tokenstore.NewMemory() })
}

func TestFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T) oauth2client.TokenStore {
		s, err := tokenstore.OpenFile(filepath.Join(t.TempDir(), "tokens"))
		require.NoError(t, err)
		return s
	})
}

func TestFilePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tokens")
	s, err := tokenstore.OpenFile(dir)
	require.NoError(t, err)
	require.NoError(t, s.Save(context.Background(), storetest.Record("a")))
	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	st, err = os.Stat(files[0])
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	require.NoError(t, os.Chmod(dir, 0o755))
	_, err = tokenstore.OpenFile(dir)
	assert.ErrorContains(t, err, "chmod 700")
}

func TestFileCorruptRecord(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tokens")
	s, err := tokenstore.OpenFile(dir)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Save(ctx, storetest.Record("a")))
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	require.Len(t, files, 1)
	require.NoError(t, os.WriteFile(files[0], []byte(`{"account":"a","access_token":"SECRET-IN-FILE`), 0o600))
	_, err = s.Load(ctx, "a")
	var ce *tokenstore.CorruptError
	require.ErrorAs(t, err, &ce)
	assert.ErrorIs(t, err, tokenstore.ErrCorrupt)
	assert.NotContains(t, err.Error(), "SECRET-IN-FILE")
	require.NoError(t, s.Save(ctx, storetest.Record("a")), "an unconditional save replaces a corrupt record")
	_, err = s.Load(ctx, "a")
	assert.NoError(t, err)
}

// TestFileSurvivesKilledWriter kills a process that is rewriting records
// in a loop, at a random point, and checks that every record on disk is
// one complete version.
func TestFileSurvivesKilledWriter(t *testing.T) {
	if os.Getenv("TOKENSTORE_WRITER_DIR") != "" {
		t.Skip("running as the writer")
	}
	for round := range 5 {
		dir := filepath.Join(t.TempDir(), "tokens")
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
		cmd.Env = append(os.Environ(), "TOKENSTORE_WRITER_DIR="+dir)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		lines := bufio.NewScanner(out)
		target := 20 + round*37
		n := 0
		for lines.Scan() && n < target {
			n++
		}
		require.Equal(t, target, n, "the writer stopped early")
		require.NoError(t, cmd.Process.Kill()) // SIGKILL mid-write
		_ = cmd.Wait()

		s, err := tokenstore.OpenFile(dir)
		require.NoError(t, err)
		keys, err := s.List(context.Background())
		require.NoError(t, err)
		assert.Len(t, keys, 3)
		for _, k := range keys {
			rec, err := s.Load(context.Background(), k)
			require.NoError(t, err, "round %d: record %q is damaged", round, k)
			v, err := strconv.Atoi(string(rec.AccessToken[len("v"):]))
			require.NoError(t, err)
			assert.Equal(t, int64(v), rec.Version, "the record is one whole version")
		}
		tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
		assert.Empty(t, tmps, "OpenFile removes interrupted temp files")
	}
}

// TestHelperWriter is the killed writer of TestFileSurvivesKilledWriter.
func TestHelperWriter(t *testing.T) {
	dir := os.Getenv("TOKENSTORE_WRITER_DIR")
	if dir == "" {
		t.Skip("helper process for TestFileSurvivesKilledWriter")
	}
	s, err := tokenstore.OpenFile(dir)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		rec := storetest.Record(fmt.Sprintf("account-%d", i%3))
		if cur, err := s.Load(ctx, rec.Account); err == nil {
			rec.Version = cur.Version
		}
		rec.AccessToken = oauth2client.Secret(fmt.Sprintf("v%d", rec.Version+1))
		rec.ProviderState = make([]byte, 64<<10) // big enough to be caught mid-write
		if err := s.CompareAndSwap(ctx, rec); err != nil {
			panic(err)
		}
		fmt.Println(i)
	}
}
