// Package pgtest runs a private PostgreSQL cluster for tests that must
// stop and restart the database under load: never the shared server a
// developer or CI keeps running. The cluster lives in a temporary
// directory, listens on a free loopback port (no Unix socket), trusts
// every local connection, and is stopped by its
// PID when the test ends; the kernel stops it too if the test binary
// dies (Linux).
//
// It needs Debian's PostgreSQL server binaries (apt-get install
// postgresql; they live in /usr/lib/postgresql/<major>/bin). PostgreSQL
// refuses to run as root, so a test running as root runs initdb and the
// server as the "postgres" user. Without the binaries, [Start] skips the
// test, unless OAUTH2MAIL_REQUIRE_PEERS=1, which turns their absence (or
// a failed start) into a test failure.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx", to wait for the server
	"github.com/oauth2mail/oauth2mail/internal/childproc"
)

// EnvRequire is the environment variable that, set to 1, turns missing
// PostgreSQL binaries or a failed start into a test failure.
const EnvRequire = "OAUTH2MAIL_REQUIRE_PEERS"

// StartTimeout bounds how long starting the server may take.
const StartTimeout = 30 * time.Second

// Server is a private PostgreSQL cluster. It is safe for concurrent use.
type Server struct {
	// DSN connects to the cluster's "postgres" database as the superuser
	// "postgres", over TCP (pgx's URL form).
	DSN string
	// Port is the TCP port on 127.0.0.1.
	Port int

	bin  string // directory of postgres and initdb
	dir  string // cluster directory: data/ and the socket
	cred *syscall.Credential

	proc *childproc.Proc // nil until the log is created
}

// Start initialises a cluster and starts it; the cluster is stopped and
// removed when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := findBin()
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("pgtest: %v, and %s=1", err, EnvRequire)
		}
		t.Skipf("pgtest: %v: install PostgreSQL (apt-get install postgresql) or set %s=1 to make this a failure", err, EnvRequire)
	}
	s, err := start(bin)
	if s != nil {
		t.Cleanup(s.remove)
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s
}

// findBin returns the newest /usr/lib/postgresql/<major>/bin that has
// initdb and postgres.
func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
}

func major(bin string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return n
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

func start(bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return s, fmt.Errorf("running as root needs the postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		// The server's user must enter the directory.
		if err := os.Chmod(dir, 0o755); err != nil { // #nosec G302 -- test harness: the postgres user must reach its data directory
			return s, err
		}
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return s, err
	}
	if s.cred != nil {
		if err := os.Chown(data, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return s, err
		}
	}
	s.Port, err = freePort()
	if err != nil {
		return s, err
	}
	s.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
	s.proc, err = childproc.New(dir, StartTimeout)
	if err != nil {
		return s, err
	}
	if s.cred != nil {
		if err := s.proc.Log().Chown(int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return s, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync") // #nosec G204 -- test harness: a fixed binary from /usr/lib/postgresql
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	initdb.Env = append(os.Environ(), "LC_ALL=C")
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return s, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return s, s.Up(ctx)
}

// freePort returns a free loopback port. Another process could take it
// before the server binds it; tests live with that small window.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Up starts the server (after [Server.Down]) and waits until it accepts
// queries. The data survives: it is the same cluster.
func (s *Server) Up(ctx context.Context) error {
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", filepath.Join(s.dir, "data"), // #nosec G204 -- test harness: a fixed binary from /usr/lib/postgresql
		"-p", strconv.Itoa(s.Port), "-c", "unix_socket_directories=", "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=200")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGQUIT}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if err := s.proc.Start(ctx, cmd, s.ping); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// ping opens a connection: the server is up once it accepts one.
func (s *Server) ping(ctx context.Context) error {
	db, err := sql.Open("pgx", s.DSN)
	if err != nil {
		return err
	}
	defer db.Close()
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return db.PingContext(pctx)
}

// Down stops the server with a fast shutdown (open transactions are
// rolled back, clients are disconnected) and waits for it to exit.
func (s *Server) Down() error { return s.proc.Stop(syscall.SIGINT) }

// Crash stops the server with an immediate shutdown, as a crash would
// (the next start recovers from the write-ahead log).
func (s *Server) Crash() error { return s.proc.Stop(syscall.SIGQUIT) }

// remove stops the server and deletes the cluster.
func (s *Server) remove() {
	if s.proc == nil {
		_ = os.RemoveAll(s.dir)
		return
	}
	s.proc.Remove(syscall.SIGINT)
}
