package prices

import (
	"math"
	"testing"
)

func TestCost(t *testing.T) {
	p := Price{Input: 2.50, Output: 10.00, CachedInput: 1.25}
	// 1,000 prompt tokens of which 400 cached, 200 output:
	// 600×2.50 + 400×1.25 + 200×10.00 = 1500 + 500 + 2000 = 4000 per million.
	if got, want := p.Cost(1000, 400, 0, 200), 0.004; math.Abs(got-want) > 1e-12 {
		t.Fatalf("Cost = %v, want %v", got, want)
	}
	// No cached price: cached tokens cost Input. Cache writes priced apart.
	q := Price{Input: 3, Output: 15, CacheWrite: 3.75}
	// 100 plain + 100 read (at 3) + 100 written (at 3.75) + 10 out (at 15).
	if got, want := q.Cost(300, 100, 100, 10), (100*3+100*3+100*3.75+10*15)/1e6; math.Abs(got-want) > 1e-12 {
		t.Fatalf("Cost = %v, want %v", got, want)
	}
	// Counts that do not add up never make a negative cost.
	if got := q.Cost(10, 100, 0, 0); got < 0 {
		t.Fatalf("Cost = %v, want ≥ 0", got)
	}
}
