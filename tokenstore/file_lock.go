package tokenstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/oauth2mail/oauth2mail/internal/leasewait"
	"github.com/oauth2mail/oauth2mail/oauth2client"
)

// exclusive runs fn holding stripe i: its mutex within the process, and
// its lock file across processes.
func (f *File) exclusive(i int, fn func() error) error {
	f.stripe[i].Lock()
	defer f.stripe[i].Unlock()
	lf, err := os.OpenFile(filepath.Join(f.dir, fmt.Sprintf(".stripe-%02x.lock", i)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("tokenstore: opening a lock file: %w", err)
	}
	defer lf.Close() // releases the flock too
	if err := flock(lf); err != nil {
		return fmt.Errorf("tokenstore: locking %s: %w", lf.Name(), err)
	}
	return fn()
}

// tmpStripe returns the stripe a temporary file named by tmpPattern
// belongs to.
func tmpStripe(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, ".rec-")
	if !ok || len(rest) < 3 || rest[2] != '-' {
		return 0, false
	}
	i, err := strconv.ParseUint(rest[:2], 16, 8)
	if err != nil || int(i) >= len(File{}.stripe) {
		return 0, false
	}
	return int(i), true
}

// leasePath returns the lease file of account and its stripe.
func (f *File) leasePath(account string) (string, int) {
	p, i := f.path(account)
	return filepath.Join(f.dir, ".lease-"+strings.TrimSuffix(filepath.Base(p), fileExt)), i
}

// Lock implements [oauth2client.Locker] for every process sharing the
// directory. Waiters in the same process queue without touching the
// disk; the lease file of an account held by another process is polled,
// at most every 200ms, until it is released, it lapses (after ttl, by
// the machine's clock), or ctx ends. ttl must be positive. The lease
// file holds the holder's random owner ID: Extend and Release act only
// while it is still theirs.
func (f *File) Lock(ctx context.Context, account string, ttl time.Duration) (oauth2client.Lease, error) {
	local, err := f.leases.lock(ctx, account, ttl)
	if err != nil {
		return nil, err
	}
	owner := leasewait.NewOwner()
	lp, stripe := f.leasePath(account)
	if err := pollLease(ctx, account, "", local, func() (bool, error) { return f.tryLease(stripe, lp, owner, ttl) }); err != nil {
		return nil, err
	}
	return &sharedLease{
		local:   local,
		account: account,
		extend: func(_ context.Context, ttl time.Duration) (ok bool, err error) {
			err = f.exclusive(stripe, func() error {
				if cur, expires, held := readLease(lp); !held || cur != owner || time.Now().UnixNano() >= expires {
					return nil
				}
				ok = true
				return writeLease(lp, owner, ttl)
			})
			return ok, err
		},
		release: func(context.Context) error {
			err := f.exclusive(stripe, func() error {
				// A lapsed lease taken over by someone else has another
				// owner: it is left alone then.
				if cur, _, ok := readLease(lp); ok && cur == owner {
					return os.Remove(lp)
				}
				return nil
			})
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		},
	}, nil
}

// tryLease takes the lease in lp for owner if it is free or lapsed.
func (f *File) tryLease(stripe int, lp, owner string, ttl time.Duration) (took bool, err error) {
	err = f.exclusive(stripe, func() error {
		if _, expires, ok := readLease(lp); ok && time.Now().UnixNano() < expires {
			return nil
		}
		took = true
		return writeLease(lp, owner, ttl)
	})
	return took, err
}

// writeLease writes owner's lease, lapsing ttl from now, to lp.
func writeLease(lp, owner string, ttl time.Duration) error {
	line := owner + " " + strconv.FormatInt(time.Now().Add(ttl).UnixNano(), 10) + "\n"
	return os.WriteFile(lp, []byte(line), 0o600)
}

// readLease reads a lease file: "<owner> <expiry in Unix nanoseconds>".
// A missing or damaged file (a holder killed mid-write) is no lease.
func readLease(lp string) (owner string, expires int64, ok bool) {
	b, err := os.ReadFile(lp) // #nosec G304 -- a lease file inside the store directory; the name is derived from a hash of the account
	if err != nil {
		return "", 0, false
	}
	o, e, found := strings.Cut(string(bytes.TrimSpace(b)), " ")
	if !found {
		return "", 0, false
	}
	n, err := strconv.ParseInt(e, 10, 64)
	if err != nil {
		return "", 0, false
	}
	return o, n, true
}
