package prestack_test

import (
	"runtime/metrics"
	"testing"

	"github.com/okvault/okv/internal/prestack"
)

func stackBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// Grow must really give a goroutine a large stack: a compiler that saw
// through the never-taken branch would drop the frame and the start-up
// would copy deep stacks again (a larger peak RSS in make bench).
func TestGrowGrowsTheStack(t *testing.T) {
	before := stackBytes()
	grown, done := make(chan struct{}), make(chan struct{})
	go func() {
		prestack.Grow()
		close(grown)
		<-done
	}()
	<-grown
	after := stackBytes()
	close(done)
	if after < before+prestack.Frame {
		t.Fatalf("stack memory went from %d to %d bytes: Grow did not grow the goroutine's stack to %d", before, after, 2*prestack.Frame)
	}
}
