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
