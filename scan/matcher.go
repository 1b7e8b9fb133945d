package scan

import (
	"bytes"
	"encoding/binary"
)

// multiMatcher finds every occurrence of a set of patterns, all at least
// gramLen bytes long, in one pass over the data.
//
// It is a sampled q-gram filter: with m the shortest pattern length, every
// occurrence of a pattern covers one of the positions i ≡ 0 (mod step),
// step = m-gramLen+1, at some offset o < step inside the pattern. So every
// 8-byte gram at offsets 0..step-1 of each pattern is indexed, and only
// every step-th position of the data is looked up (a bitset first, then a
// map), and candidates are verified in full. Vault values are long and
// random, so the step is usually dozens of bytes and candidates are rare.
//
// A general Aho-Corasick automaton (cloudflare/ahocorasick,
// BobuSumisu/aho-corasick as gitleaks uses, petar-dambovaliev/aho-corasick)
// steps through every byte and none of the Go ones is actively maintained;
// this filter is some sixty lines, needs no dependency, and skips most of
// the input for long patterns.
type multiMatcher struct {
	pats  []pattern
	step  int
	bits  []uint64 // bloom-style filter over gram hashes
	grams map[uint64][]gramRef
}

type gramRef struct {
	pat int32
	off int32
}

type pattern struct {
	text  []byte
	known int // index into engine.known
	enc   string
}

const (
	gramLen  = 8
	bitsLog2 = 16
)

func gramHash(g uint64) uint64 { return (g * 0x9E3779B97F4A7C15) >> (64 - bitsLog2) }

func newMultiMatcher(pats []pattern) *multiMatcher {
	m := &multiMatcher{pats: pats, grams: map[uint64][]gramRef{}, bits: make([]uint64, 1<<bitsLog2/64)}
	if len(pats) == 0 {
		return m
	}
	minLen := len(pats[0].text)
	for _, p := range pats {
		minLen = min(minLen, len(p.text))
	}
	if minLen < gramLen {
		panic("scan: pattern shorter than gramLen")
	}
	m.step = minLen - gramLen + 1
	for pi, p := range pats {
		for o := 0; o < m.step; o++ {
			g := binary.LittleEndian.Uint64(p.text[o:])
			h := gramHash(g)
			m.bits[h>>6] |= 1 << (h & 63)
			m.grams[g] = append(m.grams[g], gramRef{int32(pi), int32(o)})
		}
	}
	return m
}

// find calls fn for every occurrence (overlapping ones included) of every
// pattern in data, in no particular order.
func (m *multiMatcher) find(data []byte, fn func(start int, p *pattern)) {
	if m.step == 0 {
		return
	}
	bits := m.bits
	for i := 0; i+gramLen <= len(data); i += m.step {
		g := binary.LittleEndian.Uint64(data[i:])
		h := gramHash(g)
		if bits[h>>6]&(1<<(h&63)) == 0 {
			continue
		}
		for _, r := range m.grams[g] {
			s := i - int(r.off)
			p := &m.pats[r.pat]
			if s >= 0 && s+len(p.text) <= len(data) && bytes.Equal(data[s:s+len(p.text)], p.text) {
				fn(s, p)
			}
		}
	}
}
