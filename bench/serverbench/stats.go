package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"
)

// body is size deterministic pseudo-random bytes, generated as read: never
// held in memory. kind and i pick the stream.
func body(kind byte, i int, size int64) io.Reader {
	var seed [32]byte
	seed[0] = kind
	binary.LittleEndian.PutUint64(seed[8:], uint64(i))
	return io.LimitReader(rand.NewChaCha8(seed), size)
}

// lat is a set of latencies.
type lat []time.Duration

// sorted returns the non-zero latencies, sorted.
func (l lat) sorted() lat {
	out := make(lat, 0, len(l))
	for _, d := range l {
		if d > 0 {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// pct is the nearest-rank percentile p (0 < p ≤ 1) of sorted latencies.
func (l lat) pct(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(l)))) - 1
	return l[max(0, min(i, len(l)-1))]
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.1f ms", float64(d)/1e6)
}

func rate(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}

func mb(bytes int64) float64 { return float64(bytes) / 1e6 }

func numCPU() int { return runtime.NumCPU() }

// yes marks whether an aim was met.
func yes(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}
