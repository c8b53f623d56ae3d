package oauth2client

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// BenchmarkScheduler measures the refresh scheduler with 100,000 accounts:
// the memory each scheduled account costs (B/account) and the cost of
// rescheduling one (ns/op).
func BenchmarkScheduler(b *testing.B) {
	const n = 100000
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("account-%06d", i)
	}
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var s scheduler
	s.init()
	for i, a := range names {
		s.add(a, "corp", t0.Add(time.Duration(i)*time.Millisecond))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perAccount := float64(after.HeapAlloc-before.HeapAlloc) / n
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.add(names[i%n], "corp", t0.Add(time.Duration(n-i%n)*time.Millisecond))
	}
	b.StopTimer()
	b.ReportMetric(perAccount, "B/account")
	runtime.KeepAlive(&s)
}

func TestSchedulerHeapOrder(t *testing.T) {
	var s scheduler
	s.init()
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	s.add("c", "x", t0.Add(3*time.Second))
	s.add("a", "x", t0.Add(1*time.Second))
	s.add("b", "x", t0.Add(2*time.Second))
	s.add("c", "x", t0.Add(500*time.Millisecond)) // rescheduled earlier
	s.remove("b")
	due, next := s.due(t0.Add(1500*time.Millisecond), nil)
	require.Len(t, due, 2)
	assert.Equal(t, "c", due[0].account, "the rescheduled item moved to the front")
	assert.Equal(t, "a", due[1].account)
	assert.True(t, next.IsZero(), "b was removed, nothing else is left")
	assert.Empty(t, s.items)
}
