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
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
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

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
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
	s.log, err = os.Create(filepath.Join(dir, "server.log")) // #nosec G304 -- test harness: a fixed name in the directory it just created
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("redistest: the server is already running")
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command(s.bin, "--port", port, "--bind", "127.0.0.1", "--dir", s.dir, // #nosec G204 -- test harness: redis-server from PATH with fixed arguments
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no", "--protected-mode", "yes")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: starting redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	if err := s.waitReady(ctx, done); err != nil {
		return fmt.Errorf("redistest: %w\n%s", err, s.logTail())
	}
	return nil
}

// waitReady polls PING: redis-server has no readiness notification a
// child process can use without systemd.
func (s *Server) waitReady(ctx context.Context, done <-chan struct{}) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("redis-server did not answer within the deadline: %w", err)
		case <-done:
			t.Stop()
			return errors.New("redis-server exited while starting")
		case <-t.C:
		}
	}
}

// Down stops the server with SIGTERM (Redis finishes the append-only
// file and exits) and waits for it to exit.
func (s *Server) Down() error { return s.stop(syscall.SIGTERM) }

// Crash kills the server with SIGKILL; every acknowledged write is in
// the append-only file (fsynced on every write).
func (s *Server) Crash() error { return s.stop(syscall.SIGKILL) }

func (s *Server) stop(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(sig)
	t := time.NewTimer(StartTimeout)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
	return nil
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return strings.TrimSpace(string(b))
}

func (s *Server) remove() {
	_ = s.Down()
	if s.log != nil {
		_ = s.log.Close()
	}
	_ = os.RemoveAll(s.dir)
}
