// Package redistest runs a private redis-server for tests that must stop
// and restart Redis under load: never the shared server a developer or CI
// keeps running. It listens on a free loopback port, keeps its data in a
// temporary directory with the append-only file on and fsynced on every
// write (so data survives a restart, even a kill), and is stopped by its
// PID when the test ends; the kernel stops it too if the test binary dies
// (Linux).
//
// Without redis-server on PATH (apt-get install redis-server), [Start]
// skips the test, unless OAUTH2MAIL_REQUIRE_PEERS=1, which turns its
// absence (or a failed start) into a test failure.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauth2mail/oauth2mail/internal/childproc"
)

// EnvRequire is the environment variable that, set to 1, turns a missing
// redis-server or a failed start into a test failure.
const EnvRequire = "OAUTH2MAIL_REQUIRE_PEERS"

// StartTimeout bounds how long starting the server may take.
const StartTimeout = 15 * time.Second

// Server is a private redis-server. It is safe for concurrent use.
type Server struct {
	// Addr is the server's host:port on 127.0.0.1.
	Addr string

	bin string
	dir string

	proc *childproc.Proc // nil until the log is created
}

// Start starts a redis-server; it is stopped and its data removed when t
// ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("redistest: redis-server is not on PATH, and %s=1", EnvRequire)
		}
		t.Skipf("redistest: redis-server is not on PATH: install it (apt-get install redis-server) or set %s=1 to make this a failure", EnvRequire)
	}
	s, err := start(bin)
	if s != nil {
		t.Cleanup(s.remove)
	}
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	return s
}

func start(bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, err
	}
	s.Addr = l.Addr().String()
	_ = l.Close()
	s.proc, err = childproc.New(dir, StartTimeout)
	if err != nil {
		return s, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	return s, s.Up(ctx)
}

// Up starts the server (after [Server.Down]) and waits until it answers
// PING. It loads the data the append-only file kept.
func (s *Server) Up(ctx context.Context) error {
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command(s.bin, "--port", port, "--bind", "127.0.0.1", "--dir", s.dir, // #nosec G204 -- test harness: redis-server from PATH with fixed arguments
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no", "--protected-mode", "yes")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	if err := s.proc.Start(ctx, cmd, func(ctx context.Context) error { return c.Ping(ctx).Err() }); err != nil {
		return fmt.Errorf("redistest: %w", err)
	}
	return nil
}

// Down stops the server with SIGTERM (Redis finishes the append-only
// file and exits) and waits for it to exit.
func (s *Server) Down() error { return s.proc.Stop(syscall.SIGTERM) }

// Crash kills the server with SIGKILL; every acknowledged write is in
// the append-only file (fsynced on every write).
func (s *Server) Crash() error { return s.proc.Stop(syscall.SIGKILL) }

// remove stops the server and deletes its directory.
func (s *Server) remove() {
	if s.proc == nil {
		_ = os.RemoveAll(s.dir)
		return
	}
	s.proc.Remove(syscall.SIGTERM)
}
