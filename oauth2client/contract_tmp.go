package oauth2client

// TEMPORARY until h13store's contract commit is merged.

import (
	"context"
	"errors"
	"time"
)

var ErrUnreadable = errors.New("oauth2client: stored token record cannot be read")
var ErrLeaseLost = errors.New("oauth2client: refresh lease lost")

type Lease interface {
	Extend(ctx context.Context, ttl time.Duration) error
	Release(ctx context.Context) error
}
