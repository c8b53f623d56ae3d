package leasewait

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPoll(t *testing.T) {
	calls := 0
	err := Poll(context.Background(), func() (bool, error) { calls++; return calls == 3, nil })
	assert.NoError(t, err)
	assert.Equal(t, 3, calls, "tries until the lease is taken")

	broken := errors.New("store down")
	calls = 0
	err = Poll(context.Background(), func() (bool, error) { calls++; return false, broken })
	assert.ErrorIs(t, err, broken)
	assert.Equal(t, 1, calls, "a failing take is not retried")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls = 0
	err = Poll(ctx, func() (bool, error) { calls++; return false, nil })
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, calls, "stops waiting when ctx ends")
}

func TestOrphans(t *testing.T) {
	var o Orphans
	assert.NoError(t, o.Release("a", func(string) error { t.Fatal("nothing to release"); return nil }))
	o.Add("a", "owner-1")
	o.Add("a", "owner-2")
	o.Add("b", "owner-3")
	down := errors.New("store down")
	var tried []string
	err := o.Release("a", func(owner string) error {
		tried = append(tried, owner)
		if owner == "owner-2" {
			return down
		}
		return nil
	})
	assert.ErrorIs(t, err, down)
	assert.Equal(t, []string{"owner-1", "owner-2"}, tried)
	tried = nil
	assert.NoError(t, o.Release("a", func(owner string) error { tried = append(tried, owner); return nil }))
	assert.Equal(t, []string{"owner-2"}, tried, "a failed release is kept for the next call")
	tried = nil
	assert.NoError(t, o.Release("a", func(owner string) error { tried = append(tried, owner); return nil }))
	assert.Empty(t, tried)
	assert.NoError(t, o.Release("b", func(owner string) error { tried = append(tried, owner); return nil }))
	assert.Equal(t, []string{"owner-3"}, tried, "accounts are separate")
}
