// Package childproc runs a server as a child process for tests that
// stop, crash and restart a real server (internal/pgtest,
// internal/redistest): it starts the command with its output in a log
// file, polls until the server answers, stops it with a signal, and
// quotes the end of its log when a start fails.
package childproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one server process, started again after each stop. It is safe
// for concurrent use.
type Proc struct {
	dir         string
	stopTimeout time.Duration

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	log  *os.File
}

// New returns a Proc whose log is dir/server.log. A stop that takes
// longer than stopTimeout kills the process.
func New(dir string, stopTimeout time.Duration) (*Proc, error) {
	log, err := os.Create(filepath.Join(dir, "server.log")) // #nosec G304 -- test harness: a fixed name in the caller's temporary directory
	if err != nil {
		return nil, err
	}
	return &Proc{dir: dir, stopTimeout: stopTimeout, log: log}, nil
}

// Log is the server's log file (to hand it to the server's user).
func (p *Proc) Log() *os.File { return p.log }

// Start runs cmd, its output going to the log, and polls ready every
// 20 ms until it returns nil, the process exits or ctx ends. The
// servers have no readiness notification a child process can use.
func (p *Proc) Start(ctx context.Context, cmd *exec.Cmd, ready func(context.Context) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return errors.New("the server is already running")
	}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", filepath.Base(cmd.Path), err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s did not answer within the deadline: %w\n%s", filepath.Base(cmd.Path), err, p.logTail())
		case <-done:
			t.Stop()
			return fmt.Errorf("%s exited while starting\n%s", filepath.Base(cmd.Path), p.logTail())
		case <-t.C:
		}
	}
}

// Stop sends sig and waits for the process to exit, killing it after
// the stop timeout. Stopping a stopped server does nothing.
func (p *Proc) Stop(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(sig)
	t := time.NewTimer(p.stopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd, p.done = nil, nil
	return nil
}

func (p *Proc) logTail() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "server.log"))
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return strings.TrimSpace(string(b))
}

// Remove stops the server with sig, closes the log and deletes dir.
func (p *Proc) Remove(sig syscall.Signal) {
	_ = p.Stop(sig)
	_ = p.log.Close()
	_ = os.RemoveAll(p.dir)
}
