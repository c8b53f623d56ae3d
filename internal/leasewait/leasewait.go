// Package leasewait waits for leases held in a shared store (a database row, a
// Redis key) that cannot notify waiters, by polling with backoff.
package leasewait

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Poll calls take until it reports the lease taken or fails, waiting from
// 5 ms up to 200 ms between tries. It returns take's error, or ctx's error
// once ctx ends.
func Poll(ctx context.Context, take func() (bool, error)) error {
	wait := 5 * time.Millisecond
	for {
		took, err := take()
		if err != nil {
			return err
		}
		if took {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// NewOwner returns a random lease owner ID: 128 bits, hex-encoded.
func NewOwner() string {
	var id [16]byte
	_, _ = rand.Read(id[:]) // never fails
	return hex.EncodeToString(id[:])
}
